//! Key material: static key pairs, public keys, and the symmetric keys the
//! schedule derives (`docs/PROTOCOL.md` §3).
//!
//! Every secret zeroizes on drop, and no `Debug` or `Display` prints its
//! bytes.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 32-byte symmetric key: a Noise chaining or transport key, or an epoch
/// key. Erased on drop and whenever it leaves the key window.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; 32]);

#[cfg(feature = "model")]
impl core::hash::Hash for SymmetricKey {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

impl SymmetricKey {
    /// A key with these bytes (for key-schedule checks and benchmarks; the
    /// protocol derives every key itself).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        SymmetricKey(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether the key has been erased (all zero). Erased keys are never used.
    pub fn is_erased(&self) -> bool {
        self.0.iter().fold(0u8, |acc, b| acc | b) == 0
    }
}

/// Erases a key that leaves the key window (`docs/PROTOCOL.md` §5.2): every
/// epoch and chain key the schedule stops holding goes through here. (A
/// key dropped any other way, with its session, zeroizes on drop too.)
pub(crate) fn retire(mut key: SymmetricKey) {
    key.zeroize();
    #[cfg(test)]
    graveyard::bury(key);
}

/// In tests, retired keys are kept after erasure, so a test can check
/// through the keys' own state that each one was zeroed.
#[cfg(test)]
pub(crate) mod graveyard {
    use super::SymmetricKey;
    use core::cell::RefCell;
    use std::vec::Vec;

    std::thread_local! {
        static RETIRED: RefCell<Vec<SymmetricKey>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn bury(key: SymmetricKey) {
        RETIRED.with(|r| r.borrow_mut().push(key));
    }

    /// The keys retired on this thread since the last call.
    pub(crate) fn exhume() -> Vec<SymmetricKey> {
        RETIRED.with(|r| core::mem::take(&mut *r.borrow_mut()))
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricKey").finish_non_exhaustive()
    }
}

/// An X25519 public key.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The public key with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The key's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 8-byte identifier sent in clear in a handshake initiation so the
    /// responder can find the configured peer before any Diffie-Hellman.
    pub fn key_id(&self) -> KeyId {
        let digest = crate::primitives::sha256(&[LABEL_KEY_ID, &self.0]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Lower-case hex, 64 digits; `{:#}` prints standard base64 (44
/// characters, padded), as WireGuard tools do. [`str::parse`] reads either.
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            let mut out = [0u8; 44];
            base64_encode(&self.0, &mut out);
            // Only ASCII from the alphabet was written.
            f.write_str(core::str::from_utf8(&out).map_err(|_| fmt::Error)?)
        } else {
            for b in &self.0 {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

/// Why a string is not a public key.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseKeyError {
    /// Neither 64 hex digits nor 44 base64 characters (43 unpadded).
    Length(usize),
    /// A character outside the encoding, at this byte offset.
    Character(usize),
    /// Base64 whose last character carries bits beyond the key's 32 bytes.
    NonCanonical,
}

impl fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseKeyError::Length(n) => write!(
                f,
                "a public key is 64 hex digits or 44 base64 characters, not {n} characters"
            ),
            ParseKeyError::Character(i) => write!(f, "invalid character at offset {i}"),
            ParseKeyError::NonCanonical => f.write_str("base64 with bits beyond 32 bytes"),
        }
    }
}

impl core::error::Error for ParseKeyError {}

impl core::str::FromStr for PublicKey {
    type Err = ParseKeyError;

    /// 64 hex digits (either case), or standard base64 (44 characters with
    /// its padding, or 43 without). Surrounding whitespace is an error, as
    /// any other character is.
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        let bytes = s.as_bytes();
        let mut key = [0u8; 32];
        match bytes.len() {
            64 => {
                for (i, pair) in bytes.chunks_exact(2).enumerate() {
                    let hi = hex_digit(pair[0]).ok_or(ParseKeyError::Character(2 * i))?;
                    let lo = hex_digit(pair[1]).ok_or(ParseKeyError::Character(2 * i + 1))?;
                    key[i] = hi << 4 | lo;
                }
            }
            43 | 44 => {
                if bytes.len() == 44 && bytes[43] != b'=' {
                    return Err(ParseKeyError::Character(43));
                }
                // 43 characters carry 258 bits: the last one's low two
                // must be zero.
                let mut acc: u32 = 0;
                let mut bits = 0;
                let mut out = 0;
                for (i, &c) in bytes[..43].iter().enumerate() {
                    let v = base64_value(c).ok_or(ParseKeyError::Character(i))?;
                    acc = acc << 6 | u32::from(v);
                    bits += 6;
                    if bits >= 8 {
                        bits -= 8;
                        if out < 32 {
                            key[out] = (acc >> bits).to_le_bytes()[0];
                            out += 1;
                        }
                        acc &= (1 << bits) - 1;
                    }
                }
                if acc != 0 {
                    return Err(ParseKeyError::NonCanonical);
                }
            }
            n => return Err(ParseKeyError::Length(n)),
        }
        Ok(PublicKey(key))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// 32 bytes as 44 characters of padded standard base64.
fn base64_encode(key: &[u8; 32], out: &mut [u8; 44]) {
    let mut o = 0;
    for chunk in key.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            out[o + k] = BASE64[((n >> (18 - 6 * k)) & 63) as usize];
        }
        o += 4;
    }
    // 32 = 10 × 3 + 2: the last group holds two bytes.
    out[43] = b'=';
}

/// Unit tests compare keys; the crate itself never does, and the public
/// type has no (non-constant-time) equality.
#[cfg(test)]
impl PartialEq for SymmetricKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// The clear identifier of a static public key (`docs/PROTOCOL.md` §3.2).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

pub(crate) const LABEL_KEY_ID: &[u8] = b"probekey v1 key id";

/// A node's static X25519 key pair. The secret half zeroizes on drop.
pub struct StaticKeypair {
    secret: StaticSecret,
    public: PublicKey,
}

impl StaticKeypair {
    /// A new random key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret_bytes(StaticSecret::random_from_rng(rng).to_bytes())
    }

    /// The key pair with this secret (as stored in a key file). The bytes are
    /// kept as given and clamped when used, as X25519 requires; the caller
    /// should zeroize its copy.
    pub fn from_secret_bytes(mut bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        bytes.zeroize();
        let public = PublicKey(crate::primitives::x25519_public(&secret));
        StaticKeypair { secret, public }
    }

    /// The secret's bytes, to write a key file. Zeroize them after use.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl Clone for StaticKeypair {
    fn clone(&self) -> Self {
        Self::from_secret_bytes(self.secret.to_bytes())
    }
}

/// The public half names the pair.
#[cfg(feature = "model")]
impl core::hash::Hash for StaticKeypair {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.public.hash(h);
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_secret_bytes() {
        let kp = StaticKeypair::from_secret_bytes([0xAB; 32]);
        let text = std::format!("{kp:?} {:?}", SymmetricKey::from_bytes([0xCD; 32]));
        assert!(!text.to_lowercase().contains("abab"));
        assert!(!text.to_lowercase().contains("cdcd"));
        assert!(!text.contains("171, 171"));
        assert!(!text.contains("205, 205"));
    }

    #[test]
    fn every_secret_holder_zeroizes_on_drop() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        zeroizes_on_drop::<SymmetricKey>();
        zeroizes_on_drop::<crate::mac::MacKey>();
        zeroizes_on_drop::<StaticSecret>();
        zeroizes_on_drop::<crate::noise::StaticDh>();
    }

    /// Known base64 of the keys whose bytes are `32k..32k + 32`, which
    /// between them hold every byte value (checked against a reference
    /// encoder).
    const EVERY_BYTE_BASE64: [&str; 8] = [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",
        "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=",
        "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=",
        "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=",
        "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t8=",
        "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=",
    ];

    fn every_byte(k: usize) -> PublicKey {
        PublicKey::from_bytes(core::array::from_fn(|i| {
            u8::try_from(32 * k + i).expect("a byte")
        }))
    }

    /// Every byte value prints as the base64 a reference encoder writes and
    /// as two lower-case hex digits, and parses back from either, padded
    /// or not, hex in either case.
    #[test]
    fn every_byte_prints_and_parses_back_in_hex_and_base64() {
        for (k, b64) in EVERY_BYTE_BASE64.into_iter().enumerate() {
            let key = every_byte(k);
            assert_eq!(std::format!("{key:#}"), b64);
            let hex = std::format!("{key}");
            let expected: std::string::String = (32 * k..32 * k + 32)
                .map(|b| std::format!("{b:02x}"))
                .collect();
            assert_eq!(hex, expected);
            assert_eq!(b64.parse::<PublicKey>(), Ok(key), "{b64}");
            assert_eq!(b64[..43].parse::<PublicKey>(), Ok(key), "unpadded");
            assert_eq!(hex.parse::<PublicKey>(), Ok(key));
            assert_eq!(hex.to_uppercase().parse::<PublicKey>(), Ok(key));
        }
        let ones = PublicKey::from_bytes([0xff; 32]);
        assert_eq!(
            std::format!("{ones:#}"),
            "//////////////////////////////////////////8="
        );
    }

    /// A string that is not a key is refused with its length or the offset
    /// of the first character outside the encoding, and base64 whose last
    /// character sets either bit beyond the key is not canonical.
    #[test]
    fn what_is_not_a_key_is_refused_with_where() {
        let hex = std::format!("{}", every_byte(0));
        for at in [0, 1, 10, 11, 62, 63] {
            let mut bad = hex.clone();
            bad.replace_range(at..=at, "g");
            assert_eq!(bad.parse::<PublicKey>(), Err(ParseKeyError::Character(at)));
        }
        let mut bad = hex.clone();
        bad.replace_range(3..4, "x");
        bad.replace_range(10..11, "x");
        assert_eq!(
            bad.parse::<PublicKey>(),
            Err(ParseKeyError::Character(3)),
            "the first"
        );
        let b64 = EVERY_BYTE_BASE64[0];
        for at in [0, 1, 20, 42] {
            let mut bad = std::string::String::from(b64);
            bad.replace_range(at..=at, "-");
            assert_eq!(bad.parse::<PublicKey>(), Err(ParseKeyError::Character(at)));
        }
        let mut bad = std::string::String::from(b64);
        bad.replace_range(43..44, "A");
        assert_eq!(bad.parse::<PublicKey>(), Err(ParseKeyError::Character(43)));
        for n in [0, 1, 42, 45, 63, 65] {
            let s: std::string::String = core::iter::repeat_n('A', n).collect();
            assert_eq!(s.parse::<PublicKey>(), Err(ParseKeyError::Length(n)));
        }
        // The last of 43 characters carries two bits past 256: 'B' sets the
        // lower, 'C' the upper, 'E' neither.
        let base = "A".repeat(42);
        for (last, canonical) in [('A', true), ('B', false), ('C', false), ('E', true)] {
            let s = std::format!("{base}{last}");
            assert_eq!(s.parse::<PublicKey>().is_ok(), canonical, "{s}");
            if !canonical {
                assert_eq!(s.parse::<PublicKey>(), Err(ParseKeyError::NonCanonical));
            }
        }
        assert_eq!(
            std::format!("{base}E").parse::<PublicKey>(),
            Ok(PublicKey::from_bytes(core::array::from_fn(|i| u8::from(
                i == 31
            ))))
        );
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert_eq!(
            std::format!("{}", ParseKeyError::Length(3)),
            "a public key is 64 hex digits or 44 base64 characters, not 3 characters"
        );
        assert_eq!(
            std::format!("{}", ParseKeyError::Character(7)),
            "invalid character at offset 7"
        );
        assert_eq!(
            std::format!("{}", ParseKeyError::NonCanonical),
            "base64 with bits beyond 32 bytes"
        );
    }

    /// A public key's `Debug` is its first eight bytes in hex; a symmetric
    /// key's shows nothing of it.
    #[test]
    fn debug_shows_a_public_keys_prefix_and_no_secret() {
        assert_eq!(
            std::format!("{:?}", every_byte(0)),
            "PublicKey(0001020304050607…)"
        );
        assert_eq!(
            std::format!("{:?}", SymmetricKey::from_bytes([0xCD; 32])),
            "SymmetricKey { .. }"
        );
        let kp = StaticKeypair::from_secret_bytes([0xAB; 32]);
        assert_eq!(
            std::format!("{kp:?}"),
            std::format!("StaticKeypair {{ public: {:?}, .. }}", kp.public())
        );
    }

    /// §3.2: the key id is the first eight bytes of SHA-256 over the label
    /// and the key (checked against a reference implementation).
    #[test]
    fn the_key_id_is_the_labelled_digests_first_eight_bytes() {
        assert_eq!(
            every_byte(0).key_id(),
            KeyId([0x61, 0xea, 0x55, 0x60, 0x34, 0x4d, 0x45, 0x2e])
        );
        assert_ne!(every_byte(0).key_id(), every_byte(1).key_id());
    }

    /// RFC 7748 §6.1: the public half is the X25519 base-point multiple of
    /// the secret; the secret's bytes come back as given, and a clone is
    /// the same pair.
    #[test]
    fn a_key_pair_is_x25519s() {
        let secret = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let public = [
            0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e,
            0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e,
            0xaa, 0x9b, 0x4e, 0x6a,
        ];
        let kp = StaticKeypair::from_secret_bytes(secret);
        assert_eq!(kp.public().as_bytes(), &public);
        assert_eq!(kp.secret_bytes(), secret);
        assert_eq!(kp.secret().to_bytes(), secret);
        assert_eq!(kp.clone().public(), kp.public());
        let mut a = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
        let mut b = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
        let (x, y) = (
            StaticKeypair::generate(&mut a),
            StaticKeypair::generate(&mut b),
        );
        assert_eq!(x.public(), y.public(), "drawn from the generator");
        assert_ne!(StaticKeypair::generate(&mut a).public(), x.public());
    }

    /// A key with any byte set is not erased; a retired key is.
    #[test]
    fn a_key_is_erased_only_when_every_byte_is_zero() {
        for i in 0..32 {
            for v in [1u8, 0x80, 0xff] {
                let mut bytes = [0u8; 32];
                bytes[i] = v;
                let k = SymmetricKey::from_bytes(bytes);
                assert!(!k.is_erased(), "byte {i} = {v}");
                assert_eq!(k.as_bytes(), &bytes);
            }
        }
        assert!(SymmetricKey::from_bytes([0; 32]).is_erased());
        let mut pair = [0u8; 32];
        (pair[4], pair[20]) = (0x5a, 0x5a);
        assert!(!SymmetricKey::from_bytes(pair).is_erased(), "equal bytes");
        let _ = graveyard::exhume();
        retire(SymmetricKey::from_bytes([9; 32]));
        let retired = graveyard::exhume();
        assert_eq!(retired.len(), 1);
        assert!(retired[0].is_erased(), "retire zeroes the key");
    }

    #[test]
    fn erased_key_is_detectable() {
        let mut k = SymmetricKey::from_bytes([3; 32]);
        assert!(!k.is_erased());
        k.zeroize();
        assert!(k.is_erased());
    }
}

//! Key material: static key pairs, public keys, and the symmetric keys the
//! schedule derives (`docs/PROTOCOL.md` §3).
//!
//! Every secret zeroizes on drop, and no `Debug` or `Display` prints its
//! bytes.

use core::fmt;

use hmac::{KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 32-byte symmetric key: a Noise chaining or transport key, or an epoch
/// key. Erased on drop and whenever it leaves the key window.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SymmetricKey([u8; 32]);

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
        let mut h = Sha256::new();
        h.update(LABEL_KEY_ID);
        h.update(self.0);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    pub(crate) fn to_dalek(self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(self.0)
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

/// The clear identifier of a static public key (`docs/PROTOCOL.md` §3.2).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

pub(crate) const LABEL_KEY_ID: &[u8] = b"probekey v1 key id";
pub(crate) const LABEL_MAC1: &[u8] = b"probekey v1 mac1";
pub(crate) const LABEL_MAC2: &[u8] = b"probekey v1 mac2";

/// The key of a handshake MAC (§3.4, §3.5): mac1's is public, mac2's is a
/// secret of the two peers.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MacKey([u8; 32]);

impl MacKey {
    /// mac1's key: `SHA-256(LABEL_MAC1 || receiver public key)`. Not
    /// secret: it only proves the sender knew whom it wrote to.
    pub(crate) fn for_receiver(public: &PublicKey) -> Self {
        let mut h = Sha256::new();
        h.update(LABEL_MAC1);
        h.update(public.0);
        let mut k = [0u8; 32];
        k.copy_from_slice(&h.finalize());
        MacKey(k)
    }

    /// mac2's key: HKDF-SHA-256 of the static-static Diffie-Hellman result
    /// (salt `LABEL_MAC2`, empty info). Only the two peers can compute it.
    pub(crate) fn for_pair(static_dh: &[u8; 32]) -> Self {
        let mut k = [0u8; 32];
        let hk = hkdf::Hkdf::<Sha256>::new(Some(LABEL_MAC2), static_dh);
        // 32 bytes is within HKDF's output limit.
        if hk.expand(&[], &mut k).is_err() {
            k = [0; 32];
        }
        MacKey(k)
    }

    fn mac(&self) -> hmac::Hmac<Sha256> {
        // HMAC pads a short key with zeros to the block size; doing it here
        // makes construction infallible.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mac = <hmac::Hmac<Sha256> as KeyInit>::new(&block.into());
        block.zeroize();
        mac
    }

    /// The first 16 bytes of HMAC-SHA-256 over `msg`.
    pub(crate) fn compute(&self, msg: &[u8]) -> [u8; 16] {
        let mut m = self.mac();
        m.update(msg);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// Constant-time check of a 16-byte MAC over `msg`.
    pub(crate) fn verify(&self, msg: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac();
        m.update(msg);
        m.verify_truncated_left(tag).is_ok()
    }
}

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
    /// clamped as X25519 requires; the caller should zeroize its copy.
    pub fn from_secret_bytes(mut bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        bytes.zeroize();
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
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
    fn mac1_rejects_any_change() {
        let k = MacKey::for_receiver(&PublicKey([9; 32]));
        let msg = [1u8; 68];
        let tag = k.compute(&msg);
        assert!(k.verify(&msg, &tag));
        let mut bad = msg;
        bad[67] ^= 1;
        assert!(!k.verify(&bad, &tag));
        let other = MacKey::for_receiver(&PublicKey([8; 32]));
        assert!(!other.verify(&msg, &tag));
    }

    #[test]
    fn every_secret_holder_zeroizes_on_drop() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        zeroizes_on_drop::<SymmetricKey>();
        zeroizes_on_drop::<MacKey>();
        zeroizes_on_drop::<StaticSecret>();
        zeroizes_on_drop::<crate::noise::StaticDh>();
    }

    #[test]
    fn erased_key_is_detectable() {
        let mut k = SymmetricKey::from_bytes([3; 32]);
        assert!(!k.is_erased());
        k.zeroize();
        assert!(k.is_erased());
    }
}

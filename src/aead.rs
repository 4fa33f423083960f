//! The one AEAD of the protocol, behind a provider seam: ChaCha20-Poly1305
//! with Noise's nonce layout (`docs/PROTOCOL.md` §3.3): four zero bytes,
//! then the 64-bit counter little-endian.
//!
//! [`RustCrypto`] (the `chacha20poly1305` crate) is the `no_std` core and
//! the cross-check; [`AwsLc`] (`aws-lc-rs`, the `aws-lc-rs` feature, on by
//! default) is what the `std` build seals and opens probes with. Both write
//! the same bytes (`tests/aead_providers.rs`). An epoch key is prepared for
//! the provider once, when the schedule derives it, not per packet; the
//! Noise handshake's one-shot keys always use [`RustCrypto`].

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};

use crate::keys::SymmetricKey;

/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// The AEAD's nonce for `counter` (§3.3).
fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// The tag did not authenticate the message under this key, counter and
/// associated data (or the message was shorter than a tag).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Unauthentic;

/// The plaintext, decrypted in place, or why not.
pub type Opened<'a> = Result<&'a mut [u8], Unauthentic>;

/// A tag, or zeros for the one failure sealing has: a message longer than
/// 256 GiB, which no datagram can be.
fn tag_or_zeros<T: AsRef<[u8]>, E>(sealed: Result<T, E>) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    if let Ok(tag) = sealed {
        let tag = tag.as_ref();
        if tag.len() == TAG_LEN {
            out.copy_from_slice(tag);
        }
    }
    out
}

/// An implementation of ChaCha20-Poly1305 with the protocol's nonce.
pub trait AeadProvider {
    /// A key prepared for sealing and opening; erased when dropped.
    type Key;

    /// Prepares `key`.
    fn prepare(key: &SymmetricKey) -> Self::Key;

    /// Encrypts `buf` in place and returns the tag.
    fn seal(key: &Self::Key, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN];

    /// Decrypts `sealed` (the ciphertext, then the tag) in place if the tag
    /// authenticates it, and returns the plaintext (all but the tag). On
    /// failure the ciphertext may have been overwritten.
    ///
    /// # Errors
    /// [`Unauthentic`] if the tag does not authenticate the message.
    fn open<'a>(key: &Self::Key, counter: u64, ad: &[u8], sealed: &'a mut [u8]) -> Opened<'a>;
}

/// The `chacha20poly1305` crate: portable, `no_std`, no allocation; its
/// key zeroizes on drop.
#[derive(Copy, Clone, Debug)]
pub struct RustCrypto;

impl AeadProvider for RustCrypto {
    type Key = ChaCha20Poly1305;

    fn prepare(key: &SymmetricKey) -> Self::Key {
        ChaCha20Poly1305::new(key.as_bytes().into())
    }

    fn seal(key: &Self::Key, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        tag_or_zeros(key.encrypt_inout_detached(&Nonce::from(nonce(counter)), ad, buf.into()))
    }

    fn open<'a>(key: &Self::Key, counter: u64, ad: &[u8], sealed: &'a mut [u8]) -> Opened<'a> {
        let at = sealed.len().checked_sub(TAG_LEN).ok_or(Unauthentic)?;
        let (body, tag) = sealed.split_at_mut(at);
        let tag = Tag::try_from(&*tag).map_err(|_| Unauthentic)?;
        key.decrypt_inout_detached(&Nonce::from(nonce(counter)), ad, (&mut *body).into(), &tag)
            .map_err(|_| Unauthentic)?;
        Ok(body)
    }
}

/// `aws-lc-rs`: assembly-optimised ChaCha20-Poly1305. A prepared key lives
/// in memory AWS-LC allocates, which it cleanses when the key is dropped,
/// so moving the key moves only a pointer.
#[cfg(feature = "aws-lc-rs")]
#[derive(Copy, Clone, Debug)]
pub struct AwsLc;

#[cfg(feature = "aws-lc-rs")]
impl AeadProvider for AwsLc {
    type Key = aws_lc_rs::aead::LessSafeKey;

    fn prepare(key: &SymmetricKey) -> Self::Key {
        use aws_lc_rs::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};
        match UnboundKey::new(&CHACHA20_POLY1305, key.as_bytes()) {
            Ok(k) => LessSafeKey::new(k),
            // A 32-byte key is always accepted.
            Err(_) => unreachable_key(),
        }
    }

    fn seal(key: &Self::Key, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        use aws_lc_rs::aead::{Aad, Nonce};
        let nonce = Nonce::assume_unique_for_key(nonce(counter));
        tag_or_zeros(key.seal_in_place_separate_tag(nonce, Aad::from(ad), buf))
    }

    fn open<'a>(key: &Self::Key, counter: u64, ad: &[u8], sealed: &'a mut [u8]) -> Opened<'a> {
        use aws_lc_rs::aead::{Aad, Nonce};
        let nonce = Nonce::assume_unique_for_key(nonce(counter));
        key.open_in_place(nonce, Aad::from(ad), sealed)
            .map_err(|_| Unauthentic)
    }
}

/// `UnboundKey::new` refuses only a key of the wrong length; ours are 32
/// bytes by type. Kept out of line so that `prepare` has no panic path in
/// its body.
#[cfg(feature = "aws-lc-rs")]
#[cold]
fn unreachable_key() -> aws_lc_rs::aead::LessSafeKey {
    // Documented panic: a 32-byte ChaCha20-Poly1305 key cannot be refused.
    #[allow(clippy::panic)]
    {
        panic!("aws-lc-rs refused a 32-byte ChaCha20-Poly1305 key")
    }
}

/// The provider the build's features choose.
#[cfg(feature = "aws-lc-rs")]
type Chosen = AwsLc;
/// The provider the build's features choose.
#[cfg(not(feature = "aws-lc-rs"))]
type Chosen = RustCrypto;

/// The provider this build seals and opens probes with: the one its
/// features choose, except in a fuzzing build.
#[cfg(not(fuzzing))]
pub type Provider = Chosen;
/// The provider this build seals and opens probes with: in a fuzzing build,
/// the stand-in, or the features' choice with `PROBEKEY_FUZZ_CRYPTO=real`
/// (see `crate::primitives`).
#[cfg(fuzzing)]
pub type Provider = Fuzzing;

/// The fuzzing build's provider (`cfg(fuzzing)` only): the stand-in AEAD
/// of `crate::primitives::fake`, or the real one.
#[cfg(fuzzing)]
#[derive(Copy, Clone, Debug)]
pub struct Fuzzing;

/// A [`Fuzzing`] key.
#[cfg(fuzzing)]
pub enum FuzzingKey {
    /// The real provider's.
    Real(<Chosen as AeadProvider>::Key),
    /// The stand-in's: the key itself.
    Fake(SymmetricKey),
}

#[cfg(fuzzing)]
impl AeadProvider for Fuzzing {
    type Key = FuzzingKey;

    fn prepare(key: &SymmetricKey) -> Self::Key {
        if crate::primitives::faked() {
            FuzzingKey::Fake(SymmetricKey::from_bytes(*key.as_bytes()))
        } else {
            FuzzingKey::Real(Chosen::prepare(key))
        }
    }

    fn seal(key: &Self::Key, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        match key {
            FuzzingKey::Real(k) => Chosen::seal(k, counter, ad, buf),
            FuzzingKey::Fake(k) => crate::primitives::fake::seal(k.as_bytes(), counter, ad, buf),
        }
    }

    fn open<'a>(key: &Self::Key, counter: u64, ad: &[u8], sealed: &'a mut [u8]) -> Opened<'a> {
        match key {
            FuzzingKey::Real(k) => Chosen::open(k, counter, ad, sealed),
            FuzzingKey::Fake(k) => {
                let at = sealed.len().checked_sub(TAG_LEN).ok_or(Unauthentic)?;
                let (body, tag) = sealed.split_at_mut(at);
                if crate::primitives::fake::open(k.as_bytes(), counter, ad, body, tag) {
                    Ok(body)
                } else {
                    Err(Unauthentic)
                }
            }
        }
    }
}

/// An epoch key, prepared for [`Provider`] (§5.2).
#[cfg(not(feature = "model"))]
pub(crate) struct EpochKey(<Provider as AeadProvider>::Key);

/// An epoch key, prepared for [`Provider`] (§5.2); with the `model`
/// feature its bytes are kept beside it, to clone and hash it.
#[cfg(feature = "model")]
pub(crate) struct EpochKey(<Provider as AeadProvider>::Key, SymmetricKey);

#[cfg(feature = "model")]
impl Clone for EpochKey {
    fn clone(&self) -> Self {
        EpochKey::new(&self.1)
    }
}

#[cfg(feature = "model")]
impl core::hash::Hash for EpochKey {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.1.hash(h);
    }
}

impl EpochKey {
    pub(crate) fn new(key: &SymmetricKey) -> Self {
        #[cfg(not(feature = "model"))]
        return EpochKey(Provider::prepare(key));
        #[cfg(feature = "model")]
        EpochKey(Provider::prepare(key), key.clone())
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        Provider::seal(&self.0, counter, ad, buf)
    }

    /// Decrypts `sealed` (ciphertext, then tag) in place if it
    /// authenticates.
    pub(crate) fn open<'a>(&self, counter: u64, ad: &[u8], sealed: &'a mut [u8]) -> Opened<'a> {
        Provider::open(&self.0, counter, ad, sealed)
    }

    /// What identifies the key in tests: the tag of an empty message under
    /// a counter no probe uses.
    #[cfg(test)]
    pub(crate) fn fingerprint(&self) -> [u8; TAG_LEN] {
        self.seal(u64::MAX, b"fingerprint", &mut [])
    }
}

/// Encrypts `buf` in place under a one-shot key (the handshake's) and
/// returns the tag.
pub(crate) fn seal(key: &SymmetricKey, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
    #[cfg(fuzzing)]
    if crate::primitives::faked() {
        return crate::primitives::fake::seal(key.as_bytes(), counter, ad, buf);
    }
    RustCrypto::seal(&RustCrypto::prepare(key), counter, ad, buf)
}

/// Decrypts `buf` in place under a one-shot key if `tag` authenticates it;
/// on failure `buf` is left as it was.
pub(crate) fn open(
    key: &SymmetricKey,
    counter: u64,
    ad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), ()> {
    #[cfg(fuzzing)]
    if crate::primitives::faked() {
        return crate::primitives::fake::open(key.as_bytes(), counter, ad, buf, tag)
            .then_some(())
            .ok_or(());
    }
    RustCrypto::prepare(key)
        .decrypt_inout_detached(
            &Nonce::from(nonce(counter)),
            ad,
            buf.into(),
            &Tag::from(*tag),
        )
        .map_err(|_| ())
}

#[cfg(test)]
mod tests;

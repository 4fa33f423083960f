//! The one AEAD of the protocol: ChaCha20-Poly1305 with Noise's nonce
//! layout (`docs/PROTOCOL.md` §3.3): four zero bytes, then the 64-bit
//! counter little-endian.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};

use crate::keys::SymmetricKey;

/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::from(n)
}

fn cipher(key: &SymmetricKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.as_bytes().into())
}

/// Encrypts `buf` in place and returns the tag.
pub(crate) fn seal(key: &SymmetricKey, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
    match cipher(key).encrypt_inout_detached(&nonce(counter), ad, buf.into()) {
        Ok(tag) => tag.into(),
        // Only a message longer than 256 GiB can fail; datagrams cannot be.
        Err(_) => [0; TAG_LEN],
    }
}

/// Decrypts `buf` in place if `tag` authenticates it; on failure `buf` is
/// left as it was.
pub(crate) fn open(
    key: &SymmetricKey,
    counter: u64,
    ad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), ()> {
    cipher(key)
        .decrypt_inout_detached(&nonce(counter), ad, buf.into(), &Tag::from(*tag))
        .map_err(|_| ())
}

//! The hash, MAC, key derivation and Diffie-Hellman every layer uses
//! (`docs/PROTOCOL.md` §3.1), in one place: SHA-256, HMAC-SHA-256,
//! HKDF-SHA-256 and X25519. The AEAD has its own seam ([`crate::aead`]).
//!
//! Under `cfg(fuzzing)` (set by cargo-fuzz, never by a normal build) each
//! of them, and the AEAD, is replaced by a deterministic, cheap stand-in
//! ([`fake`]) with the same sizes and the same accept/refuse structure, so
//! that the fuzz targets run the protocol's logic exactly as with real
//! cryptography, a thousand times faster, and can craft what passes the
//! checks (the stand-ins compare with `==`, which libFuzzer's comparison
//! tracing reads). `PROBEKEY_FUZZ_CRYPTO=real` selects the real primitives
//! in a fuzzing build.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

#[cfg(fuzzing)]
pub(crate) mod fake;

/// Whether this fuzzing build runs on the stand-ins.
#[cfg(fuzzing)]
pub(crate) fn faked() -> bool {
    fake::active()
}

macro_rules! or_fake {
    ($call:expr) => {
        #[cfg(fuzzing)]
        if faked() {
            return $call;
        }
    };
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    or_fake!(fake::hash(b"sha256", &[], parts));
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac_of(key: &[u8; 32], parts: &[&[u8]]) -> hmac::Hmac<Sha256> {
    // HMAC pads a short key with zeros to the block size; doing it here
    // makes construction infallible.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new(&block.into());
    block.zeroize();
    for p in parts {
        mac.update(p);
    }
    mac
}

/// The first 16 bytes of HMAC-SHA-256 under `key` of the concatenation of
/// `parts`.
pub(crate) fn hmac16(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
    or_fake!(fake::mac16(key, parts));
    let full = hmac_of(key, parts).finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Whether `tag` is [`hmac16`] of `parts` under `key`, in constant time.
pub(crate) fn hmac16_verify(key: &[u8; 32], parts: &[&[u8]], tag: &[u8]) -> bool {
    or_fake!(tag == fake::mac16(key, parts));
    hmac_of(key, parts).verify_truncated_left(tag).is_ok()
}

/// HKDF-SHA-256 with salt `salt` and empty info, filling `out` (at most
/// 8,160 bytes; ours are 32 and 64).
pub(crate) fn hkdf(salt: &[u8], ikm: &[u8], out: &mut [u8]) {
    or_fake!(fake::expand(salt, ikm, out));
    if hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(&[], out)
        .is_err()
    {
        out.zeroize();
    }
}

/// HKDF-SHA-256's expand step from a 32-byte pseudorandom key.
pub(crate) fn hkdf_expand(prk: &[u8; 32], info: &[u8], out: &mut [u8; 32]) {
    or_fake!(fake::expand(prk, info, out));
    match hkdf::Hkdf::<Sha256>::from_prk(prk) {
        Ok(hk) if hk.expand(info, out).is_ok() => {}
        _ => out.zeroize(),
    }
}

/// The public key of `secret`.
pub(crate) fn x25519_public(secret: &StaticSecret) -> [u8; 32] {
    or_fake!(fake::public(secret));
    x25519_dalek::PublicKey::from(secret).to_bytes()
}

/// The X25519 shared secret of `secret` and `public`; `None` if it is not
/// contributory (a low-order `public`).
pub(crate) fn x25519(secret: &StaticSecret, public: &[u8; 32]) -> Option<[u8; 32]> {
    or_fake!(fake::dh(secret, public));
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    shared.was_contributory().then(|| shared.to_bytes())
}

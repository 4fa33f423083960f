//! The fuzzing stand-ins (`cfg(fuzzing)` only): deterministic and cheap,
//! with the real primitives' sizes and accept/refuse structure.
//!
//! - the hash is a 256-bit multiply-rotate mix of its input, so distinct
//!   inputs give distinct outputs as far as a fuzzer can tell;
//! - a MAC, a derived key or a tag is that hash of a label, the key and the
//!   input: only the right key gives the right one;
//! - the Diffie-Hellman takes a public key equal to the secret and a
//!   shared secret equal to the two XORed: it commutes as X25519 does, is
//!   distinct for every pair, and is refused when it is all zeros (a peer's
//!   own key), as a non-contributory X25519 result is;
//! - the AEAD XORs a keystream of that hash and appends a 16-byte tag of
//!   it over the key, nonce, associated data and ciphertext.
//!
//! Comparisons are plain `==`, so that libFuzzer's comparison tracing can
//! hand the fuzzer the bytes a check expects.

use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

/// Whether the stand-ins are in use: always, unless the environment says
/// `PROBEKEY_FUZZ_CRYPTO=real` (read once).
pub(crate) fn active() -> bool {
    #[cfg(feature = "std")]
    {
        use core::sync::atomic::{AtomicU8, Ordering};
        static MODE: AtomicU8 = AtomicU8::new(0);
        match MODE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let real = std::env::var_os("PROBEKEY_FUZZ_CRYPTO").is_some_and(|v| v == "real");
                MODE.store(if real { 2 } else { 1 }, Ordering::Relaxed);
                !real
            }
        }
    }
    #[cfg(not(feature = "std"))]
    {
        true
    }
}

const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

fn absorb(state: &mut [u64; 4], bytes: &[u8]) {
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        for (i, h) in state.iter_mut().enumerate() {
            *h = (*h ^ w)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15 ^ (i as u64) << 1)
                .rotate_left(29);
        }
    }
    // The length separates `ab|c` from `a|bc`.
    let len = bytes.len() as u64;
    for h in state.iter_mut() {
        *h = (*h ^ len)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(31);
    }
}

/// The stand-in hash of `label`, `key` and `parts`.
pub(crate) fn hash(label: &[u8], key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut state = SEEDS;
    absorb(&mut state, label);
    absorb(&mut state, key);
    for p in parts {
        absorb(&mut state, p);
    }
    let mut out = [0u8; 32];
    for (i, h) in state.iter().enumerate() {
        let mut x = *h ^ state[(i + 1) % 4].rotate_left(17);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 29;
        out[8 * i..8 * i + 8].copy_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn mac16(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
    let full = hash(b"mac", key, parts);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Key derivation: `out` filled from the hash of `key` and `input`.
pub(crate) fn expand(key: &[u8], input: &[u8], out: &mut [u8]) {
    for (i, block) in out.chunks_mut(32).enumerate() {
        let h = hash(b"expand", key, &[input, &[i as u8]]);
        block.copy_from_slice(&h[..block.len()]);
    }
}

pub(crate) fn public(secret: &StaticSecret) -> [u8; 32] {
    secret.to_bytes()
}

pub(crate) fn dh(secret: &StaticSecret, public: &[u8; 32]) -> Option<[u8; 32]> {
    let mut shared = secret.to_bytes();
    for (s, p) in shared.iter_mut().zip(public) {
        *s ^= p;
    }
    if shared == [0; 32] {
        return None;
    }
    Some(shared)
}

fn keystream(key: &[u8; 32], counter: u64, buf: &mut [u8]) {
    for (j, block) in buf.chunks_mut(32).enumerate() {
        let mut ks = hash(
            b"stream",
            key,
            &[&counter.to_le_bytes(), &(j as u64).to_le_bytes()],
        );
        for (b, k) in block.iter_mut().zip(&ks) {
            *b ^= k;
        }
        ks.zeroize();
    }
}

fn tag(key: &[u8; 32], counter: u64, ad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let full = hash(b"tag", key, &[&counter.to_le_bytes(), ad, ciphertext]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Encrypts `buf` in place and returns its tag.
pub(crate) fn seal(key: &[u8; 32], counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    keystream(key, counter, buf);
    tag(key, counter, ad, buf)
}

/// Decrypts `buf` in place if `expected` is its tag; else leaves it.
pub(crate) fn open(
    key: &[u8; 32],
    counter: u64,
    ad: &[u8],
    buf: &mut [u8],
    expected: &[u8],
) -> bool {
    if tag(key, counter, ad, buf) != expected {
        return false;
    }
    keystream(key, counter, buf);
    true
}

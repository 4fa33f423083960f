//! Unit tests of the AEAD seam (§3.3): the nonce layout, each provider
//! against the `chacha20poly1305` crate given that layout written out by
//! hand, and what opening refuses.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};

use super::{AeadProvider, EpochKey, RustCrypto, TAG_LEN, Unauthentic};
use crate::keys::SymmetricKey;

const KEY: [u8; 32] = [0x42; 32];
const COUNTER: u64 = 0x0102_0304_0506_0708;
/// §3.3 for `COUNTER`: four zero bytes, then the counter little-endian.
const NONCE: [u8; 12] = [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1];
const AD: &[u8] = b"associated";
const BODY: &[u8] = b"a probe's body";

#[test]
fn the_nonce_is_four_zero_bytes_then_the_counter_little_endian() {
    assert_eq!(super::nonce(COUNTER), NONCE);
    assert_eq!(super::nonce(0), [0; 12]);
    assert_eq!(
        super::nonce(u64::MAX),
        [0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]
    );
}

/// The ciphertext and tag of `BODY` under `KEY`, `NONCE` and `AD`, from
/// the `chacha20poly1305` crate given the nonce's bytes directly.
fn expected() -> ([u8; BODY.len()], [u8; TAG_LEN]) {
    let mut ct = [0u8; BODY.len()];
    ct.copy_from_slice(BODY);
    let tag = ChaCha20Poly1305::new(&KEY.into())
        .encrypt_inout_detached(&Nonce::from(NONCE), AD, (&mut ct[..]).into())
        .expect("short");
    (ct, tag.into())
}

/// Seals `BODY` with provider `P` and checks it against [`expected`],
/// then checks what it opens and what it refuses.
fn check_provider<P: AeadProvider>() {
    let key = P::prepare(&SymmetricKey::from_bytes(KEY));
    let (ct, tag) = expected();
    let mut sealed = [0u8; BODY.len() + TAG_LEN];
    sealed[..BODY.len()].copy_from_slice(BODY);
    let t = P::seal(&key, COUNTER, AD, &mut sealed[..BODY.len()]);
    assert_eq!(
        (&sealed[..BODY.len()], t),
        (&ct[..], tag),
        "the protocol's nonce"
    );
    sealed[BODY.len()..].copy_from_slice(&t);

    let mut copy = sealed;
    assert_eq!(
        P::open(&key, COUNTER, AD, &mut copy).map(|b| b.to_vec()),
        Ok(BODY.to_vec())
    );
    // Another counter, other associated data, a bit at either end of the
    // ciphertext or of the tag changed: refused.
    for (counter, ad) in [
        (COUNTER + 1, AD),
        (COUNTER ^ 1 << 63, AD),
        (COUNTER, &b"other"[..]),
    ] {
        let mut copy = sealed;
        assert_eq!(P::open(&key, counter, ad, &mut copy), Err(Unauthentic));
    }
    for bit in [0, 8 * BODY.len() - 1, 8 * BODY.len(), 8 * sealed.len() - 1] {
        let mut copy = sealed;
        copy[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            P::open(&key, COUNTER, AD, &mut copy),
            Err(Unauthentic),
            "bit {bit}"
        );
    }
    // Shorter than a tag: refused; exactly a tag: an empty body.
    assert_eq!(
        P::open(&key, COUNTER, AD, &mut sealed[..TAG_LEN - 1]),
        Err(Unauthentic)
    );
    let t = P::seal(&key, 7, AD, &mut []);
    let mut only_tag = t;
    assert_eq!(P::open(&key, 7, AD, &mut only_tag).map(|b| b.len()), Ok(0));
}

#[test]
fn rustcrypto_seals_under_the_protocols_nonce_and_opens_only_what_it_sealed() {
    check_provider::<RustCrypto>();
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn aws_lc_seals_under_the_protocols_nonce_and_opens_only_what_it_sealed() {
    check_provider::<super::AwsLc>();
}

/// The build's epoch key seals and opens under the protocol's nonce.
#[test]
fn an_epoch_key_seals_and_opens_under_the_protocols_nonce() {
    let key = EpochKey::new(&SymmetricKey::from_bytes(KEY));
    let (ct, tag) = expected();
    let mut sealed = [0u8; BODY.len() + TAG_LEN];
    sealed[..BODY.len()].copy_from_slice(BODY);
    let t = key.seal(COUNTER, AD, &mut sealed[..BODY.len()]);
    assert_eq!((&sealed[..BODY.len()], t), (&ct[..], tag));
    sealed[BODY.len()..].copy_from_slice(&t);
    let mut copy = sealed;
    assert_eq!(
        key.open(COUNTER, AD, &mut copy).map(|b| b.to_vec()),
        Ok(BODY.to_vec())
    );
    assert_eq!(key.open(COUNTER + 1, AD, &mut sealed), Err(Unauthentic));
}

/// The handshake's one-shot keys: the same AEAD and nonce; a refused
/// message is left as it was.
#[test]
fn a_one_shot_key_seals_and_opens_under_the_protocols_nonce() {
    let key = SymmetricKey::from_bytes(KEY);
    let (ct, tag) = expected();
    let mut buf = [0u8; BODY.len()];
    buf.copy_from_slice(BODY);
    let t = super::seal(&key, COUNTER, AD, &mut buf);
    assert_eq!((buf, t), (ct, tag));
    let mut wrong = t;
    wrong[0] ^= 1;
    assert_eq!(super::open(&key, COUNTER, AD, &mut buf, &wrong), Err(()));
    assert_eq!(buf, ct, "left as it was");
    assert_eq!(super::open(&key, COUNTER + 1, AD, &mut buf, &t), Err(()));
    assert_eq!(super::open(&key, COUNTER, AD, &mut buf, &t), Ok(()));
    assert_eq!(&buf[..], BODY);
}

/// A tag is copied only from a successful seal of exactly a tag's length;
/// anything else gives zeros.
#[test]
fn a_tag_is_taken_only_from_a_successful_seal_of_its_length() {
    let tag = [9u8; TAG_LEN];
    assert_eq!(super::tag_or_zeros::<_, ()>(Ok(tag)), tag);
    assert_eq!(
        super::tag_or_zeros::<[u8; TAG_LEN], ()>(Err(())),
        [0; TAG_LEN]
    );
    assert_eq!(
        super::tag_or_zeros::<_, ()>(Ok([9u8; TAG_LEN - 1])),
        [0; TAG_LEN]
    );
}

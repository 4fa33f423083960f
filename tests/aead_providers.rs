//! Every AEAD provider writes the same wire (`docs/PROTOCOL.md` §3.3): a
//! probe sealed with one opens with the other, byte for byte, and a tag
//! or a byte altered is refused by both.

use probekey::SymmetricKey;
use probekey::internals::aead::{AeadProvider, RustCrypto};

fn key(i: u8) -> SymmetricKey {
    SymmetricKey::from_bytes([i.wrapping_mul(37).wrapping_add(1); 32])
}

/// Seals with `S`, opens with `O`, for bodies of every length up to 200
/// bytes and counters at the edges, and checks the ciphertexts agree.
fn cross<S: AeadProvider, O: AeadProvider>() {
    for len in 0..200usize {
        for counter in [0u64, 1, 255, 1 << 32, u64::MAX - (1 << 16)] {
            let k = key(u8::try_from(len % 256).expect("small"));
            let ad = [len as u8 ^ 0x5a; 32];
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut sealed = plain.clone();
            let tag = S::seal(&S::prepare(&k), counter, &ad, &mut sealed);
            let mut theirs = plain.clone();
            let their_tag = O::seal(&O::prepare(&k), counter, &ad, &mut theirs);
            assert_eq!(sealed, theirs, "ciphertext, {len} bytes, counter {counter}");
            assert_eq!(tag, their_tag, "tag, {len} bytes, counter {counter}");
            let mut wire = sealed.clone();
            wire.extend_from_slice(&tag);
            let opened = O::open(&O::prepare(&k), counter, &ad, &mut wire)
                .expect("sealed by the other provider");
            assert_eq!(opened, &plain[..]);
            // One bit anywhere, the tag included, is refused.
            for at in [0, len / 2, len, len + 15] {
                let mut bad = sealed.clone();
                bad.extend_from_slice(&tag);
                if at < bad.len() {
                    bad[at] ^= 0x10;
                    assert!(O::open(&O::prepare(&k), counter, &ad, &mut bad).is_err());
                }
            }
            // Another counter or associated data is refused.
            let mut wire = sealed.clone();
            wire.extend_from_slice(&tag);
            assert!(O::open(&O::prepare(&k), counter ^ 1, &ad, &mut wire.clone()).is_err());
            let mut other_ad = ad;
            other_ad[0] ^= 1;
            assert!(O::open(&O::prepare(&k), counter, &other_ad, &mut wire).is_err());
        }
    }
    // Shorter than a tag: refused, not a panic.
    let mut short = [0u8; 15];
    assert!(O::open(&O::prepare(&key(0)), 0, &[], &mut short).is_err());
}

#[test]
fn rustcrypto_opens_what_rustcrypto_seals() {
    cross::<RustCrypto, RustCrypto>();
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn aws_lc_and_rustcrypto_write_the_same_wire_both_ways() {
    use probekey::internals::aead::AwsLc;
    cross::<AwsLc, RustCrypto>();
    cross::<RustCrypto, AwsLc>();
    cross::<AwsLc, AwsLc>();
}

/// The build's default provider is the fast one when the feature is on.
#[test]
fn the_default_provider_is_the_features_choice() {
    let name = core::any::type_name::<probekey::internals::aead::Provider>();
    if cfg!(feature = "aws-lc-rs") {
        assert!(name.ends_with("AwsLc"), "{name}");
    } else {
        assert!(name.ends_with("RustCrypto"), "{name}");
    }
}

//! The handshake MACs (`docs/PROTOCOL.md` §3.4, §3.5): their keys, sealing
//! a message with both, and the two checks.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::PublicKey;
use crate::noise::StaticDh;
use crate::wire::{MAC1_LEN, MAC1_OFFSET, MAC2_OFFSET};

const LABEL_MAC1: &[u8] = b"probekey v1 mac1";
const LABEL_MAC2: &[u8] = b"probekey v1 mac2";

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
        h.update(public.as_bytes());
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

/// mac1 of messages written to us (§3.4): refuses, for one HMAC, handshake
/// messages not written for this endpoint.
pub(crate) struct OwnMac1(MacKey);

impl OwnMac1 {
    pub(crate) fn new(own: &PublicKey) -> Self {
        OwnMac1(MacKey::for_receiver(own))
    }

    /// Whether `message`'s mac1 is right.
    pub(crate) fn check(&self, message: &[u8]) -> bool {
        message.len() >= MAC2_OFFSET
            && self
                .0
                .verify(&message[..MAC1_OFFSET], &message[MAC1_OFFSET..MAC2_OFFSET])
    }
}

/// The MAC keys of one peer: mac1 of messages to it, mac2 both ways.
pub(crate) struct PeerMacs {
    mac1_to_peer: MacKey,
    mac2: MacKey,
}

impl PeerMacs {
    pub(crate) fn new(peer: &PublicKey, pair: &StaticDh) -> Self {
        PeerMacs {
            mac1_to_peer: MacKey::for_receiver(peer),
            mac2: MacKey::for_pair(pair.as_bytes()),
        }
    }

    /// Writes mac1 and mac2 into a whole handshake message to the peer.
    pub(crate) fn seal(&self, message: &mut [u8]) {
        let mac1 = self.mac1_to_peer.compute(&message[..MAC1_OFFSET]);
        message[MAC1_OFFSET..MAC2_OFFSET].copy_from_slice(&mac1);
        let mac2 = self.mac2.compute(&message[..MAC2_OFFSET]);
        message[MAC2_OFFSET..MAC2_OFFSET + MAC1_LEN].copy_from_slice(&mac2);
    }

    /// mac2 (§3.5): only the two peers hold its key, so a handshake message
    /// forged by anyone else stops here, before the rate limit and any
    /// Diffie-Hellman.
    pub(crate) fn check_mac2(&self, message: &[u8]) -> bool {
        message.len() >= MAC2_OFFSET + MAC1_LEN
            && self.mac2.verify(
                &message[..MAC2_OFFSET],
                &message[MAC2_OFFSET..MAC2_OFFSET + MAC1_LEN],
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac1_rejects_any_change() {
        let k = MacKey::for_receiver(&PublicKey::from_bytes([9; 32]));
        let msg = [1u8; 68];
        let tag = k.compute(&msg);
        assert!(k.verify(&msg, &tag));
        let mut bad = msg;
        bad[67] ^= 1;
        assert!(!k.verify(&bad, &tag));
        let other = MacKey::for_receiver(&PublicKey::from_bytes([8; 32]));
        assert!(!other.verify(&msg, &tag));
    }
}

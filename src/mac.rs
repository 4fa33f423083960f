//! The handshake MACs (`docs/PROTOCOL.md` §3.4, §3.5, §4.5): their keys,
//! sealing a message with both, the two checks, and the challenges that
//! bind an initiation to the moment it was asked for.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::KeyId;
use crate::keys::PublicKey;
use crate::noise::StaticDh;
use crate::wire::{CHALLENGE_MAC_OFFSET, MAC1_LEN, MAC1_OFFSET, MAC2_OFFSET};

const LABEL_MAC1: &[u8] = b"probekey v1 mac1";
const LABEL_MAC2: &[u8] = b"probekey v1 mac2";

/// The key of a handshake MAC (§3.4, §3.5): mac1's is public, mac2's is a
/// secret of the two peers.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct MacKey([u8; 32]);

impl MacKey {
    /// mac1's key: `SHA-256(LABEL_MAC1 || receiver public key)`. Not
    /// secret: it only proves the sender knew whom it wrote to.
    pub(crate) fn for_receiver(public: &PublicKey) -> Self {
        MacKey(crate::primitives::sha256(&[LABEL_MAC1, public.as_bytes()]))
    }

    /// mac2's key: HKDF-SHA-256 of the static-static Diffie-Hellman result
    /// (salt `LABEL_MAC2`, empty info). Only the two peers can compute it.
    pub(crate) fn for_pair(static_dh: &[u8; 32]) -> Self {
        let mut k = [0u8; 32];
        crate::primitives::hkdf(LABEL_MAC2, static_dh, &mut k);
        MacKey(k)
    }

    /// A random key (the challenge secret, §4.5).
    pub(crate) fn random<R: rand_core::CryptoRng>(rng: &mut R) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        MacKey(k)
    }

    /// The first 16 bytes of HMAC-SHA-256 over `msg` then `binding`.
    pub(crate) fn compute(&self, msg: &[u8], binding: &[u8]) -> [u8; 16] {
        crate::primitives::hmac16(&self.0, &[msg, binding])
    }

    /// Writes the MAC of `message[..at]` then `binding` into
    /// `message[at..at + 16]`.
    fn write_at(&self, message: &mut [u8], at: usize, binding: &[u8]) {
        let mac = self.compute(&message[..at], binding);
        message[at..at + MAC1_LEN].copy_from_slice(&mac);
    }

    /// Whether `message[at..at + 16]` is the MAC of `message[..at]` then
    /// `binding`; false for a message too short to hold it.
    fn check_at(&self, message: &[u8], at: usize, binding: &[u8]) -> bool {
        message.len() >= at + MAC1_LEN
            && self.verify(&message[..at], binding, &message[at..at + MAC1_LEN])
    }

    /// Constant-time check of a 16-byte MAC over `msg` then `binding`.
    pub(crate) fn verify(&self, msg: &[u8], binding: &[u8], tag: &[u8]) -> bool {
        crate::primitives::hmac16_verify(&self.0, &[msg, binding], tag)
    }
}

/// mac1 of messages written to us (§3.4): refuses, for one HMAC, handshake
/// messages not written for this endpoint.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct OwnMac1(MacKey);

impl OwnMac1 {
    pub(crate) fn new(own: &PublicKey) -> Self {
        OwnMac1(MacKey::for_receiver(own))
    }

    /// Whether `message`'s mac1 is right.
    pub(crate) fn check(&self, message: &[u8]) -> bool {
        self.0.check_at(message, MAC1_OFFSET, &[])
    }
}

/// What a challenge's MAC covers after its bytes (§2.5).
const CHALLENGE_LABEL: &[u8] = b"challenge";

/// No challenge: what an initiation binds before it was asked for one.
pub(crate) const NO_CHALLENGE: [u8; MAC1_LEN] = [0; MAC1_LEN];

/// The endpoint's challenge secret (§4.5), drawn at start: the value of
/// challenge `number` for the peer with key id `key_id` is
/// `HMAC(secret, key_id || number)`. A restart draws a new one, so no
/// challenge of an earlier run is ever valid again.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct ChallengeSecret(MacKey);

impl ChallengeSecret {
    pub(crate) fn random<R: rand_core::CryptoRng>(rng: &mut R) -> Self {
        ChallengeSecret(MacKey::random(rng))
    }

    pub(crate) fn value(&self, key_id: KeyId, number: u64) -> [u8; MAC1_LEN] {
        self.0.compute(&key_id.0, &number.to_be_bytes())
    }
}

/// The MAC keys of one peer: mac1 of messages to it, mac2 both ways.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
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

    /// Writes mac1 and mac2 into a whole handshake message to the peer;
    /// mac2 also covers `binding` (§3.5: an initiation's challenge value,
    /// a response's initiator ephemeral).
    pub(crate) fn seal(&self, message: &mut [u8], binding: &[u8]) {
        self.mac1_to_peer.write_at(message, MAC1_OFFSET, &[]);
        self.rebind(message, binding);
    }

    /// Writes mac2 again, over another `binding`; mac1 is unchanged.
    pub(crate) fn rebind(&self, message: &mut [u8], binding: &[u8]) {
        self.mac2.write_at(message, MAC2_OFFSET, binding);
    }

    /// mac2 (§3.5) over the message and `binding`: only the two peers hold
    /// its key, so a handshake message forged by anyone else stops here,
    /// before the rate limit and any Diffie-Hellman.
    pub(crate) fn check_mac2(&self, message: &[u8], binding: &[u8]) -> bool {
        self.mac2.check_at(message, MAC2_OFFSET, binding)
    }

    /// Writes a challenge's MAC (keyed like mac2) into the whole message.
    pub(crate) fn seal_challenge(&self, message: &mut [u8]) {
        self.mac2
            .write_at(message, CHALLENGE_MAC_OFFSET, CHALLENGE_LABEL);
    }

    /// Whether a challenge came from the peer.
    pub(crate) fn check_challenge(&self, message: &[u8]) -> bool {
        self.mac2
            .check_at(message, CHALLENGE_MAC_OFFSET, CHALLENGE_LABEL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac1_rejects_any_change() {
        let k = MacKey::for_receiver(&PublicKey::from_bytes([9; 32]));
        let msg = [1u8; 68];
        let tag = k.compute(&msg, &[]);
        assert!(k.verify(&msg, &[], &tag));
        let mut bad = msg;
        bad[67] ^= 1;
        assert!(!k.verify(&bad, &[], &tag));
        assert!(!k.verify(&msg, &[1], &tag), "the binding is covered");
        let other = MacKey::for_receiver(&PublicKey::from_bytes([8; 32]));
        assert!(!other.verify(&msg, &[], &tag));
    }

    fn pair_macs() -> (PeerMacs, PeerMacs, OwnMac1) {
        use crate::keys::StaticKeypair;
        let (a, b) = (
            StaticKeypair::from_secret_bytes([1; 32]),
            StaticKeypair::from_secret_bytes([2; 32]),
        );
        let ab = StaticDh::new(&a, &b.public()).expect("contributory");
        let ba = StaticDh::new(&b, &a.public()).expect("contributory");
        (
            PeerMacs::new(&b.public(), &ab),
            PeerMacs::new(&a.public(), &ba),
            OwnMac1::new(&b.public()),
        )
    }

    /// What a's macs write, b's checks accept, and nothing else: a changed
    /// byte, another binding, a message too short to hold the MACs.
    #[test]
    fn each_check_accepts_exactly_what_the_peer_wrote() {
        let (at_a, at_b, own_b) = pair_macs();
        let mut msg = [7u8; crate::wire::INITIATION_LEN];
        at_a.seal(&mut msg, &[3; 16]);
        assert!(own_b.check(&msg));
        assert!(at_b.check_mac2(&msg, &[3; 16]));
        assert!(!at_b.check_mac2(&msg, &[4; 16]), "another binding");
        let mut changed = msg;
        changed[5] ^= 1;
        assert!(!own_b.check(&changed) && !at_b.check_mac2(&changed, &[3; 16]));
        assert!(
            !own_b.check(&msg[..MAC1_OFFSET + MAC1_LEN - 1]),
            "too short"
        );
        assert!(!own_b.check(&[]));
        assert!(!at_b.check_mac2(&msg[..MAC2_OFFSET + MAC1_LEN - 1], &[3; 16]));

        let mut challenge = [9u8; crate::wire::CHALLENGE_LEN];
        at_a.seal_challenge(&mut challenge);
        assert!(at_b.check_challenge(&challenge));
        challenge[20] ^= 1;
        assert!(!at_b.check_challenge(&challenge));
        assert!(!at_b.check_challenge(&challenge[..CHALLENGE_MAC_OFFSET]));
    }

    /// A challenge's value depends on the peer and the number, and on the
    /// secret: nothing constant an attacker could bind without asking.
    #[test]
    fn challenge_values_differ_by_peer_number_and_secret() {
        let s1 = ChallengeSecret(MacKey::for_pair(&[1; 32]));
        let s2 = ChallengeSecret(MacKey::for_pair(&[2; 32]));
        let id = KeyId([5; 8]);
        let v = s1.value(id, 1);
        assert_ne!(v, NO_CHALLENGE);
        assert_ne!(v, [1; MAC1_LEN]);
        assert_ne!(v, s1.value(id, 2));
        assert_ne!(v, s1.value(KeyId([6; 8]), 1));
        assert_ne!(v, s2.value(id, 1));
        assert_eq!(v, s1.value(id, 1));
    }
}

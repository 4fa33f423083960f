//! `Noise_KK_25519_ChaChaPoly_SHA256` (Noise rev. 34), the resync handshake
//! (`docs/PROTOCOL.md` §4).
//!
//! This is the bare Noise layer: raw Noise messages in and out, no framing,
//! MAC or indexes (those are in [`crate::wire`]). It is public so that the
//! handshake can be checked against other Noise implementations.
//!
//! ```text
//! KK:
//!   -> s
//!   <- s
//!   ...
//!   -> e, es, ss
//!   <- e, ee, se
//! ```
//!
//! The static-static term `ss` never changes for a pair of keys, so callers
//! compute it once per peer ([`StaticDh`]) instead of once per handshake.

use core::fmt;

use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::aead::{self, TAG_LEN};
use crate::keys::{PublicKey, StaticKeypair, SymmetricKey};

/// The Noise protocol name; exactly 32 bytes, so it is also the initial hash.
pub const PROTOCOL_NAME: &[u8; 32] = b"Noise_KK_25519_ChaChaPoly_SHA256";
/// Length of a public key in a message.
pub const DH_LEN: usize = 32;
/// Length of the prologue buffer (`docs/PROTOCOL.md` §4.1).
pub const MAX_PROLOGUE_LEN: usize = 10 + crate::config::MAX_DEPLOYMENT_ID_LEN;

/// Why a Noise message was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoiseError {
    /// The message or an output buffer has the wrong length.
    Length,
    /// A Diffie-Hellman result was all zeros (a low-order public key).
    NonContributory,
    /// The payload failed authentication.
    Decrypt,
    /// The nonce `2^64 - 1`, which Noise reserves.
    NonceExhausted,
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoiseError::Length => "noise message of the wrong length",
            NoiseError::NonContributory => "non-contributory Diffie-Hellman",
            NoiseError::Decrypt => "noise payload failed authentication",
            NoiseError::NonceExhausted => "noise nonce 2^64-1 is reserved",
        })
    }
}

impl core::error::Error for NoiseError {}

/// Writes the prologue that binds the protocol version and the deployment
/// identifier: `"probekey" || version || len(id) || id`.
pub fn prologue(version: u8, deployment_id: &[u8], out: &mut [u8; MAX_PROLOGUE_LEN]) -> usize {
    let id_len = deployment_id
        .len()
        .min(crate::config::MAX_DEPLOYMENT_ID_LEN);
    out[..8].copy_from_slice(b"probekey");
    out[8] = version;
    out[9] = u8::try_from(id_len).unwrap_or(0);
    out[10..10 + id_len].copy_from_slice(&deployment_id[..id_len]);
    10 + id_len
}

/// The prologue of one deployment (§4.1), built once.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct Prologue {
    bytes: [u8; MAX_PROLOGUE_LEN],
    len: usize,
}

impl Prologue {
    /// The prologue for this protocol version and deployment identifier.
    pub fn new(version: u8, deployment_id: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_PROLOGUE_LEN];
        let len = prologue(version, deployment_id, &mut bytes);
        Prologue { bytes, len }
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The static-static Diffie-Hellman result of a pair of keys: the `ss`
/// token, computed once per configured peer.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct StaticDh([u8; 32]);

impl StaticDh {
    /// Computes `DH(local static, remote static)`: one Diffie-Hellman.
    ///
    /// # Errors
    /// [`NoiseError::NonContributory`] if the remote key is of low order.
    pub fn new(local: &StaticKeypair, remote: &PublicKey) -> Result<Self, NoiseError> {
        dh(local.secret(), remote).map(StaticDh)
    }
}

impl StaticDh {
    /// The static-static secret, from which mac2's key is derived (§3.5).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Writes mac1 (keyed from `receiver`'s public key, §3.4) and mac2 (keyed
/// from the pair's static-static secret, §3.5) into a handshake message
/// built with [`Initiator`] or [`Responder`], as the endpoint does before
/// sending it. mac2 also covers `binding` (§3.5): for an initiation the
/// value of the responder's latest challenge, or sixteen zero bytes before
/// it asked for one; for a response the initiator's ephemeral public key
/// (the initiation's bytes 16..48). For other implementations of the
/// protocol and for tests that must reach the checks behind the MACs.
///
/// # Errors
/// [`NoiseError::Length`] unless `message` is [`crate::wire::INITIATION_LEN`]
/// (or, the same, [`crate::wire::RESPONSE_LEN`]) bytes long.
pub fn write_macs(
    pair: &StaticDh,
    receiver: &PublicKey,
    message: &mut [u8],
    binding: &[u8],
) -> Result<(), NoiseError> {
    use crate::wire::{INITIATION_LEN, RESPONSE_LEN};
    const _: () = assert!(INITIATION_LEN == RESPONSE_LEN);
    if message.len() != INITIATION_LEN {
        return Err(NoiseError::Length);
    }
    crate::mac::PeerMacs::new(receiver, pair).seal(message, binding);
    Ok(())
}

impl fmt::Debug for StaticDh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticDh").finish_non_exhaustive()
    }
}

fn dh(secret: &StaticSecret, public: &PublicKey) -> Result<[u8; 32], NoiseError> {
    crate::primitives::x25519(secret, public.as_bytes()).ok_or(NoiseError::NonContributory)
}

/// Noise's `HKDF(ck, ikm)` with two outputs: RFC 5869 with salt `ck` and
/// empty info.
fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    crate::primitives::hkdf(ck, ikm, &mut okm);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    okm.zeroize();
    (a, b)
}

/// Noise's SymmetricState (spec §5.2).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "model", derive(Hash))]
struct SymmetricState {
    ck: [u8; 32],
    h: [u8; 32],
    k: [u8; 32],
    has_key: bool,
    n: u64,
}

impl SymmetricState {
    fn initialize(prologue: &[u8], initiator: &PublicKey, responder: &PublicKey) -> Self {
        let mut s = SymmetricState {
            ck: *PROTOCOL_NAME,
            h: *PROTOCOL_NAME,
            k: [0; 32],
            has_key: false,
            n: 0,
        };
        s.mix_hash(prologue);
        // Pre-messages `-> s` then `<- s`.
        s.mix_hash(initiator.as_bytes());
        s.mix_hash(responder.as_bytes());
        s
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = crate::primitives::sha256(&[&self.h, data]);
    }

    fn mix_key(&mut self, mut ikm: [u8; 32]) {
        let (ck, k) = hkdf2(&self.ck, &ikm);
        ikm.zeroize();
        self.ck = ck;
        self.k = k;
        self.has_key = true;
        self.n = 0;
    }

    /// EncryptAndHash: `buf` holds the plaintext followed by room for the
    /// tag; on return it holds the ciphertext.
    fn encrypt_and_hash(&mut self, buf: &mut [u8]) -> Result<(), NoiseError> {
        if !self.has_key || buf.len() < TAG_LEN {
            return Err(NoiseError::Length);
        }
        let split = buf.len() - TAG_LEN;
        let key = SymmetricKey::from_bytes(self.k);
        let tag = aead::seal(&key, self.n, &self.h, &mut buf[..split]);
        buf[split..].copy_from_slice(&tag);
        self.n += 1;
        self.mix_hash(buf);
        Ok(())
    }

    /// DecryptAndHash into `out` (which must be ciphertext length - 16).
    fn decrypt_and_hash(&mut self, ciphertext: &[u8], out: &mut [u8]) -> Result<(), NoiseError> {
        if !self.has_key || ciphertext.len() < TAG_LEN || out.len() != ciphertext.len() - TAG_LEN {
            return Err(NoiseError::Length);
        }
        let split = ciphertext.len() - TAG_LEN;
        out.copy_from_slice(&ciphertext[..split]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&ciphertext[split..]);
        let key = SymmetricKey::from_bytes(self.k);
        if aead::open(&key, self.n, &self.h, out, &tag).is_err() {
            out.zeroize();
            return Err(NoiseError::Decrypt);
        }
        self.n += 1;
        self.mix_hash(ciphertext);
        Ok(())
    }

    fn split(&self) -> TransportKeys {
        let (k1, k2) = hkdf2(&self.ck, &[]);
        TransportKeys {
            initiator_to_responder: SymmetricKey::from_bytes(k1),
            responder_to_initiator: SymmetricKey::from_bytes(k2),
            handshake_hash: self.h,
        }
    }
}

/// The result of a completed handshake: Noise's `Split()` and the handshake
/// hash.
#[derive(Clone)]
pub struct TransportKeys {
    initiator_to_responder: SymmetricKey,
    responder_to_initiator: SymmetricKey,
    handshake_hash: [u8; 32],
}

/// Which direction of a Noise transport.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Initiator to responder: the first key of `Split()`.
    InitiatorToResponder,
    /// Responder to initiator: the second key.
    ResponderToInitiator,
}

impl TransportKeys {
    /// Keys as a handshake would split them, for the session's unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(
        initiator_to_responder: [u8; 32],
        responder_to_initiator: [u8; 32],
    ) -> Self {
        TransportKeys {
            initiator_to_responder: SymmetricKey::from_bytes(initiator_to_responder),
            responder_to_initiator: SymmetricKey::from_bytes(responder_to_initiator),
            handshake_hash: [0; 32],
        }
    }

    /// The handshake hash `h`, identical on both sides of a handshake.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    pub(crate) fn key(&self, direction: Direction) -> &SymmetricKey {
        match direction {
            Direction::InitiatorToResponder => &self.initiator_to_responder,
            Direction::ResponderToInitiator => &self.responder_to_initiator,
        }
    }

    /// Encrypts one Noise transport message in place under the raw split key
    /// of `direction` with nonce `n`, returning the tag. The probe path does
    /// not use this: it uses epoch keys derived from these
    /// (`docs/PROTOCOL.md` §5.1). Exposed for interoperability checks.
    ///
    /// # Errors
    /// [`NoiseError::NonceExhausted`] for `n = 2^64 - 1`, which Noise
    /// reserves.
    pub fn encrypt_transport(
        &self,
        direction: Direction,
        n: u64,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], NoiseError> {
        if n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        Ok(aead::seal(self.key(direction), n, &[], buf))
    }

    /// Decrypts one Noise transport message in place; see
    /// [`Self::encrypt_transport`].
    ///
    /// # Errors
    /// [`NoiseError::Decrypt`] if the tag does not authenticate;
    /// [`NoiseError::NonceExhausted`] for `n = 2^64 - 1`.
    pub fn decrypt_transport(
        &self,
        direction: Direction,
        n: u64,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), NoiseError> {
        if n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        aead::open(self.key(direction), n, &[], buf, tag).map_err(|()| NoiseError::Decrypt)
    }
}

impl Drop for TransportKeys {
    fn drop(&mut self) {
        self.handshake_hash.zeroize();
    }
}

impl fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportKeys").finish_non_exhaustive()
    }
}

/// Length of a Noise message carrying a payload of `payload_len` bytes.
pub const fn message_len(payload_len: usize) -> usize {
    DH_LEN + payload_len + TAG_LEN
}

/// An initiator that has written message 1 and waits for message 2.
#[derive(Clone)]
pub struct Initiator {
    state: SymmetricState,
    ephemeral: StaticSecret,
}

#[cfg(feature = "model")]
impl core::hash::Hash for Initiator {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.state.hash(h);
        self.ephemeral.as_bytes().hash(h);
    }
}

impl Initiator {
    /// Diffie-Hellmans [`Self::write_initiation`] performs (`es`; `ss` is
    /// precomputed), counted by the caller.
    pub const WRITE_INITIATION_DH: u64 = 1;
    /// Diffie-Hellmans [`Self::read_response`] performs (`ee`, `se`).
    pub const READ_RESPONSE_DH: u64 = 2;

    /// Writes message 1 (`e, es, ss`) with `payload` into `out` and returns
    /// the initiator state and the message length. One Diffie-Hellman (`es`)
    /// plus the ephemeral key generation; `ss` is precomputed.
    ///
    /// # Errors
    /// [`NoiseError::Length`] if `out` is not exactly
    /// `message_len(payload.len())`; [`NoiseError::NonContributory`].
    pub fn write_initiation(
        prologue: &[u8],
        local: &StaticKeypair,
        remote: &PublicKey,
        ss: &StaticDh,
        ephemeral: StaticSecret,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<Initiator, NoiseError> {
        if out.len() != message_len(payload.len()) {
            return Err(NoiseError::Length);
        }
        let mut state = SymmetricState::initialize(prologue, &local.public(), remote);
        let e_pub = crate::primitives::x25519_public(&ephemeral);
        out[..DH_LEN].copy_from_slice(&e_pub);
        state.mix_hash(&e_pub);
        state.mix_key(dh(&ephemeral, remote)?);
        state.mix_key(ss.0);
        let body = &mut out[DH_LEN..];
        body[..payload.len()].copy_from_slice(payload);
        state.encrypt_and_hash(body)?;
        Ok(Initiator { state, ephemeral })
    }

    /// The ephemeral public key sent in message 1.
    pub fn ephemeral_public(&self) -> PublicKey {
        PublicKey::from_bytes(crate::primitives::x25519_public(&self.ephemeral))
    }

    /// Reads message 2 (`e, ee, se`), writing its payload to `payload_out`
    /// (exactly `msg.len() - 48` bytes). Leaves `self` unchanged, so a forged
    /// response costs the initiator nothing but the two Diffie-Hellmans.
    ///
    /// # Errors
    /// [`NoiseError::Length`], [`NoiseError::NonContributory`],
    /// [`NoiseError::Decrypt`].
    pub fn read_response(
        &self,
        local: &StaticKeypair,
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<TransportKeys, NoiseError> {
        if msg.len() < DH_LEN + TAG_LEN {
            return Err(NoiseError::Length);
        }
        let mut state = self.state.clone();
        let mut re = [0u8; 32];
        re.copy_from_slice(&msg[..DH_LEN]);
        let re = PublicKey::from_bytes(re);
        state.mix_hash(re.as_bytes());
        state.mix_key(dh(&self.ephemeral, &re)?);
        state.mix_key(dh(local.secret(), &re)?);
        state.decrypt_and_hash(&msg[DH_LEN..], payload_out)?;
        Ok(state.split())
    }
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator").finish_non_exhaustive()
    }
}

/// A responder that has read message 1.
pub struct Responder {
    state: SymmetricState,
    remote_ephemeral: PublicKey,
}

impl Responder {
    /// Diffie-Hellmans [`Self::read_initiation`] performs (`es`; `ss` is
    /// precomputed), counted by the caller.
    pub const READ_INITIATION_DH: u64 = 1;
    /// Diffie-Hellmans [`Self::write_response`] performs (`ee`, `se`).
    pub const WRITE_RESPONSE_DH: u64 = 2;

    /// Reads message 1 from the initiator whose static key is `remote`,
    /// writing its payload to `payload_out` (exactly `msg.len() - 48` bytes).
    /// One Diffie-Hellman (`es`); `ss` is precomputed.
    ///
    /// # Errors
    /// [`NoiseError::Length`], [`NoiseError::NonContributory`],
    /// [`NoiseError::Decrypt`].
    pub fn read_initiation(
        prologue: &[u8],
        local: &StaticKeypair,
        remote: &PublicKey,
        ss: &StaticDh,
        msg: &[u8],
        payload_out: &mut [u8],
    ) -> Result<Responder, NoiseError> {
        if msg.len() < DH_LEN + TAG_LEN {
            return Err(NoiseError::Length);
        }
        let mut state = SymmetricState::initialize(prologue, remote, &local.public());
        let mut re = [0u8; 32];
        re.copy_from_slice(&msg[..DH_LEN]);
        let re = PublicKey::from_bytes(re);
        state.mix_hash(re.as_bytes());
        state.mix_key(dh(local.secret(), &re)?);
        state.mix_key(ss.0);
        state.decrypt_and_hash(&msg[DH_LEN..], payload_out)?;
        Ok(Responder {
            state,
            remote_ephemeral: re,
        })
    }

    /// The initiator's ephemeral public key from message 1.
    pub fn remote_ephemeral(&self) -> PublicKey {
        self.remote_ephemeral
    }

    /// Writes message 2 (`e, ee, se`) with `payload` into `out` (exactly
    /// `message_len(payload.len())` bytes). Two Diffie-Hellmans plus the
    /// ephemeral key generation.
    ///
    /// # Errors
    /// [`NoiseError::Length`], [`NoiseError::NonContributory`].
    pub fn write_response(
        mut self,
        initiator: &PublicKey,
        ephemeral: StaticSecret,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<TransportKeys, NoiseError> {
        if out.len() != message_len(payload.len()) {
            return Err(NoiseError::Length);
        }
        let e_pub = crate::primitives::x25519_public(&ephemeral);
        out[..DH_LEN].copy_from_slice(&e_pub);
        self.state.mix_hash(&e_pub);
        self.state.mix_key(dh(&ephemeral, &self.remote_ephemeral)?);
        self.state.mix_key(dh(&ephemeral, initiator)?);
        let body = &mut out[DH_LEN..];
        body[..payload.len()].copy_from_slice(payload);
        self.state.encrypt_and_hash(body)?;
        Ok(self.state.split())
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(b: u8) -> StaticKeypair {
        StaticKeypair::from_secret_bytes([b; 32])
    }

    fn handshake(
        prologue_i: &[u8],
        prologue_r: &[u8],
    ) -> Result<(TransportKeys, TransportKeys), NoiseError> {
        let (i, r) = (kp(1), kp(2));
        let ss_i = StaticDh::new(&i, &r.public())?;
        let ss_r = StaticDh::new(&r, &i.public())?;
        let mut m1 = [0u8; message_len(4)];
        let init = Initiator::write_initiation(
            prologue_i,
            &i,
            &r.public(),
            &ss_i,
            StaticSecret::from([3; 32]),
            b"ping",
            &mut m1,
        )?;
        let mut p1 = [0u8; 4];
        let resp = Responder::read_initiation(prologue_r, &r, &i.public(), &ss_r, &m1, &mut p1)?;
        assert_eq!(&p1, b"ping");
        let mut m2 = [0u8; message_len(4)];
        let keys_r =
            resp.write_response(&i.public(), StaticSecret::from([4; 32]), b"pong", &mut m2)?;
        let mut p2 = [0u8; 4];
        let keys_i = init.read_response(&i, &m2, &mut p2)?;
        assert_eq!(&p2, b"pong");
        assert_eq!(
            Initiator::WRITE_INITIATION_DH
                + Initiator::READ_RESPONSE_DH
                + Responder::READ_INITIATION_DH
                + Responder::WRITE_RESPONSE_DH,
            6,
            "es, ee and se on each side; ss precomputed"
        );
        Ok((keys_i, keys_r))
    }

    #[test]
    fn both_sides_agree() {
        let (a, b) = handshake(b"p", b"p").unwrap();
        assert_eq!(a.handshake_hash(), b.handshake_hash());
        let mut msg = *b"hello";
        let tag = a
            .encrypt_transport(Direction::InitiatorToResponder, 0, &mut msg)
            .unwrap();
        b.decrypt_transport(Direction::InitiatorToResponder, 0, &mut msg, &tag)
            .unwrap();
        assert_eq!(&msg, b"hello");
        assert_ne!(
            a.key(Direction::InitiatorToResponder),
            a.key(Direction::ResponderToInitiator)
        );
    }

    #[test]
    fn different_prologues_never_agree() {
        assert_eq!(
            handshake(b"prod", b"staging").err(),
            Some(NoiseError::Decrypt)
        );
    }

    /// §4.1: `"probekey" || version || len(id) || id`, an identifier cut
    /// at its maximum length, which the buffer holds exactly.
    #[test]
    fn the_prologue_is_the_documented_bytes() {
        let p = Prologue::new(2, b"prod");
        assert_eq!(p.as_bytes(), b"probekey\x02\x04prod");
        assert_eq!(Prologue::new(7, b"").as_bytes(), b"probekey\x07\x00");
        let max = crate::config::MAX_DEPLOYMENT_ID_LEN;
        assert_eq!(MAX_PROLOGUE_LEN, 10 + max);
        let long = std::vec![b'x'; max + 5];
        let cut = Prologue::new(2, &long);
        assert_eq!(cut.as_bytes().len(), MAX_PROLOGUE_LEN);
        assert_eq!(usize::from(cut.as_bytes()[9]), max);
        assert_eq!(&cut.as_bytes()[10..], &long[..max]);
    }

    #[test]
    fn macs_are_written_where_the_receiver_checks_them() {
        use crate::wire::{INITIATION_LEN, MAC1_OFFSET, MAC2_OFFSET};
        let (i, r) = (kp(1), kp(2));
        let pair = StaticDh::new(&i, &r.public()).unwrap();
        let mut message = [0x5Au8; INITIATION_LEN];
        write_macs(&pair, &r.public(), &mut message, b"binding").unwrap();
        assert_eq!(
            message[..MAC1_OFFSET],
            [0x5A; MAC1_OFFSET],
            "the body untouched"
        );
        assert!(crate::mac::OwnMac1::new(&r.public()).check(&message));
        let receiver =
            crate::mac::PeerMacs::new(&i.public(), &StaticDh::new(&r, &i.public()).unwrap());
        assert!(receiver.check_mac2(&message, b"binding"));
        assert!(!receiver.check_mac2(&message, b"another"));
        assert_ne!(message[MAC2_OFFSET..], [0x5A; 16]);
        for len in [INITIATION_LEN - 1, INITIATION_LEN + 1, 0] {
            let mut wrong = std::vec![0u8; len];
            assert_eq!(
                write_macs(&pair, &r.public(), &mut wrong, b""),
                Err(NoiseError::Length)
            );
            assert!(wrong.iter().all(|&b| b == 0), "nothing written");
        }
    }

    /// `i`'s initiation to `r` with an empty payload.
    fn initiate_empty(
        i: &StaticKeypair,
        r: &StaticKeypair,
        ss: &StaticDh,
    ) -> (Initiator, [u8; message_len(0)]) {
        let mut m1 = [0u8; message_len(0)];
        let init = Initiator::write_initiation(
            b"p",
            i,
            &r.public(),
            ss,
            StaticSecret::from([3; 32]),
            b"",
            &mut m1,
        )
        .expect("an empty payload is written");
        (init, m1)
    }

    #[test]
    fn errors_and_secrets_print_what_they_are_and_no_more() {
        use std::string::ToString;
        for (e, text) in [
            (NoiseError::Length, "noise message of the wrong length"),
            (
                NoiseError::NonContributory,
                "non-contributory Diffie-Hellman",
            ),
            (NoiseError::Decrypt, "noise payload failed authentication"),
            (NoiseError::NonceExhausted, "noise nonce 2^64-1 is reserved"),
        ] {
            assert_eq!(e.to_string(), text);
        }
        let pair = StaticDh::new(&kp(1), &kp(2).public()).unwrap();
        assert_eq!(std::format!("{pair:?}"), "StaticDh { .. }");
        let (keys, _) = handshake(b"p", b"p").unwrap();
        assert_eq!(std::format!("{keys:?}"), "TransportKeys { .. }");
        let (i, r) = (kp(1), kp(2));
        let (init, m1) = initiate_empty(&i, &r, &pair);
        assert_eq!(std::format!("{init:?}"), "Initiator { .. }");
        let ss_r = StaticDh::new(&r, &i.public()).unwrap();
        let resp = Responder::read_initiation(b"p", &r, &i.public(), &ss_r, &m1, &mut []).unwrap();
        assert_eq!(std::format!("{resp:?}"), "Responder { .. }");
    }

    /// Empty payloads: the ciphertexts are the tags alone. A payload buffer
    /// of the wrong length for the message is refused, on either side.
    #[test]
    fn payload_lengths_are_exact_down_to_none() {
        let (i, r) = (kp(1), kp(2));
        let ss_i = StaticDh::new(&i, &r.public()).unwrap();
        let ss_r = StaticDh::new(&r, &i.public()).unwrap();
        let (init, m1) = initiate_empty(&i, &r, &ss_i);
        for wrong in [1usize, 4] {
            let mut out = std::vec![0u8; wrong];
            assert_eq!(
                Responder::read_initiation(b"p", &r, &i.public(), &ss_r, &m1, &mut out).err(),
                Some(NoiseError::Length)
            );
        }
        let resp = Responder::read_initiation(b"p", &r, &i.public(), &ss_r, &m1, &mut [])
            .expect("an empty payload is read");
        let mut m2 = [0u8; message_len(0)];
        let keys_r = resp
            .write_response(&i.public(), StaticSecret::from([4; 32]), b"", &mut m2)
            .expect("an empty response is written");
        let mut out = [0u8; 2];
        assert_eq!(
            init.clone().read_response(&i, &m2, &mut out).err(),
            Some(NoiseError::Length)
        );
        // Messages shorter than an ephemeral key and a tag are refused
        // before anything is read from them.
        for short in [0usize, 10, 20, DH_LEN, DH_LEN + TAG_LEN - 1] {
            let m = std::vec![0u8; short];
            assert_eq!(
                init.clone().read_response(&i, &m, &mut []).err(),
                Some(NoiseError::Length)
            );
            assert_eq!(
                Responder::read_initiation(b"p", &r, &i.public(), &ss_r, &m, &mut []).err(),
                Some(NoiseError::Length)
            );
        }
        let keys_i = init.read_response(&i, &m2, &mut []).expect("and read");
        assert_eq!(keys_i.handshake_hash(), keys_r.handshake_hash());
    }

    #[test]
    fn low_order_key_is_refused() {
        assert_eq!(
            StaticDh::new(&kp(1), &PublicKey::from_bytes([0; 32])).err(),
            Some(NoiseError::NonContributory)
        );
    }
}

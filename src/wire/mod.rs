//! The datagram formats (`docs/PROTOCOL.md` §2), as plain structs that parse
//! from bytes and emit back to the same bytes.
//!
//! Parsing checks every length, the type, the version and every reserved
//! bit once; after it, every field access is infallible.

use core::fmt;

use crate::aead::TAG_LEN;
use crate::ids::{Epoch, SessionIndex};
use crate::keys::KeyId;

/// The protocol version carried in byte 1 of every datagram and bound into
/// the handshake prologue.
pub const VERSION: u8 = 2;

/// Message type of a handshake initiation.
pub const TYPE_INITIATION: u8 = 1;
/// Message type of a handshake response.
pub const TYPE_RESPONSE: u8 = 2;
/// Message type of a probe.
pub const TYPE_PROBE: u8 = 3;
/// Message type of a challenge.
pub const TYPE_CHALLENGE: u8 = 4;
/// Length of a challenge.
pub const CHALLENGE_LEN: usize = 48;
/// Offset of a challenge's MAC.
pub const CHALLENGE_MAC_OFFSET: usize = 32;
/// Offset of the initiator's ephemeral public key in an initiation: the
/// first 32 bytes of its Noise message.
pub const INITIATION_EPHEMERAL_OFFSET: usize = 16;

/// Length of a handshake initiation.
pub const INITIATION_LEN: usize = 108;
/// Length of a handshake response.
pub const RESPONSE_LEN: usize = 108;
/// Length of a probe's clear header.
pub const PROBE_HEADER_LEN: usize = 32;
/// Length of the sender's clock reading sealed in front of a probe's body
/// (§2.4, §6.2).
pub const PROBE_TIME_LEN: usize = 8;
/// Bytes a probe adds to its body: header, sealed send time and tag.
pub const PROBE_OVERHEAD: usize = PROBE_HEADER_LEN + PROBE_TIME_LEN + TAG_LEN;
/// Length of the Noise payload in an initiation: the sender index and the
/// proposed session generation.
pub const INITIATION_PAYLOAD_LEN: usize = 12;
/// Length of the Noise payload in a response: both indexes and the agreed
/// session generation.
pub const RESPONSE_PAYLOAD_LEN: usize = 16;
/// Offset of mac1 in both handshake messages; mac1 covers the bytes before.
pub const MAC1_OFFSET: usize = 76;
/// Length of mac1 and of mac2.
pub const MAC1_LEN: usize = 16;
/// Offset of mac2 in both handshake messages; mac2 covers the bytes before
/// (mac1 included).
pub const MAC2_OFFSET: usize = MAC1_OFFSET + MAC1_LEN;
/// Length of the Noise message in an initiation.
pub const INITIATION_NOISE_LEN: usize = MAC1_OFFSET - 16;
/// Length of the Noise message in a response.
pub const RESPONSE_NOISE_LEN: usize = MAC1_OFFSET - 12;

/// Why bytes are not a well-formed datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum WireError {
    /// Fewer than two bytes: no type and version.
    Truncated,
    /// The first byte is no known message type.
    UnknownType(u8),
    /// The version byte is not [`VERSION`].
    UnsupportedVersion(u8),
    /// The length does not fit the message type.
    BadLength {
        /// The message type.
        message_type: u8,
        /// The length received.
        actual: usize,
    },
    /// A reserved field or flag bit is not zero.
    Reserved,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("datagram shorter than its type and version"),
            WireError::UnknownType(t) => write!(f, "unknown message type {t}"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            WireError::BadLength {
                message_type,
                actual,
            } => write!(
                f,
                "message type {message_type} cannot be {actual} bytes long"
            ),
            WireError::Reserved => f.write_str("reserved bits set"),
        }
    }
}

impl core::error::Error for WireError {}

/// An output buffer too small for the datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// The size the datagram needs.
    pub required_size: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer too small: {} bytes required", self.required_size)
    }
}

impl core::error::Error for BufferTooSmall {}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn array_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

fn check_fixed(bytes: &[u8], message_type: u8, len: usize) -> Result<(), WireError> {
    if bytes.len() != len {
        return Err(WireError::BadLength {
            message_type,
            actual: bytes.len(),
        });
    }
    if bytes[2] != 0 || bytes[3] != 0 {
        return Err(WireError::Reserved);
    }
    Ok(())
}

/// Checks a whole fixed-length message of `message_type`: header, then
/// length.
fn check_message(bytes: &[u8], message_type: u8, len: usize) -> Result<(), WireError> {
    check_header(bytes, message_type)?;
    check_fixed(bytes, message_type, len)
}

/// Writes the common header (§2.1) of a `message_type` into `out`.
fn emit_header(out: &mut [u8], message_type: u8) {
    out[0] = message_type;
    out[1] = VERSION;
    out[2..4].fill(0);
}

/// Writes a handshake message's two MACs at their offsets (§2.2, §2.3).
fn emit_macs(out: &mut [u8], mac1: &[u8; MAC1_LEN], mac2: &[u8; MAC1_LEN]) {
    out[MAC1_OFFSET..MAC2_OFFSET].copy_from_slice(mac1);
    out[MAC2_OFFSET..MAC2_OFFSET + MAC1_LEN].copy_from_slice(mac2);
}

/// A handshake initiation (§2.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Initiation {
    /// The initiator's index for the session being set up.
    pub sender_index: SessionIndex,
    /// Identifier of the initiator's static key.
    pub key_id: KeyId,
    /// The Noise message: ephemeral key and encrypted payload.
    pub noise: [u8; INITIATION_NOISE_LEN],
    /// HMAC over the bytes before it, keyed from the responder's public key.
    pub mac1: [u8; MAC1_LEN],
    /// HMAC over the bytes before it, keyed from the two static keys'
    /// Diffie-Hellman result (§3.5).
    pub mac2: [u8; MAC1_LEN],
}

impl Initiation {
    /// Parses exactly [`INITIATION_LEN`] bytes.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        check_message(bytes, TYPE_INITIATION, INITIATION_LEN)?;
        Ok(Initiation {
            sender_index: SessionIndex(u32_at(bytes, 4)),
            key_id: KeyId(array_at(bytes, 8)),
            noise: array_at(bytes, 16),
            mac1: array_at(bytes, MAC1_OFFSET),
            mac2: array_at(bytes, MAC2_OFFSET),
        })
    }

    /// Writes the message into `out`, returning its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] if `out` is shorter than [`INITIATION_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = sized(out, INITIATION_LEN)?;
        emit_header(out, TYPE_INITIATION);
        out[4..8].copy_from_slice(&self.sender_index.0.to_be_bytes());
        out[8..16].copy_from_slice(&self.key_id.0);
        out[16..MAC1_OFFSET].copy_from_slice(&self.noise);
        emit_macs(out, &self.mac1, &self.mac2);
        Ok(INITIATION_LEN)
    }
}

/// A handshake response (§2.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The responder's index for the new session.
    pub sender_index: SessionIndex,
    /// The initiator's index, copied from the initiation.
    pub receiver_index: SessionIndex,
    /// The Noise message: ephemeral key and encrypted payload.
    pub noise: [u8; RESPONSE_NOISE_LEN],
    /// HMAC over the bytes before it, keyed from the initiator's public key.
    pub mac1: [u8; MAC1_LEN],
    /// HMAC over the bytes before it, keyed from the two static keys'
    /// Diffie-Hellman result (§3.5).
    pub mac2: [u8; MAC1_LEN],
}

impl Response {
    /// Parses exactly [`RESPONSE_LEN`] bytes.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        check_message(bytes, TYPE_RESPONSE, RESPONSE_LEN)?;
        Ok(Response {
            sender_index: SessionIndex(u32_at(bytes, 4)),
            receiver_index: SessionIndex(u32_at(bytes, 8)),
            noise: array_at(bytes, 12),
            mac1: array_at(bytes, MAC1_OFFSET),
            mac2: array_at(bytes, MAC2_OFFSET),
        })
    }

    /// Writes the message into `out`, returning its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] if `out` is shorter than [`RESPONSE_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = sized(out, RESPONSE_LEN)?;
        emit_header(out, TYPE_RESPONSE);
        out[4..8].copy_from_slice(&self.sender_index.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.receiver_index.0.to_be_bytes());
        out[12..MAC1_OFFSET].copy_from_slice(&self.noise);
        emit_macs(out, &self.mac1, &self.mac2);
        Ok(RESPONSE_LEN)
    }
}

/// A challenge (§2.5): a responder's demand that an initiation prove it
/// is new by binding `value` into its mac2 (§4.5).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The initiator's index, copied from the initiation that asked.
    pub receiver_index: SessionIndex,
    /// The challenge's number: it only goes up while the responder runs.
    pub number: u64,
    /// What the next initiation must bind into its mac2.
    pub value: [u8; MAC1_LEN],
    /// HMAC over the bytes before it, keyed like mac2 (§3.5).
    pub mac: [u8; MAC1_LEN],
}

impl Challenge {
    /// Parses exactly [`CHALLENGE_LEN`] bytes.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        check_message(bytes, TYPE_CHALLENGE, CHALLENGE_LEN)?;
        Ok(Challenge {
            receiver_index: SessionIndex(u32_at(bytes, 4)),
            number: u64_at(bytes, 8),
            value: array_at(bytes, 16),
            mac: array_at(bytes, CHALLENGE_MAC_OFFSET),
        })
    }

    /// Writes the message into `out`, returning its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] if `out` is shorter than [`CHALLENGE_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = sized(out, CHALLENGE_LEN)?;
        emit_header(out, TYPE_CHALLENGE);
        out[4..8].copy_from_slice(&self.receiver_index.0.to_be_bytes());
        out[8..16].copy_from_slice(&self.number.to_be_bytes());
        out[16..CHALLENGE_MAC_OFFSET].copy_from_slice(&self.value);
        out[CHALLENGE_MAC_OFFSET..].copy_from_slice(&self.mac);
        Ok(CHALLENGE_LEN)
    }
}

/// What a probe is, from the daemon's point of view (§2.4, flags byte).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ProbeKind {
    /// A probe the daemon originated.
    Probe,
    /// The daemon's echo of a probe it received.
    Echo,
    /// Sent by the crate itself to confirm a new session; its body is empty
    /// and the daemon never sees it.
    Keepalive,
}

impl ProbeKind {
    fn flags(self) -> u8 {
        match self {
            ProbeKind::Probe => 0,
            ProbeKind::Echo => 1,
            ProbeKind::Keepalive => 2,
        }
    }

    fn from_flags(flags: u8) -> Result<Self, WireError> {
        match flags {
            0 => Ok(ProbeKind::Probe),
            1 => Ok(ProbeKind::Echo),
            2 => Ok(ProbeKind::Keepalive),
            _ => Err(WireError::Reserved),
        }
    }
}

/// The clear, authenticated header of a probe (§2.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProbeHeader {
    /// Probe, echo or keepalive.
    pub kind: ProbeKind,
    /// The receiver's index for the session.
    pub receiver_index: SessionIndex,
    /// The sender's epoch: which key sealed the probe.
    pub epoch: Epoch,
    /// The sender's counter, the AEAD nonce.
    pub counter: u64,
    /// The receiver's index of the session in which the sender last
    /// validated a probe from the receiver (zero with `ack_counter` zero: none).
    pub ack_index: SessionIndex,
    /// One more than the highest counter the sender has validated from the
    /// receiver in that session; zero for none.
    pub ack_counter: u64,
}

impl ProbeHeader {
    /// Parses the header of a probe datagram and checks that a tag follows.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        check_header(bytes, TYPE_PROBE)?;
        if bytes.len() < PROBE_OVERHEAD {
            return Err(WireError::BadLength {
                message_type: TYPE_PROBE,
                actual: bytes.len(),
            });
        }
        if bytes[3] != 0 {
            return Err(WireError::Reserved);
        }
        Ok(ProbeHeader {
            kind: ProbeKind::from_flags(bytes[2])?,
            receiver_index: SessionIndex(u32_at(bytes, 4)),
            epoch: Epoch(u32_at(bytes, 8)),
            counter: u64_at(bytes, 12),
            ack_index: SessionIndex(u32_at(bytes, 20)),
            ack_counter: u64_at(bytes, 24),
        })
    }

    /// Writes the 32-byte header into `out[..32]`.
    ///
    /// # Errors
    /// [`BufferTooSmall`] if `out` is shorter than [`PROBE_HEADER_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = sized(out, PROBE_HEADER_LEN)?;
        out[0] = TYPE_PROBE;
        out[1] = VERSION;
        out[2] = self.kind.flags();
        out[3] = 0;
        out[4..8].copy_from_slice(&self.receiver_index.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.epoch.0.to_be_bytes());
        out[12..20].copy_from_slice(&self.counter.to_be_bytes());
        out[20..24].copy_from_slice(&self.ack_index.0.to_be_bytes());
        out[24..32].copy_from_slice(&self.ack_counter.to_be_bytes());
        Ok(PROBE_HEADER_LEN)
    }
}

fn check_header(bytes: &[u8], expected_type: u8) -> Result<(), WireError> {
    if bytes.len() < 2 {
        return Err(WireError::Truncated);
    }
    if bytes[0] != expected_type {
        return Err(WireError::UnknownType(bytes[0]));
    }
    if bytes[1] != VERSION {
        return Err(WireError::UnsupportedVersion(bytes[1]));
    }
    Ok(())
}

fn sized(out: &mut [u8], len: usize) -> Result<&mut [u8], BufferTooSmall> {
    out.get_mut(..len)
        .ok_or(BufferTooSmall { required_size: len })
}

/// A whole probe datagram (§5.1): its header, and where its body and tag
/// lie. A keepalive has an empty body.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SealedProbe {
    /// The clear header, the AEAD's associated data.
    pub header: ProbeHeader,
    /// The length of the daemon's body (the sealed part less the send
    /// time).
    pub body_len: usize,
}

impl SealedProbe {
    /// Parses a probe datagram's layout.
    ///
    /// # Errors
    /// Any [`WireError`]; a keepalive with a body is
    /// [`WireError::BadLength`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let header = ProbeHeader::parse(bytes)?;
        let body_len = bytes.len() - PROBE_OVERHEAD;
        if header.kind == ProbeKind::Keepalive && body_len != 0 {
            return Err(WireError::BadLength {
                message_type: TYPE_PROBE,
                actual: bytes.len(),
            });
        }
        Ok(SealedProbe { header, body_len })
    }

    /// Splits the datagram it was parsed from into header bytes and the
    /// sealed part: send time and body encrypted, then the tag.
    pub fn split(self, datagram: &mut [u8]) -> (&[u8], &mut [u8]) {
        let (head, rest) = datagram.split_at_mut(PROBE_HEADER_LEN);
        let end = (PROBE_TIME_LEN + self.body_len + TAG_LEN).min(rest.len());
        (head, &mut rest[..end])
    }

    /// The daemon body's place in a probe datagram being written.
    pub fn body_mut(datagram: &mut [u8]) -> &mut [u8] {
        let end = datagram.len().saturating_sub(TAG_LEN);
        &mut datagram[(PROBE_HEADER_LEN + PROBE_TIME_LEN).min(end)..end]
    }
}

/// The Noise payload of an initiation (§4.2): the sender's index, repeated
/// under encryption, and the session generation it proposes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InitiationPayload {
    /// Must equal the initiation's clear sender index.
    pub sender_index: SessionIndex,
    /// The proposed generation.
    pub generation: u64,
}

impl InitiationPayload {
    /// The payload's bytes.
    pub fn to_bytes(&self) -> [u8; INITIATION_PAYLOAD_LEN] {
        let mut b = [0u8; INITIATION_PAYLOAD_LEN];
        b[..4].copy_from_slice(&self.sender_index.0.to_be_bytes());
        b[4..].copy_from_slice(&self.generation.to_be_bytes());
        b
    }

    /// Reads a payload.
    pub fn from_bytes(b: &[u8; INITIATION_PAYLOAD_LEN]) -> Self {
        InitiationPayload {
            sender_index: SessionIndex(u32_at(b, 0)),
            generation: u64_at(b, 4),
        }
    }
}

/// The Noise payload of a response (§4.2): both indexes, repeated under
/// encryption, and the agreed generation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResponsePayload {
    /// Must equal the response's clear sender index.
    pub sender_index: SessionIndex,
    /// Must equal the response's clear receiver index.
    pub receiver_index: SessionIndex,
    /// The agreed generation.
    pub generation: u64,
}

impl ResponsePayload {
    /// The payload's bytes.
    pub fn to_bytes(&self) -> [u8; RESPONSE_PAYLOAD_LEN] {
        let mut b = [0u8; RESPONSE_PAYLOAD_LEN];
        b[..4].copy_from_slice(&self.sender_index.0.to_be_bytes());
        b[4..8].copy_from_slice(&self.receiver_index.0.to_be_bytes());
        b[8..].copy_from_slice(&self.generation.to_be_bytes());
        b
    }

    /// Reads a payload.
    pub fn from_bytes(b: &[u8; RESPONSE_PAYLOAD_LEN]) -> Self {
        ResponsePayload {
            sender_index: SessionIndex(u32_at(b, 0)),
            receiver_index: SessionIndex(u32_at(b, 4)),
            generation: u64_at(b, 8),
        }
    }
}

/// The kind of a datagram, from its first byte.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// [`TYPE_INITIATION`].
    Initiation,
    /// [`TYPE_RESPONSE`].
    Response,
    /// [`TYPE_PROBE`].
    Probe,
    /// [`TYPE_CHALLENGE`].
    Challenge,
}

/// Dispatch on a datagram's type byte, before any other parsing.
///
/// # Errors
/// [`WireError::Truncated`] for an empty datagram,
/// [`WireError::UnknownType`] for any other type.
pub fn message_type(bytes: &[u8]) -> Result<MessageType, WireError> {
    match bytes.first() {
        None => Err(WireError::Truncated),
        Some(&TYPE_INITIATION) => Ok(MessageType::Initiation),
        Some(&TYPE_RESPONSE) => Ok(MessageType::Response),
        Some(&TYPE_PROBE) => Ok(MessageType::Probe),
        Some(&TYPE_CHALLENGE) => Ok(MessageType::Challenge),
        Some(&t) => Err(WireError::UnknownType(t)),
    }
}

/// Any datagram of the protocol, parsed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A handshake initiation.
    Initiation(Initiation),
    /// A handshake response.
    Response(Response),
    /// A probe: its header and the sealed body with its tag.
    Probe(ProbeHeader, &'a [u8]),
    /// A challenge.
    Challenge(Challenge),
}

impl<'a> Message<'a> {
    /// Parses any datagram.
    ///
    /// # Errors
    /// Any [`WireError`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        match message_type(bytes)? {
            MessageType::Initiation => Initiation::parse(bytes).map(Message::Initiation),
            MessageType::Response => Response::parse(bytes).map(Message::Response),
            MessageType::Probe => {
                ProbeHeader::parse(bytes).map(|h| Message::Probe(h, &bytes[PROBE_HEADER_LEN..]))
            }
            MessageType::Challenge => Challenge::parse(bytes).map(Message::Challenge),
        }
    }

    /// The emitted length: the whole datagram.
    pub fn emitted_len(&self) -> usize {
        match self {
            Message::Initiation(_) => INITIATION_LEN,
            Message::Response(_) => RESPONSE_LEN,
            Message::Probe(_, sealed) => PROBE_HEADER_LEN + sealed.len(),
            Message::Challenge(_) => CHALLENGE_LEN,
        }
    }

    /// Writes the datagram into `out`, returning its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the size needed.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        match self {
            Message::Initiation(m) => m.emit(out),
            Message::Response(m) => m.emit(out),
            Message::Challenge(m) => m.emit(out),
            Message::Probe(h, sealed) => {
                let total = PROBE_HEADER_LEN + sealed.len();
                let out = sized(out, total)?;
                h.emit(out)?;
                out[PROBE_HEADER_LEN..].copy_from_slice(sealed);
                Ok(total)
            }
        }
    }
}

#[cfg(test)]
mod tests;

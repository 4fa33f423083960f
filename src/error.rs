//! Every error the crate returns, and why a datagram was refused.

use core::fmt;

use crate::ids::PeerId;
use crate::wire::BufferTooSmall;

/// Why a datagram was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum RejectReason {
    /// See [`crate::RejectCounters::malformed`].
    Malformed(crate::wire::WireError),
    /// See [`crate::RejectCounters::unknown_session`].
    UnknownSession,
    /// See [`crate::RejectCounters::unknown_peer`].
    UnknownPeer,
    /// See [`crate::RejectCounters::bad_mac`]: mac1 or mac2.
    BadMac,
    /// See [`crate::RejectCounters::epoch_outside_window`].
    EpochOutsideWindow,
    /// See [`crate::RejectCounters::replay`].
    Replay,
    /// See [`crate::RejectCounters::bad_tag`].
    BadTag,
    /// See [`crate::RejectCounters::rate_limited`].
    RateLimited,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Malformed(e) => write!(f, "malformed: {e}"),
            RejectReason::UnknownSession => f.write_str("unknown session"),
            RejectReason::UnknownPeer => f.write_str("unknown peer"),
            RejectReason::BadMac => f.write_str("bad mac"),
            RejectReason::EpochOutsideWindow => f.write_str("epoch outside window"),
            RejectReason::Replay => f.write_str("replay"),
            RejectReason::BadTag => f.write_str("bad tag"),
            RejectReason::RateLimited => f.write_str("rate limited"),
        }
    }
}

/// A datagram refused by [`crate::Endpoint::handle_datagram`]. Nothing but the
/// rejection counters changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecvError {
    /// Why.
    pub reason: RejectReason,
    /// The peer it is attributed to, when the datagram named a live
    /// session or a configured key.
    pub peer: Option<PeerId>,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(p) => write!(f, "datagram from peer {p} refused: {}", self.reason),
            None => write!(f, "datagram refused: {}", self.reason),
        }
    }
}

impl core::error::Error for RecvError {}

/// Why [`crate::Endpoint::seal`] wrote nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
    /// No such peer: never configured ([`PeerError::NotConfigured`]).
    UnknownPeer,
    /// The peer was removed ([`PeerError::Removed`]).
    RemovedPeer,
    /// No session yet; a handshake is under way (§6.1).
    NoSession,
    /// [`crate::ProbeKind::Keepalive`] is reserved to the crate.
    ReservedKind,
    /// The body does not fit in a datagram.
    BodyTooLong,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::BufferTooSmall(e) => e.fmt(f),
            SealError::UnknownPeer => f.write_str("unknown peer"),
            SealError::RemovedPeer => f.write_str("peer removed"),
            SealError::NoSession => f.write_str("no session with the peer yet"),
            SealError::ReservedKind => f.write_str("keepalives are sent by the crate only"),
            SealError::BodyTooLong => f.write_str("probe body longer than 65000 bytes"),
        }
    }
}

impl core::error::Error for SealError {}

impl From<PeerError> for SealError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::NotConfigured => SealError::UnknownPeer,
            PeerError::Removed => SealError::RemovedPeer,
        }
    }
}

/// Why [`crate::Endpoint::add_peer`] refused a key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddPeerError {
    /// The key is this endpoint's own.
    OwnKey,
    /// The key is already configured.
    Duplicate(PeerId),
    /// Another configured key has the same 8-byte key id.
    KeyIdCollision(PeerId),
    /// The key is of low order: no Diffie-Hellman with it is contributory.
    LowOrderKey,
    /// The peer table is full.
    TableFull,
}

impl fmt::Display for AddPeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddPeerError::OwnKey => f.write_str("peer key is the endpoint's own key"),
            AddPeerError::Duplicate(p) => write!(f, "peer key already configured as peer {p}"),
            AddPeerError::KeyIdCollision(p) => write!(f, "peer key id collides with peer {p}"),
            AddPeerError::LowOrderKey => f.write_str("peer key is of low order"),
            AddPeerError::TableFull => f.write_str("peer table full"),
        }
    }
}

impl core::error::Error for AddPeerError {}

/// Why an operation refused a [`PeerId`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PeerError {
    /// No peer was ever given this id by this endpoint.
    NotConfigured,
    /// The peer was removed; its slot is free or holds another peer (with
    /// another generation).
    Removed,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::NotConfigured => f.write_str("no such peer"),
            PeerError::Removed => f.write_str("peer removed"),
        }
    }
}

impl core::error::Error for PeerError {}

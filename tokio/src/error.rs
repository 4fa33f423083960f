//! The driver's one error type.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use probekey::{AddPeerError, PeerError};

/// What can go wrong setting up or talking to a driver. Nothing in this
/// crate panics on bad input: every refusal is one of these.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The UDP socket could not be bound to `addr`.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The socket's local address could not be read.
    LocalAddr(io::Error),
    /// The endpoint refused a neighbour (its own key, a key configured
    /// already, a low-order key, a full table).
    AddPeer(AddPeerError),
    /// The peer id names no configured neighbour (never, or no longer).
    Peer(PeerError),
    /// The event channel's capacity is outside `1..=`[`crate::MAX_EVENT_CAPACITY`].
    EventCapacity {
        /// The capacity asked for.
        requested: usize,
    },
    /// [`crate::Driver::spawn`] was called outside a tokio runtime.
    NoRuntime,
    /// The driver's task is no longer running (it was shut down, or its
    /// runtime was).
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } => write!(f, "cannot bind UDP socket to {addr}: {source}"),
            Error::LocalAddr(e) => write!(f, "cannot read the socket's local address: {e}"),
            Error::AddPeer(e) => write!(f, "neighbour refused: {e}"),
            Error::Peer(e) => write!(f, "{e}"),
            Error::EventCapacity { requested } => write!(
                f,
                "event capacity {requested} is outside 1..={}",
                crate::MAX_EVENT_CAPACITY
            ),
            Error::NoRuntime => f.write_str("not called from within a tokio runtime"),
            Error::Stopped => f.write_str("the driver's task is no longer running"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::LocalAddr(source) => Some(source),
            Error::AddPeer(e) => Some(e),
            Error::Peer(e) => Some(e),
            Error::EventCapacity { .. } | Error::NoRuntime | Error::Stopped => None,
        }
    }
}

impl From<AddPeerError> for Error {
    fn from(e: AddPeerError) -> Self {
        Error::AddPeer(e)
    }
}

impl From<PeerError> for Error {
    fn from(e: PeerError) -> Self {
        Error::Peer(e)
    }
}

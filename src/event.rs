//! Events the endpoint reports to the daemon, in a queue of fixed capacity
//! (`docs/PROTOCOL.md` §7.3).

use core::time::Duration;

use crate::ids::{Epoch, PeerId};
use crate::session::Role;

/// One direction of a link, from this endpoint's point of view.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum LinkDirection {
    /// Probes from the peer to us: "I hear the peer".
    Inbound,
    /// Probes from us to the peer: "the peer says it hears me".
    Outbound,
}

/// Why a handshake was started.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HandshakeReason {
    /// There is no session with the peer (new peer, restart, expiry).
    NoSession,
    /// The session reached `rekey_after_time` or its counter limit.
    Rekey,
    /// Nothing validated from the peer for `stale_after`.
    InboundStale,
    /// The peer has acknowledged nothing of ours for `stale_after`.
    OutboundStale,
}

/// Something the daemon may want to act on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[cfg_attr(feature = "model", derive(Hash))]
pub enum Event {
    /// A peer was configured ([`crate::Endpoint::add_peer`]): both
    /// directions start not yet up ([`crate::LinkState::NotYetUp`]), so a
    /// routing layer starts from the truth rather than from "up".
    PeerAdded {
        /// The peer.
        peer: PeerId,
    },
    /// A direction of a link became fresh or stale.
    HealthChanged {
        /// The peer.
        peer: PeerId,
        /// Which direction changed.
        direction: LinkDirection,
        /// True: validating again; false: stale.
        fresh: bool,
    },
    /// A handshake began (it continues, retrying, until a session is up).
    HandshakeStarted {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: HandshakeReason,
    },
    /// The handshake wanted with the peer has not completed for
    /// `handshake_failing_after`; reported again each time that much
    /// longer passes until it does. A peer that never answers (down, or
    /// unreachable) shows nothing refused; a misconfigured one (another
    /// deployment id, another key) shows its datagrams refused, mostly for
    /// one reason ([`crate::RejectCounters::dominant`]).
    HandshakeFailing {
        /// The peer.
        peer: PeerId,
        /// How long the handshake has been wanted.
        for_how_long: Duration,
        /// Initiations sent so far, retransmissions included.
        attempts: u32,
        /// The peer's datagrams refused since the handshake was wanted, by
        /// reason.
        rejected: crate::status::RejectCounters,
    },
    /// A new session is in use for sending.
    SessionEstablished {
        /// The peer.
        peer: PeerId,
        /// Our side of the handshake.
        role: Role,
        /// Initiator: from the first transmission of the answered initiation
        /// to its response. Responder: from the initiation to the first
        /// probe under the new session.
        latency: Duration,
    },
    /// A direction of the current session moved to a new epoch key.
    EpochRotated {
        /// The peer.
        peer: PeerId,
        /// Our sending keys (outbound) or the peer's (inbound).
        direction: LinkDirection,
        /// The new epoch.
        epoch: Epoch,
    },
}

impl Event {
    /// The peer the event is about.
    pub fn peer(&self) -> PeerId {
        match *self {
            Event::PeerAdded { peer }
            | Event::HealthChanged { peer, .. }
            | Event::HandshakeStarted { peer, .. }
            | Event::HandshakeFailing { peer, .. }
            | Event::SessionEstablished { peer, .. }
            | Event::EpochRotated { peer, .. } => peer,
        }
    }
}

/// Capacity of the event queue. When it is full the oldest event is
/// dropped and counted in [`crate::EndpointStats::events_dropped`].
pub const EVENT_QUEUE_CAPACITY: usize = 64;

#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct EventQueue {
    items: [Option<Event>; EVENT_QUEUE_CAPACITY],
    head: usize,
    len: usize,
    pub(crate) dropped: u64,
}

impl EventQueue {
    pub(crate) const fn new() -> Self {
        EventQueue {
            items: [None; EVENT_QUEUE_CAPACITY],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, e: Event) {
        if self.len == EVENT_QUEUE_CAPACITY {
            self.head = (self.head + 1) % EVENT_QUEUE_CAPACITY;
            self.len -= 1;
            self.dropped += 1;
        }
        self.items[(self.head + self.len) % EVENT_QUEUE_CAPACITY] = Some(e);
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.items[self.head].take();
        self.head = (self.head + 1) % EVENT_QUEUE_CAPACITY;
        self.len -= 1;
        e
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> Event {
        Event::EpochRotated {
            peer: PeerId::new(n, 0),
            direction: LinkDirection::Inbound,
            epoch: Epoch(n),
        }
    }

    #[test]
    #[allow(clippy::cast_possible_truncation)]
    fn fifo_and_overflow_drops_oldest() {
        let mut q = EventQueue::new();
        for n in 0..(EVENT_QUEUE_CAPACITY as u32 + 3) {
            q.push(ev(n));
        }
        assert_eq!(q.dropped, 3);
        assert_eq!(q.len(), EVENT_QUEUE_CAPACITY);
        for n in 3..(EVENT_QUEUE_CAPACITY as u32 + 3) {
            assert_eq!(q.pop(), Some(ev(n)));
        }
        assert_eq!(q.pop(), None);
    }
}

//! The state kept per configured peer, and the status reported about it
//! (`docs/PROTOCOL.md` §6).

use core::fmt;
use core::time::Duration;

use crate::config::Config;
use crate::event::HandshakeReason;
use crate::ids::{Epoch, SessionIndex};
use crate::keys::{KeyId, MacKey, PublicKey};
use crate::noise::{Initiator, StaticDh};
use crate::session::{Rank, Role, Session};
use crate::time::Instant;
use crate::wire::{INITIATION_LEN, RESPONSE_LEN};

/// Sessions kept per peer: the current one, one being replaced or
/// replacing, and one awaiting the initiator's proof (§4.4).
pub(crate) const SESSIONS: usize = 3;

pub(crate) const TX_INITIATION: u8 = 1;
pub(crate) const TX_RESPONSE: u8 = 2;
pub(crate) const TX_CONFIRM: u8 = 4;
/// A keepalive under the current session, answering the peer's keepalive
/// that just proved it.
pub(crate) const TX_ANSWER: u8 = 8;

/// Counters of refused datagrams, by reason.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectCounters {
    /// Not a well-formed datagram of this protocol and version.
    pub malformed: u64,
    /// A probe or response naming no live session or handshake.
    pub unknown_session: u64,
    /// An initiation from a static key that is not configured.
    pub unknown_peer: u64,
    /// A handshake message whose mac1 is wrong: not meant for us.
    pub bad_mac: u64,
    /// A probe whose epoch is outside previous/current/next.
    pub epoch_outside_window: u64,
    /// A probe counter already seen or too old; a duplicate initiation.
    pub replay: u64,
    /// Failed authentication.
    pub bad_tag: u64,
    /// A handshake message over the per-peer rate limit.
    pub rate_limited: u64,
}

/// Why a datagram was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// See [`RejectCounters::malformed`].
    Malformed(crate::wire::WireError),
    /// See [`RejectCounters::unknown_session`].
    UnknownSession,
    /// See [`RejectCounters::unknown_peer`].
    UnknownPeer,
    /// See [`RejectCounters::bad_mac`].
    BadMac,
    /// See [`RejectCounters::epoch_outside_window`].
    EpochOutsideWindow,
    /// See [`RejectCounters::replay`].
    Replay,
    /// See [`RejectCounters::bad_tag`].
    BadTag,
    /// See [`RejectCounters::rate_limited`].
    RateLimited,
}

impl RejectCounters {
    pub(crate) fn count(&mut self, reason: RejectReason) {
        let c = match reason {
            RejectReason::Malformed(_) => &mut self.malformed,
            RejectReason::UnknownSession => &mut self.unknown_session,
            RejectReason::UnknownPeer => &mut self.unknown_peer,
            RejectReason::BadMac => &mut self.bad_mac,
            RejectReason::EpochOutsideWindow => &mut self.epoch_outside_window,
            RejectReason::Replay => &mut self.replay,
            RejectReason::BadTag => &mut self.bad_tag,
            RejectReason::RateLimited => &mut self.rate_limited,
        };
        *c += 1;
    }

    /// The sum of all counters.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.unknown_session
            + self.unknown_peer
            + self.bad_mac
            + self.epoch_outside_window
            + self.replay
            + self.bad_tag
            + self.rate_limited
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Malformed(e) => write!(f, "malformed: {e}"),
            RejectReason::UnknownSession => f.write_str("unknown session"),
            RejectReason::UnknownPeer => f.write_str("unknown peer"),
            RejectReason::BadMac => f.write_str("bad mac1"),
            RejectReason::EpochOutsideWindow => f.write_str("epoch outside window"),
            RejectReason::Replay => f.write_str("replay"),
            RejectReason::BadTag => f.write_str("bad tag"),
            RejectReason::RateLimited => f.write_str("rate limited"),
        }
    }
}

/// One direction's freshness.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// Inbound: when we last validated a probe from the peer. Outbound: when
    /// a valid probe from the peer last acknowledged a new probe of ours.
    pub last: Option<Instant>,
    /// Whether `last` is within `stale_after`.
    pub fresh: bool,
}

/// Where the handshake with a peer stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeState {
    /// No handshake wanted.
    Idle,
    /// Initiating, retrying at backoff until a session is up and the peer
    /// has confirmed it (§4.3).
    Initiating {
        /// Why it started.
        reason: HandshakeReason,
        /// When it started.
        since: Instant,
        /// Initiations sent so far, retransmissions included.
        attempts: u32,
    },
}

/// What the endpoint knows about one peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's static public key.
    pub public_key: PublicKey,
    /// "I hear the peer".
    pub inbound: Freshness,
    /// "The peer says it hears me".
    pub outbound: Freshness,
    /// Our sending epoch in the current session.
    pub send_epoch: Option<Epoch>,
    /// The peer's highest validated epoch in the current session.
    pub recv_epoch: Option<Epoch>,
    /// Age of the current session.
    pub session_age: Option<Duration>,
    /// Our role in the current session.
    pub session_role: Option<Role>,
    /// The handshake, if one is under way.
    pub handshake: HandshakeState,
    /// A session we answered waits for the initiator's first probe.
    pub awaiting_confirmation: bool,
    /// Handshakes started with this peer.
    pub handshakes_started: u64,
    /// Sessions established with this peer.
    pub handshakes_completed: u64,
    /// Latency of the last completed handshake (see
    /// [`crate::Event::SessionEstablished`]).
    pub last_handshake_latency: Option<Duration>,
    /// Probes sealed for this peer (keepalives included).
    pub probes_sealed: u64,
    /// Probes from this peer that validated.
    pub probes_opened: u64,
    /// Refused datagrams attributed to this peer.
    pub rejected: RejectCounters,
}

pub(crate) struct InFlight {
    pub(crate) noise: Initiator,
    pub(crate) sender_index: SessionIndex,
    pub(crate) generation: u64,
    pub(crate) message: [u8; INITIATION_LEN],
    pub(crate) created_at: Instant,
    pub(crate) first_sent_at: Instant,
}

pub(crate) struct Want {
    pub(crate) reason: HandshakeReason,
    pub(crate) since: Instant,
    pub(crate) attempts: u32,
    pub(crate) retry_at: Instant,
}

pub(crate) struct CachedResponse {
    /// SHA-256 of the initiation this answers.
    pub(crate) initiation: [u8; 32],
    pub(crate) message: [u8; RESPONSE_LEN],
    pub(crate) created_at: Instant,
}

/// A token bucket in caller time (§4.5).
pub(crate) struct TokenBucket {
    tokens: u32,
    refilled_at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            refilled_at: now,
        }
    }

    pub(crate) fn try_take(&mut self, now: Instant, config: &Config) -> bool {
        let interval = crate::time::duration_nanos(config.handshake_rate_interval()).max(1);
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let add = crate::time::duration_nanos(elapsed) / interval;
        if add > 0 {
            let add32 = u32::try_from(add).unwrap_or(u32::MAX);
            self.tokens = self
                .tokens
                .saturating_add(add32)
                .min(config.handshake_rate_burst());
            self.refilled_at = self
                .refilled_at
                .saturating_add(Duration::from_nanos(add.saturating_mul(interval)));
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The state of one configured peer. Opaque: read it through
/// [`crate::Endpoint::peer_status`].
pub struct Peer {
    pub(crate) public: PublicKey,
    pub(crate) key_id: KeyId,
    pub(crate) mac1_to_peer: MacKey,
    pub(crate) mac2: MacKey,
    pub(crate) ss: StaticDh,
    pub(crate) local_larger: bool,
    pub(crate) sessions: [Option<Session>; SESSIONS],
    pub(crate) current: Option<usize>,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) want: Option<Want>,
    /// A session we initiated, whose response we read, that no probe of
    /// the peer's has validated yet (its slot, and when its initiation was
    /// first sent). The handshake goes on until one does (§4.3).
    pub(crate) unconfirmed: Option<(u8, Instant)>,
    pub(crate) cached_response: Option<CachedResponse>,
    /// SHA-256 of the last initiation processed.
    pub(crate) last_initiation: Option<[u8; 32]>,
    pub(crate) max_generation: u64,
    pub(crate) bucket: TokenBucket,
    pub(crate) added_at: Instant,
    pub(crate) inbound_last: Option<Instant>,
    pub(crate) outbound_last: Option<Instant>,
    pub(crate) inbound_fresh: bool,
    pub(crate) outbound_fresh: bool,
    pub(crate) last_established_at: Option<Instant>,
    pub(crate) ack_index: SessionIndex,
    pub(crate) ack_counter: u64,
    pub(crate) tx: u8,
    pub(crate) rejected: RejectCounters,
    pub(crate) handshakes_started: u64,
    pub(crate) handshakes_completed: u64,
    pub(crate) last_handshake_latency: Option<Duration>,
    pub(crate) probes_sealed: u64,
    pub(crate) probes_opened: u64,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Peer {
    pub(crate) fn current(&self) -> Option<&Session> {
        self.current.and_then(|i| self.sessions[i].as_ref())
    }

    pub(crate) fn current_mut(&mut self) -> Option<&mut Session> {
        self.current.and_then(|i| self.sessions[i].as_mut())
    }

    /// Puts `session` in slot `i`, forgetting what pointed at the session
    /// it replaces.
    pub(crate) fn install(&mut self, i: usize, session: Session) {
        if self.current == Some(i) {
            self.current = None;
        }
        self.forget(i);
        self.sessions[i] = Some(session);
    }

    /// Erases the session in slot `i`.
    pub(crate) fn erase(&mut self, i: usize) {
        if self.current == Some(i) {
            self.current = None;
        }
        self.forget(i);
        self.sessions[i] = None;
    }

    fn forget(&mut self, i: usize) {
        if self.unconfirmed_slot() == Some(i) {
            self.unconfirmed = None;
        }
    }

    /// Whether the current session is proven to be held by the peer: not
    /// one of ours still awaiting the peer's confirmation.
    pub(crate) fn current_confirmed(&self) -> bool {
        self.current.is_some() && self.current != self.unconfirmed_slot()
    }

    /// The slot of the session awaiting the peer's confirmation.
    pub(crate) fn unconfirmed_slot(&self) -> Option<usize> {
        self.unconfirmed.map(|(slot, _)| usize::from(slot))
    }

    pub(crate) fn find_session(&self, index: SessionIndex) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.local_index == index))
    }

    pub(crate) fn index_in_use(&self, index: SessionIndex) -> bool {
        self.find_session(index).is_some()
            || self
                .in_flight
                .as_ref()
                .is_some_and(|f| f.sender_index == index)
    }

    /// The slot a new session goes to: for a pending (unproven) session the
    /// slot of the pending one it replaces; else a free slot; else the
    /// lowest-ranked session that is not current (§4.4).
    pub(crate) fn slot_for_new(&self, pending: bool) -> usize {
        if pending
            && let Some(i) = self
                .sessions
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| !s.proven))
        {
            return i;
        }
        if let Some(i) = self.sessions.iter().position(Option::is_none) {
            return i;
        }
        let mut victim = None;
        let mut lowest: Option<Rank> = None;
        for (i, s) in self.sessions.iter().enumerate() {
            if Some(i) == self.current {
                continue;
            }
            if let Some(s) = s
                && lowest.is_none_or(|r| s.rank < r)
            {
                lowest = Some(s.rank);
                victim = Some(i);
            }
        }
        victim.unwrap_or(0)
    }

    /// When a direction's staleness counts from: the last validation, the
    /// last session, or the peer's configuration, whichever is latest.
    pub(crate) fn stale_reference(&self, last: Option<Instant>) -> Instant {
        let mut r = self.added_at;
        for t in [last, self.last_established_at].into_iter().flatten() {
            r = r.max(t);
        }
        r
    }

    pub(crate) fn status(&self, now: Instant) -> PeerStatus {
        let current = self.current();
        PeerStatus {
            public_key: self.public,
            inbound: Freshness {
                last: self.inbound_last,
                fresh: self.inbound_fresh,
            },
            outbound: Freshness {
                last: self.outbound_last,
                fresh: self.outbound_fresh,
            },
            send_epoch: current.map(Session::send_epoch),
            recv_epoch: current.map(Session::recv_epoch),
            session_age: current.map(|s| now.saturating_duration_since(s.created_at)),
            session_role: current.map(|s| s.role),
            handshake: match &self.want {
                None => HandshakeState::Idle,
                Some(w) => HandshakeState::Initiating {
                    reason: w.reason,
                    since: w.since,
                    attempts: w.attempts,
                },
            },
            awaiting_confirmation: self.sessions.iter().flatten().any(|s| !s.proven),
            handshakes_started: self.handshakes_started,
            handshakes_completed: self.handshakes_completed,
            last_handshake_latency: self.last_handshake_latency,
            probes_sealed: self.probes_sealed,
            probes_opened: self.probes_opened,
            rejected: self.rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_state_size() {
        // Reported in README and docs/PROTOCOL.md; this test keeps the
        // figure honest.
        let peer = core::mem::size_of::<Option<Peer>>();
        let session = core::mem::size_of::<Option<Session>>();
        std::println!("peer slot {peer} bytes, session {session} bytes");
        assert!(peer <= 2112, "peer slot grew to {peer} bytes");
    }
}

//! What the endpoint reports: per-peer status, freshness, and the
//! rejection and endpoint counters (`docs/PROTOCOL.md` §6, §7.3).

use core::time::Duration;

use crate::config::Config;
use crate::error::RejectReason;
use crate::event::HandshakeReason;
use crate::ids::Epoch;
use crate::keys::PublicKey;
use crate::session::Role;
use crate::time::Instant;

/// Counters of refused datagrams, by reason.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct RejectCounters {
    /// Not a well-formed datagram of this protocol and version.
    pub malformed: u64,
    /// A probe or response naming no live session or handshake.
    pub unknown_session: u64,
    /// An initiation from a static key that is not configured.
    pub unknown_peer: u64,
    /// A handshake message whose mac1 or mac2 is wrong: not meant for us,
    /// or not written by the peer it names.
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

    /// Each counter by its name (the field's), in declaration order.
    pub fn by_name(&self) -> [(&'static str, u64); 8] {
        [
            ("malformed", self.malformed),
            ("unknown_session", self.unknown_session),
            ("unknown_peer", self.unknown_peer),
            ("bad_mac", self.bad_mac),
            ("epoch_outside_window", self.epoch_outside_window),
            ("replay", self.replay),
            ("bad_tag", self.bad_tag),
            ("rate_limited", self.rate_limited),
        ]
    }

    /// The largest counter, by name, if any is above zero (the first of
    /// equals).
    pub fn dominant(&self) -> Option<(&'static str, u64)> {
        self.by_name().into_iter().filter(|&(_, n)| n > 0).fold(
            None,
            |best, (name, n)| match best {
                Some((_, m)) if m >= n => best,
                _ => Some((name, n)),
            },
        )
    }

    /// What each counter grew by since `earlier`.
    pub(crate) fn since(&self, earlier: &RejectCounters) -> RejectCounters {
        RejectCounters {
            malformed: self.malformed.saturating_sub(earlier.malformed),
            unknown_session: self.unknown_session.saturating_sub(earlier.unknown_session),
            unknown_peer: self.unknown_peer.saturating_sub(earlier.unknown_peer),
            bad_mac: self.bad_mac.saturating_sub(earlier.bad_mac),
            epoch_outside_window: self
                .epoch_outside_window
                .saturating_sub(earlier.epoch_outside_window),
            replay: self.replay.saturating_sub(earlier.replay),
            bad_tag: self.bad_tag.saturating_sub(earlier.bad_tag),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
        }
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

/// Why a direction went stale (the last time it did), as BFD's diagnostic
/// code says why a session went down.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DownReason {
    /// A session was in use, and nothing came for `stale_after`: no valid
    /// probe of the peer's (inbound), no acknowledgement of ours
    /// (outbound). The path is down, or the peer is.
    Silence,
    /// Outbound only: we still heard the peer, but it acknowledged nothing
    /// of ours: the path loses our direction, or the peer does not hear us.
    OneWay,
    /// No session was in use: it expired without a new one, or a
    /// handshake never completed.
    NoSession,
}

/// Where a direction stands, including whether it was ever up.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum LinkState {
    /// Never fresh since the peer was added: a routing layer starts from
    /// here, not from "up".
    NotYetUp,
    /// Fresh.
    Up,
    /// Stale after having been fresh; [`Freshness::last_down`] says why.
    Down,
}

/// One direction's freshness (§6.2). The endpoint keeps one per direction
/// and peer, and reports it as it is.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct Freshness {
    /// Inbound: when we last validated a probe from the peer. Outbound: when
    /// we sealed the latest probe of ours that a valid probe of the peer's
    /// acknowledged (so an acknowledgement that arrives late counts for no
    /// more than its probe's age).
    pub last: Option<Instant>,
    /// Whether `last` is within `stale_after`.
    pub fresh: bool,
    /// When the direction last changed: became fresh, or went stale (the
    /// instant `stale_after` ran out, whenever that was noticed). `None`
    /// while it was never fresh.
    pub since: Option<Instant>,
    /// Times it became fresh.
    pub ups: u64,
    /// Times it went stale.
    pub downs: u64,
    /// Why it last went stale.
    pub last_down: Option<DownReason>,
}

impl Freshness {
    /// Never fresh, fresh, or stale after having been fresh.
    pub fn state(&self) -> LinkState {
        if self.fresh {
            LinkState::Up
        } else if self.ups == 0 {
            LinkState::NotYetUp
        } else {
            LinkState::Down
        }
    }

    /// Evidence for the direction dated `at` (no later than `now`), counted
    /// only if younger than `stale_after` at `now`. True if it was stale
    /// until now.
    pub(crate) fn heard_at(&mut self, at: Instant, now: Instant, c: &Config) -> bool {
        let at = at.min(now);
        if now.saturating_duration_since(at) >= c.stale_after() {
            return false;
        }
        self.last = Some(self.last.map_or(at, |t| t.max(at)));
        let up = !core::mem::replace(&mut self.fresh, true);
        if up {
            self.ups = self.ups.saturating_add(1);
            self.since = Some(now);
        }
        up
    }

    /// The caller's clock went back to `now` (§7): no evidence, and no
    /// change, is later than now.
    pub(crate) fn clamp_time(&mut self, now: Instant) {
        for t in [&mut self.last, &mut self.since].into_iter().flatten() {
            *t = (*t).min(now);
        }
    }

    /// When the direction goes stale without new evidence.
    pub(crate) fn stale_at(&self, c: &Config) -> Option<Instant> {
        if !self.fresh {
            return None;
        }
        Some(self.last.map_or(Instant::ZERO, |t| t + c.stale_after()))
    }

    /// Marks the direction stale, for `reason`, if `stale_after` has
    /// passed at `now`. True if it went stale.
    pub(crate) fn expire(&mut self, now: Instant, c: &Config, reason: DownReason) -> bool {
        if let Some(t) = self.stale_at(c).filter(|&t| now >= t) {
            self.fresh = false;
            self.downs = self.downs.saturating_add(1);
            self.since = Some(t);
            self.last_down = Some(reason);
            return true;
        }
        false
    }
}

/// Where the handshake with a peer stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerStatus {
    /// The peer's static public key.
    pub public_key: PublicKey,
    /// "I hear the peer".
    pub inbound: Freshness,
    /// Whether inbound freshness is also confirmed by a round trip: the
    /// latest probe that refreshed it acknowledged a probe of ours sealed
    /// within `stale_after`, so its age is bounded by our own clock, not
    /// only by the send time it carries (§6.2). Outbound freshness is
    /// always confirmed by a round trip.
    pub inbound_round_trip: bool,
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
    /// The round-trip time of the latest new acknowledgement of a probe
    /// whose seal time we kept exactly (our latest, or one of the samples,
    /// §6.2): from its seal to the valid probe of the peer's that
    /// acknowledged it (including the peer's time to answer).
    pub rtt: Option<Duration>,
    /// With the probe schedule on ([`crate::Endpoint::set_probe_schedule`]):
    /// the round trip of the latest echo of our latest scheduled probe,
    /// from its seal to the echo's arrival.
    pub echo_rtt: Option<Duration>,
    /// Probes sealed for this peer (keepalives included).
    pub probes_sealed: u64,
    /// Probes from this peer that validated.
    pub probes_opened: u64,
    /// Refused datagrams attributed to this peer.
    pub rejected: RejectCounters,
}

/// Per-peer counters, reported in [`PeerStatus`].
#[derive(Copy, Clone, Debug, Default)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct PeerCounters {
    pub(crate) rejected: RejectCounters,
    pub(crate) handshakes_started: u64,
    pub(crate) handshakes_completed: u64,
    pub(crate) last_handshake_latency: Option<Duration>,
    pub(crate) rtt: Option<Duration>,
    pub(crate) probes_sealed: u64,
    pub(crate) probes_opened: u64,
}

/// Endpoint-wide counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct EndpointStats {
    /// Every refused datagram, attributed or not.
    pub rejected: RejectCounters,
    /// X25519 operations with a variable base (handshakes and peer setup).
    pub dh_operations: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Initiations refused because the endpoint's Diffie-Hellman budget
    /// (`handshake_dh_per_second`) was spent (also counted as
    /// `RateLimited` rejections).
    pub dh_budget_refusals: u64,
    /// Probes that validated.
    pub probes_opened: u64,
    /// Probes sealed.
    pub probes_sealed: u64,
}

#[cfg(test)]
mod tests;

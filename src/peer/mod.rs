//! The state kept per configured peer, made of sub-states that own their
//! logic: sessions, handshake, freshness per direction, counters, timers
//! (`docs/PROTOCOL.md` §6).

pub(crate) mod handshake;
pub(crate) mod schedule;
pub(crate) mod seal_log;
pub(crate) mod sessions;
pub(crate) mod timers;

use core::fmt;
use core::time::Duration;

use crate::config::Config;
use crate::event::{Event, EventQueue, HandshakeReason, LinkDirection};
use crate::ids::{PeerId, SessionIndex};
use crate::keys::{KeyId, PublicKey};
use crate::mac::PeerMacs;
use crate::noise::StaticDh;
use crate::session::{REKEY_AFTER_COUNTER, Role, Session};
use crate::status::{DownReason, Freshness, PeerCounters, PeerStatus};
use crate::time::Instant;
use crate::wire::{ProbeHeader, ProbeKind};

use handshake::Handshake;
use seal_log::SealLog;
use sessions::{SESSIONS, Sessions};
use timers::{Timer, TimerTable};

/// What a peer has queued for [`crate::Endpoint::poll_transmit`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct TxQueue(u8);

impl TxQueue {
    pub(crate) const INITIATION: u8 = 1;
    pub(crate) const RESPONSE: u8 = 2;
    /// A keepalive asking the responder to confirm our new session.
    pub(crate) const CONFIRM: u8 = 4;
    /// A keepalive under the current session, answering the peer's
    /// keepalive that just proved it.
    pub(crate) const ANSWER: u8 = 8;
    /// A challenge to an initiation that did not prove it is new (§4.5).
    pub(crate) const CHALLENGE: u8 = 16;
    /// A scheduled probe (§7.6).
    pub(crate) const PROBE: u8 = 32;
    /// An echo of the peer's latest probe (§7.6).
    pub(crate) const ECHO: u8 = 64;

    /// Queues `bit`.
    pub(crate) fn push(&mut self, bit: u8) {
        self.0 |= bit;
    }

    /// Takes `bit` if queued.
    pub(crate) fn take(&mut self, bit: u8) -> bool {
        let had = self.0 & bit != 0;
        self.0 &= !bit;
        had
    }

    pub(crate) fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A probe that just opened: the session slot it opened under, its header,
/// and whether it moved the receive window to the next epoch.
pub(crate) struct Opened<'a> {
    pub(crate) slot: usize,
    pub(crate) header: &'a ProbeHeader,
    pub(crate) advanced: bool,
    /// The peer's clock when it sealed the probe (§6.2).
    pub(crate) sent: u64,
}

/// What validating a probe did to the peer.
#[derive(Default)]
pub(crate) struct Validated {
    /// A keepalive answers it (§4.4).
    pub(crate) answer: bool,
    /// It moved only freshness, acknowledgements and its own session's
    /// keys: the sole session, current, already proven, none awaiting
    /// confirmation.
    pub(crate) quiet: bool,
}

/// The state of one configured peer. Opaque: read it through
/// [`crate::Endpoint::peer_status`].
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub struct Peer {
    pub(crate) public: PublicKey,
    /// The id the endpoint gave this peer.
    pub(crate) id: PeerId,
    /// The caller's value for this peer ([`crate::Endpoint::set_user_data`]).
    pub(crate) user_data: u64,
    /// The optional probe schedule (§7.6).
    pub(crate) schedule: schedule::ProbeSchedule,
    pub(crate) key_id: KeyId,
    pub(crate) macs: PeerMacs,
    pub(crate) ss: StaticDh,
    pub(crate) local_larger: bool,
    pub(crate) added_at: Instant,
    pub(crate) sessions: Sessions,
    pub(crate) handshake: Handshake,
    pub(crate) inbound: Freshness,
    pub(crate) outbound: Freshness,
    /// When a session was last established; `Instant::ZERO` for never
    /// (staleness counts from the latest of this and `added_at`).
    pub(crate) last_established_at: Instant,
    pub(crate) tx: TxQueue,
    /// When our recent probes were sealed, to date acknowledgements.
    pub(crate) sealed: SealLog,
    /// Whether the latest probe that refreshed inbound freshness also
    /// acknowledged a probe of ours sealed within `stale_after` (§6.2).
    pub(crate) inbound_round_trip: bool,
    pub(crate) counters: PeerCounters,
    pub(crate) timers: TimerTable,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// When a session is renewed: the responder waits longer than the
/// initiator so the two sides do not cross (§4.6).
pub(crate) fn rekey_after(c: &Config, role: Role) -> Duration {
    match role {
        Role::Initiator => c.rekey_after_time(),
        Role::Responder => c.rekey_after_time() + c.stale_after(),
    }
}

impl Peer {
    /// A peer with no timer armed yet: the caller re-arms it once it has
    /// wanted the first handshake.
    pub(crate) fn new(
        id: PeerId,
        public: PublicKey,
        ss: StaticDh,
        local_larger: bool,
        c: &Config,
        now: Instant,
    ) -> Self {
        Peer {
            id,
            user_data: 0,
            schedule: schedule::ProbeSchedule::default(),
            public,
            key_id: public.key_id(),
            macs: PeerMacs::new(&public, &ss),
            ss,
            local_larger,
            added_at: now,
            sessions: Sessions::default(),
            handshake: Handshake::new(c, now),
            inbound: Freshness::default(),
            outbound: Freshness::default(),
            last_established_at: Instant::ZERO,
            tx: TxQueue::default(),
            sealed: SealLog::default(),
            inbound_round_trip: false,
            counters: PeerCounters::default(),
            timers: TimerTable::default(),
        }
    }

    /// Wants a handshake for `reason`. Returns the event to report, if it
    /// started one.
    pub(crate) fn want_handshake(
        &mut self,
        id: PeerId,
        reason: HandshakeReason,
        now: Instant,
        c: &Config,
    ) -> Option<Event> {
        if !self.handshake.want(reason, now, c, self.counters.rejected) {
            return None;
        }
        self.counters.handshakes_started += 1;
        // The first initiation is due at once (§4.3).
        self.timers.set(Timer::Retry, Some(now));
        self.timers.set(
            Timer::HandshakeFailing,
            self.handshake.want.as_ref().map(|w| w.failing_report_at),
        );
        Some(Event::HandshakeStarted { peer: id, reason })
    }

    /// When a direction's staleness counts from: the last validation, the
    /// last session, or the peer's configuration, whichever is latest.
    fn stale_reference(&self, last: Option<Instant>) -> Instant {
        let r = self.added_at.max(self.last_established_at);
        last.map_or(r, |t| r.max(t))
    }

    /// Why a handshake should start at `now`, if one should (§6.1): the
    /// first of the triggers in order that is due.
    pub(crate) fn handshake_due(&self, now: Instant, c: &Config) -> Option<HandshakeReason> {
        self.handshake_triggers(c)?
            .into_iter()
            .find(|&(_, at)| now >= at)
            .map(|(reason, _)| reason)
    }

    /// The handshake triggers in order of precedence, each with the instant
    /// it falls due with the state as it is; `None` while a handshake is
    /// wanted.
    fn handshake_triggers(&self, c: &Config) -> Option<[(HandshakeReason, Instant); 3]> {
        if self.handshake.want.is_some() {
            return None;
        }
        let Some(s) = self.sessions.current() else {
            return Some([(HandshakeReason::NoSession, Instant::ZERO); 3]);
        };
        let rekey = if s.send_counter() >= REKEY_AFTER_COUNTER || s.send_epoch().0 == u32::MAX {
            Instant::ZERO
        } else {
            s.created_at + rekey_after(c, s.role)
        };
        Some([
            (HandshakeReason::Rekey, rekey),
            (
                HandshakeReason::InboundStale,
                self.stale_reference(self.inbound.last) + c.stale_after(),
            ),
            (
                HandshakeReason::OutboundStale,
                self.stale_reference(self.outbound.last) + c.stale_after(),
            ),
        ])
    }

    /// Re-arms every timer from the sub-state that owns it. Called by every
    /// operation that changed the peer. The retry and cached-response
    /// deadlines are state of their own, set where the handshake sets them;
    /// here they are only stopped once what they time is gone.
    pub(crate) fn rearm(&mut self, c: &Config) {
        for (i, s) in self.sessions.slots.iter().enumerate() {
            // SESSIONS is 3: a slot fits in a byte.
            let slot = u8::try_from(i).unwrap_or(u8::MAX);
            self.timers
                .set(Timer::Session(slot), s.as_ref().map(|s| s.next_deadline(c)));
        }
        if self.handshake.cached_response.is_none() {
            self.timers.set(Timer::CachedResponse, None);
        }
        self.timers
            .set(Timer::InboundStale, self.inbound.stale_at(c));
        self.timers
            .set(Timer::OutboundStale, self.outbound.stale_at(c));
        self.arm_start_handshake(c);
        if self.handshake.want.is_none() {
            self.timers.set(Timer::Retry, None);
        }
        self.timers.set(
            Timer::HandshakeFailing,
            self.handshake.want.as_ref().map(|w| w.failing_report_at),
        );
        self.timers.set(
            Timer::Probe,
            self.schedule.deadline(self.sessions.current.is_some()),
        );
    }

    /// Re-arms the one timer sealing can move: a rekey falls due on the
    /// send counter or epoch limit (§4.6). Sealing is the hot path, and
    /// touches neither the receive side nor freshness.
    pub(crate) fn arm_start_handshake(&mut self, c: &Config) {
        let due = self
            .handshake_triggers(c)
            .and_then(|t| t.iter().map(|&(_, at)| at).min());
        self.timers.set(Timer::StartHandshake, due);
    }

    /// The caller's clock read `now`, earlier than a reading it gave before
    /// (§7): every instant stored is brought back to `now` at the latest,
    /// and every deadline to no further ahead than its whole length, so a
    /// reading far ahead followed by the right one latches nothing. Then
    /// the timers are re-armed from the state.
    pub(crate) fn clamp_time(&mut self, now: Instant, c: &Config) {
        self.added_at = self.added_at.min(now);
        self.last_established_at = self.last_established_at.min(now);
        self.inbound.clamp_time(now);
        self.outbound.clamp_time(now);
        self.sealed.clamp_time(now);
        self.sessions.clamp_time(now, c);
        self.handshake.clamp_time(now, c);
        self.schedule.clamp_time(now, c.probe_interval());
        // A deadline that saturated at the far reading reads as unset:
        // what the state says is armed is brought back all the same.
        if self.handshake.want.is_some() {
            self.timers
                .clamp(Timer::Retry, now, c.handshake_retry_max());
        }
        if self.handshake.cached_response.is_some() {
            self.timers
                .clamp(Timer::CachedResponse, now, c.handshake_max_age());
        }
        self.rearm(c);
    }

    /// A new session is in use for sending. `dated_afresh`: the peer dates
    /// our probes in it against our clock as it reads now (false for a
    /// session we sealed in before our clock went back, §7: it does not end
    /// the handshake wanted since).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn established(
        &mut self,
        id: PeerId,
        role: Role,
        latency: Duration,
        dated_afresh: bool,
        now: Instant,
        c: &Config,
        events: &mut EventQueue,
    ) {
        if role == Role::Responder && dated_afresh {
            // Proven by the initiator's probe: a session made after the want
            // began is in use and confirmed, nothing left to retry (§4.3).
            // A session of ours still awaiting confirmation is superseded
            // only if it ranks below this one (`Sessions::supersede_below`).
            self.handshake.finish();
        }
        if !dated_afresh && let Some(e) = self.want_handshake(id, HandshakeReason::Rekey, now, c) {
            // We sealed in this session before our clock went back: the
            // peer dates our probes in it against readings we have gone
            // back from, so it is never sent in without a handshake under
            // way to replace it (§7), even when another session, dated
            // afresh, ended the one wanted at the step.
            events.push(e);
        }
        self.last_established_at = now;
        self.counters.handshakes_completed += 1;
        self.counters.last_handshake_latency = Some(latency);
        events.push(Event::SessionEstablished {
            peer: id,
            role,
            latency,
        });
    }

    /// Everything a validated probe under the session in slot `si` proves
    /// (§6.2): the session is held by the peer, the peer is heard, and
    /// whatever it acknowledges of ours. Returns true when a keepalive
    /// should answer: the initiator's keepalive just proved a new session,
    /// and one back lets the initiator validate (and see its probes
    /// acknowledged) without waiting for our next probe (§4.4).
    pub(crate) fn validated(
        &mut self,
        id: PeerId,
        opened: Opened<'_>,
        now: Instant,
        c: &Config,
        events: &mut EventQueue,
    ) -> Validated {
        let Opened {
            slot: si,
            header: hdr,
            advanced,
            sent,
        } = opened;
        self.counters.probes_opened += 1;
        let Some(s) = self.sessions.slots[si].as_mut() else {
            return Validated::default();
        };
        let stamped_before_step = s.stamped_before_step;
        let (proven_now, created_at, role) = (!s.proven, s.created_at, s.role);
        // Inbound evidence is dated when the probe was sent, as far as its
        // lateness against this session's fastest delivery shows (§6.2).
        let sent_at = s.date_probe(sent, now);
        let mut latency = now.saturating_duration_since(created_at);
        if proven_now {
            // A responder's session is dated from its proof (§4.4): it may
            // have been answered long before, from the cached response.
            s.prove(now);
            self.handshake.cached_response = None;
        }
        let mut quiet = !proven_now && self.sessions.current == Some(si) && self.sessions.only(si);
        if let Some((slot, first_sent_at)) = self.sessions.unconfirmed
            && usize::from(slot) == si
        {
            quiet = false;
            // The peer holds the session we initiated: the handshake is
            // complete (§4.3), unless the peer dates our probes in it
            // against a clock reading we have since gone back from (§7).
            self.sessions.unconfirmed = None;
            if !stamped_before_step {
                self.handshake.finish();
            }
            latency = now.saturating_duration_since(first_sent_at);
        }
        // A session the peer demonstrably uses takes over if it outranks
        // the current one (§4.4): a responder's on its proof, an
        // initiator's on its confirmation if it was waiting behind a
        // working session. Ranks only go up, so both sides settle on the
        // highest session both hold.
        let mut answer = false;
        if self.sessions.current != Some(si) && self.sessions.outranks_current(si) {
            self.sessions.make_current(si);
            self.established(id, role, latency, !stamped_before_step, now, c, events);
            answer = proven_now && hdr.kind == ProbeKind::Keepalive;
        }
        if self.sessions.current == Some(si) {
            if advanced && let Some(s) = self.sessions.current() {
                events.push(Event::EpochRotated {
                    peer: id,
                    direction: LinkDirection::Inbound,
                    epoch: s.recv_epoch(),
                });
            }
            if !self.sessions.only(si) {
                self.sessions.supersede_below(si, now, c);
            }
        }
        // When we sealed the probe of ours the peer acknowledges, if a
        // sample reaches it: dates both the outbound evidence and whether
        // the inbound one is confirmed by a round trip (§6.2).
        let acked_seal = (hdr.ack_counter != 0)
            .then(|| self.sealed.sealed_by(hdr.ack_index, hdr.ack_counter - 1))
            .flatten();
        let young = |t: Instant| now.saturating_duration_since(t) < c.stale_after();
        if young(sent_at) {
            self.inbound_round_trip = acked_seal.is_some_and(|(t, _)| young(t));
        }
        if self.inbound.heard_at(sent_at, now, c) {
            events.push(Event::HealthChanged {
                peer: id,
                direction: LinkDirection::Inbound,
                fresh: true,
            });
        }
        self.sessions.acked = Some(si);
        // The peer says it validated our probes up to `ack_counter - 1`:
        // evidence for the outbound direction as of when we sealed that
        // probe, not as of now, so a held or replayed acknowledgement
        // counts for no more than its probe's age (§6.2).
        // New to the session it names, the acknowledgement moves the send
        // schedule, which rotates on it (§5.3), and one of a probe whose
        // seal time the log kept exactly gives the round trip.
        // Most acknowledge the session the probe came in.
        let ai = if hdr.ack_index == hdr.receiver_index {
            Some(si)
        } else {
            self.sessions.find(hdr.ack_index)
        };
        let new = hdr.ack_counter != 0
            && ai
                .and_then(|ai| self.sessions.slots[ai].as_mut())
                .is_some_and(|s| s.acknowledge(hdr.ack_counter));
        // The evidence itself is dated by the seal log alone: an
        // authenticated acknowledgement counts even if that session is gone
        // since or an earlier probe carried it too, and can never date the
        // direction later than our seal (§6.2).
        if let Some((sealed_at, exact)) = acked_seal {
            if new && exact {
                self.counters.rtt = Some(now.saturating_duration_since(sealed_at));
            }
            if self.outbound.heard_at(sealed_at, now, c) {
                events.push(Event::HealthChanged {
                    peer: id,
                    direction: LinkDirection::Outbound,
                    fresh: true,
                });
            }
        }
        Validated { answer, quiet }
    }

    /// Re-arms the timers after a probe validated in session `si`: only
    /// those a probe moves (that session's, both stale timers, the
    /// handshake trigger) if it changed nothing else (`quiet`), else all.
    /// The hot path: the other sessions and the handshake state stay out
    /// of cache. Debug builds check it against the full re-arm.
    pub(crate) fn rearm_after_probe(&mut self, si: usize, quiet: bool, c: &Config) {
        if !quiet {
            self.rearm(c);
            return;
        }
        if let Some(s) = &self.sessions.slots[si] {
            let slot = u8::try_from(si).unwrap_or(u8::MAX);
            self.timers
                .set(Timer::Session(slot), Some(s.next_deadline(c)));
        }
        self.timers
            .set(Timer::InboundStale, self.inbound.stale_at(c));
        self.timers
            .set(Timer::OutboundStale, self.outbound.stale_at(c));
        self.arm_start_handshake(c);
        #[cfg(debug_assertions)]
        {
            let targeted = self.timers.clone();
            self.rearm(c);
            debug_assert_eq!(targeted, self.timers, "a quiet probe moved another timer");
        }
    }

    /// Why `direction` goes stale, if it does now (§6.2): no session in
    /// use, or for outbound one while we still hear the peer
    /// (`inbound_fresh`), else silence.
    pub(crate) fn down_reason(&self, direction: LinkDirection, inbound_fresh: bool) -> DownReason {
        if self.sessions.current.is_none() {
            DownReason::NoSession
        } else if direction == LinkDirection::Outbound && inbound_fresh {
            DownReason::OneWay
        } else {
            DownReason::Silence
        }
    }

    /// Marks `direction` stale, for the reason it goes down, if
    /// `stale_after` has passed at `now` (§6.2). True if it went stale.
    pub(crate) fn expire_direction(
        &mut self,
        direction: LinkDirection,
        now: Instant,
        c: &Config,
    ) -> bool {
        let reason = self.down_reason(direction, self.inbound.fresh);
        match direction {
            LinkDirection::Inbound => self.inbound.expire(now, c, reason),
            LinkDirection::Outbound => self.outbound.expire(now, c, reason),
        }
    }

    /// The event reporting the wanted handshake as failing, if it is due at
    /// `now`; the next report is due `handshake_failing_after` later.
    pub(crate) fn handshake_failing(&mut self, now: Instant, c: &Config) -> Option<Event> {
        let rejected = self.counters.rejected;
        let w = self.handshake.want.as_mut()?;
        if now < w.failing_report_at {
            return None;
        }
        w.failing_report_at = now.saturating_add(c.handshake_failing_after());
        Some(Event::HandshakeFailing {
            peer: self.id,
            for_how_long: now.saturating_duration_since(w.since),
            attempts: w.attempts,
            rejected: rejected.since(&w.rejected_at_start),
        })
    }

    /// Whether `index` is used by a session or the initiation in flight.
    pub(crate) fn index_in_use(&self, index: SessionIndex) -> bool {
        self.sessions.find(index).is_some() || self.handshake.in_flight_is(index)
    }

    /// The status at `now`: freshness as it is at `now`, whether or not the
    /// stale timer has run yet.
    pub(crate) fn status(&self, now: Instant, config: &Config) -> PeerStatus {
        let current = self.sessions.current();
        let c = &self.counters;
        let mut inbound = self.inbound;
        inbound.expire(now, config, self.down_reason(LinkDirection::Inbound, false));
        let mut outbound = self.outbound;
        let reason = self.down_reason(LinkDirection::Outbound, inbound.fresh);
        outbound.expire(now, config, reason);
        PeerStatus {
            public_key: self.public,
            inbound,
            outbound,
            inbound_round_trip: self.inbound_round_trip && inbound.fresh,
            send_epoch: current.map(Session::send_epoch),
            recv_epoch: current.map(Session::recv_epoch),
            session_age: current.map(|s| now.saturating_duration_since(s.created_at)),
            session_role: current.map(|s| s.role),
            handshake: self.handshake.state(),
            awaiting_confirmation: self.sessions.awaiting_proof(),
            handshakes_started: c.handshakes_started,
            handshakes_completed: c.handshakes_completed,
            last_handshake_latency: c.last_handshake_latency,
            rtt: c.rtt,
            echo_rtt: self.schedule.echo_rtt,
            probes_sealed: c.probes_sealed,
            probes_opened: c.probes_opened,
            rejected: c.rejected,
        }
    }
}

/// Sessions per peer, for the size test.
const _: () = assert!(SESSIONS == 3);

/// The size of a peer slot reported in the README and
/// `docs/PROTOCOL.md`, checked in every build with the default AEAD but
/// the test-only `model` one (the tests measure that build too).
#[cfg(all(feature = "aws-lc-rs", not(feature = "model")))]
const _: () = assert!(
    core::mem::size_of::<Option<Peer>>() <= 2664,
    "a peer slot grew past 2,664 bytes"
);

/// A peer of static key `[remote; 32]` for the local key `[1; 32]`, added
/// at zero with the default config: for unit tests that need a peer
/// without an endpoint.
#[cfg(test)]
pub(crate) fn test_peer(remote: u8, id: PeerId) -> Peer {
    use crate::internals::noise::StaticDh;
    use crate::keys::StaticKeypair;
    let local = StaticKeypair::from_secret_bytes([1; 32]);
    let public = StaticKeypair::from_secret_bytes([remote; 32]).public();
    let ss = StaticDh::new(&local, &public).expect("contributory");
    Peer::new(id, public, ss, true, &Config::default(), Instant::ZERO)
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
        // The test-only `model` feature (on in the tests) keeps the bytes of
        // each of a session's four epoch keys beside the prepared key.
        let model = if cfg!(feature = "model") {
            SESSIONS * 4 * 32
        } else {
            0
        };
        assert!(peer <= 2664 + model, "peer slot grew to {peer} bytes");
    }

    /// A peer's `Debug` names its public key, and nothing secret (the
    /// static-static secret, the MAC keys, the sessions).
    #[test]
    fn a_peers_debug_names_its_public_key_only() {
        let p = test_peer(2, PeerId::new(0, 0));
        let public = p.public;
        let shown = std::format!("{p:?}");
        assert_eq!(shown, std::format!("Peer {{ public: {public:?}, .. }}"));
    }
}

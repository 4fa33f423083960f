//! The freshness oracle (`docs/PROTOCOL.md` §6.2), checked after every
//! operation against what the network really carried, not against the
//! endpoints' own bookkeeping:
//!
//! - **stale otherwise**: a direction is reported fresh only on evidence
//!   young enough. Outbound (node `a` says peer `b` hears it) needs a probe
//!   `a` sealed for `b` within `stale_after` on `a`'s clock that `b`
//!   accepted. Inbound (`a` hears `b`) needs a probe of `b`'s accepted by
//!   `a` whose true age (the network's time since `b` sealed it, measured
//!   on `a`'s clock from the arrival on) is within `stale_after`, plus what
//!   §6.2 concedes to delay: the smallest delay of that session since
//!   either clock was last stepped or stopped (an attacker may shift fresh
//!   time by what it withheld from the first probe on, and from the first
//!   after such a disturbance, which resets the endpoint's measure of the
//!   fastest delivery), the 2 % drift allowance over the session's life, and any
//!   time `a`'s own clock lost while the session ran (a suspended host or a
//!   clock stepped back cannot see what passed meanwhile);
//! - **fresh whenever delivering**: a direction that delivered real
//!   traffic within `stale_after` is reported fresh. Inbound: from a probe
//!   that arrived as fast as any before it in its session (every probe
//!   accepted in the session sealed with the sender's clock neither
//!   stepped nor stopped between their seals, and arriving with the
//!   receiver's neither between their arrivals), `a` reports
//!   `b` fresh until `stale_after` after its arrival. Outbound: from a
//!   valid probe of `b`'s acknowledging `a`'s latest probe to `b`, arriving
//!   within `epoch_grace` of that probe's seal (so the session it names is
//!   still held), `a` reports the direction fresh until `stale_after` after
//!   that seal.
//!
//! Times are kept on each node's own clock and follow the endpoint's
//! contract for readings that go back (§7): instants ahead of the new
//! reading are brought back to it. A clock at the end of its range
//! (`Instant::MAX`) stands still: its node is not checked there, and its
//! probes count as a disturbance of the sessions they are sent in.

use core::time::Duration;
use std::collections::BTreeMap;

use probekey::wire::{Initiation, Response};
use probekey::{Instant, PeerStatus};

/// One sealed probe: sender, receiver, the receiver's session index, the
/// counter (header bytes 4..8 and 12..20, `docs/PROTOCOL.md` §2.4), the
/// tag (the last 16 bytes).
type ProbeKey = (usize, usize, [u8; 4], u64, [u8; 16]);

/// Tolerance for rounding between the network's time and a node's clock.
const SLACK: Duration = Duration::from_millis(2);

#[derive(Clone, Hash)]
struct Sealed {
    /// The network's time at the seal.
    global: Instant,
    /// The sender's clock at the seal.
    local: Instant,
    /// The sender's incarnation then.
    incarnation: u64,
    /// The sender's clock disturbances then: its reading in the probe is
    /// comparable with another probe's only if none came between the two
    /// seals, whenever the probes arrive.
    disturbed: u64,
    /// The probe of the receiver's it acknowledges, if it acknowledges the
    /// latest one the sender validated.
    acks: Option<ProbeKey>,
    /// Whether a probe acknowledging it was accepted already: only the
    /// first acknowledgement is new evidence (§6.2).
    acknowledged: bool,
}

/// One node's clock as its endpoint saw it.
#[derive(Default, Clone, Hash)]
struct NodeTimes {
    /// The last reading passed to the endpoint.
    last: Instant,
    /// Time its clock lost against the network: suspensions and steps
    /// back.
    lost: Duration,
    /// Steps, suspensions and reboots so far.
    disturbed: u64,
    incarnation: u64,
}

/// One session as its receiver holds it (receiver, its incarnation, its
/// index).
#[derive(Clone, Hash)]
struct SessionTimes {
    /// The network's time of the first probe accepted in it.
    first: Instant,
    /// The smallest delay of any probe accepted in it.
    fastest: Duration,
    /// The receiver's lost time then.
    lost_first: Duration,
    /// The sender's clock disturbances at its seal and the receiver's at
    /// its arrival.
    disturbed_first: (u64, u64),
    /// Whether a probe of other disturbances (sealed before or after a
    /// step of the sender's clock, or arriving across one of the
    /// receiver's) was accepted in the session too: the endpoint measures
    /// the fastest delivery over every probe, and one of another clock
    /// moves that measure by the step, whichever arrived first.
    mixed: bool,
    /// The smallest delay of any probe accepted since either clock was
    /// last disturbed, and the disturbances then: a clock stepped or
    /// stopped moves the endpoint's measure of the fastest delivery
    /// (§6.2), and the first probe after it may be one an attacker held.
    fastest_since: Duration,
    disturbed_since: (u64, u64),
}

/// What node `a` may and must report about peer `b`, on `a`'s clock.
#[derive(Default, Clone, Hash)]
struct View {
    /// Inbound may be fresh while the reading is below this.
    inbound_backed: Option<Instant>,
    /// The largest delay allowance behind `inbound_backed`.
    inbound_stretch: Duration,
    /// Inbound must be fresh while the reading is below this.
    inbound_owed: Option<Instant>,
    /// Outbound may be fresh while the reading is below this.
    outbound_backed: Option<Instant>,
    /// Outbound must be fresh while the reading is below this.
    outbound_owed: Option<Instant>,
    /// The latest probe `a` sealed for `b`.
    latest_sealed: Option<ProbeKey>,
    /// The latest probe of `b`'s that `a` validated.
    latest_validated: Option<ProbeKey>,
}

/// A broken freshness property.
#[derive(Debug)]
pub struct Violation(pub String);

/// The oracle for `n` nodes.
#[derive(Clone, Hash)]
pub struct FreshnessOracle {
    stale_after: Duration,
    epoch_grace: Duration,
    nodes: Vec<NodeTimes>,
    views: Vec<Vec<View>>,
    sealed: BTreeMap<ProbeKey, Sealed>,
    sessions: BTreeMap<(usize, u64, [u8; 4]), SessionTimes>,
}

/// A probe's identity: sender, receiver, the receiver's session index, the
/// counter, and the tag, which tells apart probes of two sessions that
/// share an index (one made after the receiver restarted).
fn header_key(from: usize, to: usize, bytes: &[u8]) -> Option<ProbeKey> {
    let index: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let counter = u64::from_be_bytes(bytes.get(12..20)?.try_into().ok()?);
    let tag: [u8; 16] = bytes.get(bytes.len().checked_sub(16)?..)?.try_into().ok()?;
    Some((from, to, index, counter, tag))
}

fn ack_counter(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(24..32)?.try_into().ok()?))
}

fn clamp(t: &mut Option<Instant>, at_most: Instant) {
    if let Some(t) = t {
        *t = (*t).min(at_most);
    }
}

/// `d` in parts per hundred.
fn percent(d: Duration, p: u32) -> Duration {
    d * p / 100
}

impl FreshnessOracle {
    /// `n` nodes whose endpoints have seen time zero.
    pub fn new(n: usize, stale_after: Duration, epoch_grace: Duration) -> Self {
        FreshnessOracle {
            stale_after,
            epoch_grace,
            nodes: vec![NodeTimes::default(); n],
            views: vec![vec![View::default(); n]; n],
            sealed: BTreeMap::new(),
            sessions: BTreeMap::new(),
        }
    }

    /// Node `i`'s endpoint is passed `reading`: a reading earlier than the
    /// last brings every later instant back to it (§7).
    pub fn reading(&mut self, i: usize, reading: Instant) {
        let node = &mut self.nodes[i];
        let last = node.last;
        if reading < last {
            node.lost += last - reading;
            node.disturbed += 1;
            let s = self.stale_after;
            for v in &mut self.views[i] {
                // Evidence younger than the last reading is brought back
                // to the new one; a direction that went stale stays so.
                clamp(&mut v.inbound_backed, reading + s + v.inbound_stretch);
                clamp(&mut v.outbound_backed, reading + s);
                for owed in [&mut v.inbound_owed, &mut v.outbound_owed] {
                    *owed = owed.filter(|&o| o > last).map(|o| o.min(reading + s));
                }
            }
            // So are the seal times of its probes (its seal log).
            for p in self.sealed.iter_mut().filter(|(k, _)| k.0 == i) {
                p.1.local = p.1.local.min(reading);
            }
        }
        // At the end of the clock's range time stands still, as for a
        // suspended host: the peer sees this node's probes fall behind.
        if reading == Instant::MAX {
            self.nodes[i].disturbed += 1;
        }
        self.nodes[i].last = reading;
    }

    /// Node `i`'s clock stepped (forward, or back by `lost`), or its host
    /// was suspended for `lost` of the network's time. (A step back the
    /// endpoint then sees is also counted by [`Self::reading`]: the time
    /// lost is counted twice, which only widens the allowance.)
    pub fn disturbed(&mut self, i: usize, lost: Duration) {
        self.nodes[i].lost += lost;
        self.nodes[i].disturbed += 1;
    }

    /// Node `i` restarted (all state lost); its new endpoint first sees
    /// `reading`.
    pub fn restarted(&mut self, i: usize, reading: Instant) {
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        node.disturbed += 1;
        node.last = reading;
        for v in &mut self.views[i] {
            *v = View::default();
        }
    }

    /// Node `from` sent the datagram `bytes` (its endpoint wrote it: not a
    /// copy the network made).
    pub fn sent(&mut self, from: usize, bytes: &[u8]) {
        // A handshake message names the sender's index of a session about
        // to be made: that session starts its own fastest delivery.
        let index = Initiation::parse(bytes)
            .map(|m| m.sender_index)
            .or_else(|_| Response::parse(bytes).map(|m| m.sender_index));
        if let Ok(index) = index {
            let incarnation = self.nodes[from].incarnation;
            self.sessions
                .remove(&(from, incarnation, index.0.to_be_bytes()));
        }
    }

    /// Node `from` sealed the probe `bytes` for `to` at the network's time
    /// `global` (its clock reading `local`).
    pub fn sealed(
        &mut self,
        from: usize,
        to: usize,
        bytes: &[u8],
        global: Instant,
        local: Instant,
    ) {
        let Some(key) = header_key(from, to, bytes) else {
            return;
        };
        let view = &mut self.views[from][to];
        let acks = view
            .latest_validated
            .filter(|q| q.3.checked_add(1).is_some() && Some(q.3 + 1) == ack_counter(bytes));
        view.latest_sealed = Some(key);
        self.sealed.insert(
            key,
            Sealed {
                global,
                local,
                incarnation: self.nodes[from].incarnation,
                disturbed: self.nodes[from].disturbed,
                acks,
                acknowledged: false,
            },
        );
    }

    /// Node `at` validated the probe (or keepalive) `bytes` from `from` at
    /// the network's time `global`, its clock reading `local`.
    pub fn accepted(
        &mut self,
        at: usize,
        from: usize,
        bytes: &[u8],
        global: Instant,
        local: Instant,
    ) {
        let Some(key) = header_key(from, at, bytes) else {
            return;
        };
        let Some(&Sealed {
            global: sealed_at,
            local: sealed_local,
            incarnation: sealed_by,
            disturbed: sender_disturbed,
            acks,
            ..
        }) = self.sealed.get(&key)
        else {
            return;
        };
        let s = self.stale_after;
        let delay = global.saturating_duration_since(sealed_at);
        let me = self.nodes[at].clone();
        // The endpoint measures a delivery as its reading at arrival less
        // the sender's reading at the seal: a disturbance of the sender's
        // clock counts from the seal on, not from the arrival (a probe
        // sealed before a step and delivered after it is of the old time).
        let disturbed_now = (sender_disturbed, me.disturbed);
        let session = self
            .sessions
            .entry((at, me.incarnation, key.2))
            .or_insert(SessionTimes {
                first: global,
                fastest: delay,
                lost_first: me.lost,
                disturbed_first: disturbed_now,
                mixed: false,
                fastest_since: delay,
                disturbed_since: disturbed_now,
            });
        session.mixed |= session.disturbed_first != disturbed_now;
        let on_time = delay <= session.fastest && !session.mixed;
        session.fastest = session.fastest.min(delay);
        if session.disturbed_since == disturbed_now {
            session.fastest_since = session.fastest_since.min(delay);
        } else {
            session.fastest_since = delay;
            session.disturbed_since = disturbed_now;
        }
        // Late against the fastest delivery since the clocks were last
        // disturbed: never more than against the session's fastest.
        let late = delay - session.fastest_since;
        let stretch = percent(global.saturating_duration_since(session.first), 3)
            + percent(session.fastest, 1)
            + percent(late, 1)
            + (me.lost - session.lost_first)
            + percent(s, 2)
            + SLACK;
        let date = Instant::from_nanos(
            local
                .as_nanos()
                .saturating_sub(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX)),
        );
        let backed = date + s + stretch;
        let view = &mut self.views[at][from];
        view.inbound_backed = Some(view.inbound_backed.map_or(backed, |b| b.max(backed)));
        view.inbound_stretch = view.inbound_stretch.max(stretch);
        if on_time {
            let owed = local + s;
            view.inbound_owed = Some(view.inbound_owed.map_or(owed, |o| o.max(owed)));
        }
        view.latest_validated = Some(key);
        // The sender's probe was heard: its outbound direction may be
        // fresh until `stale_after` after the seal, on its clock.
        if sealed_by == self.nodes[from].incarnation {
            let backed = sealed_local + s;
            let v = &mut self.views[from][at];
            v.outbound_backed = Some(v.outbound_backed.map_or(backed, |b| b.max(backed)));
        }
        // This probe is the first to acknowledge our latest probe to its
        // sender: our outbound direction must be fresh until `stale_after`
        // after it.
        if let Some(q) = acks
            && self.views[at][from].latest_sealed == Some(q)
            && let Some(ours) = self.sealed.get_mut(&q)
            && !core::mem::replace(&mut ours.acknowledged, true)
            && ours.incarnation == me.incarnation
            && local.saturating_duration_since(ours.local) <= self.epoch_grace
        {
            let owed = ours.local + s;
            let v = &mut self.views[at][from];
            v.outbound_owed = Some(v.outbound_owed.map_or(owed, |o| o.max(owed)));
        }
    }

    /// Checks what node `at` reports about `peer` at its clock's `reading`
    /// (only when the endpoint has seen no later reading).
    pub fn check(
        &self,
        at: usize,
        peer: usize,
        status: &PeerStatus,
        reading: Instant,
    ) -> Result<(), Violation> {
        // Nothing ages at the end of the clock's range (`docs/PROTOCOL.md`
        // §7): there is no time to be fresh or stale in.
        if reading < self.nodes[at].last || reading == Instant::MAX {
            return Ok(());
        }
        let v = &self.views[at][peer];
        let backed = |b: Option<Instant>| b.is_some_and(|b| reading < b);
        let owed = |o: Option<Instant>| o.is_some_and(|o| reading + SLACK < o);
        let say = |what: &str| {
            Err(Violation(format!(
                "node {at} about node {peer} at {reading:?}: {what} ({status:?})"
            )))
        };
        if status.inbound.fresh && !backed(v.inbound_backed) {
            return say(&format!(
                "inbound fresh with no probe young enough (backed until {:?})",
                v.inbound_backed
            ));
        }
        if status.outbound.fresh && !backed(v.outbound_backed) {
            return say(&format!(
                "outbound fresh with no probe of ours heard young enough (backed until {:?})",
                v.outbound_backed
            ));
        }
        if !status.inbound.fresh && owed(v.inbound_owed) {
            return say(&format!(
                "inbound stale though a probe came on time (owed until {:?})",
                v.inbound_owed
            ));
        }
        if !status.outbound.fresh && owed(v.outbound_owed) {
            return say(&format!(
                "outbound stale though our latest probe was acknowledged (owed until {:?})",
                v.outbound_owed
            ));
        }
        Ok(())
    }
}

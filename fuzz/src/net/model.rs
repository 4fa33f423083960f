//! The network as the model checker's state (`tests/model_check.rs`,
//! `docs/PROTOCOL.md` §10): its actions, and a hash of everything that
//! tells two states apart.

use core::time::Duration;
use std::hash::{Hash, Hasher};

use probekey::{Config, ProbeKind};

use super::{Datagram, Net};

/// A fixed step of time the model checker lets pass: each just past the
/// setting it is named after, so that what that setting times happens.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// One `probe_interval`.
    ProbeInterval,
    /// Just past `stale_after`.
    PastStale,
    /// Just past `epoch_grace`.
    PastGrace,
    /// Just past `rekey_after_time`.
    PastRekey,
    /// Just past `reject_after_time`.
    PastReject,
}

impl Wait {
    /// Every step.
    pub const ALL: [Wait; 5] = [
        Wait::ProbeInterval,
        Wait::PastStale,
        Wait::PastGrace,
        Wait::PastRekey,
        Wait::PastReject,
    ];

    /// How long it is under `c`.
    pub fn duration(self, c: &Config) -> Duration {
        let past = Duration::from_millis(1);
        match self {
            Wait::ProbeInterval => c.probe_interval(),
            Wait::PastStale => c.stale_after() + past,
            Wait::PastGrace => c.epoch_grace() + past,
            Wait::PastRekey => c.rekey_after_time() + past,
            Wait::PastReject => c.reject_after_time() + past,
        }
    }
}

/// One step of the model checker (`tests/model_check.rs`,
/// `docs/PROTOCOL.md` §10): every fault, passage of time and probe it
/// explores. Positions refer to [`Net::actions`]'s state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver the datagram in flight at this position.
    Deliver(usize),
    /// Lose it.
    Drop(usize),
    /// Duplicate it (both copies stay in flight).
    Duplicate(usize),
    /// Deliver again, to its receiver, the recorded datagram at this
    /// position: the recording attacker.
    Replay(usize),
    /// Restart a node: all state lost, same static key, same clock.
    Restart(usize),
    /// Reboot a node's host: a restart with its clock at zero again.
    Reboot(usize),
    /// Let time pass to the next deadline this node's endpoint names
    /// (`poll_timeout`), and run every node's due timers.
    Deadline(usize),
    /// Let a fixed step of time pass and run the due timers.
    Wait(Wait),
    /// Seal a probe from one node to another.
    Seal(usize, usize),
}

/// The state the model checker tells apart: every endpoint's whole state
/// (keys, sessions, timers, counters, events, randomness), every clock,
/// the network (in flight, held, recorded: as sets, since every action
/// reaches any of them) and the oracles' records. The configuration and
/// the static keys are the same in every state of a run.
impl Hash for Net {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.hash_nodes(h);
        fn set<'a>(ds: impl Iterator<Item = &'a Datagram>) -> Vec<(usize, usize, &'a [u8])> {
            let mut v: Vec<_> = ds.map(|d| (d.from, d.to, d.bytes.as_slice())).collect();
            v.sort_unstable();
            v
        }
        set(self.in_flight.iter()).hash(h);
        let mut recorded = set(self.history.iter());
        recorded.dedup();
        recorded.hash(h);
        self.held
            .iter()
            .for_each(|d| (d.from, d.to, &d.bytes).hash(h));
        self.oracle.hash(h);
        self.freshness.hash(h);
        self.challenges.hash(h);
        self.next_seq.hash(h);
    }
}

impl Net {
    /// Hashes what a good network's continuation from this state
    /// ([`Net::quiet`]) depends on: the time, every node (endpoint,
    /// randomness, clock, incarnation) and the probe oracle, against which
    /// the continuation's seals and acceptances are checked (a key and
    /// counter sealed before the faults stopped must not be sealed again
    /// after). It drops what is in flight or held, does not replay the
    /// recording or consult the freshness oracle, and the probe bodies it
    /// seals are opaque to the endpoints.
    pub fn hash_continuation<H: Hasher>(&self, h: &mut H) {
        self.hash_nodes(h);
        self.oracle.hash(h);
    }

    fn hash_nodes<H: Hasher>(&self, h: &mut H) {
        self.now.hash(h);
        for n in &self.nodes {
            n.endpoint.hash(h);
            n.endpoint.rng().get_word_pos().hash(h);
            n.clock.hash(h);
            n.peer_of.hash(h);
            n.restarts.hash(h);
        }
    }

    /// Every action the model checker explores from this state: deliver,
    /// drop or duplicate each datagram in flight; replay each distinct
    /// recorded datagram; restart or reboot each node; let time pass to
    /// each node's next deadline or by each fixed step; seal a probe each
    /// way of each link.
    pub fn actions(&self) -> Vec<Action> {
        let n = self.nodes.len();
        let mut actions = Vec::new();
        for i in 0..self.in_flight.len() {
            actions.extend([Action::Deliver(i), Action::Drop(i), Action::Duplicate(i)]);
        }
        for (j, d) in self.history.iter().enumerate() {
            let first = !self.history[..j]
                .iter()
                .any(|e| e.to == d.to && e.bytes == d.bytes);
            if first {
                actions.push(Action::Replay(j));
            }
        }
        for i in 0..n {
            actions.extend([Action::Restart(i), Action::Reboot(i)]);
            if self.nodes[i].endpoint.poll_timeout().is_some() {
                actions.push(Action::Deadline(i));
            }
        }
        actions.extend(Wait::ALL.map(Action::Wait));
        for from in 0..n {
            for to in (0..n).filter(|&to| to != from) {
                actions.push(Action::Seal(from, to));
            }
        }
        actions
    }

    /// Performs `action` and checks every invariant of [`Net`] (a broken
    /// one panics), freshness included.
    pub fn apply(&mut self, action: Action) {
        if self.trace {
            eprintln!("{:?} action {action:?}", self.now);
        }
        self.perform(action);
        self.check_freshness();
    }

    pub(super) fn perform(&mut self, action: Action) {
        match action {
            Action::Deliver(i) => self.deliver(i),
            Action::Drop(i) => {
                self.in_flight.remove(i);
            }
            Action::Duplicate(i) => {
                let d = self.in_flight[i].clone();
                self.send(d);
            }
            Action::Replay(j) => {
                let d = self.history[j].clone();
                self.receive(d.to, &d.bytes);
            }
            Action::Restart(i) => self.restart(i, false),
            Action::Reboot(i) => self.restart(i, true),
            Action::Deadline(i) => {
                let node = &self.nodes[i];
                let at = node
                    .endpoint
                    .poll_timeout()
                    .and_then(|d| node.clock.global(d));
                match at {
                    Some(at) if at > self.now => self.advance_by(at - self.now),
                    _ => self.timers(),
                }
            }
            Action::Wait(w) => self.advance_by(w.duration(&self.config)),
            Action::Seal(from, to) => self.seal(from, to, ProbeKind::Probe, 0),
        }
    }

    /// A good network for `d`, through the harness (every invariant and
    /// the freshness oracle checked): every `probe_interval` each node
    /// seals a probe to each other, and everything in flight is delivered
    /// at once. A deterministic way to a state where every link is up.
    pub fn run_good(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let n = self.nodes.len();
            for from in 0..n {
                for to in (0..n).filter(|&to| to != from) {
                    self.seal(from, to, ProbeKind::Probe, 0);
                }
            }
            self.deliver_all();
            self.check_freshness();
            self.advance_by(self.config.probe_interval());
            self.check_freshness();
        }
    }

    /// Forgets all recorded datagrams but the latest `keep`, and the
    /// datagrams in flight.
    pub fn forget_all_but(&mut self, keep: usize) {
        let mut recorded: Vec<Datagram> = self.history[self.history_next..]
            .iter()
            .chain(&self.history[..self.history_next])
            .cloned()
            .collect();
        let skip = recorded.len().saturating_sub(keep);
        recorded.drain(..skip);
        self.history = recorded;
        self.history_next = 0;
        self.in_flight.clear();
    }

    /// Whether every direction of every link is fresh at both ends.
    pub fn all_fresh(&self) -> bool {
        self.nodes.iter().all(|node| {
            let reading = node.clock.local(self.now);
            node.peer_of.iter().flatten().all(|&id| {
                node.endpoint
                    .peer_status(id, reading)
                    .is_some_and(|s| s.inbound.fresh && s.outbound.fresh)
            })
        })
    }

    /// Datagrams in flight and recorded.
    pub fn network_size(&self) -> (usize, usize) {
        (self.in_flight.len(), self.history.len())
    }

    /// Prints every action and outcome from now on (as
    /// `PROBEKEY_FUZZ_TRACE=1` does from the start).
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }
}

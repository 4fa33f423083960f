//! A small network of real endpoints driven one operation at a time by
//! fuzzer input, with the crate's invariants checked after every step:
//!
//! - no forged, altered or replayed probe is ever accepted: every accepted
//!   probe is byte for byte a datagram its claimed sender sealed for this
//!   receiver, accepted once;
//! - a refused datagram changes nothing but the rejection counters (and the
//!   Diffie-Hellman count of a handshake that failed after its MACs): peer
//!   status, deadlines and every other counter stay as they were;
//! - the counters agree with what the calls returned;
//! - after `handle_timeout(now)` the next deadline is in the future;
//! - freshness is reported exactly when the network carried real traffic
//!   within `stale_after`, up to what `docs/PROTOCOL.md` §6.2 concedes to
//!   delay and drift (the oracle of [`super::freshness`]);
//! - after a quiet period of good network begins, every direction of every
//!   link is fresh at both ends within `Config::recovery_bound`, and stays
//!   fresh.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use arbitrary::{Result, Unstructured};
use chacha20::ChaCha20Rng;
use probekey::internals::noise::{Initiator, Responder, StaticDh};
use probekey::rand_core::SeedableRng;
use probekey::wire::{
    Challenge, INITIATION_EPHEMERAL_OFFSET, INITIATION_LEN, INITIATION_NOISE_LEN,
    INITIATION_PAYLOAD_LEN, Initiation, InitiationPayload, PROBE_HEADER_LEN, RESPONSE_NOISE_LEN,
    RESPONSE_PAYLOAD_LEN, Response, ResponsePayload, TYPE_CHALLENGE, TYPE_INITIATION, TYPE_PROBE,
    TYPE_RESPONSE,
};
use probekey::{
    Config, Endpoint, Instant, PROBE_OVERHEAD, PeerId, ProbeKind, Received, SessionIndex,
    StaticKeypair, TransmitKind,
};
use probekey_sim::oracle::{BODY_ID_LEN, EndpointView, write_body_id};
use probekey_sim::{
    ClockSpec, NodeClock, ProbeOracle, Sim, SimConfig, SimEndpoint, SimNode, SimRng,
};

use super::freshness::FreshnessOracle;

pub mod model;

/// Most nodes in one network.
pub const MAX_NODES: usize = 3;
/// Datagrams kept for replays.
const HISTORY: usize = 128;
/// Datagrams in flight at most (more are dropped, as a full queue would).
const MAX_IN_FLIGHT: usize = 128;
/// Operations per input at most.
const MAX_OPS: usize = 200;
/// One-way delay of the good network after the faults.
const QUIET_DELAY: Duration = Duration::from_millis(10);
/// Datagrams an attacker holds at most.
const MAX_HELD: usize = 128;
/// Datagrams one replay burst delivers at most.
const MAX_BURST: usize = 16;
/// Two days, the largest step of time or of a clock.
const TWO_DAYS_NANOS: u64 = 172_800_000_000_000;
/// A clock this close to [`Instant::MAX`] is stepped back to an hour before
/// the good network runs (the daemon's bug corrected): time cannot pass at
/// the end of the clock's range, so nothing can recover there, but nothing
/// may stay latched once the reading is sane again.
const END_OF_TIME: Duration = Duration::from_secs(30 * 86_400);

/// Configurations the fuzzer chooses from: the defaults, and short timers
/// so that rotation, staleness, rekeying and expiry are a few steps away.
pub fn config(u: &mut Unstructured<'_>) -> Result<Config> {
    Ok(if u.arbitrary::<bool>()? {
        Config::default()
    } else {
        fast_config()
    })
}

/// Short timers: rotation every second or 8 probes, stale after 600 ms.
pub fn fast_config() -> Config {
    Config::builder()
        .probe_interval(Duration::from_millis(50))
        .stale_after(Duration::from_millis(600))
        .max_reorder_delay(Duration::from_millis(100))
        .epoch_grace(Duration::from_millis(200))
        .rotate_after_time(Duration::from_secs(1))
        .rotate_after_packets(8)
        .rekey_after_time(Duration::from_secs(5))
        .reject_after_time(Duration::from_secs(8))
        .handshake_retry_initial(Duration::from_millis(100))
        .handshake_retry_max(Duration::from_millis(400))
        .handshake_max_age(Duration::from_secs(3))
        .handshake_rate_burst(3)
        .handshake_rate_interval(Duration::from_millis(50))
        .build()
        .expect("the fast configuration is valid")
}

/// A datagram on the wire.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// Sending node.
    pub from: usize,
    /// Receiving node.
    pub to: usize,
    /// The bytes.
    pub bytes: Vec<u8>,
}

#[derive(Clone)]
struct Node {
    endpoint: SimEndpoint,
    clock: NodeClock,
    peer_of: [Option<PeerId>; MAX_NODES],
    restarts: u64,
}

/// Operations the fuzzer can perform.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Seal a probe or echo from one node to another.
    Seal,
    /// Deliver one datagram in flight (any one: reordering).
    Deliver,
    /// Deliver everything in flight, in order, repeatedly.
    DeliverAll,
    /// Lose one datagram.
    Drop,
    /// Duplicate one datagram.
    Duplicate,
    /// Flip bits of one byte of a datagram in flight.
    Corrupt,
    /// Cut or extend a datagram in flight.
    Resize,
    /// Deliver again a datagram sent earlier, to its receiver or another.
    Replay,
    /// Deliver again up to 16 datagrams sent earlier, any of them, in any
    /// order, each to its receiver: a recording attacker's burst.
    ReplayBurst,
    /// An on-path attacker takes every datagram in flight from one node to
    /// another off the wire and keeps it.
    Hold,
    /// It releases the oldest datagram it holds to its receiver (one per
    /// operation: a trickle when time passes between them).
    Release,
    /// Let time pass, by any amount, and run the timers.
    Advance,
    /// Restart a node: all state lost, same static key.
    Restart,
    /// Reboot a node's host: all state lost and its clock starts again at
    /// zero.
    Reboot,
    /// Suspend a node's host for a while: its clock stops while time
    /// passes for the others, whose timers run; it resumes where it was.
    Suspend,
    /// Both ends of a link call `initiate_handshake` at the same instant.
    InitiateBoth,
    /// A node's clock runs at another rate (99.1 % to 100.9 %: any two
    /// within the documented drift) from now on.
    Skew,
    /// A node's clock steps forward or back by any amount up to two days,
    /// or forward to within two days of [`Instant::MAX`] (a daemon bug: the
    /// crate must latch nothing), and the node's timers run at the new
    /// reading.
    ClockStep,
    /// Ask a node to start a handshake.
    Initiate,
    /// Deliver arbitrary bytes.
    Raw,
    /// A probe header taken from a real probe, with arbitrary bytes after
    /// it: reaches the AEAD.
    Patched,
    /// A real handshake message, altered, with both MACs recomputed by a
    /// holder of the pair's static-static secret: reaches the Noise layer.
    Remac,
    /// An initiation written with the sender's static key, any ephemeral and
    /// any payload: reaches the checks behind the Noise decryption.
    CraftInitiation,
    /// A response to a real initiation, written with the responder's static
    /// key, any ephemeral and any payload.
    CraftResponse,
}

/// The network.
#[derive(Clone)]
pub struct Net {
    config: Config,
    keys: Vec<StaticKeypair>,
    nodes: Vec<Node>,
    now: Instant,
    in_flight: Vec<Datagram>,
    /// What an on-path attacker holds, oldest first.
    held: VecDeque<Datagram>,
    history: Vec<Datagram>,
    history_next: usize,
    oracle: ProbeOracle,
    /// Checked after every operation until the good network runs (which
    /// it does not record).
    freshness: Option<FreshnessOracle>,
    /// The latest challenge value each node sent each other (challenger,
    /// challenged), for messages written with a node's own key.
    challenges: BTreeMap<(usize, usize), [u8; 16]>,
    next_seq: u64,
    /// Whether any operation acted with a node's static key outside its
    /// endpoint (a misbehaving neighbour, not a network fault).
    pub crafted: bool,
    /// Print every operation and outcome (`PROBEKEY_FUZZ_TRACE=1`), to read
    /// a failing case.
    trace: bool,
}

impl Net {
    /// `n` nodes (2 or 3) in a full mesh at time zero, each having queued
    /// its first initiations.
    pub fn new(config: Config, n: usize) -> Self {
        assert!((2..=MAX_NODES).contains(&n));
        let mut key_rng = ChaCha20Rng::seed_from_u64(0x5eed);
        let keys: Vec<StaticKeypair> = (0..n)
            .map(|_| StaticKeypair::generate(&mut key_rng))
            .collect();
        let mut net = Net {
            config,
            keys,
            nodes: Vec::with_capacity(n),
            now: Instant::ZERO,
            in_flight: Vec::new(),
            held: VecDeque::new(),
            history: Vec::new(),
            history_next: 0,
            oracle: ProbeOracle::default(),
            freshness: Some(FreshnessOracle::new(
                n,
                config.stale_after(),
                config.epoch_grace(),
            )),
            challenges: BTreeMap::new(),
            next_seq: 0,
            crafted: false,
            trace: std::env::var_os("PROBEKEY_FUZZ_TRACE").is_some(),
        };
        for i in 0..n {
            let clock = NodeClock::new(Instant::ZERO, ClockSpec::default());
            let node = net.make_node(i, 0, clock);
            net.nodes.push(node);
        }
        net.timers();
        net
    }

    fn make_node(&self, i: usize, restarts: u64, clock: NodeClock) -> Node {
        let rng = SimRng::seed_from_u64((i as u64) << 32 | restarts);
        let mut endpoint = Endpoint::new(self.config, self.keys[i].clone(), rng, Vec::new());
        let mut peer_of = [None; MAX_NODES];
        let local = clock.local(self.now);
        for (j, key) in self.keys.iter().enumerate() {
            if j != i {
                let id = endpoint
                    .add_peer(local, key.public())
                    .expect("distinct generated keys are accepted");
                peer_of[j] = Some(id);
            }
        }
        Node {
            endpoint,
            clock,
            peer_of,
            restarts,
        }
    }

    /// Node `i`'s clock reading now.
    fn local(&self, i: usize) -> Instant {
        self.nodes[i].clock.local(self.now)
    }

    /// Node `i`'s clock reading now, to be passed to its endpoint.
    fn reading(&mut self, i: usize) -> Instant {
        let local = self.local(i);
        if let Some(f) = &mut self.freshness {
            f.reading(i, local);
        }
        local
    }

    /// Node `i` restarted: `node` replaces it.
    fn replace_node(&mut self, i: usize, node: Node) {
        self.nodes[i] = node;
        let local = self.local(i);
        if let Some(f) = &mut self.freshness {
            f.restarted(i, local);
        }
    }

    /// Checks every node's report of every peer against the freshness
    /// oracle.
    fn check_freshness(&self) {
        let Some(f) = &self.freshness else { return };
        for (at, node) in self.nodes.iter().enumerate() {
            if node.clock.is_stopped() {
                continue;
            }
            let reading = self.local(at);
            for (peer, id) in node.peer_of.iter().enumerate() {
                let Some(id) = id else { continue };
                let status = node
                    .endpoint
                    .peer_status(*id, reading)
                    .expect("configured peers have a status");
                if let Err(v) = f.check(at, peer, &status, reading) {
                    panic!("freshness: {} (network time {:?})", v.0, self.now);
                }
            }
        }
    }

    fn node_of(&self, at: usize, peer: PeerId) -> usize {
        self.nodes[at]
            .peer_of
            .iter()
            .position(|&p| p == Some(peer))
            .expect("the endpoint names only configured peers")
    }

    fn snapshot(&self, at: usize) -> EndpointView {
        let node = &self.nodes[at];
        EndpointView::of(
            &node.endpoint,
            node.peer_of.iter().flatten().copied(),
            self.local(at),
        )
    }

    /// Keeps `d` for replays, the oldest forgotten first.
    fn remember(&mut self, d: Datagram) {
        if self.history.len() < HISTORY {
            self.history.push(d);
        } else {
            self.history[self.history_next] = d;
            self.history_next = (self.history_next + 1) % HISTORY;
        }
    }

    fn send(&mut self, d: Datagram) {
        self.remember(d.clone());
        if self.in_flight.len() < MAX_IN_FLIGHT {
            self.in_flight.push(d);
        }
    }

    /// Sends what node `i` queued and drains its events.
    fn drain(&mut self, i: usize) {
        let mut buf = [0u8; 256];
        let local = self.reading(i);
        loop {
            let tx = self.nodes[i]
                .endpoint
                .poll_transmit(local, &mut buf)
                .expect("256 bytes hold any handshake message or keepalive");
            let Some(tx) = tx else { break };
            let to = self.node_of(i, tx.peer);
            if let Ok(c) = Challenge::parse(&buf[..tx.len]) {
                self.challenges.insert((i, to), c.value);
            }
            if self.trace {
                eprintln!("{:?} node {i} -> {to}: {:?}", self.now, tx.kind);
            }
            if buf.first() == Some(&TYPE_PROBE)
                && let Err(v) = self.oracle.sealed_at(i, to, &buf[..tx.len], local)
            {
                panic!("{v:?}");
            }
            if let Some(f) = &mut self.freshness {
                f.sent(i, &buf[..tx.len]);
                if tx.kind == TransmitKind::Keepalive {
                    f.sealed(i, to, &buf[..tx.len], self.now, local);
                }
            }
            self.send(Datagram {
                from: i,
                to,
                bytes: buf[..tx.len].to_vec(),
            });
        }
        while let Some(e) = self.nodes[i].endpoint.poll_event() {
            if self.trace {
                eprintln!("{:?} node {i} event {e:?}", self.now);
            }
        }
        assert_eq!(
            self.nodes[i].endpoint.stats().events_dropped,
            0,
            "events drained after every call never overflow the queue"
        );
    }

    /// Runs every node's due timers.
    fn timers(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].clock.is_stopped() {
                continue;
            }
            let local = self.local(i);
            let due = self.nodes[i]
                .endpoint
                .poll_timeout()
                .is_some_and(|d| d <= local);
            if due {
                self.run_timeout(i);
            }
        }
    }

    /// Runs node `i`'s `handle_timeout` at its clock's reading, checks the
    /// next deadline is later, and sends what it queued.
    fn run_timeout(&mut self, i: usize) {
        let local = self.reading(i);
        self.nodes[i].endpoint.handle_timeout(local);
        if let Some(d) = self.nodes[i].endpoint.poll_timeout() {
            assert!(
                d > local,
                "a deadline at or before now after handle_timeout: node {i}, {d:?} <= {local:?}"
            );
        }
        self.drain(i);
    }

    /// Lets `d` pass and runs the timers.
    pub fn advance_by(&mut self, d: Duration) {
        self.now = self.now + d;
        self.timers();
    }

    /// Seals a probe from `from` to `to`, with `pad` extra body bytes.
    fn seal(&mut self, from: usize, to: usize, kind: ProbeKind, pad: usize) {
        let Some(peer) = self.nodes[from].peer_of[to] else {
            return;
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        let mut body = vec![0u8; BODY_ID_LEN + pad];
        write_body_id(&mut body, from, to, seq);
        let mut out = vec![0u8; body.len() + PROBE_OVERHEAD];
        let before = self.nodes[from].endpoint.stats();
        let local = self.reading(from);
        let result = self.nodes[from]
            .endpoint
            .seal(local, peer, kind, &body, &mut out);
        let after = self.nodes[from].endpoint.stats();
        if self.trace {
            eprintln!("  node {from} seals {kind:?} #{seq} to {to} at its {local:?}: {result:?}");
        }
        match result {
            Ok(n) => {
                assert_eq!(n, out.len(), "a sealed probe is its body plus the overhead");
                assert_eq!(after.probes_sealed, before.probes_sealed + 1);
                if let Err(v) = self.oracle.sealed(from, to, seq, &out, &body, local) {
                    panic!("{v:?}");
                }
                if let Some(f) = &mut self.freshness {
                    f.sealed(from, to, &out, self.now, local);
                }
                self.send(Datagram {
                    from,
                    to,
                    bytes: out,
                });
            }
            Err(e) => assert_eq!(after, before, "a refused seal ({e}) changes no counter"),
        }
        self.drain(from);
    }

    /// Delivers `bytes` to node `to` and checks every invariant.
    pub fn receive(&mut self, to: usize, bytes: &[u8]) {
        let before = self.snapshot(to);
        let before_stats = self.nodes[to].endpoint.stats();
        let mut buf = bytes.to_vec();
        let now = self.reading(to);
        let result = self.nodes[to].endpoint.handle_datagram(now, &mut buf);
        if self.trace {
            eprintln!(
                "{:?} node {to} <- {} bytes type {:?}: {result:?}",
                self.now,
                bytes.len(),
                bytes.first()
            );
            // A probe's session, counter and acknowledgement (§2.4); a
            // handshake message's sender index.
            let field = |r: core::ops::Range<usize>| {
                bytes
                    .get(r)
                    .map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
            };
            match bytes.first() {
                Some(&TYPE_PROBE) => eprintln!(
                    "  index {:x?} counter {:?} ack index {:x?} ack counter {:?}",
                    field(4..8),
                    field(12..20),
                    field(20..24),
                    field(24..32)
                ),
                Some(1 | 2) => eprintln!(
                    "  sender index {:x?} receiver index {:x?}",
                    field(4..8),
                    field(8..12)
                ),
                _ => {}
            }
        }
        let mut echo = None;
        match result {
            Err(e) => {
                let after = self.snapshot(to);
                if let Err(what) = before.refusal_changed_nothing(&after, &e) {
                    panic!("{what}");
                }
            }
            Ok(Received::Probe { peer, kind, body }) => {
                let from = self.node_of(to, peer);
                if let Err(v) = self.oracle.accepted(to, from, bytes, body) {
                    panic!(
                        "accepted a probe its claimed sender did not seal for us, or twice: {v:?}"
                    );
                }
                let after = self.nodes[to].endpoint.stats();
                assert_eq!(after.probes_opened, before_stats.probes_opened + 1);
                assert_eq!(after.rejected, before_stats.rejected);
                if let Some(f) = &mut self.freshness {
                    f.accepted(to, from, bytes, self.now, now);
                }
                if kind == ProbeKind::Probe {
                    echo = Some(from);
                }
            }
            Ok(Received::Keepalive { peer }) => {
                let from = self.node_of(to, peer);
                assert_eq!(bytes.first(), Some(&TYPE_PROBE));
                assert_eq!(bytes.len(), PROBE_OVERHEAD);
                if let Err(v) = self.oracle.keepalive(to, from, bytes) {
                    panic!("{v:?}");
                }
                if let Some(f) = &mut self.freshness {
                    f.accepted(to, from, bytes, self.now, now);
                }
                let after = self.nodes[to].endpoint.stats();
                assert_eq!(after.rejected, before_stats.rejected);
            }
            Ok(Received::Handshake { peer }) => {
                let _ = self.node_of(to, peer);
                assert!(matches!(
                    bytes.first(),
                    Some(&TYPE_INITIATION | &TYPE_RESPONSE | &TYPE_CHALLENGE)
                ));
                let after = self.nodes[to].endpoint.stats();
                assert_eq!(after.rejected, before_stats.rejected);
            }
            Ok(other) => panic!("a datagram of a kind this harness does not know: {other:?}"),
        }
        self.drain(to);
        if let Some(back) = echo {
            self.seal(to, back, ProbeKind::Echo, 0);
        }
    }

    fn deliver(&mut self, index: usize) {
        let d = self.in_flight.remove(index);
        self.receive(d.to, &d.bytes);
    }

    /// Delivers everything in flight, in order, and what that sends, up to
    /// 64 datagrams (bounded: echoes and answers feed the queue).
    fn deliver_all(&mut self) {
        for _ in 0..64 {
            if self.in_flight.is_empty() {
                break;
            }
            self.deliver(0);
        }
    }

    /// Restarts node `i`: all state lost, same static key; with `reboot`,
    /// its clock starts again at zero too.
    fn restart(&mut self, i: usize, reboot: bool) {
        let restarts = self.nodes[i].restarts + 1;
        let clock = if reboot {
            self.nodes[i].clock.rebooted(self.now)
        } else {
            self.nodes[i].clock
        };
        let node = self.make_node(i, restarts, clock);
        self.replace_node(i, node);
        self.timers();
    }

    fn pick_node(&self, u: &mut Unstructured<'_>) -> Result<usize> {
        u.choose_index(self.nodes.len())
    }

    fn pick_other(&self, u: &mut Unstructured<'_>, not: usize) -> Result<usize> {
        let k = u.choose_index(self.nodes.len() - 1)?;
        Ok(if k >= not { k + 1 } else { k })
    }

    fn pick_flight(&self, u: &mut Unstructured<'_>) -> Result<Option<usize>> {
        if self.in_flight.is_empty() {
            return Ok(None);
        }
        u.choose_index(self.in_flight.len()).map(Some)
    }

    /// A static-static secret for writing messages from `from` to `to` as
    /// a holder of `from`'s key would.
    fn pair(&self, from: usize, to: usize) -> StaticDh {
        StaticDh::new(&self.keys[from], &self.keys[to].public())
            .expect("generated keys are contributory")
    }

    fn prologue(&self) -> probekey::internals::noise::Prologue {
        probekey::internals::noise::Prologue::new(
            probekey::wire::VERSION,
            self.config.deployment_id(),
        )
    }

    /// Performs one operation chosen by the fuzzer among `ops`.
    pub fn step(&mut self, u: &mut Unstructured<'_>, ops: &[Op]) -> Result<()> {
        let op = *u.choose(ops)?;
        if self.trace {
            eprintln!("{:?} op {op:?}", self.now);
        }
        match op {
            Op::Seal => {
                let from = self.pick_node(u)?;
                let to = self.pick_other(u, from)?;
                let kind = if u.ratio(1, 4)? {
                    ProbeKind::Echo
                } else {
                    ProbeKind::Probe
                };
                let pad = u.int_in_range(0..=64)?;
                self.seal(from, to, kind, pad);
            }
            Op::Deliver => {
                if let Some(i) = self.pick_flight(u)? {
                    self.deliver(i);
                }
            }
            Op::DeliverAll => self.deliver_all(),
            Op::Drop => {
                if let Some(i) = self.pick_flight(u)? {
                    self.perform(model::Action::Drop(i));
                }
            }
            Op::Duplicate => {
                if let Some(i) = self.pick_flight(u)? {
                    self.perform(model::Action::Duplicate(i));
                }
            }
            Op::Corrupt => {
                if let Some(i) = self.pick_flight(u)? {
                    let bytes = &mut self.in_flight[i].bytes;
                    if !bytes.is_empty() {
                        let at = u.choose_index(bytes.len())?;
                        let xor = u.int_in_range(1..=255u8)?;
                        bytes[at] ^= xor;
                    }
                }
            }
            Op::Resize => {
                if let Some(i) = self.pick_flight(u)? {
                    let len = u.int_in_range(0..=300)?;
                    let fill = u.arbitrary::<u8>()?;
                    self.in_flight[i].bytes.resize(len, fill);
                }
            }
            Op::Replay => {
                if !self.history.is_empty() {
                    let d = self.history[u.choose_index(self.history.len())?].clone();
                    let to = if u.ratio(1, 4)? {
                        self.pick_node(u)?
                    } else {
                        d.to
                    };
                    self.receive(to, &d.bytes);
                }
            }
            Op::ReplayBurst => {
                if !self.history.is_empty() {
                    for _ in 0..u.int_in_range(1..=MAX_BURST)? {
                        let d = self.history[u.choose_index(self.history.len())?].clone();
                        self.receive(d.to, &d.bytes);
                    }
                }
            }
            Op::Hold => {
                let from = self.pick_node(u)?;
                let to = self.pick_other(u, from)?;
                let mut kept = Vec::new();
                self.in_flight.retain(|d| {
                    let take = d.from == from && d.to == to;
                    if take {
                        kept.push(d.clone());
                    }
                    !take
                });
                for d in kept {
                    if self.held.len() < MAX_HELD {
                        self.held.push_back(d);
                    }
                }
            }
            Op::Release => {
                if let Some(d) = self.held.pop_front() {
                    self.receive(d.to, &d.bytes);
                }
            }
            Op::Advance => {
                let nanos = match u.int_in_range(0..=3u8)? {
                    0 => u.int_in_range(0..=1_000_000u64)?,
                    1 => u.int_in_range(0..=2_000_000_000u64)?,
                    2 => u.int_in_range(0..=900_000_000_000u64)?,
                    _ => u.int_in_range(0..=TWO_DAYS_NANOS)?,
                };
                self.advance_by(Duration::from_nanos(nanos));
            }
            Op::Restart | Op::Reboot => {
                let i = self.pick_node(u)?;
                self.restart(i, op == Op::Reboot);
            }
            Op::Suspend => {
                let i = self.pick_node(u)?;
                let nanos = u.int_in_range(0..=120_000_000_000u64)?;
                if let Some(f) = &mut self.freshness {
                    f.disturbed(i, Duration::from_nanos(nanos));
                }
                if self.trace {
                    eprintln!("  node {i} suspended for {nanos} ns");
                }
                self.nodes[i].clock.stop(self.now);
                self.advance_by(Duration::from_nanos(nanos));
                self.nodes[i].clock.resume(self.now);
                self.timers();
            }
            Op::Initiate => {
                let i = self.pick_node(u)?;
                let to = self.pick_other(u, i)?;
                if let Some(peer) = self.nodes[i].peer_of[to] {
                    let local = self.reading(i);
                    self.nodes[i]
                        .endpoint
                        .initiate_handshake(local, peer)
                        .expect("a configured peer");
                }
                self.timers();
            }
            Op::Skew => {
                let i = self.pick_node(u)?;
                let rate_ppm = u.int_in_range(991_000..=1_009_000u64)?;
                if self.trace {
                    eprintln!("  node {i} clock rate {rate_ppm} ppm");
                }
                self.nodes[i].clock = self.nodes[i].clock.with_rate(self.now, rate_ppm);
            }
            Op::ClockStep => {
                let i = self.pick_node(u)?;
                let forward = u.arbitrary::<bool>()?;
                let nanos = match u.int_in_range(0..=3u8)? {
                    0 => u.int_in_range(0..=2_000_000_000u64)?,
                    1 => u.int_in_range(0..=3_600_000_000_000u64)?,
                    2 => u.int_in_range(0..=TWO_DAYS_NANOS)?,
                    // To within two days of the end of the clock's range.
                    _ => (u64::MAX - self.local(i).as_nanos())
                        .saturating_sub(u.int_in_range(0..=TWO_DAYS_NANOS)?),
                };
                // Either way the peers see this node's send times jump
                // (a step back shows even when the endpoint has read no
                // time since the reading it steps back to).
                if let Some(f) = &mut self.freshness {
                    f.disturbed(
                        i,
                        if forward {
                            Duration::ZERO
                        } else {
                            Duration::from_nanos(nanos)
                        },
                    );
                }
                if self.trace {
                    let way = if forward { "ahead" } else { "back" };
                    eprintln!("  node {i} clock stepped {way} {nanos} ns");
                }
                let clock = self.nodes[i].clock;
                self.nodes[i].clock = clock.stepped(self.now, Duration::from_nanos(nanos), forward);
                self.run_timeout(i);
                self.timers();
            }
            Op::InitiateBoth => {
                let a = self.pick_node(u)?;
                let b = self.pick_other(u, a)?;
                for (i, to) in [(a, b), (b, a)] {
                    if let Some(peer) = self.nodes[i].peer_of[to] {
                        let local = self.reading(i);
                        self.nodes[i]
                            .endpoint
                            .initiate_handshake(local, peer)
                            .expect("a configured peer");
                        self.drain(i);
                    }
                }
                self.timers();
            }
            Op::Raw => {
                let to = self.pick_node(u)?;
                let len = u.int_in_range(0..=200)?;
                let bytes = u.bytes(len)?.to_vec();
                self.receive(to, &bytes);
            }
            Op::Patched => {
                let probes: Vec<usize> = (0..self.history.len())
                    .filter(|&i| {
                        let b = &self.history[i].bytes;
                        b.first() == Some(&TYPE_PROBE) && b.len() >= PROBE_OVERHEAD
                    })
                    .collect();
                if !probes.is_empty() {
                    let d = self.history[probes[u.choose_index(probes.len())?]].clone();
                    let mut bytes = d.bytes[..PROBE_HEADER_LEN].to_vec();
                    // Any counter and acknowledgement, the same session
                    // and epoch.
                    if u.arbitrary()? {
                        bytes[12..PROBE_HEADER_LEN].copy_from_slice(u.bytes(20)?);
                    }
                    let len = u.int_in_range(16..=120)?;
                    bytes.extend_from_slice(u.bytes(len)?);
                    self.receive(d.to, &bytes);
                }
            }
            Op::Remac => {
                let messages: Vec<usize> = (0..self.history.len())
                    .filter(|&i| self.history[i].bytes.len() == INITIATION_LEN)
                    .collect();
                if !messages.is_empty() {
                    let d = self.history[messages[u.choose_index(messages.len())?]].clone();
                    let mut bytes = d.bytes;
                    for _ in 0..u.int_in_range(1..=4)? {
                        let at = u.choose_index(probekey::wire::MAC1_OFFSET)?;
                        bytes[at] ^= u.int_in_range(1..=255u8)?;
                    }
                    let pair = self.pair(d.from, d.to);
                    let binding = self.binding_for(d.from, d.to, &bytes);
                    probekey::internals::noise::write_macs(
                        &pair,
                        &self.keys[d.to].public(),
                        &mut bytes,
                        &binding,
                    )
                    .expect("a handshake message has the MACs' length");
                    self.crafted = true;
                    self.receive(d.to, &bytes);
                }
            }
            Op::CraftInitiation => {
                let from = self.pick_node(u)?;
                let to = self.pick_other(u, from)?;
                let bytes = self.craft_initiation(u, from, to)?;
                self.crafted = true;
                self.receive(to, &bytes);
            }
            Op::CraftResponse => {
                let initiations: Vec<usize> = (0..self.history.len())
                    .filter(|&i| self.history[i].bytes.first() == Some(&TYPE_INITIATION))
                    .collect();
                if !initiations.is_empty() {
                    let d = self.history[initiations[u.choose_index(initiations.len())?]].clone();
                    if let Some(bytes) = self.craft_response(u, &d)? {
                        self.crafted = true;
                        self.receive(d.from, &bytes);
                    }
                }
            }
        }
        Ok(())
    }

    fn craft_initiation(
        &self,
        u: &mut Unstructured<'_>,
        from: usize,
        to: usize,
    ) -> Result<Vec<u8>> {
        let sender_index = SessionIndex(u.arbitrary()?);
        // The index under encryption: the clear one, or any other.
        let claimed = if u.arbitrary()? {
            sender_index
        } else {
            let mut b = [0u8; 4];
            b.copy_from_slice(u.bytes(4)?);
            SessionIndex(u32::from_be_bytes(b))
        };
        let generation: u64 = match u.int_in_range(0..=2u8)? {
            0 => u.int_in_range(0..=8)?,
            1 => u64::MAX - u.int_in_range(0..=2)?,
            _ => u.arbitrary()?,
        };
        let payload = InitiationPayload {
            sender_index: claimed,
            generation,
        }
        .to_bytes();
        let ephemeral = x25519_dalek::StaticSecret::from(u.arbitrary::<[u8; 32]>()?);
        let key_id = if u.ratio(7, 8)? {
            self.keys[from].public().key_id()
        } else {
            probekey::KeyId(u.arbitrary()?)
        };
        let mut msg = Initiation {
            sender_index,
            key_id,
            noise: [0; INITIATION_NOISE_LEN],
            mac1: [0; 16],
            mac2: [0; 16],
        };
        let prologue = self.prologue();
        let pair = self.pair(from, to);
        let written = Initiator::write_initiation(
            prologue.as_bytes(),
            &self.keys[from],
            &self.keys[to].public(),
            &pair,
            ephemeral,
            &payload,
            &mut msg.noise,
        );
        let mut bytes = vec![0u8; INITIATION_LEN];
        msg.emit(&mut bytes).expect("exact length");
        if written.is_ok() {
            let binding = self.binding_for(from, to, &bytes);
            probekey::internals::noise::write_macs(
                &pair,
                &self.keys[to].public(),
                &mut bytes,
                &binding,
            )
            .expect("exact length");
        }
        Ok(bytes)
    }

    /// Answers a recorded initiation as its receiver would, with any
    /// ephemeral and payload. `None` if the recorded bytes are not a valid
    /// initiation between those two nodes.
    fn craft_response(&self, u: &mut Unstructured<'_>, d: &Datagram) -> Result<Option<Vec<u8>>> {
        let Ok(init) = Initiation::parse(&d.bytes) else {
            return Ok(None);
        };
        let prologue = self.prologue();
        let pair = self.pair(d.to, d.from);
        let mut payload_in = [0u8; INITIATION_PAYLOAD_LEN];
        let Ok(responder) = Responder::read_initiation(
            prologue.as_bytes(),
            &self.keys[d.to],
            &self.keys[d.from].public(),
            &pair,
            &init.noise,
            &mut payload_in,
        ) else {
            return Ok(None);
        };
        let sender_index = SessionIndex(u.arbitrary()?);
        let mut payload = [0u8; RESPONSE_PAYLOAD_LEN];
        if u.ratio(3, 4)? {
            let generation: u64 = match u.int_in_range(0..=2u8)? {
                0 => InitiationPayload::from_bytes(&payload_in)
                    .generation
                    .wrapping_add(u.int_in_range(0..=2)?),
                1 => u64::MAX,
                _ => u.arbitrary()?,
            };
            payload = ResponsePayload {
                sender_index,
                receiver_index: init.sender_index,
                generation,
            }
            .to_bytes();
        } else {
            payload.copy_from_slice(u.bytes(RESPONSE_PAYLOAD_LEN)?);
        }
        let mut msg = Response {
            sender_index,
            receiver_index: init.sender_index,
            noise: [0; RESPONSE_NOISE_LEN],
            mac1: [0; 16],
            mac2: [0; 16],
        };
        let ephemeral = x25519_dalek::StaticSecret::from(u.arbitrary::<[u8; 32]>()?);
        if responder
            .write_response(
                &self.keys[d.from].public(),
                ephemeral,
                &payload,
                &mut msg.noise,
            )
            .is_err()
        {
            return Ok(None);
        }
        let mut bytes = vec![0u8; INITIATION_LEN];
        msg.emit(&mut bytes).expect("exact length");
        probekey::internals::noise::write_macs(
            &pair,
            &self.keys[d.from].public(),
            &mut bytes,
            &d.bytes[INITIATION_EPHEMERAL_OFFSET..INITIATION_EPHEMERAL_OFFSET + 32],
        )
        .expect("exact length");
        Ok(Some(bytes))
    }

    /// What mac2 of a handshake message from `from` to `to` binds (§3.5),
    /// as a holder of `from`'s key would write it: for an initiation the
    /// latest challenge `to` sent `from` (zero if none), for a response the
    /// ephemeral key of the recorded initiation it answers (zero if none).
    fn binding_for(&self, from: usize, to: usize, message: &[u8]) -> Vec<u8> {
        if message.first() == Some(&TYPE_INITIATION) {
            return self
                .challenges
                .get(&(to, from))
                .map_or(vec![0; 16], |v| v.to_vec());
        }
        let answered = &message[8..12];
        self.history
            .iter()
            .find(|d| {
                d.from == to
                    && d.bytes.first() == Some(&TYPE_INITIATION)
                    && &d.bytes[4..8] == answered
            })
            .map_or(vec![0; 32], |d| {
                d.bytes[INITIATION_EPHEMERAL_OFFSET..INITIATION_EPHEMERAL_OFFSET + 32].to_vec()
            })
    }

    /// Performs operations until the input or the budget runs out.
    pub fn run(&mut self, u: &mut Unstructured<'_>, ops: &[Op]) {
        for _ in 0..MAX_OPS {
            if u.is_empty() || self.step(u, ops).is_err() {
                break;
            }
            self.check_freshness();
        }
    }

    /// Runs a good network (one-way delay 10 ms, no loss) from now in the
    /// simulator (`probekey_sim::Sim::settle_until_settled`), every node
    /// probing every other at the probe interval and echoing every probe,
    /// until every link is settled: fresh both ways at both ends on
    /// evidence the good network carried, with no resync pending. From
    /// there a good network only refreshes what is fresh, so no more is
    /// simulated (the tail is as short as the property needs). Returns how
    /// long that took. Panics if any direction is stale after `bound`, if
    /// settling takes longer than `bound` plus one `stale_after` (a
    /// direction fresh on evidence from before the faults may be renewed
    /// that late, but never go stale), or if the simulator's
    /// oracle sees a forged, altered or replayed probe or a refusal that
    /// changed state. The endpoints come back afterwards; what was in
    /// flight is dropped.
    pub fn quiet(&mut self, bound: Duration) -> Duration {
        self.freshness = None;
        let mut bound = bound;
        for i in 0..self.nodes.len() {
            let reading = self.local(i);
            if Instant::MAX.saturating_duration_since(reading) < END_OF_TIME {
                let back = reading.saturating_duration_since(Instant::from_secs(3600));
                self.nodes[i].clock = self.nodes[i].clock.stepped(self.now, back, false);
                self.run_timeout(i);
                // A reading far ahead followed by the right one costs at
                // most one `stale_after` more (`docs/PROTOCOL.md` §7).
                bound = bound.max(
                    self.recovery_bound()
                        + self.nodes[i].clock.to_global(self.config.stale_after()),
                );
            }
        }
        // One `stale_after` on the slowest clock.
        let stale = self
            .nodes
            .iter()
            .map(|n| n.clock.to_global(self.config.stale_after()))
            .max()
            .unwrap_or(self.config.stale_after());
        self.in_flight.clear();
        self.held.clear();
        let mut cfg = SimConfig::mesh(self.nodes.len(), self.config, 0);
        cfg.one_way_delay = QUIET_DELAY;
        cfg.record = true;
        cfg.check_refusals = true;
        let restarts: Vec<u64> = self.nodes.iter().map(|n| n.restarts).collect();
        let nodes: Vec<SimNode> = core::mem::take(&mut self.nodes)
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let peers = n
                    .peer_of
                    .iter()
                    .enumerate()
                    .filter_map(|(j, p)| p.map(|p| (j, p)));
                SimNode::adopt(
                    n.endpoint,
                    self.keys[i].clone(),
                    n.clock,
                    peers,
                    self.next_seq,
                )
            })
            .collect();
        let oracle = core::mem::take(&mut self.oracle);
        let mut sim = Sim::adopt(cfg, self.now, nodes, oracle);
        let settled = sim.settle_until_settled(bound, bound + stale);
        if let Err(e) = &settled {
            panic!("{e}: {}", sim.describe());
        }
        assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        self.now = sim.now();
        let recorded = core::mem::take(&mut sim.recorded);
        let (nodes, oracle) = sim.into_parts();
        self.oracle = oracle;
        for (node, restarts) in nodes.into_iter().zip(restarts) {
            let peer_of = core::array::from_fn(|j| node.peer_id(j));
            let (endpoint, clock, seq) = node.into_parts();
            self.next_seq = self.next_seq.max(seq);
            self.nodes.push(Node {
                endpoint,
                clock,
                peer_of,
                restarts,
            });
        }
        // What the good network carried is there to be replayed too.
        for d in recorded {
            self.remember(Datagram {
                from: d.from,
                to: d.to,
                bytes: d.bytes,
            });
        }
        settled.unwrap_or_default()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bound of [`Net::quiet`] for a network fault: the configuration's
    /// recovery bound at the quiet network's round trip.
    pub fn recovery_bound(&self) -> Duration {
        let bound = self.config.recovery_bound(2 * QUIET_DELAY);
        // In simulated time on the slowest clock.
        self.nodes
            .iter()
            .map(|n| n.clock.to_global(bound))
            .max()
            .unwrap_or(bound)
    }
}

//! A deterministic fault simulator (`docs/PROTOCOL.md` §9): nodes on a
//! virtual clock, each running a real [`Endpoint`], probing its neighbours
//! and echoing what it receives, over links that lose, duplicate, delay and
//! reorder datagrams, with nodes that partition and restart.
//!
//! The same seed gives the same run, event for event. Every probe body names
//! its sender and a sequence number, so the simulator also checks that no
//! forged or replayed probe is ever accepted.

use core::cmp::Reverse;
use core::time::Duration;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use probekey::{
    Config, Endpoint, Event, GrowableEndpoint, Instant, LinkDirection, PeerId, ProbeKind, Received,
    StaticKeypair,
};

/// Short timers for tests on real processes and their simulated twins:
/// probes every 50 ms, stale after 400 ms, retries capped at 200 ms,
/// rotation every second, rekey every 4 s.
///
/// # Panics
/// Never: these values satisfy every invariant of `ConfigBuilder::build`.
pub fn short_timers() -> Config {
    let ms = Duration::from_millis;
    Config::builder()
        .deployment_id(b"multiprocess")
        .probe_interval(ms(50))
        .stale_after(ms(400))
        .max_reorder_delay(ms(200))
        .epoch_grace(ms(400))
        .rotate_after_time(ms(1000))
        .rekey_after_time(ms(4000))
        .reject_after_time(ms(8000))
        .handshake_retry_initial(ms(50))
        .handshake_retry_max(ms(200))
        .handshake_rate_interval(ms(25))
        .build()
        .expect("the short timers satisfy the crate's invariants")
}

/// The endpoint type the simulator runs.
pub type SimEndpoint = GrowableEndpoint<ChaCha20Rng>;

/// A fault on the network or a node, active from `start` to `end`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// When it begins.
    pub start: Instant,
    /// When it ends (ignored for [`Fault::Restart`]).
    pub end: Instant,
    /// What it is.
    pub fault: Fault,
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Datagrams from `from` to `to` are lost with probability `rate`
    /// (1.0: all of them).
    Loss {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// Loss probability.
        rate: f64,
    },
    /// Every datagram from and to `node` is lost.
    Partition {
        /// The node cut off.
        node: usize,
    },
    /// Datagrams from `from` to `to` are duplicated with probability `rate`.
    Duplicate {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// Duplication probability.
        rate: f64,
    },
    /// Datagrams from `from` to `to` take `extra` longer, plus a uniform
    /// random `jitter` that reorders them.
    Delay {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// Added delay.
        extra: Duration,
        /// Added random delay, up to this.
        jitter: Duration,
    },
    /// The node loses all its state at `start` and comes back at once with
    /// the same static key.
    Restart {
        /// The node restarted.
        node: usize,
    },
}

impl Fault {
    fn affects(&self, from: usize, to: usize) -> bool {
        match *self {
            Fault::Loss { from: f, to: t, .. }
            | Fault::Duplicate { from: f, to: t, .. }
            | Fault::Delay { from: f, to: t, .. } => f == from && t == to,
            Fault::Partition { node } => node == from || node == to,
            Fault::Restart { .. } => false,
        }
    }
}

/// What a [`Sim::set_filter`] hook decides for one datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it as the link's faults decide.
    Pass,
    /// Lose it.
    Drop,
    /// Deliver it this much later than the link would.
    Delay(Duration),
}

/// A test hook deciding the fate of each datagram before the link faults.
pub type Filter = Box<dyn FnMut(&Datagram) -> Verdict>;

/// A datagram the simulator saw on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// When it was sent.
    pub sent_at: Instant,
    /// Sending node.
    pub from: usize,
    /// Receiving node.
    pub to: usize,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

struct InFlight {
    to: usize,
    bytes: Vec<u8>,
}

/// One simulated node: a real endpoint plus the daemon's probing loop.
pub struct SimNode {
    /// The endpoint.
    pub endpoint: SimEndpoint,
    keypair: StaticKeypair,
    /// Neighbour node index to the endpoint's peer id.
    peer_of: BTreeMap<usize, PeerId>,
    node_of: BTreeMap<PeerId, usize>,
    next_probe_at: BTreeMap<usize, Instant>,
    seq: u64,
    restarts: u64,
}

/// What happened on one direction `from → to` of a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionLog {
    /// Times at which `to` validated a probe or echo from `from`.
    pub validated: Vec<Instant>,
}

/// The simulator's configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// The endpoints' configuration (every node uses the same).
    pub config: Config,
    /// One-way delay of every link.
    pub one_way_delay: Duration,
    /// Links as node pairs; `None` for a full mesh.
    pub links: Option<Vec<(usize, usize)>>,
    /// The seed of every random choice.
    pub seed: u64,
    /// Keep a copy of every datagram sent (for replay attacks in tests).
    pub record: bool,
}

impl SimConfig {
    /// A full mesh of `nodes` with 20 ms one-way delay.
    pub fn mesh(nodes: usize, config: Config, seed: u64) -> Self {
        SimConfig {
            nodes,
            config,
            one_way_delay: Duration::from_millis(20),
            links: None,
            seed,
            record: false,
        }
    }

    /// Round-trip time of a link without faults.
    pub fn rtt(&self) -> Duration {
        self.one_way_delay * 2
    }
}

/// A security violation the simulator observed. Any is a bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A probe was accepted as coming from a node that did not send it.
    Forged {
        /// Receiving node.
        at: usize,
        /// The peer the endpoint attributed it to.
        claimed_from: usize,
    },
    /// The same probe was accepted twice.
    Replayed {
        /// Receiving node.
        at: usize,
        /// Sending node.
        from: usize,
        /// The probe's sequence number.
        seq: u64,
    },
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    now: Instant,
    nodes: Vec<SimNode>,
    links: Vec<(usize, usize)>,
    queue: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    packets: BTreeMap<u64, InFlight>,
    packet_seq: u64,
    faults: Vec<FaultWindow>,
    pending_restarts: Vec<(Instant, usize)>,
    /// Every node's static public key, by node index.
    publics: Vec<probekey::PublicKey>,
    net_rng: ChaCha20Rng,
    accepted: HashSet<(usize, usize, u64)>,
    /// Per ordered pair `(from, to)`, the validations observed.
    pub logs: BTreeMap<(usize, usize), DirectionLog>,
    /// Every event every endpoint reported, with the node and time.
    pub events: Vec<(Instant, usize, Event)>,
    /// Every datagram sent, if [`SimConfig::record`] is set.
    pub recorded: Vec<Datagram>,
    /// Security violations seen; must stay empty.
    pub violations: Vec<Violation>,
    filter: Option<Filter>,
}

const BODY_LEN: usize = 24;

fn body(from: usize, to: usize, seq: u64) -> [u8; BODY_LEN] {
    let mut b = [0u8; BODY_LEN];
    b[..8].copy_from_slice(&(from as u64).to_be_bytes());
    b[8..16].copy_from_slice(&(to as u64).to_be_bytes());
    b[16..].copy_from_slice(&seq.to_be_bytes());
    b
}

fn parse_body(b: &[u8]) -> Option<(u64, u64, u64)> {
    if b.len() != BODY_LEN {
        return None;
    }
    let word = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_be_bytes(a)
    };
    Some((word(0), word(8), word(16)))
}

/// Whole nanoseconds of `d`, saturating.
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn derive_seed(seed: u64, what: u64, n: u64) -> u64 {
    let mut r = ChaCha20Rng::seed_from_u64(seed ^ what.rotate_left(17) ^ n.rotate_left(41));
    r.next_u64()
}

impl Sim {
    /// A simulator with every node configured with its neighbours, at time
    /// zero.
    pub fn new(cfg: SimConfig) -> Self {
        let links = match &cfg.links {
            Some(l) => l.clone(),
            None => {
                let mut l = Vec::new();
                for a in 0..cfg.nodes {
                    for b in a + 1..cfg.nodes {
                        l.push((a, b));
                    }
                }
                l
            }
        };
        let mut key_rng = ChaCha20Rng::seed_from_u64(derive_seed(cfg.seed, 1, 0));
        let keys: Vec<StaticKeypair> = (0..cfg.nodes)
            .map(|_| StaticKeypair::generate(&mut key_rng))
            .collect();
        let mut sim = Sim {
            now: Instant::ZERO,
            nodes: Vec::new(),
            links,
            queue: BinaryHeap::new(),
            packets: BTreeMap::new(),
            packet_seq: 0,
            faults: Vec::new(),
            pending_restarts: Vec::new(),
            publics: keys.iter().map(StaticKeypair::public).collect(),
            net_rng: ChaCha20Rng::seed_from_u64(derive_seed(cfg.seed, 2, 0)),
            accepted: HashSet::new(),
            logs: BTreeMap::new(),
            events: Vec::new(),
            recorded: Vec::new(),
            violations: Vec::new(),
            filter: None,
            cfg,
        };
        for (i, k) in keys.into_iter().enumerate() {
            let node = sim.make_node(i, k, 0);
            sim.nodes.push(node);
        }
        sim
    }

    fn neighbours(&self, node: usize) -> Vec<usize> {
        let mut n: Vec<usize> = self
            .links
            .iter()
            .filter_map(|&(a, b)| {
                if a == node {
                    Some(b)
                } else if b == node {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        n.sort_unstable();
        n
    }

    fn make_node(&mut self, i: usize, keypair: StaticKeypair, restarts: u64) -> SimNode {
        let rng = ChaCha20Rng::seed_from_u64(derive_seed(self.cfg.seed, 3 + i as u64, restarts));
        let mut endpoint = Endpoint::new(self.cfg.config, keypair.clone(), rng, Vec::new());
        let mut peer_of = BTreeMap::new();
        let mut node_of = BTreeMap::new();
        let mut next_probe_at = BTreeMap::new();
        let interval = duration_nanos(self.cfg.config.probe_interval()).max(1);
        for n in self.neighbours(i) {
            let public = self.publics[n];
            if let Ok(id) = endpoint.add_peer(self.now, public) {
                peer_of.insert(n, id);
                node_of.insert(id, n);
                let phase = self.net_rng.next_u64() % interval;
                next_probe_at.insert(n, self.now + Duration::from_nanos(phase));
            }
        }
        SimNode {
            endpoint,
            keypair,
            peer_of,
            node_of,
            next_probe_at,
            seq: 0,
            restarts,
        }
    }

    /// Installs a hook that sees every datagram sent and may drop or delay
    /// it (for tests that target single handshake messages).
    pub fn set_filter(&mut self, filter: impl FnMut(&Datagram) -> Verdict + 'static) {
        self.filter = Some(Box::new(filter));
    }

    /// Removes the filter.
    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// Schedules a fault.
    pub fn add_fault(&mut self, fault: FaultWindow) {
        if let Fault::Restart { node } = fault.fault {
            self.pending_restarts.push((fault.start, node));
        }
        self.faults.push(fault);
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The simulator's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// A node.
    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    /// A node, mutable (for tests that drive an endpoint directly).
    pub fn node_mut(&mut self, i: usize) -> &mut SimNode {
        &mut self.nodes[i]
    }

    /// Every link as node pairs.
    pub fn links(&self) -> &[(usize, usize)] {
        &self.links
    }

    /// Sends raw bytes from `from` to `to` now, through the link's faults.
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.send(from, to, bytes);
    }

    /// Whether `at` reports both directions of its link with `peer` fresh.
    pub fn link_fresh(&self, at: usize, peer: usize) -> (bool, bool) {
        let node = &self.nodes[at];
        match node
            .peer_of
            .get(&peer)
            .and_then(|&id| node.endpoint.peer_status(id, self.now))
        {
            Some(s) => (s.inbound.fresh, s.outbound.fresh),
            None => (false, false),
        }
    }

    /// Whether every link reports fresh in both directions at both ends.
    pub fn all_fresh(&self) -> bool {
        self.links.iter().all(|&(a, b)| {
            let (ai, ao) = self.link_fresh(a, b);
            let (bi, bo) = self.link_fresh(b, a);
            ai && ao && bi && bo
        })
    }

    /// Runs until `deadline`.
    pub fn run_until(&mut self, deadline: Instant) {
        while let Some(t) = self.next_time() {
            if t > deadline {
                break;
            }
            self.step(t);
        }
        self.now = self.now.max(deadline);
    }

    /// Runs until `pred` holds (checked after every step) or `deadline`;
    /// returns the time it first held.
    pub fn run_until_true(
        &mut self,
        deadline: Instant,
        mut pred: impl FnMut(&Sim) -> bool,
    ) -> Option<Instant> {
        if pred(self) {
            return Some(self.now);
        }
        while let Some(t) = self.next_time() {
            if t > deadline {
                break;
            }
            self.step(t);
            if pred(self) {
                return Some(self.now);
            }
        }
        self.now = self.now.max(deadline);
        None
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t = Instant::MAX;
        if let Some(Reverse((at, _, _))) = self.queue.peek() {
            t = t.min(*at);
        }
        for n in &self.nodes {
            if let Some(d) = n.endpoint.poll_timeout() {
                t = t.min(d.max(self.now));
            }
            for &p in n.next_probe_at.values() {
                t = t.min(p);
            }
        }
        for &(at, _) in &self.pending_restarts {
            t = t.min(at.max(self.now));
        }
        (t != Instant::MAX).then_some(t)
    }

    fn step(&mut self, t: Instant) {
        self.now = t;
        // Restarts.
        let mut k = 0;
        while k < self.pending_restarts.len() {
            if self.pending_restarts[k].0 <= t {
                let (_, node) = self.pending_restarts.remove(k);
                self.restart(node);
            } else {
                k += 1;
            }
        }
        // Deliveries.
        while let Some(Reverse((at, _, id))) = self.queue.peek().copied() {
            if at > t {
                break;
            }
            self.queue.pop();
            if let Some(pkt) = self.packets.remove(&id) {
                self.deliver(pkt);
            }
        }
        // Timers.
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .endpoint
                .poll_timeout()
                .is_some_and(|d| d <= t)
            {
                self.nodes[i].endpoint.handle_timeout(t);
                self.drain(i);
            }
        }
        // Probes.
        let interval = self.cfg.config.probe_interval();
        for i in 0..self.nodes.len() {
            let due: Vec<usize> = self.nodes[i]
                .next_probe_at
                .iter()
                .filter(|&(_, &at)| at <= t)
                .map(|(&n, _)| n)
                .collect();
            for n in due {
                if let Some(at) = self.nodes[i].next_probe_at.get_mut(&n) {
                    *at = *at + interval;
                }
                self.send_probe(i, n, ProbeKind::Probe);
            }
        }
    }

    fn restart(&mut self, node: usize) {
        let keypair = self.nodes[node].keypair.clone();
        let restarts = self.nodes[node].restarts + 1;
        let fresh = self.make_node(node, keypair, restarts);
        self.nodes[node] = fresh;
    }

    fn send_probe(&mut self, from: usize, to: usize, kind: ProbeKind) {
        let node = &mut self.nodes[from];
        let Some(&peer) = node.peer_of.get(&to) else {
            return;
        };
        node.seq += 1;
        // The sequence number carries the restart count so it never repeats.
        let seq = node.seq | (node.restarts << 48);
        let b = body(from, to, seq);
        let mut out = [0u8; BODY_LEN + probekey::PROBE_OVERHEAD];
        if let Ok(n) = node.endpoint.seal(self.now, peer, kind, &b, &mut out) {
            self.send(from, to, out[..n].to_vec());
        }
        self.drain(from);
    }

    fn deliver(&mut self, pkt: InFlight) {
        let InFlight { to, mut bytes } = pkt;
        let now = self.now;
        let node = &mut self.nodes[to];
        let result = node.endpoint.handle_datagram(now, &mut bytes);
        let mut echo = None;
        if let Ok(Received::Keepalive { peer }) = result {
            let claimed = node.node_of.get(&peer).copied().unwrap_or(usize::MAX);
            self.logs
                .entry((claimed, to))
                .or_default()
                .validated
                .push(now);
        }
        if let Ok(Received::Probe { peer, kind, body }) = result {
            let claimed = node.node_of.get(&peer).copied().unwrap_or(usize::MAX);
            match parse_body(body) {
                Some((f, t, seq)) if f == claimed as u64 && t == to as u64 => {
                    if !self.accepted.insert((claimed, to, seq)) {
                        self.violations.push(Violation::Replayed {
                            at: to,
                            from: claimed,
                            seq,
                        });
                    }
                }
                _ => self.violations.push(Violation::Forged {
                    at: to,
                    claimed_from: claimed,
                }),
            }
            self.logs
                .entry((claimed, to))
                .or_default()
                .validated
                .push(now);
            if kind == ProbeKind::Probe {
                echo = Some(claimed);
            }
        }
        self.drain(to);
        if let Some(back) = echo {
            self.send_probe(to, back, ProbeKind::Echo);
        }
    }

    /// Sends everything the endpoint queued and records its events.
    fn drain(&mut self, i: usize) {
        let mut buf = [0u8; 256];
        loop {
            let node = &mut self.nodes[i];
            match node.endpoint.poll_transmit(self.now, &mut buf) {
                Ok(Some(tx)) => {
                    let Some(&to) = node.node_of.get(&tx.peer) else {
                        continue;
                    };
                    let bytes = buf[..tx.len].to_vec();
                    self.send(i, to, bytes);
                }
                Ok(None) | Err(_) => break,
            }
        }
        while let Some(e) = self.nodes[i].endpoint.poll_event() {
            self.events.push((self.now, i, e));
        }
    }

    fn send(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let dg = Datagram {
            sent_at: self.now,
            from,
            to,
            bytes,
        };
        let verdict = match &mut self.filter {
            Some(f) => f(&dg),
            None => Verdict::Pass,
        };
        let Datagram { bytes, .. } = if self.cfg.record {
            self.recorded.push(dg.clone());
            dg
        } else {
            dg
        };
        let now = self.now;
        let mut copies = 1;
        let mut delay = self.cfg.one_way_delay;
        match verdict {
            Verdict::Pass => {}
            Verdict::Drop => return,
            Verdict::Delay(d) => delay += d,
        }
        let active: Vec<Fault> = self
            .faults
            .iter()
            .filter(|f| f.start <= now && now < f.end && f.fault.affects(from, to))
            .map(|f| f.fault.clone())
            .collect();
        for f in active {
            match f {
                Fault::Loss { rate, .. } => {
                    if self.chance(rate) {
                        return;
                    }
                }
                Fault::Partition { .. } => return,
                Fault::Duplicate { rate, .. } => {
                    if self.chance(rate) {
                        copies += 1;
                    }
                }
                Fault::Delay { extra, jitter, .. } => {
                    let j = duration_nanos(jitter);
                    let r = if j == 0 {
                        0
                    } else {
                        self.net_rng.next_u64() % j
                    };
                    delay += extra + Duration::from_nanos(r);
                }
                Fault::Restart { .. } => {}
            }
        }
        for c in 0..copies {
            self.packet_seq += 1;
            let id = self.packet_seq;
            let at = now + delay + Duration::from_micros(c as u64);
            self.packets.insert(
                id,
                InFlight {
                    to,
                    bytes: bytes.clone(),
                },
            );
            self.queue.push(Reverse((at, self.packet_seq, id)));
        }
    }

    fn chance(&mut self, rate: f64) -> bool {
        if rate >= 1.0 {
            return true;
        }
        if rate <= 0.0 {
            return false;
        }
        let r = (self.net_rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        r < rate
    }

    /// The first time at or after `since` when `to` validated a probe from
    /// `from`.
    pub fn first_validation_after(
        &self,
        from: usize,
        to: usize,
        since: Instant,
    ) -> Option<Instant> {
        self.logs
            .get(&(from, to))
            .and_then(|l| l.validated.iter().copied().find(|&t| t >= since))
    }

    /// Events of one kind at one node, for assertions.
    pub fn events_at(&self, node: usize) -> impl Iterator<Item = &(Instant, usize, Event)> {
        self.events.iter().filter(move |(_, n, _)| *n == node)
    }

    /// The health events of one direction at one node, in order.
    pub fn health_changes(&self, node: usize, direction: LinkDirection) -> Vec<(Instant, bool)> {
        self.events_at(node)
            .filter_map(|(t, _, e)| match e {
                Event::HealthChanged {
                    direction: d,
                    fresh,
                    ..
                } if *d == direction => Some((*t, *fresh)),
                _ => None,
            })
            .collect()
    }
}

/// When each direction of each link was reported fresh again after a fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The instant recovery is measured from.
    pub healed: Instant,
    /// Per direction `(from, to)`: when `to` reported it hears `from` and
    /// `from` reported it is heard, both at once; `None` if not by the
    /// deadline.
    pub directions: BTreeMap<(usize, usize), Option<Instant>>,
    /// When every direction was fresh at once; `None` if not by the
    /// deadline.
    pub all: Option<Instant>,
}

impl Recovery {
    /// Time from `healed` to every direction fresh.
    pub fn took(&self) -> Option<Duration> {
        self.all.map(|t| t - self.healed)
    }
}

impl Sim {
    /// Whether `to` hears `from` and `from` is told it is heard.
    pub fn direction_fresh(&self, from: usize, to: usize) -> bool {
        self.link_fresh(to, from).0 && self.link_fresh(from, to).1
    }

    /// Runs from `healed` (or now, if later) until every direction of every
    /// link is fresh, or `deadline`, recording when each direction first
    /// was.
    pub fn measure_recovery(&mut self, healed: Instant, deadline: Instant) -> Recovery {
        self.run_until(healed);
        let mut directions: BTreeMap<(usize, usize), Option<Instant>> = BTreeMap::new();
        for &(a, b) in &self.links {
            directions.insert((a, b), None);
            directions.insert((b, a), None);
        }
        let all = self.run_until_true(deadline, |sim| {
            let mut done = true;
            for (&(from, to), at) in directions.iter_mut() {
                if at.is_none() {
                    if sim.direction_fresh(from, to) {
                        *at = Some(sim.now);
                    } else {
                        done = false;
                    }
                }
            }
            done
        });
        Recovery {
            healed,
            directions,
            all,
        }
    }

    /// The faults scheduled so far.
    pub fn faults(&self) -> &[FaultWindow] {
        &self.faults
    }
}

impl SimNode {
    /// The endpoint's peer id for neighbour node `n`.
    pub fn peer_id(&self, n: usize) -> Option<PeerId> {
        self.peer_of.get(&n).copied()
    }

    /// The node's static key pair.
    pub fn keypair(&self) -> &StaticKeypair {
        &self.keypair
    }
}

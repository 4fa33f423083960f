//! A deterministic fault simulator (`docs/PROTOCOL.md` §9): nodes on a
//! virtual clock, each running a real [`Endpoint`], probing its neighbours
//! and echoing what it receives, over links that lose, duplicate, delay and
//! reorder datagrams, with nodes that partition and restart.
//!
//! Each node reads its own clock (an origin, a rate, restarted at zero by a
//! reboot, stopped while the host is suspended); each direction of each
//! link has its own delay. The same seed gives the same run, event for
//! event. Every probe body names its sender and a sequence number, so the
//! simulator also checks that no forged or replayed probe is ever accepted
//! ([`oracle`]), and it watches every direction's freshness after every
//! step, not at a few instants.

pub mod clock;
pub mod link;
pub mod oracle;

use core::cmp::Reverse;
use core::time::Duration;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub use clock::{ClockSpec, NodeClock};
pub use link::{Fate, LinkFaults, Netem};
pub use oracle::{ProbeOracle, Violation};

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
pub type SimEndpoint = GrowableEndpoint<SimRng>;

/// The endpoints' randomness: ChaCha20 from a seed, so that a run is
/// reproducible. Unlike the generator itself it can be cloned (through
/// its seed, stream and position), as the model checker clones whole
/// endpoints.
#[derive(PartialEq, Eq, Debug)]
pub struct SimRng(ChaCha20Rng);

impl SimRng {
    /// The generator seeded from `seed`.
    pub fn seed_from_u64(seed: u64) -> Self {
        SimRng(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl Clone for SimRng {
    fn clone(&self) -> Self {
        SimRng(ChaCha20Rng::deserialize_state(&self.0.serialize_state()))
    }
}

/// The randomness traits come through `rand_core`'s blanket
/// implementations for a `DerefMut` to a generator.
impl core::ops::Deref for SimRng {
    type Target = ChaCha20Rng;
    fn deref(&self) -> &ChaCha20Rng {
        &self.0
    }
}

impl core::ops::DerefMut for SimRng {
    fn deref_mut(&mut self) -> &mut ChaCha20Rng {
        &mut self.0
    }
}

/// A fault on the network or a node, active from `start` to `end`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// When it begins.
    pub start: Instant,
    /// When it ends (ignored for [`Fault::Restart`] and [`Fault::Reboot`]).
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
    /// Datagrams from `from` to `to` queue up and are all released at
    /// `end`, at one instant (a stalled queue, a link that flaps back).
    Stall {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
    },
    /// The daemon on `node` loses all its state at `start` and comes back
    /// at once with the same static key; the host's clock runs on.
    Restart {
        /// The node restarted.
        node: usize,
    },
    /// The host `node` reboots at `start`: the daemon's state is lost and
    /// its monotonic clock starts again at zero.
    Reboot {
        /// The node rebooted.
        node: usize,
    },
    /// The host `node` is suspended from `start` to `end`: its process and
    /// its clock stop, datagrams for it wait in its socket buffer and are
    /// read at once when it resumes.
    Suspend {
        /// The node suspended.
        node: usize,
    },
    /// Handshake messages and keepalives from `from` to `to` sent in the
    /// window take `extra` longer; probes do not (a slow control path).
    DelayHandshakes {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// Added delay.
        extra: Duration,
    },
    /// The clock of `node` reads `ahead` further from `start` to `end`,
    /// then steps back: a caller's clock that goes backwards (a daemon bug;
    /// the crate must latch nothing).
    ClockJump {
        /// The node whose clock jumps.
        node: usize,
        /// How far ahead it reads.
        ahead: Duration,
    },
    /// An off-path attacker replays, `per_second` times a second, datagrams
    /// recorded on their way to `to` (any of the last 64), straight into
    /// it.
    Replay {
        /// The node flooded.
        to: usize,
        /// Replays a second.
        per_second: u32,
    },
    /// An on-path attacker holds every datagram from `from` to `to` sent in
    /// the window, and after `end` releases them in order, one every
    /// `every`, the first `at_most` of them (the rest are lost).
    Hold {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// One released this often after the window.
        every: Duration,
        /// Released at most.
        at_most: u32,
    },
    /// Not a fault: both ends of the link `a`–`b` call
    /// `initiate_handshake` at `start`, at the same instant (an operator's
    /// forced rekey on both sides). A link must stay fresh through it.
    CrossingHandshake {
        /// One end.
        a: usize,
        /// The other.
        b: usize,
    },
}

impl Fault {
    /// The node-level faults: they act on the node, not on datagrams.
    fn node(&self) -> Option<usize> {
        match *self {
            Fault::Restart { node }
            | Fault::Reboot { node }
            | Fault::Suspend { node }
            | Fault::ClockJump { node, .. }
            | Fault::Replay { to: node, .. } => Some(node),
            _ => None,
        }
    }

    /// Whether this fault acts on the datagram `bytes` (only
    /// [`Fault::DelayHandshakes`] chooses).
    fn selects(&self, bytes: &[u8]) -> bool {
        match self {
            Fault::DelayHandshakes { .. } => match bytes.first() {
                Some(&probekey::wire::TYPE_PROBE) => {
                    // The kind byte of a keepalive (`docs/PROTOCOL.md` §2.4).
                    bytes.get(2) == Some(&2)
                }
                Some(_) => true,
                None => false,
            },
            _ => true,
        }
    }

    fn affects(&self, from: usize, to: usize) -> bool {
        match *self {
            Fault::Loss { from: f, to: t, .. }
            | Fault::Duplicate { from: f, to: t, .. }
            | Fault::Delay { from: f, to: t, .. }
            | Fault::Stall { from: f, to: t }
            | Fault::Hold { from: f, to: t, .. }
            | Fault::DelayHandshakes { from: f, to: t, .. } => f == from && t == to,
            Fault::Partition { node } => node == from || node == to,
            Fault::Restart { .. }
            | Fault::Reboot { .. }
            | Fault::Suspend { .. }
            | Fault::ClockJump { .. }
            | Fault::Replay { .. }
            | Fault::CrossingHandshake { .. } => false,
        }
    }

    /// Whether this fault can touch the link between `a` and `b` at all.
    pub fn touches_link(&self, a: usize, b: usize) -> bool {
        self.affects(a, b) || self.affects(b, a) || self.node().is_some_and(|n| n == a || n == b)
    }

    /// What it does to a datagram sent on its direction during its window.
    fn link_faults(&self, end: Instant) -> LinkFaults {
        match *self {
            Fault::Loss { rate, .. } => LinkFaults {
                loss: rate,
                ..LinkFaults::default()
            },
            Fault::Partition { .. } => LinkFaults {
                loss: 1.0,
                ..LinkFaults::default()
            },
            Fault::Duplicate { rate, .. } => LinkFaults {
                duplicate: rate,
                ..LinkFaults::default()
            },
            Fault::Delay { extra, jitter, .. } => LinkFaults {
                delay: extra,
                jitter,
                ..LinkFaults::default()
            },
            Fault::DelayHandshakes { extra, .. } => LinkFaults {
                delay: extra,
                ..LinkFaults::default()
            },
            Fault::Stall { .. } => LinkFaults {
                stall_until: Some(end),
                ..LinkFaults::default()
            },
            Fault::Restart { .. }
            | Fault::Reboot { .. }
            | Fault::Suspend { .. }
            | Fault::ClockJump { .. }
            | Fault::Replay { .. }
            | Fault::Hold { .. }
            | Fault::CrossingHandshake { .. } => LinkFaults::default(),
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
    /// When it was sent (simulated time).
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

/// Datagrams kept per node for replay floods ([`Fault::Replay`]).
const REPLAY_POOL: usize = 64;

/// Datagrams a suspended host's socket buffer holds at most; more are lost.
const SOCKET_BUFFER: usize = 4096;

/// One simulated node: a real endpoint, its host's clock, and the daemon's
/// probing loop.
pub struct SimNode {
    /// The endpoint.
    pub endpoint: SimEndpoint,
    keypair: StaticKeypair,
    clock: NodeClock,
    /// Neighbour node index to the endpoint's peer id.
    peer_of: BTreeMap<usize, PeerId>,
    node_of: BTreeMap<PeerId, usize>,
    /// When the next probe to each neighbour is due, on this node's clock.
    next_probe_at: BTreeMap<usize, Instant>,
    seq: u64,
    restarts: u64,
    /// Datagrams that arrived while the host was suspended.
    inbox: Vec<Vec<u8>>,
}

/// What happened on one direction `from → to` of a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionLog {
    /// Times at which `to` validated a probe or echo from `from`.
    pub validated: Vec<Instant>,
    /// Every change of the direction's freshness (`to` hears `from` and
    /// `from` is told it is heard), in simulated time, as observed after
    /// every step.
    pub fresh: Vec<(Instant, bool)>,
}

impl DirectionLog {
    /// Whether the direction was fresh at `at` (as last observed then).
    pub fn fresh_at(&self, at: Instant) -> bool {
        self.fresh
            .iter()
            .rev()
            .find(|&&(t, _)| t <= at)
            .is_some_and(|&(_, f)| f)
    }

    /// Whether the direction was fresh at every instant of `[from, to]`.
    pub fn fresh_throughout(&self, from: Instant, to: Instant) -> bool {
        self.fresh_at(from) && !self.fresh.iter().any(|&(t, f)| t > from && t <= to && !f)
    }

    /// The periods in which the direction was not fresh, from `since`.
    pub fn stale_periods(&self, since: Instant, until: Instant) -> Vec<(Instant, Instant)> {
        let mut out = Vec::new();
        let mut down: Option<Instant> = None;
        let mut state = self.fresh_at(since);
        if !state {
            down = Some(since);
        }
        for &(t, f) in self.fresh.iter().filter(|&&(t, _)| t > since && t <= until) {
            if f && !state {
                out.push((down.take().unwrap_or(since), t));
            } else if !f && state {
                down = Some(t);
            }
            state = f;
        }
        if let Some(d) = down {
            out.push((d, until));
        }
        out
    }
}

/// The simulator's configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// The endpoints' configuration (every node uses the same).
    pub config: Config,
    /// One-way delay of every direction without its own in `paths`.
    pub one_way_delay: Duration,
    /// One-way delay per direction `(from, to)`, overriding
    /// `one_way_delay`.
    pub paths: BTreeMap<(usize, usize), Duration>,
    /// Each node's clock at the start (missing nodes: zero, exact rate).
    pub clocks: Vec<ClockSpec>,
    /// Links as node pairs; `None` for a full mesh.
    pub links: Option<Vec<(usize, usize)>>,
    /// The seed of every random choice.
    pub seed: u64,
    /// Keep a copy of every datagram sent (for replay attacks in tests).
    pub record: bool,
    /// Check around every refused datagram that it changed nothing but the
    /// rejection counters ([`oracle::EndpointView`]); a
    /// [`Violation::RefusalChangedState`] otherwise. Costs a status of
    /// every peer per refusal.
    pub check_refusals: bool,
}

impl SimConfig {
    /// A full mesh of `nodes` with 20 ms one-way delay.
    pub fn mesh(nodes: usize, config: Config, seed: u64) -> Self {
        SimConfig {
            nodes,
            config,
            one_way_delay: Duration::from_millis(20),
            paths: BTreeMap::new(),
            clocks: Vec::new(),
            links: None,
            seed,
            record: false,
            check_refusals: false,
        }
    }

    /// The one-way delay from `from` to `to`.
    pub fn delay(&self, from: usize, to: usize) -> Duration {
        self.paths
            .get(&(from, to))
            .copied()
            .unwrap_or(self.one_way_delay)
    }

    /// The round-trip time of the slowest link without faults.
    pub fn rtt(&self) -> Duration {
        let mut rtt = self.one_way_delay * 2;
        for &(a, b) in self.paths.keys() {
            rtt = rtt.max(self.delay(a, b) + self.delay(b, a));
        }
        rtt
    }

    /// Node `i`'s clock at the start.
    pub fn clock(&self, i: usize) -> ClockSpec {
        self.clocks.get(i).copied().unwrap_or_default()
    }
}

/// A change to a node at a moment: the node-level faults.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NodeAction {
    Restart,
    Reboot,
    Suspend,
    Resume,
    /// `initiate_handshake` towards this neighbour.
    Initiate(usize),
    /// The clock steps forward (true) or back by this much.
    Step(Duration, bool),
    /// Replay one recorded datagram into the node, and the next one
    /// `every` later until `until`.
    Replay {
        every: Duration,
        until: Instant,
    },
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    now: Instant,
    nodes: Vec<SimNode>,
    links: Vec<(usize, usize)>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    packets: BTreeMap<u64, InFlight>,
    packet_seq: u64,
    faults: Vec<FaultWindow>,
    pending: Vec<(Instant, usize, NodeAction)>,
    /// Whether a replay flood is scheduled: only then is `replay_pool` kept.
    replaying: bool,
    /// The last datagrams sent to each node, for replay floods.
    replay_pool: BTreeMap<usize, VecDeque<Vec<u8>>>,
    /// Per fault, how many datagrams a hold has taken so far.
    held: Vec<u32>,
    /// Every node's static public key, by node index.
    publics: Vec<probekey::PublicKey>,
    net: Netem,
    oracle: ProbeOracle,
    /// Per ordered pair `(from, to)`, the validations and freshness changes
    /// observed.
    pub logs: BTreeMap<(usize, usize), DirectionLog>,
    /// Every event every endpoint reported, with the node and simulated
    /// time.
    pub events: Vec<(Instant, usize, Event)>,
    /// Every datagram sent, if [`SimConfig::record`] is set.
    pub recorded: Vec<Datagram>,
    /// Security violations seen; must stay empty.
    pub violations: Vec<Violation>,
    filter: Option<Filter>,
}

/// Bytes of the probe bodies the simulated daemons send.
const BODY_LEN: usize = oracle::BODY_ID_LEN + 8;

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
            pending: Vec::new(),
            replaying: false,
            replay_pool: BTreeMap::new(),
            held: Vec::new(),
            publics: keys.iter().map(StaticKeypair::public).collect(),
            net: Netem::new(derive_seed(cfg.seed, 2, 0)),
            oracle: ProbeOracle::default(),
            logs: BTreeMap::new(),
            events: Vec::new(),
            recorded: Vec::new(),
            violations: Vec::new(),
            filter: None,
            cfg,
        };
        for (i, k) in keys.into_iter().enumerate() {
            let clock = NodeClock::new(Instant::ZERO, sim.cfg.clock(i));
            let node = sim.make_node(i, k, 0, clock);
            sim.nodes.push(node);
        }
        sim.watch();
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

    fn make_node(
        &mut self,
        i: usize,
        keypair: StaticKeypair,
        restarts: u64,
        clock: NodeClock,
    ) -> SimNode {
        let rng = SimRng::seed_from_u64(derive_seed(self.cfg.seed, 3 + i as u64, restarts));
        let mut endpoint = Endpoint::new(self.cfg.config, keypair.clone(), rng, Vec::new());
        let local = clock.local(self.now);
        let mut peers = Vec::new();
        for n in self.neighbours(i) {
            if let Ok(id) = endpoint.add_peer(local, self.publics[n]) {
                peers.push((n, id));
            }
        }
        let mut node = SimNode::adopt(endpoint, keypair, clock, peers, 0);
        node.restarts = restarts;
        self.phase_probes(&mut node);
        node
    }

    /// Schedules a node's first probe to each neighbour at a random phase
    /// of the probe interval.
    fn phase_probes(&mut self, node: &mut SimNode) {
        let interval = duration_nanos(self.cfg.config.probe_interval()).max(1);
        let local = node.clock.local(self.now);
        let neighbours: Vec<usize> = node.peer_of.keys().copied().collect();
        for n in neighbours {
            let phase = self.net.below(interval);
            node.next_probe_at
                .insert(n, local + Duration::from_nanos(phase));
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
        match fault.fault {
            Fault::Restart { node } => self.pending.push((fault.start, node, NodeAction::Restart)),
            Fault::Reboot { node } => self.pending.push((fault.start, node, NodeAction::Reboot)),
            Fault::Suspend { node } => {
                self.pending.push((fault.start, node, NodeAction::Suspend));
                self.pending
                    .push((fault.end.max(fault.start), node, NodeAction::Resume));
            }
            Fault::ClockJump { node, ahead } => {
                self.pending
                    .push((fault.start, node, NodeAction::Step(ahead, true)));
                self.pending.push((
                    fault.end.max(fault.start),
                    node,
                    NodeAction::Step(ahead, false),
                ));
            }
            Fault::Replay { to, per_second } if per_second > 0 => {
                self.replaying = true;
                let every = Duration::from_secs(1) / per_second;
                let until = fault.end;
                self.pending
                    .push((fault.start, to, NodeAction::Replay { every, until }));
            }
            Fault::CrossingHandshake { a, b } => {
                self.pending.push((fault.start, a, NodeAction::Initiate(b)));
                self.pending.push((fault.start, b, NodeAction::Initiate(a)));
            }
            _ => {}
        }
        self.faults.push(fault);
        self.held.push(0);
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Node `i`'s clock reading now.
    pub fn local_now(&self, i: usize) -> Instant {
        self.nodes[i].clock.local(self.now)
    }

    /// The simulator's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// A node.
    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    /// A node, mutable (for tests that drive an endpoint directly: pass it
    /// [`Sim::local_now`]).
    pub fn node_mut(&mut self, i: usize) -> &mut SimNode {
        &mut self.nodes[i]
    }

    /// Every link as node pairs.
    pub fn links(&self) -> &[(usize, usize)] {
        &self.links
    }

    /// Links that no scheduled fault touches, at either end or in either
    /// direction: they deliver real traffic throughout, so they must be
    /// fresh throughout once first up.
    pub fn untouched_links(&self) -> Vec<(usize, usize)> {
        self.links
            .iter()
            .copied()
            .filter(|&(a, b)| !self.faults.iter().any(|f| f.fault.touches_link(a, b)))
            .collect()
    }

    /// Sends raw bytes from `from` to `to` now, through the link's faults.
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.send(from, to, bytes);
    }

    /// Whether `at` reports both directions of its link with `peer` fresh,
    /// at `at`'s clock reading now.
    pub fn link_fresh(&self, at: usize, peer: usize) -> (bool, bool) {
        let node = &self.nodes[at];
        let local = node.clock.local(self.now);
        match node
            .peer_of
            .get(&peer)
            .and_then(|&id| node.endpoint.peer_status(id, local))
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

    /// Whether every link is settled: fresh both ways at both ends, with
    /// no resync pending at either end (a handshake for no session or a
    /// stale direction; a scheduled rekey is not one). From there a good
    /// network only refreshes what is fresh.
    /// `since`: and every direction's evidence is dated after that instant
    /// (on each node's clock), so that none is fresh only on evidence from
    /// before it.
    pub fn all_settled(&self, since: Instant) -> bool {
        self.all_fresh()
            && self.links.iter().all(|&(a, b)| {
                [(a, b), (b, a)].iter().all(|&(at, peer)| {
                    let node = &self.nodes[at];
                    let local = node.clock.local(self.now);
                    let after = node.clock.local(since);
                    node.peer_of
                        .get(&peer)
                        .and_then(|&id| node.endpoint.peer_status(id, local))
                        .is_some_and(|s| {
                            let resync = matches!(
                                s.handshake,
                                probekey::HandshakeState::Initiating { reason, .. }
                                    if reason != probekey::HandshakeReason::Rekey
                            );
                            !resync
                                && s.inbound.last.is_some_and(|t| t > after)
                                && s.outbound.last.is_some_and(|t| t > after)
                        })
                })
            })
    }

    /// Runs until every link is settled ([`Self::all_settled`] on evidence
    /// from now on) and returns how long that took. An error if any
    /// direction is stale after `bound` (the recovery bound), or if the
    /// links are not settled by `limit` (evidence from before now may keep
    /// a direction fresh, and be renewed, until a `stale_after` later).
    /// The fuzz targets' good-network tail: as short as the property
    /// needs, no idle time simulated after it holds.
    pub fn settle_until_settled(
        &mut self,
        bound: Duration,
        limit: Duration,
    ) -> Result<Duration, String> {
        let start = self.now;
        loop {
            if self.now > start + bound && !self.all_fresh() {
                return Err(format!(
                    "a direction stale {:?} after the network became good (bound {bound:?})",
                    self.now - start
                ));
            }
            if self.all_settled(start) {
                return Ok(self.now - start);
            }
            match self.next_time().filter(|&t| t <= start + limit) {
                Some(t) => self.step(t),
                None => {
                    return Err(format!(
                        "links not settled (fresh both ways, no resync pending) within {limit:?} of the network becoming good"
                    ));
                }
            }
        }
    }

    /// The recovery bound of this network: the configuration's bound at the
    /// slowest link's round trip, in simulated time on the slowest clock.
    pub fn recovery_bound(&self) -> Duration {
        let bound = self.cfg.config.recovery_bound(self.cfg.rtt());
        self.nodes
            .iter()
            .map(|n| n.clock.to_global(bound))
            .max()
            .unwrap_or(bound)
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
        self.watch();
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
        self.watch();
        None
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t = Instant::MAX;
        if let Some(Reverse((at, _))) = self.queue.peek() {
            t = t.min(*at);
        }
        for n in &self.nodes {
            let global = |local: Instant| n.clock.global(local);
            if let Some(d) = n.endpoint.poll_timeout().and_then(global) {
                t = t.min(d.max(self.now));
            }
            for &p in n.next_probe_at.values() {
                if let Some(g) = global(p) {
                    t = t.min(g.max(self.now));
                }
            }
        }
        for &(at, _, _) in &self.pending {
            t = t.min(at.max(self.now));
        }
        (t != Instant::MAX).then_some(t)
    }

    fn step(&mut self, t: Instant) {
        self.now = t;
        // Node-level faults, in the order they were scheduled.
        let mut k = 0;
        while k < self.pending.len() {
            if self.pending[k].0 <= t {
                let (_, node, action) = self.pending.remove(k);
                self.act(node, action);
            } else {
                k += 1;
            }
        }
        // Deliveries.
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > t {
                break;
            }
            self.queue.pop();
            if let Some(pkt) = self.packets.remove(&id) {
                if self.nodes[pkt.to].clock.is_stopped() {
                    let inbox = &mut self.nodes[pkt.to].inbox;
                    if inbox.len() < SOCKET_BUFFER {
                        inbox.push(pkt.bytes);
                    }
                } else {
                    self.deliver(pkt);
                }
            }
        }
        // Timers.
        for i in 0..self.nodes.len() {
            if self.nodes[i].clock.is_stopped() {
                continue;
            }
            let local = self.local_now(i);
            if self.nodes[i]
                .endpoint
                .poll_timeout()
                .is_some_and(|d| d <= local)
            {
                self.nodes[i].endpoint.handle_timeout(local);
                self.drain(i);
            }
        }
        // Probes.
        let interval = self.cfg.config.probe_interval();
        for i in 0..self.nodes.len() {
            if self.nodes[i].clock.is_stopped() {
                continue;
            }
            let local = self.local_now(i);
            let due: Vec<usize> = self.nodes[i]
                .next_probe_at
                .iter()
                .filter(|&(_, &at)| at <= local)
                .map(|(&n, _)| n)
                .collect();
            for n in due {
                if let Some(at) = self.nodes[i].next_probe_at.get_mut(&n) {
                    // A host back from suspension probes once, not once
                    // per interval it slept through.
                    *at = (*at + interval).max(local);
                }
                self.send_probe(i, n, ProbeKind::Probe);
            }
        }
        self.watch();
    }

    fn act(&mut self, node: usize, action: NodeAction) {
        match action {
            NodeAction::Restart | NodeAction::Reboot => {
                let old = &self.nodes[node];
                let keypair = old.keypair.clone();
                let restarts = old.restarts + 1;
                let clock = if action == NodeAction::Reboot {
                    old.clock.rebooted(self.now)
                } else {
                    old.clock
                };
                let fresh = self.make_node(node, keypair, restarts, clock);
                self.nodes[node] = fresh;
            }
            NodeAction::Suspend => self.nodes[node].clock.stop(self.now),
            NodeAction::Replay { every, until } => {
                let pool = self.replay_pool.get(&node).map_or(0, VecDeque::len);
                if pool > 0 && !self.nodes[node].clock.is_stopped() {
                    let pick = usize::try_from(self.net.below(pool as u64)).unwrap_or(0);
                    let bytes = self.replay_pool[&node][pick].clone();
                    self.deliver(InFlight { to: node, bytes });
                }
                let next = self.now + every;
                if next < until {
                    self.pending
                        .push((next, node, NodeAction::Replay { every, until }));
                }
            }
            NodeAction::Step(by, forward) => {
                let n = &mut self.nodes[node];
                n.clock = n.clock.stepped(self.now, by, forward);
                // The daemon's probe timer is on the same clock: it steps
                // with it.
                let local = n.clock.local(self.now);
                for at in n.next_probe_at.values_mut() {
                    *at = (*at).min(local + self.cfg.config.probe_interval());
                }
            }
            NodeAction::Initiate(peer) => {
                let local = self.local_now(node);
                let n = &mut self.nodes[node];
                if let Some(&id) = n.peer_of.get(&peer)
                    && !n.clock.is_stopped()
                {
                    n.endpoint
                        .initiate_handshake(local, id)
                        .expect("a configured peer");
                    self.drain(node);
                }
            }
            NodeAction::Resume => {
                self.nodes[node].clock.resume(self.now);
                // The socket buffer is read at once.
                for bytes in core::mem::take(&mut self.nodes[node].inbox) {
                    self.deliver(InFlight { to: node, bytes });
                }
            }
        }
    }

    /// Records every direction whose freshness changed since the last step.
    fn watch(&mut self) {
        for k in 0..self.links.len() {
            let (a, b) = self.links[k];
            for (from, to) in [(a, b), (b, a)] {
                let fresh = self.direction_fresh(from, to);
                let log = self.logs.entry((from, to)).or_default();
                if log.fresh.last().is_none_or(|&(_, f)| f != fresh) {
                    log.fresh.push((self.now, fresh));
                }
            }
        }
    }

    fn send_probe(&mut self, from: usize, to: usize, kind: ProbeKind) {
        let local = self.local_now(from);
        let node = &mut self.nodes[from];
        let Some(&peer) = node.peer_of.get(&to) else {
            return;
        };
        node.seq += 1;
        // The sequence number carries the restart count so it never repeats.
        let seq = node.seq | (node.restarts << 48);
        let mut b = [0u8; BODY_LEN];
        oracle::write_body_id(&mut b, from, to, seq);
        let mut out = [0u8; BODY_LEN + probekey::PROBE_OVERHEAD];
        if let Ok(n) = node.endpoint.seal(local, peer, kind, &b, &mut out) {
            if let Err(v) = self.oracle.sealed(from, to, seq, &out[..n], &b, local) {
                self.violations.push(v);
            }
            self.send(from, to, out[..n].to_vec());
        }
        self.drain(from);
    }

    fn deliver(&mut self, pkt: InFlight) {
        let InFlight { to, mut bytes } = pkt;
        let now = self.now;
        let local = self.local_now(to);
        let received = bytes.clone();
        let node = &mut self.nodes[to];
        let peers = || node.peer_of.values().copied();
        let before = self
            .cfg
            .check_refusals
            .then(|| oracle::EndpointView::of(&node.endpoint, peers(), local));
        let result = node.endpoint.handle_datagram(local, &mut bytes);
        if let (Err(e), Some(before)) = (&result, before) {
            let after =
                oracle::EndpointView::of(&node.endpoint, node.peer_of.values().copied(), local);
            if let Err(what) = before.refusal_changed_nothing(&after, e) {
                self.violations
                    .push(Violation::RefusalChangedState { at: to, what });
            }
        }
        let mut echo = None;
        let mut validated_from = None;
        match result {
            Ok(Received::Keepalive { peer }) => {
                let claimed = node.node_of.get(&peer).copied().unwrap_or(usize::MAX);
                if let Err(v) = self.oracle.keepalive(to, claimed, &received) {
                    self.violations.push(v);
                }
                validated_from = Some(claimed);
            }
            Ok(Received::Probe { peer, kind, body }) => {
                let claimed = node.node_of.get(&peer).copied().unwrap_or(usize::MAX);
                if let Err(v) = self.oracle.accepted(to, claimed, &received, body) {
                    self.violations.push(v);
                }
                validated_from = Some(claimed);
                if kind == ProbeKind::Probe {
                    echo = Some(claimed);
                }
            }
            _ => {}
        }
        if let Some(from) = validated_from {
            self.logs.entry((from, to)).or_default().validated.push(now);
        }
        self.drain(to);
        if let Some(back) = echo {
            self.send_probe(to, back, ProbeKind::Echo);
        }
    }

    /// Sends everything the endpoint queued and records its events.
    fn drain(&mut self, i: usize) {
        let mut buf = [0u8; 256];
        let local = self.local_now(i);
        loop {
            let node = &mut self.nodes[i];
            match node.endpoint.poll_transmit(local, &mut buf) {
                Ok(Some(tx)) => {
                    let Some(&to) = node.node_of.get(&tx.peer) else {
                        continue;
                    };
                    let bytes = buf[..tx.len].to_vec();
                    if bytes.first() == Some(&probekey::wire::TYPE_PROBE)
                        && let Err(v) = self.oracle.sealed_at(i, to, &bytes, local)
                    {
                        self.violations.push(v);
                    }
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
        if self.replaying {
            let pool = self.replay_pool.entry(to).or_default();
            if pool.len() >= REPLAY_POOL {
                pool.pop_front();
            }
            pool.push_back(bytes.clone());
        }
        let mut base = self.cfg.delay(from, to);
        match verdict {
            Verdict::Pass => {}
            Verdict::Drop => return,
            Verdict::Delay(d) => base += d,
        }
        // An on-path hold takes the datagram out of the network; it comes
        // back after the window, one at a time.
        let hold = self.faults.iter().position(|f| {
            matches!(f.fault, Fault::Hold { .. })
                && f.start <= now
                && now < f.end
                && f.fault.affects(from, to)
        });
        if let Some(fi) = hold {
            if let Fault::Hold { every, at_most, .. } = self.faults[fi].fault {
                let k = self.held[fi];
                if k < at_most {
                    self.held[fi] = k + 1;
                    self.enqueue(self.faults[fi].end + every * k, to, bytes);
                }
            }
            return;
        }
        let faults = self
            .faults
            .iter()
            .filter(|f| {
                f.start <= now
                    && now < f.end
                    && f.fault.affects(from, to)
                    && f.fault.selects(&bytes)
            })
            .fold(LinkFaults::default(), |acc, f| {
                acc.and(f.fault.link_faults(f.end))
            });
        let fate = self.net.fate(now, base, &faults);
        for &at in fate.arrivals() {
            self.enqueue(at, to, bytes.clone());
        }
    }

    /// Puts a datagram on the wire, arriving at `at`.
    fn enqueue(&mut self, at: Instant, to: usize, bytes: Vec<u8>) {
        self.packet_seq += 1;
        let id = self.packet_seq;
        self.packets.insert(id, InFlight { to, bytes });
        self.queue.push(Reverse((at, id)));
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

/// When each direction of each link was reported fresh for good after a
/// fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The instant recovery is measured from.
    pub healed: Instant,
    /// Per direction `(from, to)`: from when `to` reported it hears `from`
    /// and `from` reported it is heard, both at once and without a gap to
    /// the end of the measurement; `None` if not fresh at its end.
    pub directions: BTreeMap<(usize, usize), Option<Instant>>,
    /// From when every direction was fresh, without a gap to the end of the
    /// measurement; `None` if not.
    pub all: Option<Instant>,
}

impl Recovery {
    /// Time from `healed` to every direction fresh for good.
    pub fn took(&self) -> Option<Duration> {
        self.all.map(|t| t.saturating_duration_since(self.healed))
    }
}

impl Sim {
    /// Whether `to` hears `from` and `from` is told it is heard.
    pub fn direction_fresh(&self, from: usize, to: usize) -> bool {
        self.link_fresh(to, from).0 && self.link_fresh(from, to).1
    }

    /// Runs from `healed` (or now, if later) to `until`, watching every
    /// direction after every step, and reports from when each direction,
    /// and all of them at once, stayed fresh to the end. A direction that
    /// is fresh at first on the strength of probes from before the faults
    /// and then lapses has not recovered until it is fresh again for good.
    pub fn measure_recovery(&mut self, healed: Instant, until: Instant) -> Recovery {
        self.run_until(healed);
        let start = self.now;
        self.run_until(until);
        let end = self.now;
        let mut directions = BTreeMap::new();
        let mut all = Some(start);
        for &(a, b) in &self.links {
            for d in [(a, b), (b, a)] {
                let log = self.logs.get(&d);
                let stale = log.map_or_else(|| vec![(start, end)], |l| l.stale_periods(start, end));
                let since = match stale.last() {
                    None => Some(start),
                    Some(&(_, up)) if up < end => Some(up),
                    Some(_) => None,
                };
                all = match (all, since) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    _ => None,
                };
                directions.insert(d, since);
            }
        }
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

impl Sim {
    /// A simulator taking over `nodes`, endpoints in whatever state they
    /// are, at simulated time `now`, with `oracle` holding what they sealed
    /// so far (for a harness that drives endpoints itself, then hands them
    /// to the simulator for a good network). `cfg.nodes` is ignored.
    pub fn adopt(
        mut cfg: SimConfig,
        now: Instant,
        nodes: Vec<SimNode>,
        oracle: ProbeOracle,
    ) -> Self {
        cfg.nodes = nodes.len();
        let mut sim = Sim::new(SimConfig {
            nodes: 0,
            links: Some(Vec::new()),
            ..cfg.clone()
        });
        sim.cfg = cfg;
        sim.now = now;
        sim.links = match &sim.cfg.links {
            Some(l) => l.clone(),
            None => {
                let n = nodes.len();
                (0..n)
                    .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                    .collect()
            }
        };
        sim.publics = nodes.iter().map(|n| n.keypair.public()).collect();
        sim.oracle = oracle;
        sim.nodes = Vec::with_capacity(nodes.len());
        for mut node in nodes {
            sim.phase_probes(&mut node);
            sim.nodes.push(node);
        }
        sim.watch();
        sim
    }

    /// Hands the nodes and the oracle back, dropping what is in flight.
    pub fn into_parts(self) -> (Vec<SimNode>, ProbeOracle) {
        (self.nodes, self.oracle)
    }

    /// Runs from now until every direction of every link has been fresh
    /// for `hold` without a gap, and returns when that stretch began,
    /// counted from now. An error if that stretch does not begin within
    /// `bound`, or a direction lapses after `bound`.
    pub fn settle(&mut self, bound: Duration, hold: Duration) -> Result<Duration, String> {
        let start = self.now;
        let deadline = start + bound;
        let mut since: Option<Instant> = self.all_fresh().then_some(start);
        loop {
            let stop = since.map_or(deadline, |t| deadline.max(t + hold));
            let Some(t) = self.next_time().filter(|&t| t <= stop) else {
                self.now = self.now.max(stop);
                self.watch();
                break;
            };
            self.step(t);
            if self.all_fresh() {
                since.get_or_insert(t);
            } else {
                since = None;
                if t > deadline {
                    return Err(format!(
                        "a direction went stale {:?} after the network became good (bound {bound:?})",
                        t - start
                    ));
                }
            }
        }
        since.map(|t| t - start).ok_or_else(|| {
            format!("links not fresh both ways within {bound:?} of the network becoming good")
        })
    }

    /// Every peer's status at every node, for a failure message.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let local = self.local_now(i);
            for (&j, &p) in &node.peer_of {
                if let Some(status) = node.endpoint.peer_status(p, local) {
                    s.push_str(&format!("\n  node {i} -> {j}: {status:?}"));
                }
            }
        }
        s
    }
}

impl SimNode {
    /// A node made of an endpoint in whatever state it is, for
    /// [`Sim::adopt`]: its key pair, its host's clock, its neighbours by
    /// node index, and the first sequence number its probes will use.
    pub fn adopt(
        endpoint: SimEndpoint,
        keypair: StaticKeypair,
        clock: NodeClock,
        neighbours: impl IntoIterator<Item = (usize, PeerId)>,
        next_seq: u64,
    ) -> Self {
        let peer_of: BTreeMap<usize, PeerId> = neighbours.into_iter().collect();
        let node_of = peer_of.iter().map(|(&n, &p)| (p, n)).collect();
        SimNode {
            endpoint,
            keypair,
            clock,
            peer_of,
            node_of,
            next_probe_at: BTreeMap::new(),
            seq: next_seq,
            restarts: 0,
            inbox: Vec::new(),
        }
    }

    /// The endpoint, the clock, and the last sequence number used.
    pub fn into_parts(self) -> (SimEndpoint, NodeClock, u64) {
        (self.endpoint, self.clock, self.seq)
    }

    /// The endpoint's peer id for neighbour node `n`.
    pub fn peer_id(&self, n: usize) -> Option<PeerId> {
        self.peer_of.get(&n).copied()
    }

    /// The node's static key pair.
    pub fn keypair(&self) -> &StaticKeypair {
        &self.keypair
    }

    /// The host's clock.
    pub fn clock(&self) -> &NodeClock {
        &self.clock
    }
}

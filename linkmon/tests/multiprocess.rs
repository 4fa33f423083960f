//! The reference daemon (`linkmon`) as real processes on real UDP
//! sockets, with faults injected between them.
//!
//! Three daemons run on loopback. Between every ordered pair sits a relay
//! run by this test (one thread per direction): a daemon's configuration
//! points each neighbour at the relay for that direction, and the relay
//! forwards to the real daemon, dropping all traffic, a random fraction,
//! duplicating and delaying as the scenario says. The scenarios: a loss
//! burst on one region's links, one-way loss on a link, random loss with
//! duplicates and reordering, `kill -9` and a restart with the same key and
//! port, and a restart during a loss burst. After each fault ends, every
//! link must report fresh in both directions at both ends, read from the
//! daemons' own JSON output, within `Config::recovery_bound(rtt)` plus
//! [`ALLOWANCE`]; during a two-way burst the links must first have gone
//! stale, so that a recovery is measured and not a no-op.
//!
//! Where the machine allows it (root and `ip netns`), a second test puts
//! each daemon in its own network namespace, joined in a triangle by veth
//! pairs, and cuts a link with `ip link set … down`.
//!
//! Run with `--nocapture` to see the measured recovery times.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use linkmon::file::{ConfigFile, NeighbourFile, timers_of};
use linkmon::output::{Line as Said, rfc3339};
use probekey::Config;
use probekey::{Event, LinkDirection as Direction, RejectCounters as Rejected};
use probekey_sim::{LinkFaults, Netem};

/// Added to the crate's bound: the daemon's socket wait granularity (1 ms),
/// the reader threads here, and process scheduling on a small shared
/// machine (2 cores, other builds running).
const ALLOWANCE: Duration = Duration::from_millis(150);
/// How often each daemon prints its status lines in these tests; a
/// recovery read from status lines alone may lag by this much more.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);
/// One-way delay every relay adds, so the round trip is not zero.
const BASE_DELAY: Duration = Duration::from_millis(2);
/// Longer than `stale_after` (400 ms) plus a status period, so a cut link
/// is reported stale before the cut ends.
const BURST: Duration = Duration::from_millis(1500);
const NAMES: [&str; 3] = ["a", "b", "c"];

/// Short timers so that every scenario takes a few seconds. Rotations (every
/// second) and rekeys (every 4 s) happen throughout the run. The same
/// timers drive the simulated twin of these scenarios, `tests/sim_twin.rs`.
fn test_config() -> Config {
    probekey_sim::short_timers()
}

/// The tests here measure time: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The daemon binary, built by cargo for this test.
/// One daemon's configuration file, written through the daemon's own
/// file type: every timer of the test configuration under the key the
/// daemon reads it from.
fn write_config(
    path: &Path,
    name: &str,
    key_file: &Path,
    listen: SocketAddr,
    neighbours: &[(&str, &str, SocketAddr)],
) {
    let file = ConfigFile {
        name: name.into(),
        key_file: key_file.to_owned(),
        deployment_id: "multiprocess".into(),
        listen,
        metrics_listen: None,
        status_interval_ms: u64::try_from(STATUS_INTERVAL.as_millis()).expect("short"),
        timers: timers_of(&test_config()),
        neighbours: neighbours
            .iter()
            .map(|&(n, public, address)| {
                (
                    n.to_owned(),
                    NeighbourFile {
                        public_key: public.to_owned(),
                        address: address.to_string(),
                    },
                )
            })
            .collect(),
    };
    fs::write(path, toml::to_string(&file).expect("a config serialises")).expect("write config");
}

// ---------------------------------------------------------------------------
// Daemon processes and their output

/// One line of a daemon's stdout, when this test read it.
struct Line {
    at: Instant,
    generation: u32,
    value: Said,
}

#[derive(Default)]
struct Output {
    lines: Mutex<Vec<Line>>,
    stderr: Mutex<Vec<String>>,
    not_json: Mutex<Vec<String>>,
}

/// A daemon process, restarted as needed with the same config (same key,
/// same port); killed when dropped.
struct Daemon {
    name: &'static str,
    config: PathBuf,
    /// Command prefix, e.g. `ip netns exec NS`.
    prefix: Vec<String>,
    child: Option<Child>,
    generation: u32,
    output: Arc<Output>,
    readers: Vec<JoinHandle<()>>,
}

impl Daemon {
    fn new(name: &'static str, config: PathBuf, prefix: Vec<String>) -> Self {
        Daemon {
            name,
            config,
            prefix,
            child: None,
            generation: 0,
            output: Arc::default(),
            readers: Vec::new(),
        }
    }

    /// Starts the process and waits for its `start` line; returns when it
    /// was spawned.
    fn spawn(&mut self) -> Instant {
        assert!(self.child.is_none(), "{} is running", self.name);
        self.generation += 1;
        let generation = self.generation;
        let bin = linkmon();
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.arg("run")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = cmd.spawn().expect("spawn linkmon");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out = Arc::clone(&self.output);
        self.readers.push(thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                match serde_json::from_str::<Said>(&line) {
                    Ok(value) => out.lines.lock().unwrap().push(Line {
                        at,
                        generation,
                        value,
                    }),
                    Err(_) => out.not_json.lock().unwrap().push(line),
                }
            }
        }));
        let out = Arc::clone(&self.output);
        let name = self.name;
        self.readers.push(thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                out.stderr
                    .lock()
                    .unwrap()
                    .push(format!("{name}#{generation}: {line}"));
            }
        }));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.has_line(|v| matches!(v, Said::Start { .. })) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                thread::sleep(ms(50));
                panic!(
                    "{} exited before starting ({status}): {:?}",
                    self.name,
                    self.output.stderr.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            thread::sleep(ms(2));
        }
        spawned
    }

    fn has_line(&self, pred: impl Fn(&Said) -> bool) -> bool {
        self.output
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.generation == self.generation && pred(&l.value))
    }

    /// `kill -9`: `Child::kill` sends SIGKILL.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit.
    fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                // The readers see the end of the pipes once it exits.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} ignored SIG{signal}", self.name);
            }
            thread::sleep(ms(5));
        }
    }

    fn last_line(&self) -> Option<Said> {
        let lines = self.output.lines.lock().unwrap();
        lines.last().map(|l| l.value.clone())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------
// The fault-injecting relay

/// What a relay does to the datagrams of its direction: the simulator's
/// link model, applied on real time.
type Faults = LinkFaults;

/// All datagrams lost.
fn drop_all() -> Faults {
    Faults {
        loss: 1.0,
        ..Faults::default()
    }
}

#[derive(Default)]
struct RelayStats {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
}

/// Forwards every datagram it receives to `target`, from its own socket,
/// after applying its faults.
struct Relay {
    addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    stats: Arc<RelayStats>,
}

fn spawn_relay(target: SocketAddr, stop: Arc<AtomicBool>, seed: u64) -> (Relay, JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
    let addr = sock.local_addr().expect("relay address");
    let faults = Arc::new(Mutex::new(Faults::default()));
    let stats = Arc::new(RelayStats::default());
    let (f, s) = (Arc::clone(&faults), Arc::clone(&stats));
    let handle = thread::spawn(move || {
        let mut netem = Netem::new(seed);
        // The link model runs on this relay's own clock, from its start.
        let origin = Instant::now();
        let mut queue: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            queue.sort_by_key(|(t, _)| *t);
            while queue.first().is_some_and(|(t, _)| *t <= now) {
                let (_, d) = queue.remove(0);
                // The target may be down (killed): the datagram is lost.
                let _ = sock.send_to(&d, target);
                s.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            let wait = queue
                .first()
                .map_or(ms(20), |(t, _)| t.saturating_duration_since(now))
                .clamp(Duration::from_micros(100), ms(20));
            let _ = sock.set_read_timeout(Some(wait));
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let faults = *f.lock().unwrap();
            let sent = Instant::now();
            let sim_time =
                |t: Instant| probekey::Instant::ZERO + t.saturating_duration_since(origin);
            let fate = netem.fate(sim_time(sent), BASE_DELAY, &faults);
            match fate.arrivals().len() {
                0 => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                }
                1 => {}
                _ => {
                    s.duplicated.fetch_add(1, Ordering::Relaxed);
                }
            }
            for &at in fate.arrivals() {
                queue.push((sent + (at - sim_time(sent)), buf[..n].to_vec()));
            }
        }
    });
    (
        Relay {
            addr,
            faults,
            stats,
        },
        handle,
    )
}

// ---------------------------------------------------------------------------
// Reading health from the output

type Dir = Direction;

/// One direction of one link at one end: (daemon, neighbour, direction).
type Key = (usize, usize, Dir);

fn index_of(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// What a line says about freshness: health events name one direction,
/// status lines both.
fn freshness(daemon: usize, v: &Said) -> Vec<(Key, bool, bool)> {
    match v {
        Said::Event {
            neighbour,
            event: Event::HealthChanged {
                direction, fresh, ..
            },
            ..
        } => index_of(neighbour)
            .map(|n| vec![((daemon, n, *direction), *fresh, false)])
            .unwrap_or_default(),
        Said::Status {
            neighbour, status, ..
        } => index_of(neighbour)
            .map(|n| {
                vec![
                    ((daemon, n, Dir::Inbound), status.status.inbound.fresh, true),
                    (
                        (daemon, n, Dir::Outbound),
                        status.status.outbound.fresh,
                        true,
                    ),
                ]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A freshness observation: when read, which key, fresh or not, whether
/// from a status line.
struct Obs {
    at: Instant,
    key: Key,
    fresh: bool,
    status: bool,
}

/// What a recovery took, measured two ways.
struct Recovery {
    /// Until every key was fresh, by the health events.
    events: Duration,
    /// Until a status line of every key said fresh.
    status: Duration,
}

/// Three daemons, six relays; everything stopped when dropped.
struct Cluster {
    daemons: Vec<Daemon>,
    /// `relays[&(i, j)]` carries the traffic from daemon `i` to daemon `j`.
    relays: BTreeMap<(usize, usize), Relay>,
    stop: Arc<AtomicBool>,
    relay_threads: Vec<JoinHandle<()>>,
    config: Config,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            d.kill9();
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.relay_threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Cluster {
    /// Every key of the full mesh of the daemons.
    fn keys(&self) -> Vec<Key> {
        let n = self.daemons.len();
        let mut keys = Vec::new();
        for d in 0..n {
            for p in (0..n).filter(|&p| p != d) {
                keys.push((d, p, Dir::Inbound));
                keys.push((d, p, Dir::Outbound));
            }
        }
        keys
    }

    /// Every freshness observation of the daemons' current processes, in
    /// the order read.
    fn observations(&self) -> Vec<Obs> {
        let mut all = Vec::new();
        for (i, d) in self.daemons.iter().enumerate() {
            for l in d.output.lines.lock().unwrap().iter() {
                if l.generation != d.generation {
                    continue;
                }
                for (key, fresh, status) in freshness(i, &l.value) {
                    all.push(Obs {
                        at: l.at,
                        key,
                        fresh,
                        status,
                    });
                }
            }
        }
        all.sort_by_key(|o| o.at);
        all
    }

    /// Whether `key` was reported stale (by an event) between `from` and
    /// `to`, by any process of its daemon.
    fn went_stale(&self, key: Key, from: Instant, to: Instant) -> bool {
        let d = &self.daemons[key.0];
        d.output.lines.lock().unwrap().iter().any(|l| {
            l.at >= from
                && l.at <= to
                && freshness(key.0, &l.value)
                    .iter()
                    .any(|&(k, fresh, status)| k == key && !fresh && !status)
        })
    }

    /// After the network healed at `healed`: the time until every key was
    /// fresh (events) and until a status line of every key said so. Waits
    /// at most `limit`, then until one more status round confirms it.
    fn recovery(&self, healed: Instant, limit: Duration) -> Result<Recovery, String> {
        let keys = self.keys();
        let deadline = healed + limit;
        loop {
            let obs = self.observations();
            let mut state: BTreeMap<Key, bool> = keys.iter().map(|&k| (k, false)).collect();
            let mut all_fresh_at = None;
            let mut status_fresh_at: BTreeMap<Key, Instant> = BTreeMap::new();
            let before = obs.iter().take_while(|o| o.at < healed).count();
            for o in &obs[..before] {
                state.insert(o.key, o.fresh);
            }
            if state.values().all(|&f| f) {
                // Fresh when the fault ended: nothing to recover.
                all_fresh_at = Some(healed);
            }
            for o in &obs[before..] {
                state.insert(o.key, o.fresh);
                if o.status && o.fresh {
                    status_fresh_at.entry(o.key).or_insert(o.at);
                }
                if o.status && !o.fresh {
                    status_fresh_at.remove(&o.key);
                }
                let all = state.values().all(|&f| f);
                match (all, all_fresh_at) {
                    (true, None) => all_fresh_at = Some(o.at),
                    (false, Some(_)) => all_fresh_at = None,
                    _ => {}
                }
            }
            if let Some(at) = all_fresh_at
                && status_fresh_at.len() == keys.len()
            {
                // Confirmed: every key's latest status line says fresh.
                let latest_status = keys.iter().all(|k| {
                    obs.iter()
                        .rev()
                        .find(|o| o.key == *k && o.status)
                        .is_some_and(|o| o.fresh && o.at > at)
                });
                if latest_status {
                    let status_at = status_fresh_at.values().max().copied().unwrap_or(at);
                    return Ok(Recovery {
                        events: at - healed,
                        status: status_at.max(healed) - healed,
                    });
                }
            }
            if Instant::now() > deadline {
                let stale: Vec<String> = state
                    .iter()
                    .filter(|(_, f)| !**f)
                    .map(|((d, p, dir), _)| format!("{}->{} {dir:?}", NAMES[*d], NAMES[*p]))
                    .collect();
                return Err(format!("not fresh after {limit:?}: {stale:?}"));
            }
            thread::sleep(ms(10));
        }
    }

    fn set_faults(&self, pairs: &[(usize, usize)], faults: Faults) {
        for p in pairs {
            *self.relays[p].faults.lock().unwrap() = faults;
        }
    }

    fn clear_faults(&self) {
        for r in self.relays.values() {
            *r.faults.lock().unwrap() = Faults::default();
        }
    }

    /// Sum of a per-neighbour counter over the latest status lines.
    fn rejected_total(&self, reason: impl Fn(&Rejected) -> u64) -> u64 {
        let mut total = 0;
        for d in &self.daemons {
            let lines = d.output.lines.lock().unwrap();
            let mut latest: BTreeMap<String, u64> = BTreeMap::new();
            for l in &*lines {
                if let Said::Status {
                    neighbour, status, ..
                } = &l.value
                {
                    let count = reason(&status.status.rejected);
                    latest.insert(format!("{}#{neighbour}", l.generation), count);
                }
            }
            total += latest.values().sum::<u64>();
        }
        total
    }

    fn dump(&self) -> String {
        let mut s = String::new();
        for d in &self.daemons {
            for e in d.output.stderr.lock().unwrap().iter() {
                s.push_str(e);
                s.push('\n');
            }
        }
        s
    }
}

/// Builds three daemons on loopback with a relay for each direction.
fn cluster(dir: &TempDir) -> Cluster {
    let config = test_config();
    let ports: Vec<u16> = NAMES.iter().map(|_| free_port()).collect();
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let publics: Vec<String> = NAMES
        .iter()
        .map(|n| keygen(&dir.path(&format!("{n}.key"))))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut relays = BTreeMap::new();
    let mut relay_threads = Vec::new();
    for i in 0..NAMES.len() {
        for j in (0..NAMES.len()).filter(|&j| j != i) {
            let (relay, handle) = spawn_relay(
                addrs[j],
                Arc::clone(&stop),
                0x9e37_79b9 * (i * 3 + j + 1) as u64,
            );
            relays.insert((i, j), relay);
            relay_threads.push(handle);
        }
    }
    let mut daemons = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let neighbours: Vec<(&str, &str, SocketAddr)> = (0..NAMES.len())
            .filter(|&j| j != i)
            .map(|j| (NAMES[j], publics[j].as_str(), relays[&(i, j)].addr))
            .collect();
        let path = dir.path(&format!("{name}.toml"));
        write_config(
            &path,
            name,
            &dir.path(&format!("{name}.key")),
            addrs[i],
            &neighbours,
        );
        daemons.push(Daemon::new(name, path, Vec::new()));
    }
    Cluster {
        daemons,
        relays,
        stop,
        relay_threads,
        config,
    }
}

struct Measured {
    scenario: &'static str,
    recovery: Recovery,
    bound: Duration,
}

fn check(
    c: &Cluster,
    scenario: &'static str,
    healed: Instant,
    rtt: Duration,
    results: &mut Vec<Measured>,
) {
    let bound = c.config.recovery_bound(rtt);
    let recovery = c
        .recovery(healed, bound + Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("{scenario}: {e}\n{}", c.dump()));
    eprintln!(
        "multiprocess: {scenario}: all links fresh both ways {:.1} ms after the fault ended \
         (status lines: {:.1} ms); bound {:.1} ms + allowance {} ms",
        recovery.events.as_secs_f64() * 1e3,
        recovery.status.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3,
        ALLOWANCE.as_millis()
    );
    assert!(
        recovery.events <= bound + ALLOWANCE,
        "{scenario}: recovery {:?} exceeds bound {bound:?} + {ALLOWANCE:?}\n{}",
        recovery.events,
        c.dump()
    );
    assert!(
        recovery.status <= bound + ALLOWANCE + STATUS_INTERVAL,
        "{scenario}: status lines fresh after {:?}, beyond bound {bound:?} + {ALLOWANCE:?} + {STATUS_INTERVAL:?}\n{}",
        recovery.status,
        c.dump()
    );
    results.push(Measured {
        scenario,
        recovery,
        bound,
    });
}

fn assert_went_stale(c: &Cluster, keys: &[Key], from: Instant, to: Instant, scenario: &str) {
    for &key in keys {
        assert!(
            c.went_stale(key, from, to),
            "{scenario}: {}->{} {:?} never went stale during the fault\n{}",
            NAMES[key.0],
            NAMES[key.1],
            key.2,
            c.dump()
        );
    }
}

/// Both directions of both ends of the link between `a` and `b`.
fn link_keys(a: usize, b: usize) -> [Key; 4] {
    [
        (a, b, Dir::Inbound),
        (a, b, Dir::Outbound),
        (b, a, Dir::Inbound),
        (b, a, Dir::Outbound),
    ]
}

fn both_ways(a: usize, b: usize) -> [(usize, usize); 2] {
    [(a, b), (b, a)]
}

#[test]
fn three_daemons_recover_from_faults_on_real_sockets() {
    let _serial = serial();
    let started = Instant::now();
    let wall_started = rfc3339(SystemTime::now());
    let dir = TempDir::new("multiprocess", "loopback");
    let mut c = cluster(&dir);
    let (a, b, cc) = (0, 1, 2);
    let rtt = 2 * BASE_DELAY;
    let mut results = Vec::new();

    let spawned = Instant::now();
    for d in &mut c.daemons {
        d.spawn();
    }
    check(&c, "start-up", spawned, rtt, &mut results);

    // 1. A loss burst on region b: both its links, both directions.
    let cut: Vec<(usize, usize)> = [both_ways(a, b), both_ways(b, cc)].concat();
    let from = Instant::now();
    c.set_faults(&cut, drop_all());
    thread::sleep(BURST);
    let healed = Instant::now();
    c.clear_faults();
    let stale: Vec<Key> = [link_keys(a, b), link_keys(b, cc)].concat();
    assert_went_stale(&c, &stale, from, healed, "loss burst");
    check(
        &c,
        "loss burst on b (both links, both ways)",
        healed,
        rtt,
        &mut results,
    );

    // 2. One-way loss: everything from a to c is lost.
    let from = Instant::now();
    c.set_faults(&[(a, cc)], drop_all());
    thread::sleep(BURST);
    let healed = Instant::now();
    c.clear_faults();
    // c stops hearing a; a stops being acknowledged; c's probes reach a
    // but a's acknowledgements do not come back.
    let stale = [
        (cc, a, Dir::Inbound),
        (a, cc, Dir::Outbound),
        (cc, a, Dir::Outbound),
    ];
    assert_went_stale(&c, &stale, from, healed, "one-way loss");
    assert!(
        !c.went_stale((a, cc, Dir::Inbound), from, healed),
        "one-way loss a->c: a kept hearing c, yet reported its inbound stale"
    );
    check(&c, "one-way loss a->c", healed, rtt, &mut results);

    // 3. Random loss, duplicates and reordering on every link.
    let replays_before = c.rejected_total(|r| r.replay);
    let all: Vec<(usize, usize)> = c.relays.keys().copied().collect();
    c.set_faults(
        &all,
        Faults {
            loss: 0.2,
            duplicate: 0.2,
            jitter: ms(10),
            ..Faults::default()
        },
    );
    thread::sleep(ms(2000));
    let healed = Instant::now();
    c.clear_faults();
    check(
        &c,
        "20% loss, 20% duplicates, 0-10 ms jitter",
        healed,
        rtt,
        &mut results,
    );
    let replays = c.rejected_total(|r| r.replay) - replays_before;
    assert!(
        replays > 0,
        "duplicated probes were not reported as replays"
    );
    eprintln!("multiprocess: duplicates refused as replays: {replays}");

    // 4. kill -9 of c, then a restart with the same key file and port.
    let from = Instant::now();
    c.daemons[cc].kill9();
    thread::sleep(ms(1000));
    let stale = [
        (a, cc, Dir::Inbound),
        (a, cc, Dir::Outbound),
        (b, cc, Dir::Inbound),
        (b, cc, Dir::Outbound),
    ];
    assert_went_stale(&c, &stale, from, Instant::now(), "kill -9");
    let healed = c.daemons[cc].spawn();
    check(&c, "kill -9 of c and restart", healed, rtt, &mut results);

    // 5. A restart during a loss burst: a is cut off, killed and restarted
    // while cut off; then the burst ends.
    let cut: Vec<(usize, usize)> = [both_ways(a, b), both_ways(a, cc)].concat();
    let from = Instant::now();
    c.set_faults(&cut, drop_all());
    thread::sleep(ms(600));
    c.daemons[a].kill9();
    thread::sleep(ms(200));
    c.daemons[a].spawn();
    thread::sleep(BURST.saturating_sub(from.elapsed()));
    let healed = Instant::now();
    c.clear_faults();
    let stale = [
        (b, a, Dir::Inbound),
        (b, a, Dir::Outbound),
        (cc, a, Dir::Inbound),
        (cc, a, Dir::Outbound),
    ];
    assert_went_stale(&c, &stale, from, healed, "restart during burst");
    check(
        &c,
        "restart of a during a loss burst on a",
        healed,
        rtt,
        &mut results,
    );

    // Relays forward from their own sockets: every daemon handled
    // datagrams from addresses other than the configured ones, and
    // measured round trips from the echoes (a session just set up is
    // confirmed by keepalives, so the first echo may be a probe later).
    let deadline = Instant::now() + Duration::from_secs(2);
    for (i, d) in c.daemons.iter().enumerate() {
        for p in (0..NAMES.len()).filter(|&p| p != i) {
            let ok = |v: &Said| {
                matches!(v, Said::Status { neighbour, status, .. }
                    if neighbour == NAMES[p]
                        && status.from_other_address > 0
                        && status.status.echo_rtt.is_some())
            };
            while !d.has_line(ok) {
                assert!(
                    Instant::now() < deadline,
                    "{}: no status line for {} with a round-trip time and datagrams from the relay",
                    d.name,
                    NAMES[p]
                );
                thread::sleep(ms(10));
            }
        }
    }

    // Clean shutdown: SIGTERM and SIGINT end with a last JSON line, exit 0.
    for (d, signal) in c.daemons.iter_mut().zip(["TERM", "INT", "TERM"]) {
        let status = d.stop_with(signal);
        assert!(
            status.success(),
            "{} exited with {status} on SIG{signal}",
            d.name
        );
        let last = d.last_line().expect("output");
        assert!(
            matches!(&last, Said::Shutdown { signal: s, .. } if *s == format!("SIG{signal}")),
            "last line of {}: {last:?}",
            d.name
        );
        assert!(
            d.output.not_json.lock().unwrap().is_empty(),
            "non-JSON output"
        );
    }

    // Every line has the wall clock beside the monotonic time: RFC 3339
    // in UTC, within the test's run, in order within each process (the
    // format orders as text as it does in time).
    let wall_ended = rfc3339(SystemTime::now());
    for d in &c.daemons {
        let lines = d.output.lines.lock().unwrap();
        let mut last: BTreeMap<u32, &str> = BTreeMap::new();
        for l in lines.iter() {
            let time = l.value.time();
            assert_eq!(time.len(), "2026-03-01T12:00:00.250000Z".len(), "{time}");
            assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
            assert!(
                *time >= *wall_started && *time <= *wall_ended,
                "{}: {time} outside {wall_started}..{wall_ended}",
                d.name
            );
            let prev = last.insert(l.generation, time).unwrap_or("");
            assert!(*time >= *prev, "{}: {time} after {prev}", d.name);
        }
    }

    eprintln!("multiprocess: scenario | recovery (events) | recovery (status lines) | bound");
    for m in &results {
        eprintln!(
            "multiprocess: {} | {:.1} ms | {:.1} ms | {:.1} ms",
            m.scenario,
            m.recovery.events.as_secs_f64() * 1e3,
            m.recovery.status.as_secs_f64() * 1e3,
            m.bound.as_secs_f64() * 1e3
        );
    }
    for ((i, j), r) in &c.relays {
        eprintln!(
            "multiprocess: relay {}->{}: forwarded {}, dropped {}, duplicated {}",
            NAMES[*i],
            NAMES[*j],
            r.stats.forwarded.load(Ordering::Relaxed),
            r.stats.dropped.load(Ordering::Relaxed),
            r.stats.duplicated.load(Ordering::Relaxed)
        );
    }
    eprintln!(
        "multiprocess: loopback test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Network namespaces: a triangle of veth pairs, a link cut by `ip link`

/// Runs `ip ARGS`, returning its error output on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the namespace variant cannot run here, if it cannot.
fn netns_unavailable() -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("unknown")
        .to_owned();
    if uid != "0" {
        return Some(format!("not running as root (uid {uid})"));
    }
    let probe = format!("pk{}probe", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("network namespaces unavailable: {e}"));
    }
    let _ = ip(&["netns", "del", &probe]);
    None
}

/// Deletes the namespaces (and with them the veth pairs) when dropped,
/// whether the test passed or not.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

#[test]
fn namespaces_joined_by_veth_recover_from_a_link_down() {
    let _serial = serial();
    if let Some(why) = netns_unavailable() {
        eprintln!("multiprocess: network-namespace variant skipped: {why}");
        return;
    }
    let started = Instant::now();
    let pid = std::process::id();
    let dir = TempDir::new("multiprocess", "netns");
    let mut namespaces = Namespaces(Vec::new());
    let ns: Vec<String> = NAMES.iter().map(|n| format!("pk{pid}{n}")).collect();
    for n in &ns {
        ip(&["netns", "add", n]).expect("netns add");
        namespaces.0.push(n.clone());
        ip(&["-n", n, "link", "set", "lo", "up"]).expect("lo up");
    }
    // A triangle: one veth pair and one /30 per link, 10.99.<link>.1 on
    // the first end, .2 on the second. Traffic never leaves the namespaces.
    let port = 7000;
    let mut address = BTreeMap::new();
    let mut device = BTreeMap::new();
    for (k, (i, j)) in [(0usize, 1usize), (1, 2), (2, 0)].into_iter().enumerate() {
        let vi = format!("v{pid}{}{}", NAMES[i], NAMES[j]);
        let vj = format!("v{pid}{}{}", NAMES[j], NAMES[i]);
        ip(&[
            "link", "add", &vi, "netns", &ns[i], "type", "veth", "peer", "name", &vj, "netns",
            &ns[j],
        ])
        .expect("veth pair");
        let (ai, aj) = (format!("10.99.{}.1", k + 1), format!("10.99.{}.2", k + 1));
        ip(&["-n", &ns[i], "addr", "add", &format!("{ai}/30"), "dev", &vi]).expect("addr");
        ip(&["-n", &ns[j], "addr", "add", &format!("{aj}/30"), "dev", &vj]).expect("addr");
        ip(&["-n", &ns[i], "link", "set", &vi, "up"]).expect("up");
        ip(&["-n", &ns[j], "link", "set", &vj, "up"]).expect("up");
        // How i reaches j, and j reaches i.
        address.insert((i, j), format!("{aj}:{port}"));
        address.insert((j, i), format!("{ai}:{port}"));
        device.insert((i, j), vi);
        device.insert((j, i), vj);
    }
    let publics: Vec<String> = NAMES
        .iter()
        .map(|n| keygen(&dir.path(&format!("{n}.key"))))
        .collect();
    let mut daemons = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let neighbours: Vec<(&str, &str, SocketAddr)> = (0..NAMES.len())
            .filter(|&j| j != i)
            .map(|j| {
                let addr = address[&(i, j)].parse().expect("address");
                (NAMES[j], publics[j].as_str(), addr)
            })
            .collect();
        let path = dir.path(&format!("{name}.toml"));
        let listen = SocketAddr::from(([0, 0, 0, 0], port));
        write_config(
            &path,
            name,
            &dir.path(&format!("{name}.key")),
            listen,
            &neighbours,
        );
        let prefix = ["ip", "netns", "exec", &ns[i]].map(String::from).to_vec();
        daemons.push(Daemon::new(name, path, prefix));
    }
    // Dropped before `namespaces`: the daemons are killed first.
    let mut c = Cluster {
        daemons,
        relays: BTreeMap::new(),
        stop: Arc::new(AtomicBool::new(false)),
        relay_threads: Vec::new(),
        config: test_config(),
    };
    // A veth round trip is a few microseconds; 1 ms is generous.
    let rtt = ms(1);
    let mut results = Vec::new();
    let spawned = Instant::now();
    for d in &mut c.daemons {
        d.spawn();
    }
    check(&c, "netns start-up", spawned, rtt, &mut results);

    // Cut a-b: a's end of the veth pair goes down, both directions stop.
    let (a, b) = (0, 1);
    let from = Instant::now();
    ip(&["-n", &ns[a], "link", "set", &device[&(a, b)], "down"]).expect("link down");
    thread::sleep(BURST);
    ip(&["-n", &ns[a], "link", "set", &device[&(a, b)], "up"]).expect("link up");
    let healed = Instant::now();
    assert_went_stale(&c, &link_keys(a, b), from, healed, "netns link down");
    check(&c, "netns: veth a-b down 1.5 s", healed, rtt, &mut results);

    let send_errors = c.daemons[a]
        .output
        .lines
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find_map(|l| match &l.value {
            Said::Status {
                neighbour, status, ..
            } if neighbour == "b" => Some(status.send_errors),
            _ => None,
        })
        .unwrap_or(0);
    eprintln!(
        "multiprocess: netns: a's sends to b refused by its kernel while the link was down: {send_errors}"
    );

    for d in &mut c.daemons {
        let status = d.stop_with("TERM");
        assert!(status.success(), "{} exited with {status}", d.name);
        assert!(matches!(
            d.last_line().expect("output"),
            Said::Shutdown { .. }
        ));
    }
    eprintln!(
        "multiprocess: netns test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Set-up errors

/// Runs `linkmon run CONFIG`, which must fail at once; returns its exit code
/// and stderr.
fn run_expecting_failure(config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(linkmon())
        .arg("run")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn linkmon");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("linkmon started with the bad config {}", config.display());
        }
        thread::sleep(ms(5));
    }
}

#[test]
fn bad_setups_are_refused_with_clear_errors() {
    use std::os::unix::fs::PermissionsExt;

    let _serial = serial();
    let dir = TempDir::new("multiprocess", "errors");
    let key_a = dir.path("a.key");
    let pub_a = keygen(&key_a);
    let pub_b = keygen(&dir.path("b.key"));
    let pub_c = keygen(&dir.path("c.key"));
    let mode = fs::metadata(&key_a).expect("key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let (status, _, stderr) = run_linkmon(&["keygen", key_a.to_str().expect("utf-8")]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("already exists"), "{stderr}");
    let (status, stdout, _) = run_linkmon(&["pubkey", key_a.to_str().expect("utf-8")]);
    assert!(status.success());
    assert_eq!(stdout.trim(), pub_a);
    let (status, _, stderr) = run_linkmon(&[]);
    assert_eq!(status.code(), Some(2), "usage error: {stderr}");

    let held = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let busy = held.local_addr().expect("address");
    let port = free_port();
    let good = |listen: SocketAddr, key: &str, neighbours: &[(&str, &str)]| {
        let path = dir.path("good.toml");
        let list: Vec<(&str, &str, SocketAddr)> = neighbours
            .iter()
            .map(|(n, k)| (*n, *k, SocketAddr::from(([127, 0, 0, 1], 9))))
            .collect();
        write_config(&path, "a", &dir.path(key), listen, &list);
        fs::read_to_string(&path).expect("config")
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let base = good(listen, "a.key", &[("b", &pub_b), ("c", &pub_c)]);

    let loose = dir.path("loose.key");
    fs::copy(&key_a, &loose).expect("copy key");
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).expect("chmod");
    let short = dir.path("short.key");
    fs::write(&short, [7u8; 31]).expect("short key");
    fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).expect("chmod");

    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "malformed TOML",
            base.replace("listen = ", "listen "),
            &["malformed config"],
        ),
        (
            "unknown field",
            base.replace("listen = ", "lisen = "),
            &["unknown field `lisen`"],
        ),
        (
            "missing field",
            base.replace("name = \"a\"\n", ""),
            &["missing field `name`"],
        ),
        (
            "bad listen address",
            base.replace(&listen.to_string(), "localhost"),
            &["malformed config", "listen"],
        ),
        (
            "neighbour address without a port",
            base.replace("127.0.0.1:9", "localhost"),
            &["neighbours.b.address = \"localhost\" does not resolve"],
        ),
        (
            "timers in conflict",
            base.replace("stale_after_ms = 400", "stale_after_ms = 150"),
            &[
                "timers.handshake_retry_max_ms = 200 and timers.stale_after_ms = 150 conflict: \
                 the retry cap must be below the staleness threshold",
            ],
        ),
        (
            "timer in conflict with a default",
            base.replace("handshake_retry_max_ms = 200\n", ""),
            &[
                "timers.handshake_retry_max_ms = 2000 (default) and timers.stale_after_ms = 400 conflict",
            ],
        ),
        (
            "unknown timer key",
            base.replace("stale_after_ms = 400", "stale_after = 400"),
            &["unknown key `stale_after` (= 400) in [timers]; \
                 expected one of probe_interval_ms, stale_after_ms"],
        ),
        (
            "timer count too large",
            base.replace(
                "handshake_retry_jitter_percent = 20",
                "handshake_retry_jitter_percent = 300",
            ),
            &["timers.handshake_retry_jitter_percent = 300 is out of range"],
        ),
        (
            "timer out of range",
            base.replace("probe_interval_ms = 50", "probe_interval_ms = 0"),
            &["timers.probe_interval_ms = 0 is out of range: must be greater than zero"],
        ),
        (
            "deployment id too long",
            base.replace("\"multiprocess\"", &format!("\"{}\"", "x".repeat(33))),
            &["deployment_id = \"xxxxxxxx", "(33 bytes) is out of range"],
        ),
        (
            "status interval zero",
            base.replace("status_interval_ms = 100", "status_interval_ms = 0"),
            &["status_interval_ms = 0 must be greater than zero"],
        ),
        (
            "key file readable by others",
            base.replace("a.key", "loose.key"),
            &["has mode 0644"],
        ),
        (
            "key file of the wrong length",
            base.replace("a.key", "short.key"),
            &["is 31 bytes"],
        ),
        (
            "key file missing",
            base.replace("a.key", "none.key"),
            &["cannot read key file"],
        ),
        (
            "public key not hex",
            base.replace(&pub_b, &pub_b.replace(&pub_b[..2], "zz")),
            &["neighbours.b.public_key = \"zz", "is not hex"],
        ),
        (
            "public key too short",
            base.replace(&pub_b, &pub_b[..62]),
            &["neighbours.b.public_key = \"", "must be 64 hex digits"],
        ),
        (
            "public key twice",
            base.replace(&pub_c, &pub_b),
            &["neighbours.b.public_key and neighbours.c.public_key are the same key"],
        ),
        (
            "own key as a neighbour",
            base.replace(&pub_b, &pub_a),
            &["neighbours.b.public_key refused", "own key"],
        ),
        (
            "low-order key",
            base.replace(&pub_b, &"0".repeat(64)),
            &["neighbours.b.public_key refused", "low order"],
        ),
        (
            "neighbour named as this node",
            base.replace("[neighbours.b]", "[neighbours.a]"),
            &["[neighbours.a] has this node's own name"],
        ),
        (
            "no neighbours",
            good(listen, "a.key", &[]),
            &["at least one neighbour"],
        ),
    ];
    let path = dir.path("case.toml");
    let path_text = path.to_str().expect("utf-8 path");
    for (what, text, expected) in cases {
        assert_ne!(text, base, "{what}: the case changes nothing");
        fs::write(&path, text).expect("config");
        let (code, stderr) = run_expecting_failure(&path);
        assert_eq!(code, Some(1), "{what}: exit code; stderr: {stderr}");
        for expected in expected {
            assert!(
                stderr.contains(expected) && stderr.starts_with("linkmon: error: "),
                "{what}: expected {expected:?} in {stderr:?}"
            );
        }
        // `check` refuses it with the same message.
        let (status, stdout, check_stderr) = run_linkmon(&["check", path_text]);
        assert_eq!(
            status.code(),
            Some(1),
            "{what}: check: {stdout} {check_stderr}"
        );
        assert_eq!(check_stderr, stderr, "{what}: check and run differ");
        eprintln!("multiprocess: {what}: {}", stderr.trim());
    }
    // The port in use: only `run` binds it.
    fs::write(&path, base.replace(&listen.to_string(), &busy.to_string())).expect("config");
    let (code, stderr) = run_expecting_failure(&path);
    assert_eq!(code, Some(1), "port in use: {stderr}");
    assert!(stderr.contains("the port is in use"), "{stderr}");
    // `check` accepts it: it binds nothing, so a port held by another
    // process (a running daemon) is no error. Host names resolve.
    let (status, stdout, stderr) = run_linkmon(&["check", path_text]);
    assert!(status.success(), "check of a good config: {stderr}");
    assert!(
        stdout.starts_with(&format!(
            "linkmon: config {path_text} OK: node \"a\", listen {busy}, 2 neighbours (b, c)"
        )),
        "{stdout}"
    );
    fs::write(&path, base.replace("127.0.0.1:9", "localhost:9")).expect("config");
    let (status, stdout, stderr) = run_linkmon(&["check", path_text]);
    assert!(status.success(), "localhost:9: {stderr}");
    assert!(stdout.contains(" OK: "), "{stdout}");
    let (code, stderr) = run_expecting_failure(&dir.path("absent.toml"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot read config"), "{stderr}");
    drop(held);
}

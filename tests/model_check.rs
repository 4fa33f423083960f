//! Exhaustive exploration of the real endpoints (`docs/PROTOCOL.md` §10).
//!
//! The state is the fuzz harness's network ([`harness::net::Net`]): two
//! endpoints (three in a smaller run) with their randomness and clocks, the
//! datagrams in flight and every datagram sent (the attacker's recording),
//! and the oracles' records. From a starting state, every sequence of
//! actions ([`harness::net::model::Action`]: deliver, drop or duplicate a datagram
//! in flight, replay a recorded one, restart or reboot a node, let time
//! pass to a deadline or by a fixed step, seal a probe) up to a depth is
//! explored: the first levels breadth first, their states then shared
//! among the threads and explored depth first. States are told apart by a
//! hash of their whole contents; a state reached again with no more depth
//! left below it than when it was expanded is not expanded again.
//!
//! - **Safety**, on every action: the harness's invariants (no probe
//!   accepted that its claimed sender did not seal for this receiver, none
//!   twice, no key and counter sealed twice, freshness only on round-trip
//!   evidence within `stale_after`, no refusal that changes state, no
//!   deadline in the past, no panic).
//! - **Liveness**, from every distinct state: the deterministic
//!   continuation with faults stopped and a good network
//!   ([`harness::net::Net::quiet`]) has every direction of every link fresh
//!   at both ends within `Config::recovery_bound`, and staying fresh. The
//!   continuation depends only on the time, the nodes and the probe
//!   oracle ([`harness::net::Net::hash_continuation`]), so it is run once
//!   for all the states that share them.
//!
//! `cargo test` explores three actions deep from two nodes, two from three;
//! CI one level more; the long run:
//! `PROBEKEY_MODEL_DEPTH=5 PROBEKEY_MODEL_DEPTH3=4 cargo test --test
//! model_check -- --nocapture --test-threads 1` (README, *Model
//! checking*).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use harness::net::model::Action;
use harness::net::{Net, fast_config};

/// A sequence of actions from the start that breaks a property.
#[derive(Debug)]
struct Counterexample {
    start: &'static str,
    path: Vec<Action>,
    what: String,
}

/// What one exploration covered.
#[derive(Debug, Default)]
struct Report {
    /// Distinct states reached (the starting state included).
    states: u64,
    /// Actions performed.
    transitions: u64,
    /// Good-network continuations run.
    continuations: u64,
}

struct Explorer {
    start: &'static str,
    /// Fingerprint of every state reached, with the depth still to explore
    /// below it when it was last expanded.
    seen: Mutex<HashMap<u64, usize>>,
    /// Fingerprint of what the good-network continuation of a state
    /// depends on, for every continuation run
    /// ([`Net::hash_continuation`]): states that differ only in the
    /// network, the recording and the freshness records share one.
    continued: Mutex<HashSet<u64>>,
    transitions: AtomicU64,
    continuations: AtomicU64,
}

fn fingerprint(net: &Net) -> u64 {
    let mut h = DefaultHasher::new();
    net.hash(&mut h);
    h.finish()
}

fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic".to_owned())
}

impl Explorer {
    fn counterexample(&self, path: &[Action], what: String) -> Counterexample {
        Counterexample {
            start: self.start,
            path: path.to_vec(),
            what,
        }
    }

    /// The liveness property from `net`: a good network brings and keeps
    /// every direction fresh within the recovery bound.
    fn live(&self, net: &Net, path: &[Action]) -> Result<(), Counterexample> {
        let mut h = DefaultHasher::new();
        net.hash_continuation(&mut h);
        let fresh = self
            .continued
            .lock()
            .expect("no explorer thread panics")
            .insert(h.finish());
        if !fresh {
            return Ok(());
        }
        self.continuations.fetch_add(1, Ordering::Relaxed);
        let mut quiet = net.clone();
        catch_unwind(AssertUnwindSafe(|| {
            let bound = quiet.recovery_bound();
            quiet.quiet(bound);
        }))
        .map_err(|p| self.counterexample(path, format!("liveness: {}", message(p))))
    }

    /// Explores every action from `net`, reached by `path`, with
    /// `remaining` more levels below it.
    fn visit(
        &self,
        net: &Net,
        path: &mut Vec<Action>,
        remaining: usize,
    ) -> Result<(), Counterexample> {
        if remaining == 0 {
            return Ok(());
        }
        for action in net.actions() {
            path.push(action);
            self.step(net, action, path, remaining - 1)?;
            path.pop();
        }
        Ok(())
    }

    /// Performs `action` on a copy of `net`, checks the new state and
    /// explores below it.
    fn step(
        &self,
        net: &Net,
        action: Action,
        path: &mut Vec<Action>,
        remaining: usize,
    ) -> Result<(), Counterexample> {
        if let Some(next) = self.reach(net, action, path, remaining)? {
            self.visit(&next, path, remaining)?;
        }
        Ok(())
    }

    /// Performs `action` on a copy of `net` (reached by `path`, which ends
    /// with `action`) and checks the new state: the new state, if it is to
    /// be explored with `remaining` levels below it.
    fn reach(
        &self,
        net: &Net,
        action: Action,
        path: &[Action],
        remaining: usize,
    ) -> Result<Option<Net>, Counterexample> {
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let mut next = net.clone();
        catch_unwind(AssertUnwindSafe(|| next.apply(action)))
            .map_err(|p| self.counterexample(path, format!("safety: {}", message(p))))?;
        let fp = fingerprint(&next);
        let (new, expand) = {
            let mut seen = self.seen.lock().expect("no explorer thread panics");
            match seen.get_mut(&fp) {
                None => {
                    seen.insert(fp, remaining);
                    (true, true)
                }
                Some(r) if *r < remaining => {
                    *r = remaining;
                    (false, true)
                }
                Some(_) => (false, false),
            }
        };
        if new {
            self.live(&next, path)?;
        }
        Ok(expand.then_some(next))
    }
}

/// Levels explored breadth first, their states shared among the threads,
/// before each thread explores the states it took depth first.
const BREADTH_FIRST_LEVELS: usize = 2;

/// Runs `work` on every item on `threads` threads, each taking the next
/// item left; stops at the first error.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> Result<Vec<R>, Counterexample> + Sync,
) -> Result<Vec<R>, Counterexample> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        match work(item) {
                            Ok(r) => out.extend(r),
                            Err(c) => {
                                // The others stop at their next item.
                                next.store(items.len(), Ordering::Relaxed);
                                return Err(c);
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().expect("explorer threads catch the panics")?);
        }
        Ok(all)
    })
}

/// Explores every sequence of up to `depth` actions from `start` on
/// `threads` threads.
fn explore(
    name: &'static str,
    start: &Net,
    depth: usize,
    threads: usize,
) -> Result<Report, Counterexample> {
    let explorer = Explorer {
        start: name,
        seen: Mutex::new(HashMap::from([(fingerprint(start), depth)])),
        continued: Mutex::new(HashSet::new()),
        transitions: AtomicU64::new(0),
        continuations: AtomicU64::new(0),
    };
    explorer.live(start, &[])?;
    let mut frontier = vec![(start.clone(), Vec::new())];
    let mut level = 0;
    while level < depth.min(BREADTH_FIRST_LEVELS) {
        level += 1;
        let remaining = depth - level;
        let moves: Vec<(&Net, Vec<Action>)> = frontier
            .iter()
            .flat_map(|(net, path)| {
                net.actions().into_iter().map(move |a| {
                    let mut p: Vec<Action> = path.clone();
                    p.push(a);
                    (net, p)
                })
            })
            .collect();
        frontier = in_parallel(&moves, threads, |(net, path)| {
            let action = *path.last().expect("a move has an action");
            Ok(explorer
                .reach(net, action, path, remaining)?
                .map(|next| (next, path.clone()))
                .into_iter()
                .collect())
        })?;
    }
    let remaining = depth - level;
    in_parallel(&frontier, threads, |(net, path)| {
        let mut path = path.clone();
        explorer.visit(net, &mut path, remaining)?;
        Ok(Vec::<()>::new())
    })?;
    Ok(Report {
        states: explorer.seen.lock().expect("joined").len() as u64,
        transitions: explorer.transitions.load(Ordering::Relaxed),
        continuations: explorer.continuations.load(Ordering::Relaxed),
    })
}

/// The depth `name` sets, or `default` if it is not set; a value that is
/// not a depth stops the test rather than explore another depth.
fn env_depth(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => default,
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a depth: {e}")),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Two nodes just started: their first initiations in flight.
fn two_starting() -> Net {
    Net::new(fast_config(), 2)
}

/// Two nodes whose link is up both ways, having probed for two seconds,
/// the latest four datagrams recorded.
fn two_up() -> Net {
    let mut net = Net::new(fast_config(), 2);
    net.run_good(Duration::from_secs(2));
    assert!(
        net.all_fresh(),
        "two seconds of good network bring the link up"
    );
    net.forget_all_but(4);
    net
}

/// Three nodes just started.
fn three_starting() -> Net {
    Net::new(fast_config(), 3)
}

fn check(name: &'static str, start: Net, depth: usize) {
    let began = std::time::Instant::now();
    match explore(name, &start, depth, threads()) {
        Ok(r) => println!(
            "{name}: depth {depth}, {} distinct states, {} transitions, {} good-network continuations, {:.1?}",
            r.states,
            r.transitions,
            r.continuations,
            began.elapsed()
        ),
        Err(c) => panic!("{}: after {:?}: {}", c.start, c.path, c.what),
    }
}

#[test]
fn two_nodes_starting() {
    check(
        "two starting",
        two_starting(),
        env_depth("PROBEKEY_MODEL_DEPTH", 3),
    );
}

#[test]
fn two_nodes_up() {
    check("two up", two_up(), env_depth("PROBEKEY_MODEL_DEPTH", 3));
}

#[test]
fn three_nodes_starting() {
    check(
        "three starting",
        three_starting(),
        env_depth("PROBEKEY_MODEL_DEPTH3", 2),
    );
}

//! Property: after any schedule of faults over 2 to 5 nodes — loss at any
//! rate, one-way loss, partitions, duplication, delays and reordering up to
//! many seconds (longer than the grace window), handshake messages alone
//! delayed past the grace window, queues stalled and released at one
//! instant, restarts at any moment (including during handshakes), host
//! reboots that start a clock again at zero, suspended hosts, both ends
//! forcing a handshake at the same instant, replay floods of recorded
//! datagrams into a node, an on-path attacker holding a direction's
//! datagrams and trickling them out afterwards — on per-node clocks with their
//! own origin and a rate within ±0.9 % (any two within the documented 2 %), and paths of 2 to 300 ms that
//! differ per direction:
//!
//! - every link validates in both directions, for good, within the bound
//!   the configuration implies (at the slowest link's round trip, on the
//!   slowest clock) after the last abnormal delivery;
//! - every link no fault touches is fresh at every instant from when it
//!   first came up, and refuses no datagram;
//! - no forged or replayed probe is ever accepted.
//!
//! CI runs a few hundred cases. The long run:
//! `PROBEKEY_PROPTEST_CASES=10000 cargo test --release --test properties -- --nocapture`
//! A failing case prints its inputs, the simulator seed among them.

use core::time::Duration;

use probekey::{Config, Instant};
use probekey_sim::{ClockSpec, Fault, FaultWindow, Sim, SimConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Kind {
    Loss { rate: f64, both_ways: bool },
    Partition,
    Duplicate { rate: f64 },
    Delay { extra_ms: u64, jitter_ms: u64 },
    DelayHandshakes { extra_ms: u64 },
    Stall,
    Restart,
    Reboot,
    Suspend,
    Crossing,
    Replay { per_second: u32 },
    Hold { every_ms: u64, at_most: u32 },
}

#[derive(Clone, Debug)]
struct Spec {
    kind: Kind,
    a: usize,
    b: usize,
    start_ms: u64,
    len_ms: u64,
}

#[derive(Clone, Debug)]
struct Net {
    /// Per node: clock origin (ms) and rate (ppm).
    clocks: Vec<(u64, u64)>,
    /// Per ordered pair, in order: one-way delay (ms).
    paths: Vec<u64>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (prop_oneof![Just(1.0), 0.05f64..0.95], any::<bool>())
            .prop_map(|(rate, both_ways)| Kind::Loss { rate, both_ways }),
        1 => Just(Kind::Partition),
        1 => (0.05f64..1.0).prop_map(|rate| Kind::Duplicate { rate }),
        2 => (0u64..10_000, 0u64..3_000).prop_map(|(extra_ms, jitter_ms)| Kind::Delay { extra_ms, jitter_ms }),
        1 => (0u64..8_000).prop_map(|extra_ms| Kind::DelayHandshakes { extra_ms }),
        1 => Just(Kind::Stall),
        2 => Just(Kind::Restart),
        1 => Just(Kind::Reboot),
        1 => Just(Kind::Suspend),
        1 => Just(Kind::Crossing),
        1 => (1u32..500).prop_map(|per_second| Kind::Replay { per_second }),
        1 => (10u64..2_000, 0u32..40).prop_map(|(every_ms, at_most)| Kind::Hold { every_ms, at_most }),
    ]
}

fn spec(nodes: usize) -> impl Strategy<Value = Spec> {
    // Faults begin anywhere in the first minute, including during the
    // first handshakes (t < 100 ms), and last up to 40 s.
    (
        kind(),
        0..nodes,
        0..nodes,
        prop_oneof![0u64..200, 0u64..60_000],
        0u64..40_000,
    )
        .prop_map(|(kind, a, b, start_ms, len_ms)| Spec {
            kind,
            a,
            b,
            start_ms,
            len_ms,
        })
}

fn net(nodes: usize) -> impl Strategy<Value = Net> {
    let clock = (
        prop_oneof![Just(0u64), 0u64..1_000_000_000],
        // Within the documented drift: any two clocks' rates at most 2 %
        // apart (`probekey::MAX_CLOCK_DRIFT_PPM`, PROTOCOL §6.2).
        prop_oneof![2 => Just(1_000_000u64), 1 => 999_000u64..1_001_000, 1 => 991_000u64..1_009_000],
    );
    let path = prop_oneof![3 => Just(20u64), 1 => 2u64..300];
    (
        prop::collection::vec(clock, nodes),
        prop::collection::vec(path, nodes * nodes),
    )
        .prop_map(|(clocks, paths)| Net { clocks, paths })
}

fn case() -> impl Strategy<Value = (usize, Net, Vec<Spec>, u64)> {
    (2usize..=5).prop_flat_map(|n| {
        (
            Just(n),
            net(n),
            prop::collection::vec(spec(n), 0..6),
            any::<u64>(),
        )
    })
}

fn sim_config(nodes: usize, net: &Net, seed: u64) -> SimConfig {
    let mut c = SimConfig::mesh(nodes, Config::default(), seed);
    c.clocks = net
        .clocks
        .iter()
        .map(|&(origin_ms, rate_ppm)| ClockSpec {
            offset: Duration::from_millis(origin_ms),
            rate_ppm,
        })
        .collect();
    for from in 0..nodes {
        for to in 0..nodes {
            if from != to {
                c.paths.insert(
                    (from, to),
                    Duration::from_millis(net.paths[from * nodes + to]),
                );
            }
        }
    }
    c
}

/// Builds the faults and returns when the network is normal again: the end
/// of the last fault, or of the last delayed delivery.
fn install(sim: &mut Sim, nodes: usize, specs: &[Spec]) -> Instant {
    let mut healed = Instant::ZERO;
    for s in specs {
        let start = Instant::from_millis(s.start_ms);
        let end = start + Duration::from_millis(s.len_ms);
        let a = s.a;
        let b = if s.a == s.b { (s.b + 1) % nodes } else { s.b };
        let mut add = |fault| sim.add_fault(FaultWindow { start, end, fault });
        let ends = match s.kind {
            Kind::Loss { rate, both_ways } => {
                add(Fault::Loss {
                    from: a,
                    to: b,
                    rate,
                });
                if both_ways {
                    add(Fault::Loss {
                        from: b,
                        to: a,
                        rate,
                    });
                }
                end
            }
            Kind::Partition => {
                add(Fault::Partition { node: a });
                end
            }
            Kind::Duplicate { rate } => {
                add(Fault::Duplicate {
                    from: a,
                    to: b,
                    rate,
                });
                end
            }
            Kind::Delay {
                extra_ms,
                jitter_ms,
            } => {
                add(Fault::Delay {
                    from: a,
                    to: b,
                    extra: Duration::from_millis(extra_ms),
                    jitter: Duration::from_millis(jitter_ms),
                });
                end + Duration::from_millis(extra_ms + jitter_ms)
            }
            Kind::DelayHandshakes { extra_ms } => {
                add(Fault::DelayHandshakes {
                    from: a,
                    to: b,
                    extra: Duration::from_millis(extra_ms),
                });
                end + Duration::from_millis(extra_ms)
            }
            Kind::Stall => {
                add(Fault::Stall { from: a, to: b });
                end
            }
            Kind::Restart => {
                add(Fault::Restart { node: a });
                start
            }
            Kind::Reboot => {
                add(Fault::Reboot { node: a });
                start
            }
            Kind::Suspend => {
                add(Fault::Suspend { node: a });
                end
            }
            Kind::Crossing => {
                add(Fault::CrossingHandshake { a, b });
                Instant::ZERO
            }
            Kind::Replay { per_second } => {
                add(Fault::Replay { to: a, per_second });
                end
            }
            Kind::Hold { every_ms, at_most } => {
                let every = Duration::from_millis(every_ms);
                add(Fault::Hold {
                    from: a,
                    to: b,
                    every,
                    at_most,
                });
                end + every * at_most
            }
        };
        healed = healed.max(ends);
    }
    healed
}

fn cases() -> u32 {
    std::env::var("PROBEKEY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_link_recovers_within_the_bound((nodes, net, specs, seed) in case()) {
        let mut sim = Sim::new(sim_config(nodes, &net, seed));
        let healed = install(&mut sim, nodes, &specs);
        let bound = sim.recovery_bound();
        let end = healed + bound + Duration::from_secs(30);
        let r = sim.measure_recovery(healed, end);
        prop_assert!(sim.violations.is_empty(), "seed {seed}: {:?}", sim.violations);
        let took = r.took();
        prop_assert!(took.is_some_and(|d| d <= bound),
            "seed {seed}: fresh for good {took:?} after the heal, bound {bound:?}; per direction {:?}", r.directions);
        for (a, b) in sim.untouched_links() {
            for d in [(a, b), (b, a)] {
                let log = &sim.logs[&d];
                let up = log.fresh.iter().find(|&&(_, f)| f).map(|&(t, _)| t);
                prop_assert!(up.is_some_and(|t| t <= Instant::ZERO + bound),
                    "seed {seed}: untouched direction {d:?} first up at {up:?}");
                let up = up.unwrap_or(Instant::ZERO);
                prop_assert!(log.fresh_throughout(up, end),
                    "seed {seed}: untouched direction {d:?} went stale: {:?}", log.stale_periods(up, end));
            }
            for (at, peer) in [(a, b), (b, a)] {
                let id = sim.node(at).peer_id(peer).expect("configured");
                let st = sim.node(at).endpoint.peer_status(id, sim.local_now(at)).expect("configured");
                prop_assert_eq!(st.rejected.total(), 0,
                    "seed {}: untouched link {}->{} refused {:?}", seed, peer, at, st.rejected);
            }
        }
        if std::env::var_os("PROBEKEY_PROPTEST_REPORT").is_some() {
            println!("RECOVERY_NS {} BOUND_NS {}", took.map_or(0, |d| d.as_nanos()), bound.as_nanos());
        }
    }
}

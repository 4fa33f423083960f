//! Property: after any schedule of faults over 2 to 5 nodes — loss at any
//! rate, one-way loss, partitions, duplication, delays and reordering up to
//! many seconds (longer than the grace window), restarts at any moment,
//! including during handshakes — every link validates in both directions
//! within the bound the configuration implies, and no forged or replayed
//! probe is ever accepted.
//!
//! CI runs a few dozen cases. The long run:
//! `PROBEKEY_PROPTEST_CASES=10000 cargo test --release --test properties -- --nocapture`
//! A failing case prints its inputs, the simulator seed among them.

use core::time::Duration;

use probekey::{Config, Instant};
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Kind {
    Loss { rate: f64, both_ways: bool },
    Partition,
    Duplicate { rate: f64 },
    Delay { extra_ms: u64, jitter_ms: u64 },
    Restart,
}

#[derive(Clone, Debug)]
struct Spec {
    kind: Kind,
    a: usize,
    b: usize,
    start_ms: u64,
    len_ms: u64,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (prop_oneof![Just(1.0), 0.05f64..0.95], any::<bool>())
            .prop_map(|(rate, both_ways)| Kind::Loss { rate, both_ways }),
        1 => Just(Kind::Partition),
        1 => (0.05f64..1.0).prop_map(|rate| Kind::Duplicate { rate }),
        2 => (0u64..10_000, 0u64..3_000).prop_map(|(extra_ms, jitter_ms)| Kind::Delay { extra_ms, jitter_ms }),
        2 => Just(Kind::Restart),
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

fn case() -> impl Strategy<Value = (usize, Vec<Spec>, u64)> {
    (2usize..=5).prop_flat_map(|n| (Just(n), prop::collection::vec(spec(n), 0..6), any::<u64>()))
}

/// Builds the faults and returns when the network is normal again: the end
/// of the last fault, or of the last delayed delivery.
fn install(sim: &mut Sim, nodes: usize, specs: &[Spec]) -> Instant {
    let mut healed = Instant::ZERO;
    for s in specs {
        let start = Instant::from_millis(s.start_ms);
        let end = start + Duration::from_millis(s.len_ms);
        let b = if s.a == s.b { (s.b + 1) % nodes } else { s.b };
        let mut add = |fault| sim.add_fault(FaultWindow { start, end, fault });
        match s.kind {
            Kind::Loss { rate, both_ways } => {
                add(Fault::Loss {
                    from: s.a,
                    to: b,
                    rate,
                });
                if both_ways {
                    add(Fault::Loss {
                        from: b,
                        to: s.a,
                        rate,
                    });
                }
                healed = healed.max(end);
            }
            Kind::Partition => {
                add(Fault::Partition { node: s.a });
                healed = healed.max(end);
            }
            Kind::Duplicate { rate } => {
                add(Fault::Duplicate {
                    from: s.a,
                    to: b,
                    rate,
                });
                healed = healed.max(end);
            }
            Kind::Delay {
                extra_ms,
                jitter_ms,
            } => {
                add(Fault::Delay {
                    from: s.a,
                    to: b,
                    extra: Duration::from_millis(extra_ms),
                    jitter: Duration::from_millis(jitter_ms),
                });
                healed = healed.max(end + Duration::from_millis(extra_ms + jitter_ms));
            }
            Kind::Restart => {
                add(Fault::Restart { node: s.a });
                healed = healed.max(start);
            }
        }
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
    fn every_link_recovers_within_the_bound((nodes, specs, seed) in case()) {
        let mut sim = Sim::new(SimConfig::mesh(nodes, Config::default(), seed));
        let healed = install(&mut sim, nodes, &specs);
        let bound = sim.config().config.recovery_bound(sim.config().rtt());
        let r = sim.measure_recovery(healed, healed + bound + Duration::from_secs(60));
        prop_assert!(sim.violations.is_empty(), "seed {seed}: {:?}", sim.violations);
        let took = r.took();
        prop_assert!(took.is_some_and(|d| d <= bound),
            "seed {seed}: recovery {took:?} > bound {bound:?}; per direction {:?}", r.directions);
        if std::env::var_os("PROBEKEY_PROPTEST_REPORT").is_some() {
            println!("RECOVERY_NS {}", took.map_or(0, |d| d.as_nanos()));
        }
    }
}

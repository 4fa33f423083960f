//! The scenarios of `linkmon/tests/multiprocess.rs` in the simulator, with the
//! same timers, the same three nodes and the same 2 ms one-way delay (1 ms
//! for the namespaces), so the recovery measured on real sockets can be
//! read beside the simulator's. Prints one line per scenario with
//! `--nocapture`.

mod common;

use core::time::Duration;

use common::*;
use probekey::Instant;
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn three(delay: Duration, seed: u64) -> Sim {
    let mut cfg = SimConfig::mesh(3, multiprocess_config(), seed);
    cfg.one_way_delay = delay;
    Sim::new(cfg)
}

fn window(sim: &mut Sim, start: Instant, end: Instant, fault: Fault) {
    sim.add_fault(FaultWindow { start, end, fault });
}

/// Measures from `healed`, checks the bound, prints and returns the time.
fn measure(sim: &mut Sim, scenario: &str, healed: Instant) -> Duration {
    let bound = sim.config().config.recovery_bound(sim.config().rtt());
    let r = sim.measure_recovery(healed, healed + secs(10));
    let took = r
        .took()
        .unwrap_or_else(|| panic!("{scenario}: never recovered"));
    println!(
        "sim twin: {scenario}: all links fresh both ways {:.1} ms after the fault ended (bound {:.0} ms)",
        took.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3
    );
    assert!(took <= bound, "{scenario}: {took:?} > {bound:?}");
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    took
}

const T: Instant = Instant::from_secs(3);
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

#[test]
fn start_up() {
    let mut sim = three(ms(2), 71);
    measure(&mut sim, "start-up", Instant::ZERO);
}

#[test]
fn loss_burst_on_one_region() {
    let mut sim = three(ms(2), 72);
    let end = T + ms(1500);
    for other in [A, C] {
        each_way(&mut sim, (B, other), (T, end), |from, to| Fault::Loss {
            from,
            to,
            rate: 1.0,
        });
    }
    measure(&mut sim, "loss burst on b (both links, both ways)", end);
}

#[test]
fn one_way_loss() {
    let mut sim = three(ms(2), 73);
    let end = T + ms(1500);
    window(
        &mut sim,
        T,
        end,
        Fault::Loss {
            from: A,
            to: C,
            rate: 1.0,
        },
    );
    measure(&mut sim, "one-way loss a->c", end);
}

#[test]
fn loss_duplication_and_jitter_everywhere() {
    let mut sim = three(ms(2), 74);
    let end = T + ms(2000);
    for (x, y) in [(A, B), (B, C), (A, C)] {
        each_way(&mut sim, (x, y), (T, end), |from, to| Fault::Loss {
            from,
            to,
            rate: 0.2,
        });
        each_way(&mut sim, (x, y), (T, end), |from, to| Fault::Duplicate {
            from,
            to,
            rate: 0.2,
        });
        each_way(&mut sim, (x, y), (T, end), |from, to| Fault::Delay {
            from,
            to,
            extra: Duration::ZERO,
            jitter: ms(10),
        });
    }
    measure(&mut sim, "20% loss, 20% duplicates, 0-10 ms jitter", end);
}

#[test]
fn kill_and_restart() {
    // Dead for a second (nothing in or out), then back with no state.
    let mut sim = three(ms(2), 75);
    let back = T + ms(1000);
    window(&mut sim, T, back, Fault::Partition { node: C });
    window(&mut sim, back, back, Fault::Restart { node: C });
    measure(&mut sim, "kill -9 of c and restart", back);
}

#[test]
fn restart_during_a_loss_burst() {
    // a's links cut for 1.5 s; a dies 0.6 s in and is back 0.2 s later.
    let mut sim = three(ms(2), 76);
    let end = T + ms(1500);
    for other in [B, C] {
        each_way(&mut sim, (A, other), (T, end), |from, to| Fault::Loss {
            from,
            to,
            rate: 1.0,
        });
    }
    window(
        &mut sim,
        T + ms(800),
        T + ms(800),
        Fault::Restart { node: A },
    );
    measure(&mut sim, "restart of a during a loss burst", end);
}

#[test]
fn link_down() {
    let mut sim = three(ms(1) / 2, 77);
    let end = T + ms(1500);
    cut(&mut sim, A, B, T, end);
    measure(&mut sim, "link a-b down (namespaces' 1 ms round trip)", end);
}

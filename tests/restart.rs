//! Restart of either side at every point of the handshake and afterwards:
//! the restarted node starts a handshake at once, its peer accepts it while
//! holding a working session, and the restarted side's probes validate
//! within one round trip of its initiation arriving.

mod common;

use core::time::Duration;

use common::*;
use probekey::Instant;
use probekey_sim::{Fault, FaultWindow};

/// Points in the first handshake (one-way delay 20 ms): before anything
/// arrives, initiation arriving, response in flight, response arriving,
/// keepalive in flight, keepalive arriving, then established states.
const POINTS_MS: [u64; 10] = [1, 19, 20, 21, 30, 40, 50, 60, 500, 30_000];

#[test]
fn restart_of_either_side_at_every_point() {
    for restarted in [0usize, 1] {
        let other = 1 - restarted;
        for (i, &ms) in POINTS_MS.iter().enumerate() {
            let mut sim = pair(100 + i as u64);
            let t = Instant::from_millis(ms);
            sim.add_fault(FaultWindow {
                start: t,
                end: t,
                fault: Fault::Restart { node: restarted },
            });
            sim.run_until(t);
            let one_way = sim.config().one_way_delay;
            let rtt = sim.config().rtt();
            // The initiation leaves at `t` and arrives at `t + one_way`; the
            // peer asks it to prove it is new (a challenge, §4.5), and
            // within one more round trip after the bound initiation arrives
            // the peer validates the restarted side (its keepalive).
            let deadline = t + one_way + rtt + rtt + Duration::from_millis(1);
            sim.run_until(deadline + one_way + Duration::from_millis(2));
            let heard = sim
                .first_validation_after(restarted, other, t)
                .unwrap_or_else(|| {
                    panic!("node {restarted} restarted at {ms} ms: never validated")
                });
            assert!(
                heard <= deadline,
                "node {restarted} restarted at {ms} ms: validated at {heard:?}, deadline {deadline:?}"
            );
            // The answer keepalive lets the restarted side validate too.
            let back = sim
                .first_validation_after(other, restarted, t)
                .unwrap_or_else(|| panic!("node {restarted} at {ms} ms: never validates its peer"));
            assert!(
                back <= deadline + one_way + Duration::from_millis(1),
                "{back:?}"
            );
            let bound = sim.config().config.recovery_bound(rtt);
            let fresh = settle(&mut sim, bound);
            assert!(fresh - t <= bound);
            assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        }
    }
}

#[test]
fn restart_during_a_loss_burst_recovers_within_the_bound() {
    let mut sim = pair(5);
    settle(&mut sim, secs(5));
    cut(&mut sim, 0, 1, at(secs(10)), at(secs(40)));
    sim.add_fault(FaultWindow {
        start: at(secs(20)),
        end: at(secs(20)),
        fault: Fault::Restart { node: 1 },
    });
    let took = assert_recovers(&mut sim, at(secs(40)));
    assert!(took <= sim.config().config.recovery_bound(sim.config().rtt()));
}

#[test]
fn both_sides_restart_at_once() {
    let mut sim = pair(9);
    settle(&mut sim, secs(5));
    for node in [0, 1] {
        sim.add_fault(FaultWindow {
            start: at(secs(10)),
            end: at(secs(10)),
            fault: Fault::Restart { node },
        });
    }
    assert_recovers(&mut sim, at(secs(10)));
}

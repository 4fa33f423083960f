//! Caller-supplied time and configuration values at their extremes: no
//! arithmetic on them panics or latches, and a status answers for the
//! instant it is asked about (`docs/PROTOCOL.md` §7).

mod common;

use common::*;
use core::time::Duration;
use probekey::Config;

/// `Config::recovery_bound` on a round trip near `Duration::MAX` saturated
/// instead of overflowing.
#[test]
fn the_recovery_bound_of_any_round_trip_saturates_instead_of_panicking() {
    let c = Config::default();
    for rtt in [
        Duration::MAX,
        Duration::MAX / 3,
        Duration::from_secs(u64::MAX / 2),
        Duration::new(u64::MAX, 999_999_999),
    ] {
        let bound = c.recovery_bound(rtt);
        assert!(bound >= rtt.min(Duration::MAX / 3), "{rtt:?} -> {bound:?}");
    }
    assert_eq!(c.recovery_bound(Duration::MAX), Duration::MAX);
}

/// `peer_status(now)` returned the flags as the last `handle_timeout` left
/// them: ten seconds after the last probe, with no timer run, it still said
/// fresh.
#[test]
fn a_status_answers_for_the_instant_asked_whether_or_not_the_timers_ran() {
    let mut sim = pair(5);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let now = sim.now();
    let stale_after = sim.config().config.stale_after();
    for n in [0, 1] {
        let id = sim.node(n).peer_id(1 - n).expect("configured");
        let e = &sim.node(n).endpoint;
        let st = e.peer_status(id, now).expect("configured");
        assert!(st.inbound.fresh && st.outbound.fresh);
        let heard = st.inbound.last.expect("heard");
        // Nothing delivered and no timer run since: only the question moves.
        let later = heard + stale_after + secs(7);
        let st = e.peer_status(id, later).expect("configured");
        assert!(
            !st.inbound.fresh,
            "node {n}: inbound reported fresh {:?} after the last probe",
            later - heard
        );
        let acked = st.outbound.last.expect("acknowledged");
        assert_eq!(st.outbound.fresh, later < acked + stale_after);
        // Just before the threshold it is still fresh.
        let just = heard + (stale_after - Duration::from_nanos(1));
        assert!(e.peer_status(id, just).expect("configured").inbound.fresh);
    }
}

fn clock_jump(sim: &mut probekey_sim::Sim, node: usize, start: u64, end: u64) {
    sim.add_fault(probekey_sim::FaultWindow {
        start: at(secs(start)),
        end: at(secs(end)),
        fault: probekey_sim::Fault::ClockJump {
            node,
            ahead: secs(3600),
        },
    });
}

/// A clock reading an hour ahead for a second, then back, moved the token
/// bucket's refill instant an hour ahead: tokens never refilled, and 27 of
/// 30 later initiations were refused.
#[test]
fn a_clock_read_far_ahead_then_back_latches_no_rate_limit() {
    let mut sim = pair(6);
    settle(&mut sim, secs(5));
    // Node 1's clock reads an hour ahead from 20 s to 21 s; a handshake
    // runs meanwhile so that its bucket is used at the far reading.
    clock_jump(&mut sim, 1, 20, 21);
    sim.run_until(at(secs(20)) + Duration::from_millis(100));
    let id0 = sim.node(0).peer_id(1).expect("configured");
    let now = sim.local_now(0);
    sim.node_mut(0).endpoint.initiate_handshake(now, id0);
    sim.run_until(at(secs(25)));
    let before = status(&sim, 0, 1).handshakes_completed;
    for k in 0..30u64 {
        sim.run_until(at(secs(25 + k)));
        let now = sim.local_now(0);
        assert!(sim.node_mut(0).endpoint.initiate_handshake(now, id0), "{k}");
    }
    sim.run_until(at(secs(56)));
    let refused = status(&sim, 1, 0).rejected.rate_limited;
    let completed = status(&sim, 0, 1).handshakes_completed - before;
    assert_eq!(refused, 0, "initiations refused as rate limited");
    assert_eq!(completed, 30, "handshakes completed of 30");
    assert!(sim.all_fresh());
}

/// The same jump latched freshness: evidence dated an hour ahead kept the
/// direction fresh for that hour once the peer fell silent.
#[test]
fn a_clock_read_far_ahead_then_back_keeps_no_dead_peer_fresh() {
    let mut sim = pair(7);
    settle(&mut sim, secs(5));
    clock_jump(&mut sim, 1, 20, 21);
    // Node 0 goes silent as the clock steps back.
    sim.add_fault(probekey_sim::FaultWindow {
        start: at(secs(21)),
        end: at(secs(10_000)),
        fault: probekey_sim::Fault::Partition { node: 0 },
    });
    let stale_after = sim.config().config.stale_after();
    let by = at(secs(21)) + stale_after + secs(1);
    sim.run_until(by);
    let st = status(&sim, 1, 0);
    assert!(
        !st.inbound.fresh && !st.outbound.fresh,
        "node 1 still calls a silent peer fresh {:?} after it fell silent: {st:?}",
        by - at(secs(21))
    );
}

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
    sim.node_mut(0)
        .endpoint
        .initiate_handshake(now, id0)
        .expect("a configured peer");
    sim.run_until(at(secs(25)));
    let before = status(&sim, 0, 1).handshakes_completed;
    for k in 0..30u64 {
        sim.run_until(at(secs(25 + k)));
        let now = sim.local_now(0);
        assert!(
            sim.node_mut(0)
                .endpoint
                .initiate_handshake(now, id0)
                .is_ok(),
            "{k}"
        );
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

/// A clock read within hours of the end of its range (`Instant::MAX`, 584
/// years) for two seconds, then back: the peer dated the node's probes
/// against the far reading, and the rekey on the step back (§7) gives it a
/// session dated afresh, so the link is fresh within the recovery bound of
/// the step and stays so.
#[test]
fn a_clock_read_near_the_end_of_its_range_then_back_latches_nothing() {
    let mut sim = pair(8);
    settle(&mut sim, secs(5));
    let near_end = Duration::from_nanos(u64::MAX) - secs(20) - secs(3 * 3600);
    sim.add_fault(probekey_sim::FaultWindow {
        start: at(secs(20)),
        end: at(secs(22)),
        fault: probekey_sim::Fault::ClockJump {
            node: 1,
            ahead: near_end,
        },
    });
    sim.run_until(at(secs(22)));
    let bound = sim.recovery_bound();
    sim.run_until(at(secs(22)) + bound);
    for (a, b) in [(0, 1), (1, 0)] {
        let st = status(&sim, a, b);
        assert!(
            st.inbound.fresh && st.outbound.fresh,
            "node {a} about {b}, {bound:?} after the step back: {st:?}"
        );
    }
    assert!(
        sim.run_until_true(at(secs(60)), |s| !s.all_fresh())
            .is_none()
    );
}

/// A handshake of node 1's in flight across its clock's step back from
/// the end of its range (node 1 restarted just before, so that session was
/// its only one; found by the `state_machine` fuzz target). Two latches:
/// the retry deadline set at the far reading saturated at `Instant::MAX`,
/// which reads as "not set", so the step back did not bring it back and
/// the handshake never retried; and the keepalive confirming the session
/// was sealed on the far reading, so the peer dated every later probe of
/// node 1's in that session 584 years late while the confirmation, after
/// the step, counted the handshake as done: node 0's inbound direction
/// stayed stale. Every phase of the handshake against the step is tried.
#[test]
fn a_handshake_across_a_step_back_from_the_end_of_time_is_redone() {
    for offset_ms in (0..=200).step_by(10) {
        let mut sim = pair(9);
        settle(&mut sim, secs(5));
        // From 20 s node 1 reads 400 ms before the end of its clock's
        // range, so its retry deadlines saturate; at 20.3 s it is back.
        let near_end = Duration::from_nanos(u64::MAX) - secs(20) - Duration::from_millis(400);
        let step_back = at(secs(20) + Duration::from_millis(300));
        sim.add_fault(probekey_sim::FaultWindow {
            start: at(secs(20)),
            end: step_back,
            fault: probekey_sim::Fault::ClockJump {
                node: 1,
                ahead: near_end,
            },
        });
        let restart = at(secs(20) + Duration::from_millis(300 - offset_ms));
        sim.add_fault(probekey_sim::FaultWindow {
            start: restart,
            end: restart + Duration::from_millis(1),
            fault: probekey_sim::Fault::Restart { node: 1 },
        });
        sim.run_until(step_back);
        let bound = sim.recovery_bound();
        sim.run_until(step_back + bound);
        for (a, b) in [(0, 1), (1, 0)] {
            let st = status(&sim, a, b);
            assert!(
                st.inbound.fresh && st.outbound.fresh,
                "restarted {offset_ms} ms before the step: node {a} about {b}, \
                 {bound:?} after the step back: {st:?}"
            );
        }
        let lapse = sim.run_until_true(step_back + secs(30), |s| !s.all_fresh());
        assert_eq!(
            lapse, None,
            "restarted {offset_ms} ms before the step: a direction went stale after recovering"
        );
    }
}

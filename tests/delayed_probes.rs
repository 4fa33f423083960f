//! Held and trickled probes against freshness (`docs/PROTOCOL.md` §6.2):
//! outbound freshness is dated by our own seal time of the probe the peer
//! acknowledges, inbound by the peer's send time against the fastest
//! delivery of the session, so an on-path attacker that holds a peer's
//! probes and releases them later can delay freshness, never create it;
//! one-way loss still leaves the other direction fresh throughout; and the
//! round trip acknowledgements give is reported.

mod common;

use core::cell::Cell;
use core::time::Duration;
use std::rc::Rc;

use common::*;
use probekey_sim::{ClockSpec, Fault, FaultWindow, Sim, SimConfig, Verdict};

/// An on-path attacker holds every probe node 1 sends node 0 from 10 s on
/// and releases them in order, one a second; node 1 dies at 50 s. The
/// released probes were sent long before they arrive, and the
/// acknowledgements in them name probes node 0 sealed long before, so node
/// 0 counts neither as fresh evidence: both directions go stale within
/// `stale_after` of the hold, stay stale while the attacker trickles, and
/// are stale 30 s after node 1's death.
#[test]
fn trickled_probes_keep_no_direction_of_a_dead_peer_fresh() {
    trickle_against(pair(21));
}

/// The same with node 0's clock 584 years ahead of node 1's (a host whose
/// clock reads near the end of its range): the difference of the two
/// readings saturated at 292 years, so every probe looked as fast as the
/// fastest, was dated on arrival, and every trickled probe counted as
/// fresh (found by the `state_machine` fuzz target's freshness oracle).
#[test]
fn trickled_probes_keep_no_dead_peer_fresh_with_clocks_centuries_apart() {
    let mut config = SimConfig::mesh(2, probekey::Config::default(), 21);
    config.clocks = vec![
        ClockSpec {
            offset: Duration::from_nanos(u64::MAX) - secs(86_400),
            ..ClockSpec::default()
        },
        ClockSpec::default(),
    ];
    trickle_against(Sim::new(config));
}

fn trickle_against(mut sim: Sim) {
    settle(&mut sim, secs(5));
    let hold_from = at(secs(10));
    let released = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&released);
    sim.set_filter(move |d| {
        if d.from == 1 && d.to == 0 && d.sent_at >= hold_from {
            // The k-th held datagram goes out at 10 s + k seconds.
            let k = count.get();
            count.set(k + 1);
            let out = hold_from + secs(k);
            Verdict::Delay(out.saturating_duration_since(d.sent_at))
        } else {
            Verdict::Pass
        }
    });
    sim.add_fault(FaultWindow {
        start: at(secs(50)),
        end: at(secs(100_000)),
        fault: Fault::Partition { node: 1 },
    });
    let stale_after = sim.config().config.stale_after();
    // Stale soon after the hold began, and for good: no released probe
    // makes it fresh again.
    let probe = sim.config().config.probe_interval();
    sim.run_until(hold_from + stale_after + probe * 2);
    let from = sim.now();
    let fresh_again = sim.run_until_true(at(secs(80)), |s| {
        let st = status(s, 0, 1);
        st.inbound.fresh || st.outbound.fresh
    });
    assert_eq!(
        fresh_again, None,
        "node 0 called a direction fresh again after {from:?}"
    );
    assert!(
        released.get() > 30,
        "the attacker released {} probes",
        released.get()
    );
    let st = status(&sim, 0, 1);
    assert!(!st.inbound.fresh && !st.outbound.fresh, "{st:?}");
    // The attacker was still releasing probes sealed before the death.
    assert!(
        sim.first_validation_after(1, 0, at(secs(79))).is_some(),
        "the trickle went on to the end"
    );
}

/// One-way loss: the direction that still delivers stays fresh at its
/// receiver throughout, in either direction, for as long as the session
/// lives (no new one can be agreed without a return path, §6.3), through
/// the failed rekeys; the lost one is reported stale at both ends.
#[test]
fn one_way_loss_leaves_the_other_direction_fresh_throughout() {
    for (lost_from, lost_to) in [(0, 1), (1, 0)] {
        let mut sim = pair(23);
        settle(&mut sim, secs(5));
        let start = at(secs(10));
        let end = at(sim.config().config.reject_after_time() - secs(10));
        sim.add_fault(FaultWindow {
            start,
            end,
            fault: Fault::Loss {
                from: lost_from,
                to: lost_to,
                rate: 1.0,
            },
        });
        // Past the lost direction's last delivery and its staleness.
        sim.run_until(start + secs(5));
        // The surviving direction is heard at `lost_from`, from `lost_to`.
        let lapse = sim.run_until_true(end, |s| !status(s, lost_from, lost_to).inbound.fresh);
        assert_eq!(
            lapse, None,
            "node {lost_from} stopped hearing node {lost_to} while only {lost_from}->{lost_to} was lost"
        );
        let surviving = status(&sim, lost_from, lost_to);
        assert!(
            !surviving.inbound_round_trip,
            "fresh by the send times alone: no acknowledgement comes back"
        );
        assert!(
            !status(&sim, lost_to, lost_from).inbound.fresh,
            "the lost direction is stale at its receiver"
        );
        assert!(
            !status(&sim, lost_from, lost_to).outbound.fresh,
            "and at its sender"
        );
    }
}

/// The round trip an acknowledgement of our latest probe gives.
#[test]
fn the_round_trip_of_acknowledged_probes_is_reported() {
    let mut sim = pair(22);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let rtt = sim.config().rtt();
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        assert!(st.inbound_round_trip, "node {n}: {st:?}");
        let measured = st.rtt.expect("probes acknowledged");
        // Probes are echoed at once: the round trip is the path's.
        assert!(
            measured >= rtt && measured <= rtt + Duration::from_millis(1),
            "node {n}: {measured:?} for a {rtt:?} path"
        );
    }
}

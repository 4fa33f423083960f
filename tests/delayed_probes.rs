//! Held and trickled probes against the freshness an acknowledgement
//! carries (`docs/PROTOCOL.md` §6.2): outbound freshness is dated by our
//! own seal time of the probe the peer acknowledges, so an on-path attacker
//! that holds the peer's probes and releases them later cannot make a dead
//! peer's "I hear you" fresh; and the round trip it gives is reported.

mod common;

use core::cell::Cell;
use core::time::Duration;
use std::rc::Rc;

use common::*;
use probekey_sim::{Fault, FaultWindow, Verdict};

/// An on-path attacker holds every probe node 1 sends node 0 from 10 s on
/// and releases them in order, one a second; node 1 dies at 50 s. The
/// acknowledgements in the released probes name probes node 0 sealed long
/// before, so node 0 never counts them as fresh evidence that node 1 hears
/// it: outbound goes stale within `stale_after` of the hold, and is stale
/// 30 s after node 1's death.
#[test]
fn trickled_probes_keep_no_outbound_direction_fresh() {
    let mut sim = pair(21);
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
    let lapse = sim.run_until_true(at(secs(80)), |s| status(s, 0, 1).outbound.fresh);
    assert_eq!(
        lapse, None,
        "node 0 called its outbound direction fresh again"
    );
    assert!(
        released.get() > 30,
        "the attacker released {} probes",
        released.get()
    );
    let st = status(&sim, 0, 1);
    assert!(!st.outbound.fresh, "{st:?}");
    assert!(from < at(secs(80)));
}

/// The round trip an acknowledgement of our latest probe gives.
#[test]
fn the_round_trip_of_acknowledged_probes_is_reported() {
    let mut sim = pair(22);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let rtt = sim.config().rtt();
    for n in [0, 1] {
        let measured = status(&sim, n, 1 - n).rtt.expect("probes acknowledged");
        // Probes are echoed at once: the round trip is the path's.
        assert!(
            measured >= rtt && measured <= rtt + Duration::from_millis(1),
            "node {n}: {measured:?} for a {rtt:?} path"
        );
    }
}

//! Long and one-way outages: after a 1-hour total loss burst, or hours of
//! loss in one direction only, both directions validate again within the
//! bound the configuration implies. Nothing latches and retries never stop.

mod common;

use common::*;
use probekey::{Event, HandshakeState, LinkDirection};
use probekey_sim::{Fault, FaultWindow};

#[test]
fn one_hour_loss_burst_then_recovery_within_the_bound() {
    let mut sim = pair(42);
    settle(&mut sim, secs(5));
    let start = at(secs(60));
    let end = at(secs(60 + 3600));
    cut(&mut sim, 0, 1, start, end);
    sim.run_until(end);
    // During the burst both directions went stale and the handshake kept
    // retrying at the cap for the whole hour.
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        assert!(!st.inbound.fresh && !st.outbound.fresh);
        match st.handshake {
            HandshakeState::Initiating { attempts, .. } => {
                // One per 2 s at the cap, jitter up to 20% shorter.
                assert!(attempts >= 1700, "{attempts} attempts in an hour");
            }
            other => panic!("handshake gave up: {other:?}"),
        }
        let changes = sim.health_changes(n, LinkDirection::Inbound);
        assert_eq!(changes.last().map(|c| c.1), Some(false));
    }
    let took = assert_recovers(&mut sim, end);
    assert!(took < secs(3), "{took:?}");
    for n in [0, 1] {
        assert_eq!(
            sim.health_changes(n, LinkDirection::Inbound)
                .last()
                .map(|c| c.1),
            Some(true)
        );
        assert_eq!(
            sim.health_changes(n, LinkDirection::Outbound)
                .last()
                .map(|c| c.1),
            Some(true)
        );
    }
}

#[test]
fn one_way_loss_is_reported_per_direction_and_recovers() {
    let mut sim = pair(3);
    settle(&mut sim, secs(5));
    // Everything from 0 to 1 is lost for ten minutes.
    sim.add_fault(FaultWindow {
        start: at(secs(10)),
        end: at(secs(610)),
        fault: probekey_sim::Fault::Loss {
            from: 0,
            to: 1,
            rate: 1.0,
        },
    });
    sim.run_until(at(secs(300)));
    // Node 0 still hears node 1 but is told it is not heard; node 1 hears
    // nothing. The two facts are separate.
    let s0 = status(&sim, 0, 1);
    let s1 = status(&sim, 1, 0);
    assert!(!s1.inbound.fresh, "1 does not hear 0");
    assert!(!s0.outbound.fresh, "0 learns it is not heard");
    // Node 0 keeps hearing node 1's probes on the working session, except
    // across resync attempts that cannot complete.
    assert!(s0.rejected.bad_tag == 0 && s0.rejected.replay == 0);
    let took = assert_recovers(&mut sim, at(secs(610)));
    assert!(took < secs(3), "{took:?}");
}

#[test]
fn session_expiry_during_a_partition_recovers() {
    // A partition longer than reject_after_time: every session is erased,
    // both sides start from nothing and still recover within the bound.
    let mut sim = pair(8);
    settle(&mut sim, secs(5));
    sim.add_fault(FaultWindow {
        start: at(secs(10)),
        end: at(secs(10 + 1800)),
        fault: Fault::Partition { node: 1 },
    });
    sim.run_until(at(secs(1000)));
    let st = status(&sim, 0, 1);
    assert_eq!(st.session_age, None, "the session expired");
    assert_recovers(&mut sim, at(secs(1810)));
    let expired = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::HandshakeStarted { .. }))
        .count();
    assert!(expired >= 2);
}

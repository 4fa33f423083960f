//! A first handshake between two endpoints, and what it establishes.

mod common;

use common::*;
use probekey::{Event, HandshakeState, LinkDirection, Role};

#[test]
fn two_nodes_establish_and_probe_both_ways() {
    let mut sim = pair(1);
    let t = settle(&mut sim, secs(5));
    // One round trip for the handshake, then probes and their echoes.
    assert!(t < at(secs(1)), "fresh at {t:?}");
    sim.run_until(at(secs(30)));
    assert!(sim.all_fresh());
    assert!(sim.violations.is_empty());
    for (a, b) in [(0, 1), (1, 0)] {
        let id = sim.node(a).peer_id(b).unwrap();
        let st = sim.node(a).endpoint.peer_status(id, sim.now()).unwrap();
        assert!(st.inbound.fresh && st.outbound.fresh);
        assert_eq!(st.handshake, HandshakeState::Idle);
        assert!(st.handshakes_completed >= 1);
        assert_eq!(st.rejected.total(), 0, "{:?}", st.rejected);
        assert!(st.probes_opened > 200, "{}", st.probes_opened);
        let log = &sim.logs[&(b, a)];
        assert!(log.validated.len() > 200);
    }
    // Both sides start a handshake at once; the crossing converges on one
    // session per side without a retry.
    let established: Vec<_> = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::SessionEstablished { .. }))
        .collect();
    assert!(!established.is_empty());
    let roles: Vec<Role> = established
        .iter()
        .filter_map(|(_, _, e)| match e {
            Event::SessionEstablished { role, .. } => Some(*role),
            _ => None,
        })
        .collect();
    assert!(roles.contains(&Role::Initiator));
    for n in 0..2 {
        assert_eq!(
            sim.health_changes(n, LinkDirection::Inbound)
                .first()
                .map(|c| c.1),
            Some(true)
        );
    }
}

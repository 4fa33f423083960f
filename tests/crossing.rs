//! Crossing handshakes: both sides initiate at once, both complete, and
//! both converge on the same session without waiting for a retry.

mod common;

use common::*;
use probekey::{Config, Role};
use probekey_sim::{Sim, SimConfig};

/// Distinct initiations (up to their MACs: one asking for a challenge and
/// the same one bound to it count once, §4.5).
fn initiations_sent_by(sim: &Sim, node: usize, before: probekey::Instant) -> usize {
    let distinct: std::collections::HashSet<&[u8]> = sim
        .recorded
        .iter()
        .filter(|d| d.from == node && message_type(d) == INITIATION && d.sent_at < before)
        .map(|d| &d.bytes[..probekey::wire::MAC1_OFFSET])
        .collect();
    distinct.len()
}

fn converged(sim: &Sim) -> bool {
    let r0 = status(sim, 0, 1).session_role;
    let r1 = status(sim, 1, 0).session_role;
    matches!(
        (r0, r1),
        (Some(Role::Initiator), Some(Role::Responder))
            | (Some(Role::Responder), Some(Role::Initiator))
    )
}

#[test]
fn simultaneous_start_converges_without_a_retry() {
    for seed in 0..20 {
        let mut c = SimConfig::mesh(2, Config::default(), 700 + seed);
        c.record = true;
        let mut sim = Sim::new(c);
        let t = settle(&mut sim, secs(5));
        // Everything completed before the first retry was due.
        assert!(
            t < at(sim.config().config.handshake_retry_initial()),
            "seed {seed}: {t:?}"
        );
        for n in [0, 1] {
            assert_eq!(initiations_sent_by(&sim, n, t), 1, "seed {seed} node {n}");
        }
        sim.run_until(t + secs(10));
        // Both send on the same session: one side is its initiator, the
        // other its responder (the larger static key's session wins).
        assert!(converged(&sim), "seed {seed}");
        let larger = usize::from(sim.node(1).keypair().public() > sim.node(0).keypair().public());
        assert_eq!(
            status(&sim, larger, 1 - larger).session_role,
            Some(Role::Initiator)
        );
        assert!(sim.all_fresh());
    }
}

#[test]
fn simultaneous_rekey_mid_session_converges() {
    let mut c = SimConfig::mesh(2, Config::default(), 77);
    c.record = true;
    let mut sim = Sim::new(c);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let now = sim.now();
    for n in [0, 1] {
        let id = sim.node(n).peer_id(1 - n).unwrap();
        assert!(sim.node_mut(n).endpoint.initiate_handshake(now, id).is_ok());
    }
    let before: Vec<u64> = [0, 1]
        .iter()
        .map(|&n| status(&sim, n, 1 - n).handshakes_completed)
        .collect();
    sim.run_until(now + secs(1));
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        assert!(st.handshakes_completed > before[n]);
        assert_eq!(st.handshake, probekey::HandshakeState::Idle);
        assert_eq!(
            initiations_sent_by(&sim, n, now + secs(1)) - initiations_sent_by(&sim, n, now),
            1
        );
    }
    assert!(converged(&sim));
    sim.run_until(now + secs(30));
    assert!(sim.all_fresh());
    assert!(sim.violations.is_empty());
}

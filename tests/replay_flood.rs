//! An off-path replay flood of recorded authentic initiations (§4.5): two
//! of them alternated at 2,000 datagrams a second into one node, for longer
//! than a session lives, at any phase. Before challenges, each copy spent
//! one of the peer's tokens, so the genuine rekey never got one and the
//! link went down when the session expired. Now no replay is read: the
//! link stays fresh throughout, rekeys go on, and a neighbour restarted
//! during the flood is back within the recovery bound plus one round trip.

mod common;

use core::time::Duration;

use common::*;
use probekey::{Config, Instant};
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig};

/// Two distinct authentic initiations node 1 sent node 0: its first and
/// the one after a restart.
fn recorded_initiations(config: Config, seed: u64) -> (Sim, [Vec<u8>; 2]) {
    let mut c = SimConfig::mesh(2, config, seed);
    c.record = true;
    let mut sim = Sim::new(c);
    sim.add_fault(FaultWindow {
        start: at(secs(3)),
        end: at(secs(3)),
        fault: Fault::Restart { node: 1 },
    });
    settle(&mut sim, secs(2));
    sim.run_until(at(secs(6)));
    assert!(sim.all_fresh());
    let mut found: Vec<Vec<u8>> = Vec::new();
    for d in sim
        .recorded
        .iter()
        .filter(|d| message_type(d) == INITIATION)
    {
        let head = &d.bytes[..probekey::wire::MAC1_OFFSET];
        if d.from == 1
            && !found
                .iter()
                .any(|f| &f[..probekey::wire::MAC1_OFFSET] == head)
        {
            found.push(d.bytes.clone());
        }
    }
    assert!(found.len() >= 2, "two initiations recorded");
    let pair = [found[0].clone(), found[found.len() - 1].clone()];
    (sim, pair)
}

/// Floods node 0 with `replays` alternated, 2,000 a second, from now
/// for `length`, checking every 100 ms that every link is fresh (unless
/// `allow_stale` says the instant is exempt). Returns the DH node 0 spent.
fn flood(
    sim: &mut Sim,
    replays: &[Vec<u8>; 2],
    length: Duration,
    allow_stale: impl Fn(Instant) -> bool,
) -> u64 {
    let dh_before = sim.node(0).endpoint.stats().dh_operations;
    let start = sim.now();
    let mut t = start;
    let mut k = 0usize;
    while t < start + length {
        // Ten every 5 ms: 2,000 a second, in small bursts.
        t = t + Duration::from_millis(5);
        sim.run_until(t);
        for _ in 0..10 {
            sim.inject(1, 0, replays[k % 2].clone());
            k += 1;
        }
        if k.is_multiple_of(200) {
            assert!(
                sim.all_fresh() || allow_stale(t),
                "a link went stale at {t:?} under the flood"
            );
        }
    }
    sim.node(0).endpoint.stats().dh_operations - dh_before
}

#[test]
fn a_two_initiation_flood_never_takes_a_healthy_link_down() {
    for (config, seed) in [(multiprocess_config(), 31), (Config::default(), 32)] {
        let (mut sim, replays) = recorded_initiations(config, seed);
        let length = config.reject_after_time() + secs(30);
        let before = status(&sim, 0, 1);
        let dh = flood(&mut sim, &replays, length, |_| false);
        let after = status(&sim, 0, 1);
        // The sessions were renewed under the flood, and every
        // Diffie-Hellman went to a genuine handshake: at most three per
        // handshake node 0 took part in, none per replay.
        let handshakes = after.handshakes_completed - before.handshakes_completed;
        let started = after.handshakes_started - before.handshakes_started;
        let rekeys = (length.as_secs() / config.rekey_after_time().as_secs()).max(1);
        assert!(
            handshakes >= rekeys,
            "{handshakes} handshakes in {length:?}"
        );
        assert!(
            dh <= 3 * (handshakes + started),
            "{dh} DH for {handshakes} handshakes"
        );
        assert!(sim.violations.is_empty());
        println!(
            "flood of {} s at 2 kpps: {dh} DH at the flooded node ({:.2}/s), {handshakes} handshakes, {} rate limited",
            length.as_secs(),
            dh as f64 / length.as_secs_f64(),
            after.rejected.rate_limited - before.rejected.rate_limited
        );
    }
}

#[test]
fn a_neighbour_restarted_during_the_flood_is_back_within_the_bound() {
    for (config, seed) in [(multiprocess_config(), 33), (Config::default(), 34)] {
        let (mut sim, replays) = recorded_initiations(config, seed);
        let restart = sim.now() + secs(5);
        sim.add_fault(FaultWindow {
            start: restart,
            end: restart,
            fault: Fault::Restart { node: 1 },
        });
        let bound = sim.recovery_bound() + sim.config().rtt();
        let length = secs(20);
        flood(&mut sim, &replays, length, |t| {
            t >= restart && t <= restart + bound
        });
        let back = sim
            .first_validation_after(1, 0, restart)
            .expect("node 0 validates the restarted node");
        let both = sim
            .first_validation_after(0, 1, restart)
            .expect("the restarted node validates node 0");
        let took = back.max(both) - restart;
        assert!(took <= bound, "back after {took:?}, bound {bound:?}");
        println!("restarted under the flood: validating again after {took:?} (bound {bound:?})");
    }
}

//! The session lifecycle of `docs/PROTOCOL.md` §4.4 under the three
//! schedules an independent harness found breaking it: a responder's
//! session answered long before its proof, a crossing whose winning
//! keepalive is delayed past `epoch_grace`, and a clean crossing. Each
//! checks freshness continuously, not at a few instants.

mod common;

use common::*;
use core::cell::Cell;
use core::time::Duration;
use probekey::{Config, Instant};
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig, Verdict};
use std::rc::Rc;

fn rejected_total(sim: &Sim) -> u64 {
    (0..2).map(|n| status(sim, n, 1 - n).rejected.total()).sum()
}

fn started(sim: &Sim) -> [u64; 2] {
    [0, 1].map(|n| status(sim, n, 1 - n).handshakes_started)
}

/// Both nodes call `initiate_handshake` at the same instant.
fn initiate_both(sim: &mut Sim) {
    let now = sim.now();
    for n in [0, 1] {
        let id = sim.node(n).peer_id(1 - n).expect("configured");
        sim.node_mut(n)
            .endpoint
            .initiate_handshake(now, id)
            .expect("a configured peer");
    }
}

/// Finding 1: the responder dates its pending session from the first copy
/// of an initiation and answers later copies from its cached response for
/// up to `handshake_max_age`; with `reject_after_time` shorter than that,
/// the session was already expired when its proof made it current, and the
/// peer's probes were refused until `stale_after`.
#[test]
fn a_session_answered_long_before_its_proof_is_not_expired_when_it_becomes_current() {
    let config = multiprocess_config();
    for (delay_ms, lost) in [(20, (0, 1)), (2, (0, 1)), (20, (1, 0))] {
        for seed in 0..8 {
            let mut c = SimConfig::mesh(2, config, 900 + seed);
            c.one_way_delay = Duration::from_millis(delay_ms);
            let mut sim = Sim::new(c);
            sim.add_fault(FaultWindow {
                start: at(secs(10)),
                end: at(secs(30)),
                fault: Fault::Loss {
                    from: lost.0,
                    to: lost.1,
                    rate: 1.0,
                },
            });
            sim.add_fault(FaultWindow {
                start: at(secs(20)),
                end: at(secs(20)),
                fault: Fault::Restart { node: 1 },
            });
            let healed = at(secs(30));
            let bound = config.recovery_bound(sim.config().rtt());
            let settled = sim.measure_recovery(healed, healed + bound + secs(20)).all;
            let took = settled.map(|t| t - healed);
            assert!(
                took.is_some_and(|d| d <= bound),
                "{delay_ms} ms, {lost:?} lost, seed {seed}: fresh for good after {took:?}, bound {bound:?}"
            );
            assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        }
    }
}

/// Finding 2: after a crossing, the responder side took our own waiting
/// session for superseded although it outranks the new current one, gave it
/// `epoch_grace` and erased it; when the peer later proved it (the larger
/// key's keepalive delayed 3 s), the peer switched to a session we no
/// longer held.
#[test]
fn a_crossing_whose_winning_keepalive_is_delayed_past_the_grace_recovers_within_the_bound() {
    let config = Config::default();
    for seed in 0..8 {
        let mut sim = pair_with(config, 1_000 + seed);
        settle(&mut sim, secs(5));
        sim.run_until(at(secs(20)));
        let larger = usize::from(sim.node(1).keypair().public() > sim.node(0).keypair().public());
        let crossed_at = sim.now();
        let hold = secs(3);
        let held: Rc<Cell<Option<Instant>>> = Rc::default();
        let record = Rc::clone(&held);
        sim.set_filter(move |d| {
            if record.get().is_none()
                && d.from == larger
                && d.sent_at >= crossed_at
                && is_keepalive(d)
            {
                record.set(Some(d.sent_at));
                Verdict::Delay(hold)
            } else {
                Verdict::Pass
            }
        });
        initiate_both(&mut sim);
        sim.run_until(crossed_at + secs(1));
        let sent = held.get().expect("the larger key confirms its session");
        let delivered = sent + sim.config().one_way_delay + hold;
        let bound = config.recovery_bound(sim.config().rtt());
        let settled = sim
            .measure_recovery(delivered, delivered + bound + secs(60))
            .all;
        let took = settled.map(|t| t.saturating_duration_since(delivered));
        assert!(
            took.is_some_and(|d| d <= bound),
            "seed {seed}: fresh for good {took:?} after the delayed keepalive, bound {bound:?}"
        );
        assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    }
}

/// Finding 3: a superseded session that took over again kept its grace
/// deadline, so on a clean network a simultaneous `initiate_handshake` on
/// both sides erased the session both had settled on `epoch_grace` later,
/// refused probes and started a `NoSession` handshake.
#[test]
fn a_clean_crossing_refuses_no_probe_and_starts_no_second_handshake() {
    for config in [Config::default(), multiprocess_config()] {
        for seed in 0..8 {
            let mut sim = pair_with(config, 1_100 + seed);
            settle(&mut sim, secs(5));
            sim.run_until(at(secs(20)));
            let rejected = rejected_total(&sim);
            let before = started(&sim);
            initiate_both(&mut sim);
            let crossed_at = sim.now();
            // Fresh throughout, through several grace windows and up to the
            // next rekey.
            let until = crossed_at + (config.rekey_after_time() - config.probe_interval());
            let lapse = sim.run_until_true(until, |s| !s.all_fresh());
            assert_eq!(lapse, None, "seed {seed}: a direction went stale");
            assert_eq!(
                rejected_total(&sim),
                rejected,
                "seed {seed}: probes refused: {:?} / {:?}",
                status(&sim, 0, 1).rejected,
                status(&sim, 1, 0).rejected
            );
            let after = started(&sim);
            assert_eq!(
                [after[0] - before[0], after[1] - before[1]],
                [1, 1],
                "seed {seed}: one handshake per side, the crossing itself"
            );
            assert!(sim.violations.is_empty(), "{:?}", sim.violations);
        }
    }
}

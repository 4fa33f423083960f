//! Reordering inside the replay window and epoch window is harmless;
//! beyond them, late probes are refused and counted, never accepted twice,
//! and nothing desynchronises.

mod common;

use core::time::Duration;

use common::*;
use probekey::{Config, Instant, ProbeKind, Received, RejectReason};
use probekey_sim::Sim;

/// Seals `n` probes from node 0 to node 1 at `now`, outside the network.
fn seal_many(sim: &mut Sim, n: usize, now: Instant) -> Vec<Vec<u8>> {
    let peer = sim.node(0).peer_id(1).unwrap();
    (0..n)
        .map(|i| {
            let mut out = [0u8; 64];
            let body = (i as u64).to_be_bytes();
            let len = sim
                .node_mut(0)
                .endpoint
                .seal(now, peer, ProbeKind::Probe, &body, &mut out)
                .unwrap();
            out[..len].to_vec()
        })
        .collect()
}

fn open(sim: &mut Sim, now: Instant, d: &[u8]) -> Result<u64, RejectReason> {
    let mut b = d.to_vec();
    match sim.node_mut(1).endpoint.handle_datagram(now, &mut b) {
        Ok(Received::Probe { body, .. }) => Ok(u64::from_be_bytes(body.try_into().unwrap())),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.reason),
    }
}

#[test]
fn reversed_inside_the_window_all_accepted_exactly_once() {
    let mut sim = pair(61);
    settle(&mut sim, secs(5));
    let now = sim.now();
    let probes = seal_many(&mut sim, 512, now);
    for (i, p) in probes.iter().enumerate().rev() {
        assert_eq!(open(&mut sim, now, p), Ok(i as u64));
    }
    for p in &probes {
        assert_eq!(open(&mut sim, now, p), Err(RejectReason::Replay));
    }
}

#[test]
fn beyond_the_replay_window_refused_and_counted() {
    let mut sim = pair(62);
    settle(&mut sim, secs(5));
    let now = sim.now();
    let probes = seal_many(&mut sim, 600, now);
    let before = status(&sim, 1, 0).rejected.replay;
    assert_eq!(open(&mut sim, now, &probes[599]), Ok(599));
    let mut accepted = 0;
    for (i, p) in probes[..599].iter().enumerate() {
        match open(&mut sim, now, p) {
            Ok(v) => {
                assert_eq!(v, i as u64);
                assert!(599 - i < 512, "probe {i} is beyond the window");
                accepted += 1;
            }
            Err(r) => {
                assert_eq!(r, RejectReason::Replay);
                assert!(599 - i >= 512, "probe {i} is inside the window");
            }
        }
    }
    assert_eq!(accepted, 511);
    assert_eq!(status(&sim, 1, 0).rejected.replay - before, 88);
    // Later probes still validate: nothing desynchronised.
    let more = seal_many(&mut sim, 1, now);
    assert_eq!(open(&mut sim, now, &more[0]), Ok(0));
}

#[test]
fn previous_epoch_accepted_within_grace_refused_after() {
    let config = Config::builder().rotate_after_packets(10).build().unwrap();
    let mut sim = pair_with(config, 63);
    settle(&mut sim, secs(5));
    // An epoch lasts at least the grace window (§5.3).
    let now = sim.now() + config.epoch_grace();
    // Seal probes until the send epoch advances; rotation needs the peer
    // to have acknowledged this epoch, which the running simulation did.
    let start = status(&sim, 0, 1).send_epoch.unwrap();
    let mut old = Vec::new();
    let mut new = Vec::new();
    for _ in 0..40 {
        let p = seal_many(&mut sim, 1, now).remove(0);
        let epoch = u32::from_be_bytes(p[8..12].try_into().unwrap());
        if epoch == start.0 {
            old.push(p);
        } else {
            new.push(p);
        }
    }
    assert!(
        !old.is_empty() && !new.is_empty(),
        "the epoch advanced once"
    );
    // The next epoch arrives first and moves the receiver's window.
    assert!(open(&mut sim, now, &new[0]).is_ok());
    // Within the grace window the previous epoch's late probes validate.
    let within = now + (config.epoch_grace() - Duration::from_millis(1));
    assert!(open(&mut sim, within, &old[0]).is_ok());
    // After it, they are refused cheaply.
    let after = now + config.epoch_grace();
    assert_eq!(
        open(&mut sim, after, &old[1]),
        Err(RejectReason::EpochOutsideWindow)
    );
    assert!(open(&mut sim, after, &new[1]).is_ok());
}

#[test]
fn heavy_reordering_and_duplication_on_the_network() {
    use probekey_sim::Fault;
    let mut sim = pair(64);
    settle(&mut sim, secs(5));
    let window = (at(secs(10)), at(secs(310)));
    each_way(&mut sim, (0, 1), window, |from, to| Fault::Delay {
        from,
        to,
        extra: Duration::ZERO,
        jitter: Duration::from_millis(800),
    });
    each_way(&mut sim, (0, 1), window, |from, to| Fault::Duplicate {
        from,
        to,
        rate: 0.5,
    });
    sim.run_until(at(secs(310)));
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        assert!(st.inbound.fresh && st.outbound.fresh);
        // Duplicates are refused as replays, nothing else.
        assert!(st.rejected.replay > 100);
        assert_eq!(
            st.rejected.bad_tag + st.rejected.epoch_outside_window,
            0,
            "{:?}",
            st.rejected
        );
    }
    assert_recovers(&mut sim, at(secs(310)));
}

//! Loss of each handshake message in turn, with one initiator: the
//! handshake completes at the next retry, a lost response is answered from
//! the responder's cache without new Diffie-Hellman, and a lost keepalive is
//! replaced by the initiator's next probe.

mod common;

use core::time::Duration;
use std::cell::Cell;
use std::rc::Rc;

use common::*;
use probekey_sim::Verdict;

/// Node 1's initiations are always lost, so node 0 is the only initiator;
/// additionally the first `k` messages matching `lost` are lost. Returns the
/// time both links are fresh and node 1's DH count.
fn run(k: u32, lost: impl Fn(&probekey_sim::Datagram) -> bool + 'static) -> (Duration, u64) {
    let mut sim = pair(7);
    let left = Rc::new(Cell::new(k));
    let l = left.clone();
    sim.set_filter(move |d| {
        if d.from == 1 && message_type(d) == INITIATION {
            return Verdict::Drop;
        }
        if lost(d) && l.get() > 0 {
            l.set(l.get() - 1);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    let t = settle(&mut sim, Duration::from_secs(30));
    assert_eq!(left.get(), 0, "the filter saw all {k} messages");
    assert!(sim.violations.is_empty());
    (
        t - probekey::Instant::ZERO,
        sim.node(1).endpoint.stats().dh_operations,
    )
}

/// Retries happen at 0.5 s, 1.5 s, 3.5 s (doubling, jitter only shortens).
fn retry_time(k: u32) -> Duration {
    (0..k).map(|i| Duration::from_millis(500) * (1 << i)).sum()
}

#[test]
fn lost_initiations_complete_at_the_next_retries() {
    let (base, _) = run(0, |_| false);
    assert!(base < Duration::from_millis(400), "{base:?}");
    for k in 1..=3 {
        let (t, _) = run(k, |d| d.from == 0 && message_type(d) == INITIATION);
        let bound = retry_time(k) + Duration::from_millis(400);
        assert!(t <= bound, "{k} lost: fresh at {t:?} > {bound:?}");
        assert!(
            t > retry_time(k) * 8 / 10,
            "{k} lost: fresh at {t:?}, too early"
        );
    }
}

#[test]
fn lost_responses_are_resent_from_the_cache_without_diffie_hellman() {
    let (_, dh_clean) = run(0, |_| false);
    for k in 1..=3 {
        let (t, dh) = run(k, |d| d.from == 1 && message_type(d) == RESPONSE);
        let bound = retry_time(k) + Duration::from_millis(400);
        assert!(t <= bound, "{k} lost: fresh at {t:?} > {bound:?}");
        // The retransmitted initiation is identical, so the responder
        // resends its cached response instead of a new handshake.
        assert_eq!(dh, dh_clean, "{k} responses lost");
    }
}

#[test]
fn lost_keepalive_is_replaced_by_the_next_probe() {
    let (t, _) = run(1, |d| d.from == 0 && is_keepalive(d));
    // Node 1 learns the session is held from node 0's next probe.
    assert!(t <= Duration::from_millis(250 * 2 + 200), "{t:?}");
}

#[test]
fn every_message_of_the_first_handshake_lost_once() {
    // All three messages of the first exchange lost, then everything works.
    let mut sim = pair(11);
    let seen = Rc::new(Cell::new(0u32));
    let s = seen.clone();
    sim.set_filter(move |d| {
        if d.sent_at < probekey::Instant::from_millis(100) && message_type(d) != PROBE {
            s.set(s.get() + 1);
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    let t = settle(&mut sim, Duration::from_secs(10));
    assert!(seen.get() >= 2, "both initiations were dropped");
    assert!(t <= at(retry_time(1) + Duration::from_millis(400)), "{t:?}");
}

//! Slow answers, not only lost ones: handshake responses that arrive 10×
//! and 100× the first retry interval late still complete the handshake,
//! because retries resend the same initiation (bound to the responder's
//! challenge or asking for one) and the responder resends the same response.

mod common;

use core::time::Duration;
use std::collections::HashSet;

use common::*;
use probekey_sim::Verdict;

fn slow_responses(factor: u32, seed: u64) {
    let mut sim = pair(seed);
    let initial = sim.config().config.handshake_retry_initial();
    let extra = initial * factor;
    sim.set_filter(move |d| {
        if message_type(d) == RESPONSE {
            Verdict::Delay(extra)
        } else {
            Verdict::Pass
        }
    });
    let config = sim.config().clone();
    let t = sim
        .run_until_true(at(extra + secs(10)), |s| s.all_fresh())
        .expect("handshake completes despite slow responses");
    // Responses need one_way + extra; then keepalives and probes.
    let earliest = extra;
    let latest = extra + config.config.recovery_bound(config.rtt());
    assert!(
        t >= at(earliest) && t <= at(latest),
        "{factor}x: fresh at {t:?}"
    );
    // Retransmissions were identical: one ephemeral key per initiator.
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        assert_eq!(
            st.handshakes_started, 1,
            "node {n} never restarted its handshake"
        );
    }
    assert!(sim.violations.is_empty());
}

#[test]
fn response_ten_times_the_first_retry_interval_late() {
    slow_responses(10, 21);
}

#[test]
fn response_a_hundred_times_the_first_retry_interval_late() {
    slow_responses(100, 22);
}

#[test]
fn retransmitted_initiations_are_identical_until_answered() {
    let mut sim = probekey_sim::Sim::new({
        let mut c = probekey_sim::SimConfig::mesh(2, probekey::Config::default(), 23);
        c.record = true;
        c
    });
    sim.set_filter(|d| {
        if message_type(d) == RESPONSE {
            Verdict::Delay(Duration::from_secs(50))
        } else {
            Verdict::Pass
        }
    });
    sim.run_until(at(secs(60)));
    for n in [0, 1] {
        let inits: HashSet<&[u8]> = sim
            .recorded
            .iter()
            .filter(|d| d.from == n && message_type(d) == INITIATION && d.sent_at < at(secs(50)))
            // Up to the MACs: mac2 binds the responder's challenge, or
            // none when a retry asks for a new one (§4.5).
            .map(|d| &d.bytes[..probekey::wire::MAC1_OFFSET])
            .collect();
        let sent = sim
            .recorded
            .iter()
            .filter(|d| d.from == n && message_type(d) == INITIATION && d.sent_at < at(secs(50)))
            .count();
        assert!(sent > 20, "node {n} kept retrying ({sent})");
        assert_eq!(inits.len(), 1, "node {n} resent one initiation");
    }
    assert!(sim.all_fresh());
}

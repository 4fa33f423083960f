//! Thousands of epoch rotations: keys rotate by count and by time, the
//! receiver's window always holds the sender's epoch, no probe is refused
//! and the health never flaps.

mod common;

use core::time::Duration;

use common::*;
use probekey::{Config, Event, LinkDirection};
use probekey_sim::{Sim, SimConfig};

/// Epoch rotations node `n` reported in `direction`.
fn count_rotations(sim: &Sim, n: usize, direction: LinkDirection) -> usize {
    sim.events_at(n)
        .filter(
            |(_, _, e)| matches!(e, Event::EpochRotated { direction: d, .. } if *d == direction),
        )
        .count()
}

#[test]
fn thousands_of_rotations_by_count_without_a_refusal() {
    // An epoch lasts at least the grace window, so a short one allows
    // rotating at almost every probe.
    let config = Config::builder()
        .rotate_after_packets(2)
        .max_reorder_delay(Duration::from_millis(100))
        .epoch_grace(Duration::from_millis(100))
        .rotate_after_time(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut sim = Sim::new(SimConfig::mesh(2, config, 31));
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(900)));
    for n in [0, 1] {
        let rotations = count_rotations(&sim, n, LinkDirection::Outbound);
        assert!(rotations >= 2000, "node {n}: {rotations} rotations");
        let inbound = count_rotations(&sim, n, LinkDirection::Inbound);
        assert!(inbound >= 2000, "node {n}: {inbound} inbound rotations");
        let st = status(&sim, n, 1 - n);
        assert_eq!(st.rejected.total(), 0, "{:?}", st.rejected);
        // The session is renewed at rekey_after_time (600 s), so the epoch
        // counts from there.
        assert!(st.send_epoch.unwrap().0 >= 500, "{:?}", st.send_epoch);
        assert!(st.handshakes_completed >= 2);
        // No health flapping after the first establishment.
        let changes = sim.health_changes(n, LinkDirection::Inbound);
        assert_eq!(changes.len(), 1, "{changes:?}");
    }
    assert!(sim.violations.is_empty());
}

#[test]
fn rotation_by_time_under_loss_and_reordering() {
    use probekey_sim::Fault;
    let config = Config::builder()
        .rotate_after_time(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut sim = Sim::new(SimConfig::mesh(2, config, 32));
    settle(&mut sim, secs(5));
    let window = (at(secs(10)), at(secs(1200)));
    each_way(&mut sim, (0, 1), window, |from, to| Fault::Loss {
        from,
        to,
        rate: 0.3,
    });
    each_way(&mut sim, (0, 1), window, |from, to| Fault::Delay {
        from,
        to,
        extra: Duration::ZERO,
        jitter: Duration::from_millis(900),
    });
    sim.run_until(at(secs(1200)));
    for n in [0, 1] {
        let st = status(&sim, n, 1 - n);
        let rotations = count_rotations(&sim, n, LinkDirection::Outbound);
        assert!(rotations >= 500, "node {n}: {rotations} rotations");
        // Reordering within max_reorder_delay never costs a probe.
        assert_eq!(st.rejected.epoch_outside_window, 0, "{:?}", st.rejected);
        assert_eq!(st.rejected.bad_tag, 0);
    }
    assert!(sim.violations.is_empty());
    assert_recovers(&mut sim, at(secs(1200)));
}

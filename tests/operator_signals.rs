//! What a routing layer and a metrics system are told (issue: "a neighbour
//! that never comes up is loud"): a configured neighbour starts "not yet
//! up"; a handshake that keeps failing is reported within
//! `handshake_failing_after`, then periodically, with what the neighbour's
//! datagrams were refused for; every direction counts its transitions, says
//! when it last changed and why it last went down.

mod common;

use core::time::Duration;

use common::*;
use probekey::{Config, DownReason, Event, Instant, LinkState, PeerId};
use probekey_sim::Fault;

/// Runs `a` and `b` (each reading `now`) for `span` in steps of 10 ms,
/// delivering every datagram unless `deliver` is false; returns `a`'s
/// events with their times.
fn run(
    a: &mut Ep,
    b: &mut Ep,
    start: Instant,
    span: Duration,
    deliver: bool,
) -> Vec<(Instant, Event)> {
    let mut events = Vec::new();
    let mut buf = [0u8; 256];
    let mut now = start;
    while now <= start + span {
        a.handle_timeout(now);
        b.handle_timeout(now);
        for _ in 0..8 {
            while let Some(t) = a.poll_transmit(now, &mut buf).expect("room") {
                if deliver {
                    let _ = b.handle_datagram(now, &mut buf[..t.len]);
                }
            }
            while let Some(t) = b.poll_transmit(now, &mut buf).expect("room") {
                if deliver {
                    let _ = a.handle_datagram(now, &mut buf[..t.len]);
                }
            }
        }
        while let Some(e) = a.poll_event() {
            events.push((now, e));
        }
        while b.poll_event().is_some() {}
        now = now + Duration::from_millis(10);
    }
    events
}

fn failing(events: &[(Instant, Event)], peer: PeerId) -> Vec<(Instant, Event)> {
    events
        .iter()
        .filter(|(_, e)| matches!(e, Event::HandshakeFailing { peer: p, .. } if *p == peer))
        .copied()
        .collect()
}

#[test]
fn a_neighbour_is_not_yet_up_from_the_moment_it_is_added() {
    let mut a = endpoint(Config::default(), 1);
    let id = a.add_peer(Instant::ZERO, key(2)).expect("peer");
    assert_eq!(a.poll_event(), Some(Event::PeerAdded { peer: id }));
    let s = a.peer_status(id, Instant::ZERO).expect("peer");
    assert_eq!(s.inbound.state(), LinkState::NotYetUp);
    assert_eq!(s.outbound.state(), LinkState::NotYetUp);
    assert_eq!(
        (s.inbound.ups, s.inbound.downs, s.inbound.since),
        (0, 0, None)
    );
}

#[test]
fn a_neighbour_of_another_deployment_is_reported_failing_with_what_its_datagrams_were_refused_for()
{
    // The finding: two nodes with different deployment ids produced no
    // event at all; only counters moved.
    let after = Duration::from_secs(4);
    let config = |id: &[u8]| {
        Config::builder()
            .deployment_id(id)
            .handshake_failing_after(after)
            .build()
            .expect("config")
    };
    let mut a = endpoint(config(b"prod"), 1);
    let mut b = endpoint(config(b"lab"), 2);
    let t0 = Instant::ZERO;
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    b.add_peer(t0, a.public_key()).expect("peer");
    let events = run(&mut a, &mut b, t0, Duration::from_secs(9), true);
    let reports = failing(&events, b_at_a);
    assert_eq!(reports.len(), 2, "at 4 s and at 8 s: {reports:?}");
    let (
        at,
        Event::HandshakeFailing {
            for_how_long,
            attempts,
            rejected,
            ..
        },
    ) = reports[0]
    else {
        unreachable!()
    };
    assert_eq!(at, t0 + after);
    assert_eq!(for_how_long, after);
    assert!(attempts >= 3, "{attempts}");
    // b's MACs are right (they bind the keys, not the deployment), but
    // its handshake is over another prologue: refused as failed
    // authentication, attributed to b by its key id.
    assert_eq!(rejected.dominant().map(|(name, _)| name), Some("bad_tag"));
    let text = reports[0].1.to_string();
    assert!(
        text.contains("failing") && text.contains("bad_tag"),
        "{text}"
    );
    assert_eq!(reports[1].0, t0 + after * 2);
}

#[test]
fn a_neighbour_that_never_answers_is_reported_failing_with_nothing_refused() {
    let mut a = endpoint(Config::default(), 1);
    let mut b = endpoint(Config::default(), 2);
    let t0 = Instant::ZERO;
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    let events = run(&mut a, &mut b, t0, Duration::from_secs(11), false);
    let reports = failing(&events, b_at_a);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let Event::HandshakeFailing { rejected, .. } = reports[0].1 else {
        unreachable!()
    };
    assert_eq!(rejected.dominant(), None);
    assert!(reports[0].1.to_string().contains("nothing heard"));
    // Once the handshake completes, no more reports.
    b.add_peer(t0 + Duration::from_secs(11), a.public_key())
        .expect("peer");
    let later = run(
        &mut a,
        &mut b,
        t0 + Duration::from_secs(11),
        Duration::from_secs(25),
        true,
    );
    assert!(failing(&later, b_at_a).is_empty(), "{later:?}");
}

#[test]
fn each_direction_counts_its_transitions_and_says_why_it_last_went_down() {
    let mut sim = pair(3);
    let up = settle(&mut sim, secs(5));
    let s = status(&sim, 0, 1);
    assert_eq!(s.inbound.state(), LinkState::Up);
    assert_eq!((s.inbound.ups, s.inbound.downs), (1, 0));
    assert!(s.inbound.since.is_some_and(|t| t <= up));

    // Node 0's probes to node 1 are lost: node 0 still hears node 1, so
    // its outbound direction goes down one-way; node 1 hears nothing.
    let cut_at = up + secs(1);
    sim.add_fault(probekey_sim::FaultWindow {
        start: cut_at,
        end: cut_at + secs(10),
        fault: Fault::Loss {
            from: 0,
            to: 1,
            rate: 1.0,
        },
    });
    sim.run_until(cut_at + secs(8));
    let s0 = status(&sim, 0, 1);
    assert_eq!(s0.outbound.state(), LinkState::Down);
    assert_eq!(s0.outbound.last_down, Some(DownReason::OneWay));
    assert_eq!(s0.outbound.downs, 1);
    assert_eq!(
        s0.inbound.state(),
        LinkState::Up,
        "node 0 still hears node 1"
    );
    let s1 = status(&sim, 1, 0);
    assert_eq!(s1.inbound.state(), LinkState::Down);
    assert_eq!(s1.inbound.last_down, Some(DownReason::Silence));
    // It went down when stale_after ran out, not when it was noticed.
    let down_at = s1.inbound.since.expect("changed");
    assert_eq!(
        down_at,
        s1.inbound.last.expect("heard before") + Config::default().stale_after()
    );

    // Healed: both up again, each direction counted once more.
    let healed = cut_at + secs(10);
    assert_recovers(&mut sim, healed);
    let s1 = status(&sim, 1, 0);
    assert_eq!((s1.inbound.ups, s1.inbound.downs), (2, 1));
    assert!(s1.inbound.since.is_some_and(|t| t >= healed));
    assert_eq!(
        s1.inbound.last_down,
        Some(DownReason::Silence),
        "the last down's reason stays"
    );
}

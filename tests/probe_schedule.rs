//! The probe schedule (`docs/PROTOCOL.md` §7.6): with it on, a daemon's
//! loop is the socket and `poll_timeout`, nothing more. Here two endpoints
//! run exactly that loop over a network with a 5 ms one-way delay: no probe
//! timing, echo or RTT code of the caller's.

mod common;

use core::time::Duration;
use std::collections::VecDeque;

use common::{Ep, endpoint};
use probekey::{Config, Event, Instant, LinkDirection, PeerId, TransmitKind};

const DELAY: Duration = Duration::from_millis(5);

struct Run {
    eps: [Ep; 2],
    ids: [PeerId; 2],
    sent: [[usize; 2]; 2],
    events: Vec<(usize, Event)>,
}

/// The whole daemon loop, for both nodes, until `end`: deliver what is
/// due, run the timers when `poll_timeout` says, send what
/// `poll_transmit` gives.
fn run(r: &mut Run, start: Instant, end: Instant) {
    let mut wire: VecDeque<(Instant, usize, Vec<u8>)> = VecDeque::new();
    let mut now = start;
    let mut buf = [0u8; 256];
    while now <= end {
        while wire.front().is_some_and(|(at, _, _)| *at <= now) {
            let (_, to, mut d) = wire.pop_front().expect("due");
            let _ = r.eps[to].handle_datagram(now, &mut d);
        }
        for i in 0..2 {
            if r.eps[i].poll_timeout().is_some_and(|t| t <= now) {
                r.eps[i].handle_timeout(now);
            }
            while let Some(t) = r.eps[i].poll_transmit(now, &mut buf).expect("room") {
                assert_eq!(t.peer, r.ids[i]);
                match t.kind {
                    TransmitKind::Probe => r.sent[i][0] += 1,
                    TransmitKind::Echo => r.sent[i][1] += 1,
                    _ => {}
                }
                wire.push_back((now + DELAY, 1 - i, buf[..t.len].to_vec()));
            }
            while let Some(e) = r.eps[i].poll_event() {
                r.events.push((i, e));
            }
        }
        // The next thing to happen: a delivery or a deadline.
        let next = [
            wire.front().map(|(at, _, _)| *at),
            r.eps[0].poll_timeout(),
            r.eps[1].poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end);
        now = next.max(now + Duration::from_micros(1));
    }
}

fn pair(config: Config) -> Run {
    let mut a = endpoint(config, 1);
    let mut b = endpoint(config, 2);
    let ids = [
        a.add_peer(Instant::ZERO, b.public_key()).expect("peer"),
        b.add_peer(Instant::ZERO, a.public_key()).expect("peer"),
    ];
    a.set_probe_schedule(true, Instant::ZERO);
    b.set_probe_schedule(true, Instant::ZERO);
    Run {
        eps: [a, b],
        ids,
        sent: [[0; 2]; 2],
        events: Vec::new(),
    }
}

#[test]
fn with_the_schedule_on_the_loop_is_the_socket_and_poll_timeout() {
    let config = Config::builder()
        .rotate_after_time(Duration::from_secs(5))
        .build()
        .expect("config");
    let mut r = pair(config);
    let ten = Instant::ZERO + Duration::from_secs(10);
    run(&mut r, Instant::ZERO, ten);
    for i in 0..2 {
        let s = r.eps[i].peer_status(r.ids[i], ten).expect("peer");
        assert!(s.inbound.fresh && s.outbound.fresh, "node {i}: {s:?}");
        // One probe per probe_interval (250 ms) once the session is up.
        let probes = r.sent[i][0];
        assert!((38..=41).contains(&probes), "node {i} sent {probes} probes");
        // Every probe of the peer's is echoed.
        assert_eq!(r.sent[i][1], r.sent[1 - i][0], "node {i}'s echoes");
        // The round trip from the echoes: two one-way delays.
        assert_eq!(s.echo_rtt, Some(DELAY * 2), "node {i}");
        assert!(r.eps[i].probe_schedule());
    }
    // Scheduled probes rotate the keys as the caller's would.
    let rotated = r
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::EpochRotated {
                    direction: LinkDirection::Outbound,
                    ..
                }
            )
        })
        .count();
    assert!(rotated >= 2, "{rotated} rotations");
}

#[test]
fn poll_timeout_names_the_next_probe_and_turning_the_schedule_off_stops_it() {
    let mut r = pair(Config::default());
    let two = Instant::ZERO + Duration::from_secs(2);
    run(&mut r, Instant::ZERO, two);
    let next = r.eps[0].poll_timeout().expect("a deadline");
    assert!(
        next <= two + Config::default().probe_interval(),
        "the next probe is at most one interval away: {next:?}"
    );
    for ep in &mut r.eps {
        ep.set_probe_schedule(false, two);
    }
    let before = r.sent;
    run(&mut r, two, two + Duration::from_secs(2));
    assert_eq!(r.sent, before, "no probe or echo with the schedule off");
    assert!(!r.eps[0].probe_schedule());
}

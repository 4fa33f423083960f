//! Two drivers on loopback, each knowing the other: both directions come up
//! and are reported fresh, with the round trip of the endpoint's own
//! probes; shutting one down makes the other report both directions stale
//! within `stale_after`; the handle's requests and refusals. Real sockets
//! and real time: every wait is bounded, generously, and the assertions are
//! on what happened, not on exact timings.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use probekey::{Config, Event, LinkDirection, PeerId, StaticKeypair};
use probekey_tokio::{DEFAULT_EVENT_CAPACITY, Driver, Error, Handle};
use tokio::time::{Instant, timeout};

/// A bound on every wait for something that takes milliseconds on an idle
/// machine.
const PATIENCE: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config::builder()
        .deployment_id(b"probekey-tokio test")
        .probe_interval(Duration::from_millis(50))
        .stale_after(Duration::from_millis(600))
        .handshake_retry_initial(Duration::from_millis(50))
        .handshake_retry_max(Duration::from_millis(200))
        // The rate limit must admit a peer retrying at the fastest rate.
        .handshake_rate_interval(Duration::from_millis(50))
        .build()
        .expect("a consistent configuration")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn keypair() -> StaticKeypair {
    StaticKeypair::generate(&mut probekey::os_rng())
}

/// Two drivers, each with the other as its one neighbour and an event
/// channel of `event_capacity`: their handles and the id each gave the
/// other.
async fn pair(config: Config, event_capacity: usize) -> ([Handle; 2], [PeerId; 2]) {
    let mut a = Driver::bind(loopback(), config, keypair())
        .await
        .expect("bind");
    let mut b = Driver::bind(loopback(), config, keypair())
        .await
        .expect("bind");
    a.set_event_capacity(event_capacity).expect("capacity");
    b.set_event_capacity(event_capacity).expect("capacity");
    let b_at_a = a
        .add_neighbour(b.public_key(), b.local_addr())
        .expect("neighbour");
    let a_at_b = b
        .add_neighbour(a.public_key(), a.local_addr())
        .expect("neighbour");
    (
        [a.spawn().expect("spawn"), b.spawn().expect("spawn")],
        [b_at_a, a_at_b],
    )
}

/// What one node has reported about its neighbour so far.
#[derive(Default, Debug)]
struct Seen {
    established: bool,
    fresh: HashSet<LinkDirection>,
    stale: HashSet<LinkDirection>,
}

impl Seen {
    fn record(&mut self, peer: PeerId, event: Event) {
        match event {
            Event::SessionEstablished { peer: p, .. } => {
                assert_eq!(p, peer);
                self.established = true;
            }
            Event::HealthChanged {
                peer: p,
                direction,
                fresh,
            } => {
                assert_eq!(p, peer);
                if fresh {
                    self.fresh.insert(direction);
                } else {
                    self.stale.insert(direction);
                }
            }
            _ => {}
        }
    }

    fn up(&self) -> bool {
        self.established && self.fresh.len() == 2
    }
}

/// Reads both drivers' events until each has a session and both
/// directions fresh, within [`PATIENCE`]; what each saw.
async fn both_up(
    (a, b_at_a): (&mut Handle, PeerId),
    (b, a_at_b): (&mut Handle, PeerId),
) -> [Seen; 2] {
    let mut seen = [Seen::default(), Seen::default()];
    timeout(PATIENCE, async {
        while !(seen[0].up() && seen[1].up()) {
            tokio::select! {
                Some(e) = a.next_event() => seen[0].record(b_at_a, e),
                Some(e) = b.next_event() => seen[1].record(a_at_b, e),
                else => panic!("both drivers stopped"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("both links up within {PATIENCE:?}: {seen:?}"));
    seen
}

#[tokio::test]
async fn two_drivers_come_up_and_the_survivor_reports_the_other_stale() {
    let config = config();
    let started = Instant::now();
    let ([mut a, mut b], [b_at_a, a_at_b]) = pair(config, DEFAULT_EVENT_CAPACITY).await;

    // Both nodes: a session, and both directions fresh.
    let seen = both_up((&mut a, b_at_a), (&mut b, a_at_b)).await;
    assert!(seen.iter().all(|s| s.stale.is_empty()), "{seen:?}");

    // The status agrees, and the endpoint's own probes have been echoed:
    // echo_rtt is set at the first echo of a probe, an interval or so after
    // both directions are up.
    for (handle, peer) in [(&a, b_at_a), (&b, a_at_b)] {
        let status = timeout(PATIENCE, async {
            loop {
                let s = handle.peer_status(peer).await.expect("running");
                let s = s.expect("a configured neighbour");
                if s.echo_rtt.is_some() {
                    return s;
                }
                tokio::time::sleep(config.probe_interval()).await;
            }
        })
        .await
        .expect("an echoed probe");
        assert!(status.inbound.fresh && status.outbound.fresh, "{status:?}");
        assert!(status.handshakes_completed >= 1, "{status:?}");
        assert!(status.probes_opened >= 1, "{status:?}");
        let rtt = status.echo_rtt.expect("echo_rtt");
        assert!(rtt < PATIENCE, "loopback round trip {rtt:?}");
    }
    let stats = a.stats().await.expect("running");
    assert!(
        stats.datagrams_sent > 0 && stats.datagrams_received > 0,
        "{stats:?}"
    );
    assert_eq!(stats.events_dropped, 0, "{stats:?}");
    assert_eq!(stats.endpoint.rejected.total(), 0, "{stats:?}");

    // b goes away: a reports both directions stale once stale_after has
    // passed without b's probes (and acknowledgements).
    b.shutdown().await.expect("clean shutdown");
    let gone = Instant::now();
    let limit = config.stale_after() + Duration::from_secs(3);
    let mut after = Seen::default();
    timeout(limit, async {
        while after.stale.len() < 2 {
            let e = a.next_event().await.expect("a is running");
            after.record(b_at_a, e);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a reports b stale within {limit:?}: {after:?}"));
    eprintln!("b reported stale {:?} after its shutdown", gone.elapsed());
    let status = a
        .peer_status(b_at_a)
        .await
        .expect("running")
        .expect("configured");
    assert!(
        !status.inbound.fresh && !status.outbound.fresh,
        "{status:?}"
    );

    a.shutdown().await.expect("clean shutdown");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn neighbours_added_and_removed_at_run_time_and_refusals_are_typed() {
    let config = config();
    let mut a = Driver::bind(loopback(), config, keypair())
        .await
        .expect("bind");
    let b = Driver::bind(loopback(), config, keypair())
        .await
        .expect("bind");
    let (a_key, a_addr, b_key, b_addr) = (
        a.public_key(),
        a.local_addr(),
        b.public_key(),
        b.local_addr(),
    );
    // The driver's own key is refused, before and after the task starts.
    assert!(matches!(
        a.add_neighbour(a_key, b_addr),
        Err(Error::AddPeer(probekey::AddPeerError::OwnKey))
    ));
    assert!(matches!(
        a.set_event_capacity(0),
        Err(Error::EventCapacity { requested: 0 })
    ));
    let mut a = a.spawn().expect("spawn");
    let mut b = b.spawn().expect("spawn");
    assert!(matches!(
        a.add_neighbour(a_key, b_addr).await,
        Err(Error::AddPeer(probekey::AddPeerError::OwnKey))
    ));

    // Added at run time on both sides: the link comes up.
    let b_at_a = a.add_neighbour(b_key, b_addr).await.expect("added");
    let a_at_b = b.add_neighbour(a_key, a_addr).await.expect("added");
    assert!(matches!(
        a.add_neighbour(b_key, b_addr).await,
        Err(Error::AddPeer(probekey::AddPeerError::Duplicate(p))) if p == b_at_a
    ));
    both_up((&mut a, b_at_a), (&mut b, a_at_b)).await;

    // Removed: its status is gone, and removing it again is refused.
    a.remove_neighbour(b_at_a).await.expect("removed");
    assert_eq!(a.peer_status(b_at_a).await.expect("running"), None);
    assert!(matches!(
        a.remove_neighbour(b_at_a).await,
        Err(Error::Peer(probekey::PeerError::Removed))
    ));

    // After shutdown the socket is closed: its address can be bound again.
    a.shutdown().await.expect("clean shutdown");
    tokio::net::UdpSocket::bind(a_addr)
        .await
        .expect("the address is free again");
    b.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_reader_that_does_not_read_costs_events_not_the_protocol() {
    let config = config();
    let ([a, b], [b_at_a, _]) = pair(config, 1).await;
    // Nobody reads the events; the link comes up all the same.
    let status = timeout(PATIENCE, async {
        loop {
            let s = a.peer_status(b_at_a).await.expect("running");
            let s = s.expect("configured");
            if s.inbound.fresh && s.outbound.fresh {
                return s;
            }
            tokio::time::sleep(config.probe_interval()).await;
        }
    })
    .await
    .expect("the link comes up");
    assert!(status.handshakes_completed >= 1);
    // PeerAdded, SessionEstablished and two HealthChanged at least, sent
    // before the status could say fresh: all but the first dropped, and
    // counted.
    let stats = a.stats().await.expect("running");
    assert!(stats.events_dropped >= 3, "{stats:?}");
    a.shutdown().await.expect("clean shutdown");
    b.shutdown().await.expect("clean shutdown");
}

#[test]
fn outside_a_runtime_binding_and_spawning_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let driver = runtime
        .block_on(Driver::bind(loopback(), config(), keypair()))
        .expect("bind");
    assert!(matches!(driver.spawn(), Err(Error::NoRuntime)));
    // A future polled by another executor than tokio's.
    let bind = Driver::bind(loopback(), config(), keypair());
    let refused = block_on_outside_tokio(bind);
    assert!(matches!(refused, Err(Error::NoRuntime)));
    // A busy address.
    let taken = runtime.block_on(async {
        let socket = tokio::net::UdpSocket::bind(loopback()).await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let again = Driver::bind(addr, config(), keypair()).await;
        (addr, again)
    });
    assert!(
        matches!(taken, (addr, Err(Error::Bind { addr: a, .. })) if a == addr),
        "{taken:?}"
    );
}

/// Polls a future to completion on this thread, outside any runtime.
fn block_on_outside_tokio<F: std::future::Future>(f: F) -> F::Output {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

//! The endpoint-wide budget of Diffie-Hellmans spent answering initiations
//! (`handshake_dh_per_second`, `docs/PROTOCOL.md` §4.5): many peers asking
//! at once are answered at the budget's pace, every one of them in the
//! end, and responses to our own initiations never wait for it.

use core::time::Duration;

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::{
    Config, Endpoint, GrowableEndpoint, GrowableTable, Instant, PeerId, ProbeKind, StaticKeypair,
    TransmitKind,
};

type Ep = GrowableEndpoint<ChaCha20Rng>;

const SPOKES: usize = 12;

fn keypair(i: u8) -> StaticKeypair {
    StaticKeypair::from_secret_bytes([i; 32])
}

fn endpoint(config: Config, key: StaticKeypair, seed: u64) -> Ep {
    Endpoint::new(
        config,
        key,
        ChaCha20Rng::seed_from_u64(seed),
        GrowableTable::new(),
    )
}

/// A hub whose budget answers two initiations a second, and its spokes.
fn star(dh_per_second: u32) -> (Ep, Vec<(Ep, PeerId, PeerId)>) {
    let config = Config::builder()
        .handshake_dh_per_second(dh_per_second)
        .build()
        .expect("config");
    let mut hub = endpoint(config, keypair(1), 1);
    let spokes = (0..SPOKES)
        .map(|i| {
            let key = keypair(10 + u8::try_from(i).expect("few"));
            let mut s = endpoint(Config::default(), key, 100 + i as u64);
            let hub_at_s = s.add_peer(Instant::ZERO, hub.public_key()).expect("peer");
            let s_at_hub = hub.add_peer(Instant::ZERO, s.public_key()).expect("peer");
            (s, hub_at_s, s_at_hub)
        })
        .collect();
    (hub, spokes)
}

/// Moves datagrams both ways until none is left: the spokes' to the hub,
/// and the hub's to the spokes, the hub's initiations only if
/// `hub_initiates` (else the hub only answers).
fn exchange(hub: &mut Ep, spokes: &mut [(Ep, PeerId, PeerId)], now: Instant, hub_initiates: bool) {
    let mut buf = [0u8; 256];
    loop {
        let mut moved = 0;
        for (s, _, _) in spokes.iter_mut() {
            while let Some(t) = s.poll_transmit(now, &mut buf).expect("room") {
                let _ = hub.handle_datagram(now, &mut buf[..t.len]);
                moved += 1;
            }
        }
        while let Some(t) = hub.poll_transmit(now, &mut buf).expect("room") {
            if t.kind == TransmitKind::Initiation && !hub_initiates {
                continue;
            }
            let to = spokes
                .iter_mut()
                .find(|(_, _, id)| *id == t.peer)
                .expect("a spoke");
            let _ = to.0.handle_datagram(now, &mut buf[..t.len]);
            moved += 1;
        }
        if moved == 0 {
            return;
        }
    }
}

/// A probe each way on every link with a session, as the daemon sends
/// them, so that established links stay fresh and do not rekey.
fn probe(hub: &mut Ep, spokes: &mut [(Ep, PeerId, PeerId)], now: Instant) {
    let mut buf = [0u8; 256];
    for (s, hub_at_s, s_at_hub) in spokes.iter_mut() {
        if let Ok(len) = s.seal(now, *hub_at_s, ProbeKind::Probe, b"probe", &mut buf) {
            let _ = hub.handle_datagram(now, &mut buf[..len]);
        }
        if let Ok(len) = hub.seal(now, *s_at_hub, ProbeKind::Probe, b"probe", &mut buf) {
            let _ = s.handle_datagram(now, &mut buf[..len]);
        }
    }
}

fn established(hub: &Ep, spokes: &[(Ep, PeerId, PeerId)], now: Instant) -> usize {
    spokes
        .iter()
        .filter(|(_, _, id)| {
            hub.peer_status(*id, now)
                .is_some_and(|st| st.session_age.is_some())
        })
        .count()
}

#[test]
fn many_peers_asking_at_once_are_answered_at_the_budgets_pace_and_all_in_the_end() {
    // Three Diffie-Hellmans per initiation read: two a second, two at once.
    let (mut hub, mut spokes) = star(6);
    let step = Duration::from_millis(10);
    let mut now = Instant::ZERO;
    let mut all_at = None;
    while now < Instant::from_secs(30) {
        hub.handle_timeout(now);
        for (s, _, _) in spokes.iter_mut() {
            s.handle_timeout(now);
        }
        if now.as_nanos().is_multiple_of(250_000_000) {
            probe(&mut hub, &mut spokes, now);
        }
        exchange(&mut hub, &mut spokes, now, false);
        let n = established(&hub, &spokes, now);
        // The burst, then one every half second.
        let allowed = 2 + usize::try_from(now.as_nanos() / 500_000_000).expect("small");
        assert!(
            n <= allowed,
            "{n} sessions at {now:?}, budget allows {allowed}"
        );
        if n == SPOKES {
            all_at = Some(now);
            break;
        }
        now = now + step;
    }
    let all_at = all_at.expect("every spoke is answered in the end");
    // Twelve at two a second after the first two: at least 5 s; the
    // spokes' retries at the 2 s cap come in clusters, so about twice that.
    assert!(all_at >= Instant::from_secs(5), "{all_at:?}");
    std::println!("all {SPOKES} answered at {all_at:?}");
    let stats = hub.stats();
    assert!(stats.dh_budget_refusals > 0, "{stats:?}");
    // Each refusal is also a rate-limited rejection.
    assert!(
        stats.rejected.rate_limited >= stats.dh_budget_refusals,
        "{stats:?}"
    );
}

#[test]
fn responses_to_our_own_initiations_never_wait_for_the_budget() {
    // The smallest budget, spent at once by the spokes' initiations; the
    // hub's own handshakes all complete at the same instant all the same.
    let (mut hub, mut spokes) = star(3);
    let now = Instant::ZERO;
    for (s, _, _) in spokes.iter_mut() {
        s.handle_timeout(now);
    }
    hub.handle_timeout(now);
    exchange(&mut hub, &mut spokes, now, true);
    assert_eq!(established(&hub, &spokes, now), SPOKES);
    assert!(hub.stats().dh_budget_refusals > 0, "{:?}", hub.stats());
}

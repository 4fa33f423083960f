//! Shared harness for the integration tests: a two-node simulator with the
//! default configuration and helpers to measure recovery.
#![allow(dead_code)]

use core::time::Duration;

use probekey::{Config, Instant};
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig};

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

/// The short timers of the multi-process test and its simulated twin.
pub fn multiprocess_config() -> Config {
    probekey_sim::short_timers()
}

pub fn pair(seed: u64) -> Sim {
    Sim::new(SimConfig::mesh(2, Config::default(), seed))
}

pub fn pair_with(config: Config, seed: u64) -> Sim {
    Sim::new(SimConfig::mesh(2, config, seed))
}

/// Runs until every link is fresh both ways, panicking past `limit`.
pub fn settle(sim: &mut Sim, limit: Duration) -> Instant {
    let deadline = sim.now() + limit;
    sim.run_until_true(deadline, Sim::all_fresh)
        .unwrap_or_else(|| panic!("links not fresh by {deadline:?}"))
}

/// Adds `fault(from, to)` on both directions between `a` and `b`, from
/// `start` to `end`.
pub fn each_way(
    sim: &mut Sim,
    (a, b): (usize, usize),
    (start, end): (Instant, Instant),
    fault: impl Fn(usize, usize) -> Fault,
) {
    for (from, to) in [(a, b), (b, a)] {
        sim.add_fault(FaultWindow {
            start,
            end,
            fault: fault(from, to),
        });
    }
}

/// Cuts both directions between `a` and `b` from `start` to `end`.
pub fn cut(sim: &mut Sim, a: usize, b: usize, start: Instant, end: Instant) {
    each_way(sim, (a, b), (start, end), |from, to| Fault::Loss {
        from,
        to,
        rate: 1.0,
    });
}

/// After the network heals at `healed`, asserts that every link is fresh
/// both ways within the configured bound, and returns the recovery time.
pub fn assert_recovers(sim: &mut Sim, healed: Instant) -> Duration {
    let bound = sim.config().config.recovery_bound(sim.config().rtt());
    sim.run_until(healed);
    let deadline = healed + bound;
    let t = sim
        .run_until_true(deadline + secs(600), Sim::all_fresh)
        .unwrap_or_else(|| panic!("never recovered after {healed:?}"));
    let took = t - healed;
    assert!(took <= bound, "recovery took {took:?}, bound {bound:?}");
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    took
}

/// The message type byte of a datagram.
pub fn message_type(d: &probekey_sim::Datagram) -> u8 {
    d.bytes.first().copied().unwrap_or(0)
}

pub const INITIATION: u8 = probekey::wire::TYPE_INITIATION;
pub const RESPONSE: u8 = probekey::wire::TYPE_RESPONSE;
pub const PROBE: u8 = probekey::wire::TYPE_PROBE;
pub const CHALLENGE: u8 = probekey::wire::TYPE_CHALLENGE;

/// Whether a datagram is a keepalive probe.
pub fn is_keepalive(d: &probekey_sim::Datagram) -> bool {
    message_type(d) == PROBE && d.bytes.get(2) == Some(&2)
}

/// Status of `at`'s view of `peer`.
pub fn status(sim: &Sim, at: usize, peer: usize) -> probekey::PeerStatus {
    let id = sim.node(at).peer_id(peer).expect("configured");
    sim.node(at)
        .endpoint
        .peer_status(id, sim.now())
        .expect("configured")
}

/// A two-endpoint test's endpoint: the growable table, a seeded generator.
pub type Ep = probekey::GrowableEndpoint<chacha20::ChaCha20Rng>;

/// An endpoint with `config`, the static key of `secret` repeated, and a
/// generator seeded with it.
pub fn endpoint(config: Config, secret: u8) -> Ep {
    use probekey::rand_core::SeedableRng;
    probekey::Endpoint::new(
        config,
        probekey::StaticKeypair::from_secret_bytes([secret; 32]),
        chacha20::ChaCha20Rng::seed_from_u64(u64::from(secret)),
        probekey::GrowableTable::new(),
    )
}

/// The public key of `secret` repeated.
pub fn key(secret: u8) -> probekey::PublicKey {
    probekey::StaticKeypair::from_secret_bytes([secret; 32]).public()
}

/// What the network does with a datagram, in [`pump`].
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Fate {
    Deliver,
    Lose,
    Hold,
}

/// Runs both endpoints' timers, then moves every datagram between `a`
/// (reading `ta`) and `b` (reading `tb`) until none is left, as
/// `fate(from_a, kind)` says; returns those held, each with whether it was
/// going to `b`.
pub fn pump<R, S>(
    (a, ta): (&mut probekey::GrowableEndpoint<R>, Instant),
    (b, tb): (&mut probekey::GrowableEndpoint<S>, Instant),
    mut fate: impl FnMut(bool, probekey::TransmitKind) -> Fate,
) -> Vec<(bool, Vec<u8>)>
where
    R: probekey::rand_core::CryptoRng,
    S: probekey::rand_core::CryptoRng,
{
    let mut buf = [0u8; 256];
    let mut held = Vec::new();
    a.handle_timeout(ta);
    b.handle_timeout(tb);
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(ta, &mut buf).expect("room") {
            moved = true;
            match fate(true, t.kind) {
                Fate::Deliver => {
                    let _ = b.handle_datagram(tb, &mut buf[..t.len]);
                }
                Fate::Lose => {}
                Fate::Hold => held.push((true, buf[..t.len].to_vec())),
            }
        }
        while let Some(t) = b.poll_transmit(tb, &mut buf).expect("room") {
            moved = true;
            match fate(false, t.kind) {
                Fate::Deliver => {
                    let _ = a.handle_datagram(ta, &mut buf[..t.len]);
                }
                Fate::Lose => {}
                Fate::Hold => held.push((false, buf[..t.len].to_vec())),
            }
        }
        if !moved {
            return held;
        }
    }
}

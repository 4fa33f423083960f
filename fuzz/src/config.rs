//! The configuration builder with arbitrary values: every result is either
//! a configuration that satisfies every documented invariant (and works: two
//! endpoints using it validate each other both ways within its recovery
//! bound), or a typed error naming the values at fault.

use arbitrary::{Result, Unstructured};
use core::time::Duration;
use probekey::{Config, ConfigError, ConfigValue};

use super::net::Net;

/// A duration of any size, with the interesting ones likely.
fn duration(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => Duration::ZERO,
        1 => Duration::from_millis(u.int_in_range(1..=10_000)?),
        2 => Duration::from_nanos(u.arbitrary()?),
        3 => Duration::new(u.arbitrary()?, u.int_in_range(0..=999_999_999)?),
        _ => Duration::from_secs(u.int_in_range(0..=1_000_000)?),
    })
}

/// Sets some values, each from any range, and builds.
fn build(
    u: &mut Unstructured<'_>,
) -> Result<(Vec<ConfigValue>, core::result::Result<Config, ConfigError>)> {
    use ConfigValue as V;
    let mut b = Config::builder();
    let mut set = Vec::new();
    // Half the time start from the fast configuration, so that valid
    // results are common.
    if u.arbitrary()? {
        b = super::net::fast_config().to_builder();
    }
    for _ in 0..u.int_in_range(0..=16)? {
        let value = *u.choose(&[
            V::DeploymentId,
            V::ProbeInterval,
            V::StaleAfter,
            V::MaxReorderDelay,
            V::EpochGrace,
            V::RotateAfterTime,
            V::RotateAfterPackets,
            V::RekeyAfterTime,
            V::RejectAfterTime,
            V::HandshakeRetryInitial,
            V::HandshakeRetryMax,
            V::HandshakeRetryJitterPercent,
            V::HandshakeMaxAge,
            V::HandshakeRateBurst,
            V::HandshakeRateInterval,
            V::HandshakeDhPerSecond,
        ])?;
        set.push(value);
        b = match value {
            V::DeploymentId => {
                let len = u.int_in_range(0..=40)?;
                b.deployment_id(u.bytes(len)?)
            }
            V::ProbeInterval => b.probe_interval(duration(u)?),
            V::StaleAfter => b.stale_after(duration(u)?),
            V::MaxReorderDelay => b.max_reorder_delay(duration(u)?),
            V::EpochGrace => b.epoch_grace(duration(u)?),
            V::RotateAfterTime => b.rotate_after_time(duration(u)?),
            V::RotateAfterPackets => b.rotate_after_packets(u.arbitrary()?),
            V::RekeyAfterTime => b.rekey_after_time(duration(u)?),
            V::RejectAfterTime => b.reject_after_time(duration(u)?),
            V::HandshakeRetryInitial => b.handshake_retry_initial(duration(u)?),
            V::HandshakeRetryMax => b.handshake_retry_max(duration(u)?),
            V::HandshakeRetryJitterPercent => b.handshake_retry_jitter_percent(u.arbitrary()?),
            V::HandshakeMaxAge => b.handshake_max_age(duration(u)?),
            V::HandshakeRateBurst => b.handshake_rate_burst(u.arbitrary()?),
            V::HandshakeRateInterval => b.handshake_rate_interval(duration(u)?),
            V::HandshakeDhPerSecond => b.handshake_dh_per_second(u.arbitrary()?),
            _ => b,
        };
    }
    Ok((set, b.build()))
}

/// The target.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((set, result)) = build(&mut u) else {
        return;
    };
    match result {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            // The error names values that were set (or the replay window
            // constant), unless the fast start set them.
            let named = match e {
                ConfigError::OutOfRange { value, requirement } => {
                    assert!(!requirement.is_empty());
                    vec![value]
                }
                ConfigError::Conflict {
                    first,
                    second,
                    requirement,
                } => {
                    assert!(!requirement.is_empty());
                    assert_ne!(first, second);
                    vec![first, second]
                }
                _ => unreachable!("a new kind of ConfigError"),
            };
            // A relation among more than two values names two of them
            // and spells the others in its requirement.
            let requirement = match e {
                ConfigError::OutOfRange { requirement, .. }
                | ConfigError::Conflict { requirement, .. } => requirement,
                _ => "",
            };
            assert!(
                named
                    .iter()
                    .any(|v| set.contains(v) || *v == ConfigValue::ReplayWindow)
                    || set.iter().any(|v| requirement.contains(v.name()))
                    || set.is_empty(),
                "{e} names no value that was set ({set:?})"
            );
        }
        Ok(c) => {
            invariants(&c);
            assert_eq!(
                c.to_builder().build(),
                Ok(c),
                "a valid configuration rebuilds"
            );
            let rtt = Duration::from_nanos(u.arbitrary().unwrap_or(0));
            let bound = c.recovery_bound(rtt);
            assert!(bound >= c.handshake_retry_max());
            works(&c);
        }
    }
}

/// The invariants `docs/PROTOCOL.md` §8 lists.
fn invariants(c: &Config) {
    let year = Duration::from_secs(365 * 24 * 3600);
    for d in [
        c.probe_interval(),
        c.stale_after(),
        c.epoch_grace(),
        c.rotate_after_time(),
        c.rekey_after_time(),
        c.reject_after_time(),
        c.handshake_retry_initial(),
        c.handshake_retry_max(),
        c.handshake_max_age(),
        c.handshake_rate_interval(),
    ] {
        assert!(!d.is_zero() && d <= year);
    }
    assert!(c.max_reorder_delay() <= year);
    assert!(c.deployment_id().len() <= 32);
    assert!(c.rotate_after_packets() >= 1);
    assert!(c.handshake_rate_burst() >= 2);
    assert!(c.handshake_dh_per_second() >= 3);
    assert!(c.handshake_retry_jitter_percent() <= 50);
    assert!(c.epoch_grace() >= c.max_reorder_delay());
    assert!(c.rotate_after_time() >= c.epoch_grace());
    let per_interval = c.max_reorder_delay().as_nanos() / c.probe_interval().as_nanos() + 1;
    assert!(2 * per_interval <= u128::from(probekey::internals::replay::REPLAY_WINDOW));
    assert!(c.stale_after() >= 2 * c.probe_interval());
    assert!(c.handshake_retry_initial() <= c.handshake_retry_max());
    assert!(c.handshake_retry_max() < c.stale_after());
    assert!(c.handshake_rate_interval() <= c.handshake_retry_initial());
    assert!(c.handshake_max_age() > c.handshake_retry_max());
    assert!(c.rekey_after_time() < c.reject_after_time());
    assert!(
        c.reject_after_time() - c.rekey_after_time()
            >= c.stale_after() + 2 * c.handshake_retry_max()
    );
}

/// Two endpoints with this configuration come up on a good network within
/// its recovery bound and stay up, when simulating that takes few steps.
fn works(c: &Config) {
    let bound = c.recovery_bound(Duration::from_millis(20));
    let hold = c.stale_after();
    // No bound (`Duration::MAX`, §6.4) is too many steps to simulate.
    let steps = bound.saturating_add(hold).as_nanos() / c.probe_interval().as_nanos();
    let retries = Duration::from_millis(20).as_nanos() / c.handshake_retry_initial().as_nanos();
    if steps > 400 || retries > 1000 {
        return;
    }
    let mut net = Net::new(*c, 2);
    net.quiet(bound);
}

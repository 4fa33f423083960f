//! The configuration is the one source of truth: inconsistent values are
//! refused with an error naming both, and values the user set are kept.

use core::time::Duration;

use probekey::{Config, ConfigError, ConfigValue};

#[test]
fn grace_window_shorter_than_the_reorder_delay_is_refused() {
    let err = Config::builder()
        .max_reorder_delay(Duration::from_secs(3))
        .epoch_grace(Duration::from_secs(2))
        .build()
        .unwrap_err();
    match err {
        ConfigError::Conflict { first, second, .. } => {
            assert_eq!(
                (first, second),
                (ConfigValue::EpochGrace, ConfigValue::MaxReorderDelay)
            );
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("epoch_grace") && text.contains("max_reorder_delay"),
        "{text}"
    );
}

#[test]
fn retry_cap_not_below_staleness_is_refused() {
    // The outage this crate exists for had an internal default silently
    // overriding a user's value; here the user's values are checked
    // against each other instead.
    let err = Config::builder()
        .stale_after(Duration::from_secs(30))
        .handshake_retry_max(Duration::from_secs(30))
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Conflict {
            first: ConfigValue::HandshakeRetryMax,
            second: ConfigValue::StaleAfter,
            ..
        }
    ));
}

#[test]
fn a_long_user_timeout_is_kept_exactly() {
    let c = Config::builder()
        .stale_after(Duration::from_secs(30))
        .handshake_retry_max(Duration::from_secs(25))
        .handshake_max_age(Duration::from_secs(300))
        .build()
        .unwrap();
    assert_eq!(c.stale_after(), Duration::from_secs(30));
    assert_eq!(c.handshake_retry_max(), Duration::from_secs(25));
    assert_eq!(
        c.recovery_bound(Duration::from_millis(100)),
        // Retry cap, four round trips (with the challenge, §6.4), a probe.
        Duration::from_millis(25_000 + 400 + 250)
    );
}

#[test]
fn every_builder_result_is_a_config_or_a_typed_error() {
    // A coarse sweep over pairs of values, including zero and huge ones.
    let values = [0u64, 1, 10, 250, 1_000, 3_000, 60_000, u64::MAX / 2];
    for &a in &values {
        for &b in &values {
            let r = Config::builder()
                .stale_after(Duration::from_millis(a))
                .handshake_retry_max(Duration::from_millis(b))
                .build();
            match r {
                Ok(c) => assert!(c.handshake_retry_max() < c.stale_after()),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

/// A configuration of the config fuzz target's findings: the fuzzer's
/// small values, with the four it varied.
fn found(
    probe: Duration,
    stale: Duration,
    grace: Duration,
    jitter: u8,
    max_age: Duration,
) -> Config {
    let ms = Duration::from_millis;
    Config::builder()
        .probe_interval(probe)
        .stale_after(stale)
        .max_reorder_delay(Duration::ZERO)
        .epoch_grace(grace)
        .rotate_after_time(ms(1000))
        .rotate_after_packets(8)
        .rekey_after_time(ms(5000))
        .reject_after_time(ms(8000))
        .handshake_retry_initial(ms(1))
        .handshake_retry_max(ms(1))
        .handshake_retry_jitter_percent(jitter)
        .handshake_max_age(max_age)
        .handshake_rate_burst(3)
        .handshake_rate_interval(ms(1))
        .build()
        .unwrap()
}

/// When two nodes with `c`, `one_way` apart, are first fresh both ways (if
/// within `limit`), and the bound `c` gives for that path.
fn comes_up(c: Config, one_way: Duration, limit: Duration) -> (Option<Duration>, Duration) {
    use probekey_sim::{Sim, SimConfig};
    let mut cfg = SimConfig::mesh(2, c, 7);
    cfg.one_way_delay = one_way;
    let mut sim = Sim::new(cfg);
    let deadline = sim.now() + limit;
    let up = sim.run_until_true(deadline, Sim::all_fresh);
    (
        up.map(|t| t - probekey::Instant::ZERO),
        c.recovery_bound(2 * one_way),
    )
}

/// The configuration the config fuzz target found (handshake_max_age of
/// 2.86 ms, retries every millisecond): at a 20 ms round trip every
/// response named an initiation already replaced, no handshake ever
/// completed, yet `recovery_bound` promised 131 ms. There is no bound on a
/// path slower than half `handshake_max_age` (`docs/PROTOCOL.md` §6.4), and
/// the bound that is given holds on a path inside it.
#[test]
fn no_recovery_bound_on_a_path_slower_than_half_the_initiation_life() {
    let ms = Duration::from_millis;
    let c = found(ms(50), ms(600), ms(97), 0, Duration::from_nanos(2_858_714));
    let age = c.handshake_max_age();
    assert_eq!(c.recovery_bound(ms(20)), Duration::MAX);
    assert_eq!(c.recovery_bound(age / 2), Duration::MAX);
    assert!(c.recovery_bound(age / 2 - Duration::from_nanos(1)) < Duration::MAX);
    // A 20 ms round trip: nothing comes up, and no bound was promised.
    assert_eq!(comes_up(c, ms(10), ms(2000)), (None, Duration::MAX));
    // A 1 ms round trip: up within the bound given.
    let (up, bound) = comes_up(c, Duration::from_micros(500), ms(2000));
    let up = up.expect("a path inside the bound's domain comes up");
    assert!(up <= bound, "{up:?} > {bound:?}");
}

/// The config fuzz target's second finding of the kind: probes every
/// millisecond, stale after two, on a 20 ms round trip. The outbound
/// direction is dated at our seal, so an acknowledgement 20 ms later never
/// counts and the direction can never be fresh, yet `recovery_bound`
/// promised 82 ms. No bound when a round trip and a probe interval reach
/// `stale_after` (`docs/PROTOCOL.md` §6.4); inside that, the bound holds.
#[test]
fn no_recovery_bound_when_an_acknowledgement_cannot_come_back_within_stale_after() {
    let ms = Duration::from_millis;
    let c = found(ms(1), ms(2), ms(1), 42, ms(3000));
    assert_eq!(c.recovery_bound(ms(20)), Duration::MAX);
    assert_eq!(c.recovery_bound(ms(1)), Duration::MAX);
    let (up, bound) = comes_up(c, Duration::from_micros(200), ms(2000));
    assert!(bound < Duration::MAX);
    let up = up.expect("up on a path inside the bound's domain");
    assert!(up <= bound, "{up:?} > {bound:?}");
}

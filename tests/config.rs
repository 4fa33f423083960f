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

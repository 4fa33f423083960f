//! The configuration's invariants, defaults and named setters.

use super::*;

#[test]
fn set_by_name_reaches_the_setter_of_that_name_and_refuses_the_wrong_kind() {
    use std::format;
    for value in ConfigValue::SETTABLE {
        assert_eq!(ConfigValue::from_name(value.name()), Some(value));
        let (setting, shown) = if value.is_duration() {
            (Setting::Duration(Duration::from_millis(1234)), "1.234s")
        } else {
            (Setting::Count(7), "7")
        };
        let set = Config::builder().set(value, setting).expect("right kind");
        let round_trip = Config::builder()
            .set(value, Config::default().get(value).expect("settable"))
            .expect("the default");
        assert_eq!(
            format!("{round_trip:?}"),
            format!("{:?}", Config::builder())
        );
        let text = format!("{set:?}");
        assert!(
            text.contains(&format!("{}: {shown}", value.name())),
            "{value} not set: {text}"
        );
        let wrong = if value.is_duration() {
            Setting::Count(7)
        } else {
            Setting::Duration(Duration::from_secs(1))
        };
        assert!(matches!(
            Config::builder().set(value, wrong),
            Err(ConfigError::OutOfRange { value: v, .. }) if v == value
        ));
    }
    assert_eq!(ConfigValue::from_name("retry_max"), None);
    assert_eq!(ConfigValue::from_name("deployment_id"), None);
    assert!(
        Config::builder()
            .set(
                ConfigValue::HandshakeRetryJitterPercent,
                Setting::Count(256)
            )
            .is_err()
    );
    assert!(
        Config::builder()
            .set(ConfigValue::DeploymentId, Setting::Count(1))
            .is_err()
    );
}

#[test]
fn defaults_are_consistent() {
    let built = ConfigBuilder::default().build();
    assert_eq!(built, Ok(Config::default()));
}

#[test]
fn user_values_are_kept_verbatim() {
    let c = Config::builder()
        .stale_after(Duration::from_secs(30))
        .handshake_retry_max(Duration::from_secs(20))
        .deployment_id(b"prod-eu")
        .build()
        .unwrap();
    assert_eq!(c.stale_after(), Duration::from_secs(30));
    assert_eq!(c.handshake_retry_max(), Duration::from_secs(20));
    assert_eq!(c.deployment_id(), b"prod-eu");
    assert_eq!(c.to_builder().build().unwrap(), c);
}

#[test]
fn zero_and_oversized_values_are_refused() {
    assert!(matches!(
        Config::builder().probe_interval(Duration::ZERO).build(),
        Err(ConfigError::OutOfRange {
            value: ConfigValue::ProbeInterval,
            ..
        })
    ));
    assert!(matches!(
        Config::builder().deployment_id(&[7; 33]).build(),
        Err(ConfigError::OutOfRange {
            value: ConfigValue::DeploymentId,
            ..
        })
    ));
    assert!(matches!(
        Config::builder().handshake_retry_jitter_percent(51).build(),
        Err(ConfigError::OutOfRange { .. })
    ));
    assert!(matches!(
        Config::builder().rotate_after_packets(0).build(),
        Err(ConfigError::OutOfRange {
            value: ConfigValue::RotateAfterPackets,
            ..
        })
    ));
}

#[test]
fn every_pairwise_invariant_is_checked() {
    use ConfigValue as V;
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    let cases: [(ConfigBuilder, V, V); 8] = [
        (
            Config::builder().epoch_grace(s(2)).rotate_after_time(s(1)),
            V::RotateAfterTime,
            V::EpochGrace,
        ),
        (
            Config::builder()
                .probe_interval(ms(1))
                .max_reorder_delay(s(1)),
            V::MaxReorderDelay,
            V::ProbeInterval,
        ),
        (
            Config::builder().probe_interval(s(2)),
            V::StaleAfter,
            V::ProbeInterval,
        ),
        (
            Config::builder()
                .handshake_retry_initial(s(3))
                .stale_after(s(10)),
            V::HandshakeRetryInitial,
            V::HandshakeRetryMax,
        ),
        (
            Config::builder().handshake_rate_interval(s(1)),
            V::HandshakeRateInterval,
            V::HandshakeRetryInitial,
        ),
        (
            Config::builder().handshake_max_age(s(2)),
            V::HandshakeMaxAge,
            V::HandshakeRetryMax,
        ),
        (
            Config::builder().rekey_after_time(s(720)),
            V::RekeyAfterTime,
            V::RejectAfterTime,
        ),
        (
            Config::builder().rekey_after_time(s(715)),
            V::RejectAfterTime,
            V::RekeyAfterTime,
        ),
    ];
    for (builder, a, b) in cases {
        match builder.build() {
            Err(ConfigError::Conflict { first, second, .. }) => {
                assert_eq!((first, second), (a, b));
            }
            other => panic!("expected conflict {a}/{b}, got {other:?}"),
        }
    }
}

//! The `serde` feature: events, statuses, counters and ids round-trip, a
//! public key is its hex text, and a configuration is read back through the
//! builder, so that one read is checked as one built is.
#![cfg(feature = "serde")]

use core::time::Duration;

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::{
    Config, Endpoint, EndpointStats, Epoch, Event, GrowableEndpoint, GrowableTable,
    HandshakeReason, Instant, LinkDirection, PeerId, PeerStatus, PublicKey, RejectCounters, Role,
    StaticKeypair,
};

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).expect("serializes");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn events_round_trip() {
    let peer = PeerId::new(4, 2);
    let mut rejected = RejectCounters::default();
    rejected.bad_mac = 3;
    let events = [
        Event::PeerAdded { peer },
        Event::HealthChanged {
            peer,
            direction: LinkDirection::Inbound,
            fresh: true,
        },
        Event::HandshakeStarted {
            peer,
            reason: HandshakeReason::OutboundStale,
        },
        Event::HandshakeFailing {
            peer,
            for_how_long: Duration::from_millis(10_500),
            attempts: 9,
            rejected,
        },
        Event::SessionEstablished {
            peer,
            role: Role::Initiator,
            latency: Duration::from_micros(1500),
        },
        Event::EpochRotated {
            peer,
            direction: LinkDirection::Outbound,
            epoch: Epoch(7),
        },
    ];
    for e in events {
        assert_eq!(round_trip(&e), e);
    }
    let text = serde_json::to_string(&Event::PeerAdded { peer }).expect("json");
    assert_eq!(text, r#"{"peer_added":{"peer":{"slot":4,"generation":2}}}"#);
}

#[test]
fn a_status_and_the_counters_round_trip_with_the_key_as_hex() {
    let mut ep: GrowableEndpoint<ChaCha20Rng> = Endpoint::new(
        Config::default(),
        StaticKeypair::from_secret_bytes([1; 32]),
        ChaCha20Rng::seed_from_u64(1),
        GrowableTable::new(),
    );
    let key = StaticKeypair::from_secret_bytes([2; 32]).public();
    let id = ep.add_peer(Instant::ZERO, key).expect("peer");
    ep.handle_timeout(Instant::ZERO);
    let status: PeerStatus = ep.peer_status(id, Instant::from_nanos(5)).expect("peer");
    assert_eq!(round_trip(&status), status);
    let json = serde_json::to_value(status).expect("json");
    assert_eq!(json["public_key"], serde_json::json!(key.to_string()));
    assert_eq!(json["inbound"]["fresh"], serde_json::json!(false));
    let stats: EndpointStats = ep.stats();
    assert_eq!(round_trip(&stats), stats);
    // A key reads from base64 too, and a bad one is refused with why.
    let b64 = serde_json::to_string(&format!("{key:#}")).expect("json");
    assert_eq!(serde_json::from_str::<PublicKey>(&b64).expect("key"), key);
    let err = serde_json::from_str::<PublicKey>("\"abc\"").expect_err("short");
    assert!(err.to_string().contains("not 3 characters"), "{err}");
}

#[test]
fn a_configuration_round_trips_and_is_checked_when_read() {
    let c = Config::builder()
        .deployment_id(b"eu")
        .stale_after(Duration::from_secs(5))
        .handshake_retry_max(Duration::from_secs(4))
        .build()
        .expect("valid");
    assert_eq!(round_trip(&c), c);
    assert_eq!(round_trip(&Config::default()), Config::default());

    // A subset: the rest default.
    let read: Config =
        serde_json::from_str(r#"{"stale_after":{"secs":6,"nanos":0}}"#).expect("valid");
    assert_eq!(read.stale_after(), Duration::from_secs(6));
    assert_eq!(read.probe_interval(), Config::default().probe_interval());

    // Checked as the builder checks: the error names both values.
    let err = serde_json::from_str::<Config>(r#"{"handshake_retry_max":{"secs":9,"nanos":0}}"#)
        .expect_err("retry cap above stale_after");
    let text = err.to_string();
    assert!(
        text.contains("handshake_retry_max") && text.contains("stale_after"),
        "{text}"
    );
    let err = serde_json::from_str::<Config>(r#"{"stale_afterr":{"secs":9,"nanos":0}}"#)
        .expect_err("unknown");
    assert!(
        err.to_string()
            .contains("unknown configuration value `stale_afterr`")
    );
    let err = serde_json::from_str::<Config>(r#"{"rotate_after_packets":{"secs":9,"nanos":0}}"#)
        .expect_err("a duration for a count");
    assert!(!err.to_string().is_empty());
}

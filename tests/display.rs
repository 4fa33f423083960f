//! Every public enum prints (`Display`), with stable snake_case names for
//! labels, so that no daemon writes its own mapping; public keys print as
//! hex or base64 and parse from either.

use core::time::Duration;

use probekey::wire::{Message, MessageType};
use probekey::{
    DownReason, Epoch, Event, HandshakeReason, HandshakeState, Instant, LinkDirection,
    ParseKeyError, PeerId, ProbeKind, PublicKey, Received, RejectCounters, Role, StaticKeypair,
    TransmitKind,
};

#[test]
fn label_names_are_snake_case_and_display_prints_them() {
    let names: Vec<(String, &str)> = vec![
        (
            LinkDirection::Inbound.to_string(),
            LinkDirection::Inbound.as_str(),
        ),
        (LinkDirection::Outbound.to_string(), "outbound"),
        (HandshakeReason::NoSession.to_string(), "no_session"),
        (HandshakeReason::Rekey.to_string(), "rekey"),
        (HandshakeReason::InboundStale.to_string(), "inbound_stale"),
        (HandshakeReason::OutboundStale.to_string(), "outbound_stale"),
        (Role::Initiator.to_string(), "initiator"),
        (Role::Responder.to_string(), "responder"),
        (ProbeKind::Probe.to_string(), "probe"),
        (ProbeKind::Echo.to_string(), "echo"),
        (ProbeKind::Keepalive.to_string(), "keepalive"),
        (TransmitKind::Initiation.to_string(), "initiation"),
        (TransmitKind::Response.to_string(), "response"),
        (TransmitKind::Keepalive.to_string(), "keepalive"),
        (TransmitKind::Challenge.to_string(), "challenge"),
        (MessageType::Probe.to_string(), "probe"),
        (DownReason::Silence.to_string(), "silence"),
        (DownReason::OneWay.to_string(), "one_way"),
        (DownReason::NoSession.to_string(), "no_session"),
    ];
    for (shown, name) in names {
        assert_eq!(shown, name);
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
}

#[test]
fn events_states_and_datagrams_print_a_sentence() {
    let peer = PeerId::new(2, 1);
    let mut rejected = RejectCounters::default();
    rejected.bad_tag = 7;
    rejected.replay = 2;
    let cases = [
        (Event::PeerAdded { peer }.to_string(), "peer 2.1 added"),
        (
            Event::HealthChanged {
                peer,
                direction: LinkDirection::Outbound,
                fresh: false,
            }
            .to_string(),
            "peer 2.1 outbound stale",
        ),
        (
            Event::HandshakeStarted {
                peer,
                reason: HandshakeReason::Rekey,
            }
            .to_string(),
            "handshake started (rekey)",
        ),
        (
            Event::HandshakeFailing {
                peer,
                for_how_long: Duration::from_secs(10),
                attempts: 6,
                rejected,
            }
            .to_string(),
            "failing for 10.000 s after 6 initiations, mostly refused as bad_tag (7)",
        ),
        (
            Event::SessionEstablished {
                peer,
                role: Role::Responder,
                latency: Duration::from_millis(20),
            }
            .to_string(),
            "established as responder in 0.020 s",
        ),
        (
            Event::EpochRotated {
                peer,
                direction: LinkDirection::Inbound,
                epoch: Epoch(3),
            }
            .to_string(),
            "inbound epoch 3",
        ),
        (HandshakeState::Idle.to_string(), "idle"),
        (
            HandshakeState::Initiating {
                reason: HandshakeReason::NoSession,
                since: Instant::from_nanos(1_500_000_000),
                attempts: 2,
            }
            .to_string(),
            "initiating (no_session) since 1.500000000s, 2 initiations",
        ),
        (
            Received::Probe {
                peer,
                kind: ProbeKind::Echo,
                body: b"abc",
            }
            .to_string(),
            "echo from peer 2.1, 3 bytes",
        ),
        (
            Received::Keepalive { peer }.to_string(),
            "keepalive from peer 2.1",
        ),
        (
            Received::Handshake { peer }.to_string(),
            "handshake message from peer 2.1",
        ),
    ];
    for (shown, expected) in cases {
        assert!(shown.contains(expected), "{shown:?} lacks {expected:?}");
    }
    // A datagram on the wire.
    let mut probe = [0u8; 56];
    probe[..4].copy_from_slice(&[3, 2, 1, 0]);
    let shown = Message::parse(&probe).expect("a probe").to_string();
    assert!(shown.starts_with("echo to index 0"), "{shown}");
}

#[test]
fn public_keys_print_as_hex_or_base64_and_parse_from_either() {
    let key = StaticKeypair::from_secret_bytes([7; 32]).public();
    let hex = key.to_string();
    let b64 = format!("{key:#}");
    assert_eq!(hex.len(), 64);
    assert!(
        hex.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(b64.len(), 44);
    assert!(b64.ends_with('='));
    assert_eq!(hex.parse::<PublicKey>(), Ok(key));
    assert_eq!(hex.to_uppercase().parse::<PublicKey>(), Ok(key));
    assert_eq!(b64.parse::<PublicKey>(), Ok(key));
    assert_eq!(b64[..43].parse::<PublicKey>(), Ok(key), "unpadded");

    // Known vectors: all zeros, and 0x00..0x1f.
    let zero = PublicKey::from_bytes([0; 32]);
    assert_eq!(format!("{zero:#}"), format!("{}=", "A".repeat(43)));
    let counting = PublicKey::from_bytes(core::array::from_fn(|i| i as u8));
    assert_eq!(
        format!("{counting:#}"),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    );
    assert_eq!(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".parse::<PublicKey>(),
        Ok(counting)
    );

    // Refused, with why.
    assert_eq!("".parse::<PublicKey>(), Err(ParseKeyError::Length(0)));
    assert_eq!(
        hex[..63].parse::<PublicKey>(),
        Err(ParseKeyError::Length(63))
    );
    assert_eq!(
        format!(" {}", &hex[1..]).parse::<PublicKey>(),
        Err(ParseKeyError::Character(0))
    );
    let mut bad = hex.clone();
    bad.replace_range(10..11, "g");
    assert_eq!(bad.parse::<PublicKey>(), Err(ParseKeyError::Character(10)));
    let mut bad = b64.clone();
    bad.replace_range(43..44, "A");
    assert_eq!(bad.parse::<PublicKey>(), Err(ParseKeyError::Character(43)));
    // The last character's two low bits are beyond the key: "B" instead of
    // "A" sets one.
    let noncanonical = format!("{}B=", "A".repeat(42));
    assert_eq!(
        noncanonical.parse::<PublicKey>(),
        Err(ParseKeyError::NonCanonical)
    );
    assert!(!ParseKeyError::Length(3).to_string().is_empty());
}

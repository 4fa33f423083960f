//! The wire layer's unit tests: every message round-trips, every
//! malformation has its error, fields sit at their documented offsets.

use super::*;

fn roundtrip(bytes: &[u8]) {
    let m = Message::parse(bytes).unwrap();
    let mut out = [0u8; 256];
    let n = m.emit(&mut out).unwrap();
    assert_eq!(&out[..n], bytes);
    assert_eq!(m.emitted_len(), n);
    assert_eq!(
        m.emit(&mut out[..n - 1]),
        Err(BufferTooSmall { required_size: n })
    );
}

#[test]
fn every_message_roundtrips() {
    let mut init = [0x5Au8; INITIATION_LEN];
    init[..4].copy_from_slice(&[TYPE_INITIATION, VERSION, 0, 0]);
    roundtrip(&init);
    let mut resp = [0xA5u8; RESPONSE_LEN];
    resp[..4].copy_from_slice(&[TYPE_RESPONSE, VERSION, 0, 0]);
    roundtrip(&resp);
    let mut challenge = [0x3Cu8; CHALLENGE_LEN];
    challenge[..4].copy_from_slice(&[TYPE_CHALLENGE, VERSION, 0, 0]);
    roundtrip(&challenge);
    assert_eq!(
        Message::parse(&challenge[..CHALLENGE_LEN - 1]),
        Err(WireError::BadLength {
            message_type: TYPE_CHALLENGE,
            actual: CHALLENGE_LEN - 1
        })
    );
    for flags in 0..3 {
        let mut probe = [0x33u8; PROBE_OVERHEAD + 64];
        probe[..4].copy_from_slice(&[TYPE_PROBE, VERSION, flags, 0]);
        roundtrip(&probe);
        roundtrip(&probe[..PROBE_OVERHEAD]);
    }
}

#[test]
fn every_malformation_has_its_error() {
    assert_eq!(Message::parse(&[]), Err(WireError::Truncated));
    assert_eq!(Message::parse(&[TYPE_PROBE]), Err(WireError::Truncated));
    assert_eq!(Message::parse(&[9, 1, 0]), Err(WireError::UnknownType(9)));
    assert_eq!(
        Message::parse(&[TYPE_PROBE, 1]),
        Err(WireError::UnsupportedVersion(1))
    );
    let mut init = [0u8; INITIATION_LEN + 1];
    init[..2].copy_from_slice(&[TYPE_INITIATION, VERSION]);
    assert_eq!(
        Message::parse(&init),
        Err(WireError::BadLength {
            message_type: TYPE_INITIATION,
            actual: 109
        })
    );
    assert_eq!(
        Message::parse(&init[..107]),
        Err(WireError::BadLength {
            message_type: TYPE_INITIATION,
            actual: 107
        })
    );
    init[2] = 1;
    assert_eq!(Message::parse(&init[..108]), Err(WireError::Reserved));
    let mut probe = [0u8; PROBE_OVERHEAD];
    probe[..2].copy_from_slice(&[TYPE_PROBE, VERSION]);
    assert_eq!(
        Message::parse(&probe[..PROBE_OVERHEAD - 1]),
        Err(WireError::BadLength {
            message_type: TYPE_PROBE,
            actual: PROBE_OVERHEAD - 1
        })
    );
    probe[2] = 3;
    assert_eq!(Message::parse(&probe), Err(WireError::Reserved));
    probe[2] = 0;
    probe[3] = 1;
    assert_eq!(Message::parse(&probe), Err(WireError::Reserved));
}

#[test]
fn probe_fields_at_documented_offsets() {
    let h = ProbeHeader {
        kind: ProbeKind::Echo,
        receiver_index: SessionIndex(0x0102_0304),
        epoch: Epoch(0x0506_0708),
        counter: 0x090A_0B0C_0D0E_0F10,
        ack_index: SessionIndex(0x1112_1314),
        ack_counter: 0x1516_1718_191A_1B1C,
    };
    let mut out = [0u8; PROBE_HEADER_LEN];
    h.emit(&mut out).unwrap();
    assert_eq!(out[..4], [3, 2, 1, 0]);
    assert_eq!(out[4..8], [1, 2, 3, 4]);
    assert_eq!(out[8..12], [5, 6, 7, 8]);
    assert_eq!(out[12..20], [9, 10, 11, 12, 13, 14, 15, 16]);
    assert_eq!(out[20..24], [0x11, 0x12, 0x13, 0x14]);
    assert_eq!(
        out[24..32],
        [0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C]
    );
}

/// What an operator reads in a refusal names the field at fault.
#[test]
fn errors_say_what_is_wrong() {
    use std::string::ToString;
    let cases = [
        (
            WireError::Truncated,
            "datagram shorter than its type and version",
        ),
        (WireError::UnknownType(9), "unknown message type 9"),
        (
            WireError::UnsupportedVersion(7),
            "unsupported protocol version 7",
        ),
        (
            WireError::BadLength {
                message_type: 1,
                actual: 50,
            },
            "message type 1 cannot be 50 bytes long",
        ),
        (WireError::Reserved, "reserved bits set"),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
    assert_eq!(
        BufferTooSmall { required_size: 108 }.to_string(),
        "buffer too small: 108 bytes required"
    );
}

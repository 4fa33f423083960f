//! Parsing and emitting every message type. Whatever parses emits back to
//! the same bytes; whatever is emitted parses back to the same message; an
//! emit into a short buffer names the size it needs and writes nothing.

use arbitrary::{Result, Unstructured};
use probekey::wire::{
    CHALLENGE_LEN, Challenge, INITIATION_LEN, INITIATION_NOISE_LEN, Initiation, MAC1_LEN, Message,
    PROBE_HEADER_LEN, ProbeHeader, RESPONSE_LEN, RESPONSE_NOISE_LEN, Response,
};
use probekey::{Epoch, KeyId, PROBE_OVERHEAD, ProbeKind, SessionIndex};

/// The target.
pub fn run(data: &[u8]) {
    parse_emit(data);
    let _ = emit_parse(&mut Unstructured::new(data));
}

/// Bytes to message to bytes.
fn parse_emit(data: &[u8]) {
    let parsed = Message::parse(data);
    // The per-type parsers agree with the dispatcher.
    match &parsed {
        Ok(Message::Initiation(m)) => assert_eq!(Initiation::parse(data), Ok(*m)),
        Ok(Message::Response(m)) => assert_eq!(Response::parse(data), Ok(*m)),
        Ok(Message::Challenge(m)) => assert_eq!(Challenge::parse(data), Ok(*m)),
        Ok(Message::Probe(h, sealed)) => {
            assert_eq!(ProbeHeader::parse(data), Ok(*h));
            assert!(sealed.len() >= probekey::TAG_LEN);
            assert_eq!(*sealed, &data[PROBE_HEADER_LEN..]);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let Ok(m) = parsed else { return };
    assert_eq!(
        m.emitted_len(),
        data.len(),
        "the parsed message is the whole datagram"
    );
    let mut out = vec![0u8; data.len()];
    assert_eq!(m.emit(&mut out), Ok(data.len()));
    assert_eq!(out, data, "emit(parse(bytes)) == bytes");
    check_short_buffer(&m);
}

/// An emit into a buffer one byte short fails with the needed size and
/// leaves the buffer untouched.
fn check_short_buffer(m: &Message<'_>) {
    let mut short = vec![0xa5u8; m.emitted_len() - 1];
    let err = m.emit(&mut short).expect_err("a short buffer is refused");
    assert_eq!(err.required_size, m.emitted_len());
    assert!(
        short.iter().all(|&b| b == 0xa5),
        "a refused emit wrote bytes"
    );
}

/// Message to bytes to message, from structured fields.
fn emit_parse(u: &mut Unstructured<'_>) -> Result<()> {
    let mut buf = vec![0u8; PROBE_OVERHEAD + 256];
    let sealed: Vec<u8>;
    let m = match u.int_in_range(0..=3u8)? {
        0 => Message::Initiation(Initiation {
            sender_index: SessionIndex(u.arbitrary()?),
            key_id: KeyId(u.arbitrary()?),
            noise: u.arbitrary::<[u8; INITIATION_NOISE_LEN]>()?,
            mac1: u.arbitrary::<[u8; MAC1_LEN]>()?,
            mac2: u.arbitrary::<[u8; MAC1_LEN]>()?,
        }),
        1 => Message::Response(Response {
            sender_index: SessionIndex(u.arbitrary()?),
            receiver_index: SessionIndex(u.arbitrary()?),
            noise: u.arbitrary::<[u8; RESPONSE_NOISE_LEN]>()?,
            mac1: u.arbitrary::<[u8; MAC1_LEN]>()?,
            mac2: u.arbitrary::<[u8; MAC1_LEN]>()?,
        }),
        2 => Message::Challenge(Challenge {
            receiver_index: SessionIndex(u.arbitrary()?),
            number: u.arbitrary()?,
            value: u.arbitrary::<[u8; MAC1_LEN]>()?,
            mac: u.arbitrary::<[u8; MAC1_LEN]>()?,
        }),
        _ => {
            let kind = *u.choose(&[ProbeKind::Probe, ProbeKind::Echo, ProbeKind::Keepalive])?;
            let header = ProbeHeader {
                kind,
                receiver_index: SessionIndex(u.arbitrary()?),
                epoch: Epoch(u.arbitrary()?),
                counter: u.arbitrary()?,
                ack_index: SessionIndex(u.arbitrary()?),
                ack_counter: u.arbitrary()?,
            };
            // The sealed part: the send time, a body, the tag (§2.4).
            let len = u.int_in_range(probekey::wire::PROBE_TIME_LEN + probekey::TAG_LEN..=256)?;
            sealed = u.bytes(len)?.to_vec();
            Message::Probe(header, &sealed)
        }
    };
    let n = m.emit(&mut buf).expect("the buffer holds any message");
    assert_eq!(n, m.emitted_len());
    match m {
        Message::Initiation(_) => assert_eq!(n, INITIATION_LEN),
        Message::Response(_) => assert_eq!(n, RESPONSE_LEN),
        Message::Challenge(_) => assert_eq!(n, CHALLENGE_LEN),
        Message::Probe(..) => {}
    }
    assert_eq!(
        Message::parse(&buf[..n]),
        Ok(m),
        "parse(emit(message)) == message"
    );
    check_short_buffer(&m);
    Ok(())
}

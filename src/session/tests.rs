//! The session's unit tests: counters, ranks, ages, dating, opening and
//! sealing, each against what `docs/PROTOCOL.md` says (§4.4, §5, §6.2).

use super::*;
use crate::noise::TransportKeys;
use std::vec;
use std::vec::Vec;

const T0: Instant = Instant::from_secs(100);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `d` before `t`.
fn back(t: Instant, d: Duration) -> Instant {
    Instant::from_nanos(t.as_nanos() - u64::try_from(d.as_nanos()).unwrap())
}

fn rank(generation: u64, initiator_larger: bool) -> Rank {
    Rank {
        generation,
        initiator_larger,
    }
}

/// Both ends of one session: the initiator's and the responder's.
fn pair(now: Instant) -> (Session, Session) {
    let keys = TransportKeys::for_tests([1; 32], [2; 32]);
    let r = rank(1, true);
    let initiator = Session::new(
        &keys,
        Role::Initiator,
        r,
        SessionIndex(10),
        SessionIndex(20),
        now,
    );
    let responder = Session::new(
        &keys,
        Role::Responder,
        r,
        SessionIndex(20),
        SessionIndex(10),
        now,
    );
    (initiator, responder)
}

/// A probe of `body` sealed at `now`, acknowledging `ack_counter`.
fn seal(s: &mut Session, now: Instant, ack_counter: u64, body: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; PROBE_OVERHEAD + body.len()];
    d[PROBE_HEADER_LEN + PROBE_TIME_LEN..][..body.len()].copy_from_slice(body);
    s.seal(ProbeKind::Probe, SessionIndex(7), ack_counter, now, &mut d)
        .expect("a fresh session seals");
    d
}

/// Opens `d` as the endpoint does: the header as associated data.
fn open(s: &mut Session, now: Instant, mut d: Vec<u8>) -> Result<(bool, Vec<u8>), OpenError> {
    let h = ProbeHeader::parse(&d).expect("a sealed probe parses");
    let (head, sealed) = d.split_at_mut(PROBE_HEADER_LEN);
    let advanced = s.open(now, h.epoch, h.counter, head, sealed, ms(200))?;
    let plain = sealed.len() - TAG_LEN;
    Ok((advanced, sealed[..plain].to_vec()))
}

#[test]
fn counter_limits_are_the_documented_values() {
    // §5.1: sealing stops at 2^64 − 2^16 − 1, a rekey starts at 2^64 − 2^32 − 1.
    assert_eq!(COUNTER_LIMIT, 0xFFFF_FFFF_FFFE_FFFF);
    assert_eq!(REKEY_AFTER_COUNTER, 0xFFFF_FFFE_FFFF_FFFF);
}

#[test]
fn the_last_counter_is_sealed_once_and_never_wraps() {
    let (mut a, _) = pair(T0);
    a.set_send_counter(COUNTER_LIMIT - 1);
    let d = seal(&mut a, T0, 0, b"last");
    assert_eq!(ProbeHeader::parse(&d).unwrap().counter, COUNTER_LIMIT - 1);
    assert_eq!(a.send_counter(), COUNTER_LIMIT);
    let mut more = vec![0u8; PROBE_OVERHEAD];
    assert_eq!(
        a.seal(ProbeKind::Probe, SessionIndex(7), 0, T0, &mut more),
        None
    );
    assert_eq!(more, vec![0u8; PROBE_OVERHEAD], "nothing written");
    assert_eq!(a.send_counter(), COUNTER_LIMIT);
}

#[test]
fn a_buffer_shorter_than_the_overhead_seals_nothing() {
    let (mut a, _) = pair(T0);
    let mut short = vec![0u8; PROBE_OVERHEAD - 1];
    assert_eq!(
        a.seal(ProbeKind::Probe, SessionIndex(7), 0, T0, &mut short),
        None
    );
    assert_eq!(a.send_counter(), 0);
    // Exactly the overhead is a keepalive.
    let mut keepalive = vec![0u8; PROBE_OVERHEAD];
    assert_eq!(
        a.seal(ProbeKind::Keepalive, SessionIndex(7), 0, T0, &mut keepalive),
        Some(0)
    );
}

#[test]
fn seals_carry_the_header_the_time_and_the_body_and_open_on_the_other_side() {
    let (mut a, mut b) = pair(T0);
    let d = seal(&mut a, T0 + ms(3), 0, b"hello");
    let h = ProbeHeader::parse(&d).unwrap();
    assert_eq!(h.receiver_index, SessionIndex(20));
    assert_eq!((h.epoch, h.counter), (Epoch(0), 0));
    assert_eq!((h.ack_index, h.ack_counter), (SessionIndex(7), 0));
    let second = seal(&mut a, T0 + ms(4), 0, b"again");
    assert_eq!(ProbeHeader::parse(&second).unwrap().counter, 1);
    assert_eq!(a.send_counter(), 2);

    let (advanced, plain) = open(&mut b, T0 + ms(5), d.clone()).expect("opens");
    assert!(!advanced);
    let (time, body) = plain.split_at(PROBE_TIME_LEN);
    assert_eq!(time, (T0 + ms(3)).as_nanos().to_be_bytes());
    assert_eq!(body, b"hello");
    assert_eq!(b.recv_next(), 1);
    // Once only.
    assert_eq!(open(&mut b, T0 + ms(6), d).unwrap_err(), OpenError::Replay);
    assert_eq!(b.recv_next(), 1);
    open(&mut b, T0 + ms(6), second).expect("the next counter opens");
    assert_eq!(b.recv_next(), 2);
}

#[test]
fn a_bad_tag_commits_nothing() {
    let (mut a, mut b) = pair(T0);
    let d = seal(&mut a, T0, 0, b"body");
    let mut forged = d.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(open(&mut b, T0, forged).unwrap_err(), OpenError::BadTag);
    assert_eq!(b.recv_next(), 0, "the counter is not spent");
    assert!(b.would_open(T0, Epoch(0), 0));
    open(&mut b, T0, d).expect("the genuine probe still opens");
    assert!(
        !b.would_open(T0, Epoch(0), 0),
        "a replay would not reach the AEAD"
    );
}

#[test]
fn epochs_outside_the_window_are_refused_before_the_aead() {
    let (_, b) = pair(T0);
    // Current and next open; two ahead does not.
    assert!(b.would_open(T0, Epoch(0), 5));
    assert!(b.would_open(T0, Epoch(1), 5));
    assert!(!b.would_open(T0, Epoch(2), 5));
    let (_, mut b) = pair(T0);
    let mut d = [0u8; PROBE_OVERHEAD];
    let (head, sealed) = d.split_at_mut(PROBE_HEADER_LEN);
    assert_eq!(
        b.open(T0, Epoch(2), 0, head, sealed, ms(200)),
        Err(OpenError::EpochOutsideWindow)
    );
}

#[test]
fn a_probe_of_the_next_epoch_moves_the_receiver_on() {
    let (mut a, mut b) = pair(T0);
    let c = Config::default();
    let limits = RotationLimits {
        after_time: ms(10),
        after_packets: u64::MAX,
        min_age: ms(0),
    };
    let first = seal(&mut a, T0, 0, b"e0");
    open(&mut b, T0, first).unwrap();
    // Not due before the peer acknowledged a probe of this epoch.
    assert_eq!(a.maybe_rotate(T0 + ms(20), limits), None);
    assert!(a.acknowledge(1));
    assert_eq!(a.maybe_rotate(T0 + ms(20), limits), Some(Epoch(1)));
    assert_eq!(a.send_epoch(), Epoch(1));
    let next = seal(&mut a, T0 + ms(20), 0, b"e1");
    let (advanced, plain) = open(&mut b, T0 + ms(21), next).unwrap();
    assert!(advanced, "the receive epoch advanced");
    assert_eq!(&plain[PROBE_TIME_LEN..], b"e1");
    assert_eq!(b.recv_epoch(), Epoch(1));
    // The previous epoch's key is held for its grace, then erased.
    assert_eq!(b.next_deadline(&c), T0 + ms(21) + ms(200));
    b.expire_keys(T0 + ms(21) + ms(199));
    // (Counters run on across epochs: 0 and 1 are spent.)
    assert!(b.would_open(back(T0 + ms(221), ms(1)), Epoch(0), 2));
    b.expire_keys(T0 + ms(221));
    assert!(!b.would_open(T0 + ms(221), Epoch(0), 2));
    assert_eq!(b.next_deadline(&c), T0 + c.handshake_max_age());
}

#[test]
fn acknowledgements_count_once_and_only_for_counters_we_sealed() {
    let (mut a, _) = pair(T0);
    for _ in 0..3 {
        seal(&mut a, T0, 0, b"x");
    }
    assert!(!a.acknowledge(0), "no counter acknowledged");
    assert!(!a.acknowledge(4), "one more than any counter sealed");
    assert!(a.acknowledge(2));
    assert!(!a.acknowledge(2), "not new evidence twice");
    assert!(!a.acknowledge(1), "nor an older one");
    assert!(a.acknowledge(3), "the newest counter sealed");
}

#[test]
fn ranks_order_by_generation_then_by_key_but_tie_at_the_last_generation() {
    assert!(rank(2, false) > rank(1, true));
    assert!(rank(1, true) > rank(1, false));
    assert_eq!(rank(1, true), rank(1, true));
    assert_ne!(rank(1, true), rank(1, false));
    assert_ne!(rank(0, false), rank(1, false));
    assert_eq!(rank(u64::MAX, true), rank(u64::MAX, false));
    assert_eq!(
        rank(u64::MAX, true).cmp(&rank(u64::MAX, false)),
        core::cmp::Ordering::Equal
    );
    assert!(rank(u64::MAX, false) > rank(u64::MAX - 1, true));
}

#[test]
fn a_session_outranks_a_lower_one_or_an_older_one_of_its_rank() {
    let keys = TransportKeys::for_tests([1; 32], [2; 32]);
    let at = |r: Rank, now: Instant| {
        Session::new(
            &keys,
            Role::Initiator,
            r,
            SessionIndex(1),
            SessionIndex(2),
            now,
        )
    };
    let old_high = at(rank(2, false), T0);
    let new_low = at(rank(1, true), T0 + ms(5));
    assert!(old_high.outranks(&new_low));
    assert!(!new_low.outranks(&old_high));
    let older = at(rank(u64::MAX, true), T0);
    let newer = at(rank(u64::MAX, false), T0 + ms(1));
    assert!(newer.outranks(&older), "a tie goes to the newer session");
    assert!(!older.outranks(&newer));
    let twin = at(rank(u64::MAX, false), T0 + ms(1));
    assert!(
        !twin.outranks(&newer),
        "nor is a session outranked by its equal"
    );
}

#[test]
fn offsets_keep_their_sign_and_saturate() {
    for v in [
        0i128,
        1,
        -1,
        12_345,
        -12_345,
        i128::from(u64::MAX),
        -i128::from(u64::MAX),
    ] {
        assert_eq!(Offset::new(v).get(), v);
    }
    assert_eq!(
        Offset::new(i128::from(u64::MAX) + 9).get(),
        i128::from(u64::MAX)
    );
    assert_eq!(
        Offset::new(-i128::from(u64::MAX) - 9).get(),
        -i128::from(u64::MAX)
    );
}

#[test]
fn a_responder_session_is_proven_once_and_aged_from_its_proof() {
    let c = Config::default();
    let (mut i, mut r) = pair(T0);
    assert!(i.proven && !r.proven);
    // Pending: it lives `handshake_max_age`.
    assert!(r.alive(back(T0 + c.handshake_max_age(), ms(1)), &c));
    assert!(!r.alive(T0 + c.handshake_max_age(), &c));
    assert_eq!(r.next_deadline(&c), T0 + c.handshake_max_age());
    r.prove(T0 + ms(500));
    assert!(r.proven);
    assert_eq!(r.created_at, T0 + ms(500));
    r.prove(T0 + ms(900));
    assert_eq!(r.created_at, T0 + ms(500), "dated by its first proof");
    // Proven: `reject_after_time` from the proof.
    let end = T0 + ms(500) + c.reject_after_time();
    assert!(r.alive(back(end, ms(1)), &c));
    assert!(!r.alive(end, &c));
    assert_eq!(r.next_deadline(&c), end);
    // An initiator's session is proven from the start, and its age stays.
    i.prove(T0 + ms(700));
    assert_eq!(i.created_at, T0);
    assert!(!i.alive(T0 + c.reject_after_time(), &c));
}

#[test]
fn a_session_in_its_grace_ends_at_the_grace() {
    let c = Config::default();
    let (mut i, _) = pair(T0);
    i.grace_until = Some(T0 + ms(300));
    assert!(i.alive(T0 + ms(299), &c));
    assert!(!i.alive(T0 + ms(300), &c));
    assert_eq!(i.next_deadline(&c), T0 + ms(300));
}

#[test]
fn a_step_back_of_the_clock_clamps_every_time_and_marks_what_was_sealed() {
    let c = Config::default();
    let (mut a, _) = pair(T0);
    a.grace_until = Some(T0 + Duration::from_secs(60));
    // Nothing sealed yet: the peer holds no reading of ours to compare.
    a.clamp_time(back(T0, ms(50)), &c);
    assert!(!a.stamped_before_step);
    assert_eq!(a.created_at, back(T0, ms(50)));
    assert_eq!(a.grace_until, Some(back(T0, ms(50)) + c.epoch_grace()));
    seal(&mut a, T0, 0, b"x");
    a.clamp_time(back(T0, ms(60)), &c);
    assert!(a.stamped_before_step);
    // Only ever set, never cleared by a later clamp.
    a.clamp_time(back(T0, ms(70)), &c);
    assert!(a.stamped_before_step);
}

#[test]
fn probes_are_dated_by_their_lateness_against_the_fastest_delivery() {
    let (_, mut b) = pair(T0);
    // Sender clock 1 s behind ours; the first probe takes 10 ms: dated on
    // arrival.
    let sent = |t: Instant| t.as_nanos() - 1_000_000_000;
    assert_eq!(b.date_probe(sent(T0), T0 + ms(10)), T0 + ms(10));
    // One sent 1 ms later that takes 40 ms is 30 ms slower, less the 2 %
    // the fastest delivery may have drifted in the 31 ms since (0.62 ms):
    // dated 29.38 ms before its arrival.
    let us = Duration::from_micros;
    assert_eq!(
        b.date_probe(sent(T0 + ms(1)), T0 + ms(41)),
        T0 + ms(11) + us(620)
    );
    // A faster one sets a new fastest delivery and is dated on arrival.
    assert_eq!(b.date_probe(sent(T0 + ms(100)), T0 + ms(105)), T0 + ms(105));
    // The fastest delivery may drift up by 2 % of the time since it was
    // seen: 10 s later a probe 200 ms slower than it is not late.
    let later = T0 + ms(105) + Duration::from_secs(10);
    assert_eq!(b.date_probe(sent(back(later, ms(205))), later), later);
    // ... and one 300 ms slower, 1 ms later, is 100 ms late less the 20 µs
    // of drift since.
    let again = later + ms(1);
    assert_eq!(
        b.date_probe(sent(back(again, ms(305))), again),
        back(again, ms(100)) + us(20)
    );
}

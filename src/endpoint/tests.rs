//! Unit tests of the endpoint that reach into its state: backoff, nonce
//! uniqueness, counter exhaustion, key erasure.

use core::time::Duration;

use crate::config::Config;
use crate::keys::StaticKeypair;
use crate::table::{FixedTable, PeerTable};
use crate::{Endpoint, Instant};
use chacha20::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

/// An endpoint of static key `[secret; 32]`, with `rng` and `peers` (its
/// peers added by the caller).
fn bare<R: CryptoRng, T: PeerTable>(c: Config, secret: u8, rng: R, peers: T) -> Endpoint<R, T> {
    Endpoint::new(
        c,
        StaticKeypair::from_secret_bytes([secret; 32]),
        rng,
        peers,
    )
}

/// An endpoint of static key `[secret; 32]` whose one peer, added at zero,
/// has key `[peer; 32]`; its randomness is ChaCha20 seeded `seed`.
fn paired(secret: u8, peer: u8, seed: u64, c: Config) -> Endpoint<ChaCha20Rng, FixedTable<1>> {
    let mut e = bare(
        c,
        secret,
        ChaCha20Rng::seed_from_u64(seed),
        crate::fixed_table(),
    );
    let remote = StaticKeypair::from_secret_bytes([peer; 32]).public();
    e.add_peer(Instant::ZERO, remote).expect("distinct keys");
    e
}

#[test]
fn backoff_doubles_to_the_cap_and_jitter_only_shortens() {
    let c = Config::default();
    let ms = |n| Duration::from_millis(n);
    assert_eq!(super::handshake::backoff(&c, 1, 0), ms(500));
    assert_eq!(super::handshake::backoff(&c, 2, 0), ms(1000));
    assert_eq!(super::handshake::backoff(&c, 3, 0), ms(2000));
    assert_eq!(super::handshake::backoff(&c, 4, 0), ms(2000));
    assert_eq!(super::handshake::backoff(&c, u32::MAX, 0), ms(2000));
    let shortest = super::handshake::backoff(&c, 10, u32::MAX);
    assert!(shortest >= ms(1600) && shortest < ms(2000), "{shortest:?}");
    // The jitter is the random fraction of 20 % (the default) of the
    // interval: half of it for a random value of 2^31, exactly.
    assert_eq!(super::handshake::backoff(&c, 10, 1 << 31), ms(1800));
    assert_eq!(super::handshake::backoff(&c, 1, 1 << 30), ms(475));
    assert_eq!(
        super::handshake::backoff(&c, 10, u32::MAX),
        ms(1600) + Duration::from_nanos(1)
    );
}

mod keys_and_nonces {
    use crate::PeerId;
    use crate::error::SealError;
    use crate::event::HandshakeReason;
    use crate::session::{COUNTER_LIMIT, REKEY_AFTER_COUNTER, Session};
    use crate::wire::ProbeHeader;
    use crate::wire::ProbeKind;
    use crate::{Config, Endpoint, Instant};
    use chacha20::ChaCha20Rng;
    use core::time::Duration;
    use std::collections::HashSet;
    use std::vec::Vec;

    type E = Endpoint<ChaCha20Rng, crate::table::FixedTable<1>>;

    use super::paired as endpoint;

    /// Runs timers and delivers every handshake message and keepalive
    /// both ways until neither side has anything to send.
    fn exchange(a: &mut E, b: &mut E, now: Instant) {
        a.handle_timeout(now);
        b.handle_timeout(now);
        fn flush(from: &mut E, to: &mut E, now: Instant) -> bool {
            let mut moved = false;
            let mut buf = [0u8; 256];
            while let Some(tx) = from.poll_transmit(now, &mut buf).expect("room") {
                let _ = to.handle_datagram(now, &mut buf[..tx.len]);
                moved = true;
            }
            moved
        }
        for _ in 0..16 {
            let moved = flush(a, b, now) | flush(b, a, now);
            if !moved {
                return;
            }
        }
    }

    fn current(e: &E) -> &Session {
        crate::table::get(&e.peers, 0)
            .and_then(|p| p.sessions.current())
            .expect("a current session")
    }

    /// Seals a probe from `a`, opens it at `b`, and echoes it back, so
    /// acknowledgements flow and rotation proceeds. Returns the header
    /// and the sending key `a` used.
    fn round(a: &mut E, b: &mut E, now: Instant) -> (ProbeHeader, [u8; 16]) {
        let key = current(a).send_key().fingerprint();
        let (mut probe, header) = sealed(a, now, ProbeKind::Probe);
        b.handle_datagram(now, &mut probe).expect("opens");
        let (mut echo, _) = sealed(b, now, ProbeKind::Echo);
        a.handle_datagram(now, &mut echo).expect("opens");
        (header, key)
    }

    fn fast() -> Config {
        Config::builder()
            .rotate_after_packets(3)
            .rotate_after_time(Duration::from_millis(200))
            .epoch_grace(Duration::from_millis(100))
            .max_reorder_delay(Duration::from_millis(50))
            .build()
            .expect("valid")
    }

    /// A body of exactly `MAX_BODY_LEN` bytes is sealed, one more is
    /// refused; the peer's count of probes sealed counts each seal.
    #[test]
    fn bodies_up_to_the_limit_are_sealed_and_counted() {
        use crate::endpoint::MAX_BODY_LEN;
        let (mut a, mut b) = (endpoint(1, 2, 1, fast()), endpoint(2, 1, 2, fast()));
        exchange(&mut a, &mut b, Instant::ZERO);
        exchange(&mut a, &mut b, Instant::ZERO);
        let peer = PeerId::new(0, 0);
        let sealed = |e: &E| {
            e.peer_status(peer, Instant::ZERO)
                .expect("a peer")
                .probes_sealed
        };
        let before = sealed(&a);
        let body = std::vec![7u8; MAX_BODY_LEN + 1];
        let mut out = std::vec![0u8; MAX_BODY_LEN + 1 + crate::PROBE_OVERHEAD];
        assert_eq!(
            a.seal(Instant::ZERO, peer, ProbeKind::Probe, &body, &mut out),
            Err(SealError::BodyTooLong)
        );
        assert_eq!(sealed(&a), before, "a refused seal counts nothing");
        let n = a
            .seal(
                Instant::ZERO,
                peer,
                ProbeKind::Probe,
                &body[..MAX_BODY_LEN],
                &mut out,
            )
            .expect("the largest body");
        assert_eq!(n, MAX_BODY_LEN + crate::PROBE_OVERHEAD);
        let opened_before = b.stats().probes_opened;
        for _ in 0..2 {
            let n = a
                .seal(Instant::ZERO, peer, ProbeKind::Probe, b"x", &mut out)
                .expect("sealed");
            b.handle_datagram(Instant::ZERO, &mut out[..n])
                .expect("opens");
        }
        assert_eq!(sealed(&a), before + 3);
        assert_eq!(a.stats().probes_sealed, before + 3, "and the endpoint's");
        assert_eq!(b.stats().probes_opened, opened_before + 2);
    }

    #[test]
    fn a_counter_is_never_used_twice_under_one_key_across_rotations() {
        let (mut a, mut b) = (endpoint(1, 2, 1, fast()), endpoint(2, 1, 2, fast()));
        exchange(&mut a, &mut b, Instant::ZERO);
        let mut used = HashSet::new();
        let mut last = None;
        let mut epochs = HashSet::new();
        let mut now = Instant::ZERO;
        for _ in 0..600 {
            now = now + Duration::from_millis(50);
            let (h, key) = round(&mut a, &mut b, now);
            assert!(
                used.insert((key, h.counter)),
                "counter {} used twice under one key",
                h.counter
            );
            assert!(last.is_none_or(|l| h.counter > l), "counters only grow");
            last = Some(h.counter);
            epochs.insert(h.epoch);
        }
        assert!(epochs.len() > 50, "{} epochs", epochs.len());
    }

    #[test]
    fn counter_exhaustion_forces_a_new_session_before_the_counter_wraps() {
        let c = Config::default();
        let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
        let peer = PeerId::new(0, 0);
        exchange(&mut a, &mut b, Instant::ZERO);
        let mut now = Instant::from_millis(10);
        let (_, old_key) = round(&mut a, &mut b, now);
        // Near the end of the counter space a rekey is wanted...
        let s = crate::table::get_mut(&mut a.peers, 0)
            .and_then(|p| p.sessions.current_mut())
            .expect("session");
        s.set_send_counter(REKEY_AFTER_COUNTER);
        // The counter was set behind the endpoint's back: the peer's timers
        // learn of it as after any operation that changes the peer.
        a.rearm(0);
        a.handle_timeout(now);
        let st = a.peer_status(peer, now).expect("peer");
        assert!(matches!(
            st.handshake,
            crate::HandshakeState::Initiating {
                reason: HandshakeReason::Rekey,
                ..
            }
        ));
        // ...and the last counters are sealed, then sealing stops: the
        // counter never reaches 2^64 - 1, let alone wraps.
        let s = crate::table::get_mut(&mut a.peers, 0)
            .and_then(|p| p.sessions.current_mut())
            .expect("session");
        s.set_send_counter(COUNTER_LIMIT - 1);
        let mut out = [0u8; 64];
        let n = a
            .seal(now, peer, ProbeKind::Probe, b"last", &mut out)
            .expect("the last counter");
        let h = ProbeHeader::parse(&out[..n]).expect("header");
        assert_eq!(h.counter, COUNTER_LIMIT - 1);
        assert_eq!(
            a.seal(now, peer, ProbeKind::Probe, b"one more", &mut out),
            Err(SealError::NoSession)
        );
        assert_eq!(current(&a).send_counter(), COUNTER_LIMIT);
        // The receiver refuses a counter at the limit, whatever its tag.
        let mut forged = out;
        forged[12..20].copy_from_slice(&COUNTER_LIMIT.to_be_bytes());
        assert!(b.handle_datagram(now, &mut forged[..n]).is_err());
        // The rekey completes: a new session, counters from zero under
        // a new key.
        now = now + Duration::from_millis(10);
        exchange(&mut a, &mut b, now);
        let (h, key) = round(&mut a, &mut b, now);
        assert_eq!(h.counter, 1, "the keepalive took counter 0");
        assert_ne!(key, old_key);
    }

    /// `handle_datagrams` hands each datagram's result to the caller with
    /// its position in the batch, in order, across the chunks it looks
    /// ahead by (§7.5).
    #[test]
    fn a_batch_reports_every_result_at_its_position() {
        let (mut a, mut b) = (
            endpoint(1, 2, 1, Config::default()),
            endpoint(2, 1, 2, Config::default()),
        );
        let now = Instant::ZERO;
        exchange(&mut a, &mut b, now);
        let peer = PeerId::new(0, 0);
        let mut batch: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                let mut out = [0u8; 64];
                let n = a
                    .seal(now, peer, ProbeKind::Probe, b"batch", &mut out)
                    .expect("sealed");
                let mut d = out[..n].to_vec();
                if i % 7 == 3 {
                    d[n - 1] ^= 1;
                }
                d
            })
            .collect();
        let mut seen = Vec::new();
        b.handle_datagrams(now, &mut batch, |i, r| seen.push((i, r.is_ok())));
        let expected: Vec<_> = (0..40).map(|i| (i, i % 7 != 3)).collect();
        assert_eq!(seen, expected);
    }

    /// §7.6: turning the probe schedule off drops the probe and the echo
    /// it had queued; nothing more goes out.
    #[test]
    fn turning_the_schedule_off_drops_what_it_queued() {
        let (mut a, mut b) = (
            endpoint(1, 2, 1, Config::default()),
            endpoint(2, 1, 2, Config::default()),
        );
        let now = Instant::ZERO;
        exchange(&mut a, &mut b, now);
        a.set_probe_schedule(true, now);
        b.set_probe_schedule(true, now);
        assert!(a.probe_schedule());
        b.handle_timeout(now);
        let mut buf = [0u8; 256];
        let tx = b
            .poll_transmit(now, &mut buf)
            .expect("room")
            .expect("b's probe");
        assert_eq!(tx.kind, crate::TransmitKind::Probe);
        a.handle_datagram(now, &mut buf[..tx.len]).expect("opens");
        a.handle_timeout(now);
        use crate::peer::TxQueue;
        let tx = crate::table::get(&a.peers, 0).expect("peer").tx;
        assert!(
            tx.has(TxQueue::PROBE) && tx.has(TxQueue::ECHO),
            "both queued"
        );
        a.set_probe_schedule(false, now);
        assert!(!a.probe_schedule());
        assert!(a.poll_transmit(now, &mut buf).expect("room").is_none());
    }

    /// §4.4: once the peer sends in the new session of a rekey, the
    /// session it replaced is superseded: its grace starts, which ends it
    /// `epoch_grace` later rather than at `reject_after_time`.
    #[test]
    fn a_rekeyed_session_is_superseded_with_its_grace() {
        let c = Config::default();
        let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
        let t0 = Instant::ZERO;
        exchange(&mut a, &mut b, t0);
        let old = current(&b).local_index;
        let t1 = Instant::from_secs(10);
        a.initiate_handshake(t1, PeerId::new(0, 0)).expect("a peer");
        exchange(&mut a, &mut b, t1);
        let _ = round(&mut a, &mut b, t1);
        assert_ne!(
            current(&b).local_index,
            old,
            "the rekey's session is current"
        );
        let p = crate::table::get(&b.peers, 0).expect("peer");
        let replaced = p
            .sessions
            .slots
            .iter()
            .flatten()
            .find(|s| s.local_index == old)
            .expect("held in its grace");
        assert_eq!(replaced.grace_until, Some(t1 + c.epoch_grace()));
    }

    /// Seals a probe of `kind` from `e` to its one peer at `now`, returning
    /// the datagram and its header.
    fn sealed(e: &mut E, now: Instant, kind: ProbeKind) -> (Vec<u8>, ProbeHeader) {
        let mut out = [0u8; 64];
        let n = e
            .seal(now, PeerId::new(0, 0), kind, b"p", &mut out)
            .expect("sealed");
        let header = ProbeHeader::parse(&out[..n]).expect("own header");
        (out[..n].to_vec(), header)
    }

    /// §6.2: an acknowledgement confirms the inbound direction by a round
    /// trip only while the probe it acknowledges is younger than
    /// `stale_after`: evidence exactly `stale_after` old is stale, as it is
    /// for the outbound freshness the same acknowledgement dates.
    #[test]
    fn a_round_trip_counts_only_while_younger_than_stale_after() {
        let c = Config::default();
        let peer = PeerId::new(0, 0);
        for (younger_by, round_trip) in [(Duration::from_nanos(1), true), (Duration::ZERO, false)] {
            let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
            exchange(&mut a, &mut b, Instant::ZERO);
            let t1 = Instant::from_secs(1);
            let (mut probe, p) = sealed(&mut a, t1, ProbeKind::Probe);
            b.handle_datagram(t1, &mut probe).expect("opens");
            // The echo is sealed and read at once, so it is dated on
            // arrival; only the probe it acknowledges is old.
            let t2 = t1 + (c.stale_after() - younger_by);
            let (mut echo, h) = sealed(&mut b, t2, ProbeKind::Echo);
            assert_eq!(h.ack_counter, p.counter + 1, "the echo acknowledges it");
            a.handle_datagram(t2, &mut echo).expect("opens");
            let s = a.peer_status(peer, t2).expect("a peer");
            assert!(s.inbound.fresh, "the echo is heard");
            assert_eq!(
                s.inbound_round_trip, round_trip,
                "acknowledging a probe {younger_by:?} younger than stale_after"
            );
            assert_eq!(s.outbound.fresh, round_trip, "the same boundary");
        }
    }

    /// §5.3, §6.2: an acknowledgement counts for the session it names
    /// (§2.4), which is not always the one it arrives in. Here the peer,
    /// already sending in a rekey's session, last heard us in the old one:
    /// its acknowledgement of the old session's counters says nothing of
    /// the new session's current epoch, which must not rotate on it (the
    /// peer may never have validated a probe of that epoch), even when the
    /// old session is gone and the counter acknowledged is one of that
    /// epoch's.
    #[test]
    fn an_acknowledgement_of_the_old_session_never_rotates_the_new_one() {
        let c = fast();
        let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
        exchange(&mut a, &mut b, Instant::ZERO);
        // Old-session probes, the last of them held back.
        let old: Vec<_> = (0..20)
            .map(|_| sealed(&mut a, Instant::ZERO, ProbeKind::Probe))
            .collect();
        for (probe, _) in &old[..19] {
            b.handle_datagram(Instant::ZERO, &mut probe.clone())
                .expect("opens");
        }
        let t1 = Instant::from_secs(1);
        a.initiate_handshake(t1, PeerId::new(0, 0)).expect("a peer");
        exchange(&mut a, &mut b, t1);
        let (_, first) = sealed(&mut a, t1, ProbeKind::Probe);
        assert_ne!(
            first.receiver_index, old[0].1.receiver_index,
            "a new session"
        );
        for _ in 0..c.rotate_after_packets() {
            let _ = sealed(&mut a, t1, ProbeKind::Probe);
        }
        // The held probe reaches the peer within the old session's grace;
        // the peer's next probe, in the new session, acknowledges it.
        let t2 = t1 + c.epoch_grace() / 2;
        let (held, last_old) = &old[19];
        b.handle_datagram(t2, &mut held.clone())
            .expect("opens in its grace");
        let (mut crossing, h) = sealed(&mut b, t2, ProbeKind::Probe);
        assert_ne!(h.ack_index, h.receiver_index, "it names the old session");
        assert_eq!(h.ack_counter, last_old.counter + 1);
        // Our new session rotates once, on the peer's acknowledgement of
        // its first epoch, and then seals past the old session's counter
        // in its new epoch, which the peer acknowledges nothing of.
        let t3 = t2 + c.epoch_grace();
        let (_, rotated) = sealed(&mut a, t3, ProbeKind::Probe);
        assert_eq!(rotated.epoch.0, first.epoch.0 + 1, "rotates on its ack");
        assert!(
            rotated.counter < h.ack_counter,
            "the counter acknowledged is one of the new epoch's"
        );
        loop {
            let (_, p) = sealed(&mut a, t3, ProbeKind::Probe);
            assert_eq!(p.epoch, rotated.epoch);
            if p.counter >= h.ack_counter {
                break;
            }
        }
        // The old session's grace is over: it is gone when the
        // acknowledgement of it arrives.
        a.handle_timeout(t3);
        let p = crate::table::get(&a.peers, 0).expect("peer");
        assert!(
            p.sessions.find(h.ack_index).is_none(),
            "the old session is gone"
        );
        a.handle_datagram(t3, &mut crossing).expect("opens");
        // Old enough by time and by count, the new epoch lacks only an
        // acknowledgement to rotate.
        let t4 = t3 + c.rotate_after_time();
        let (mut next, next_h) = sealed(&mut a, t4, ProbeKind::Probe);
        assert_eq!(
            next_h.epoch, rotated.epoch,
            "an acknowledgement of the old session rotated the new one"
        );
        // Given one, it rotates.
        b.handle_datagram(t4, &mut next).expect("opens");
        let (mut echo, _) = sealed(&mut b, t4, ProbeKind::Echo);
        a.handle_datagram(t4, &mut echo).expect("opens");
        let (_, after) = sealed(&mut a, t4, ProbeKind::Probe);
        assert_eq!(after.epoch.0, rotated.epoch.0 + 1, "rotates on its ack");
    }

    #[test]
    fn a_restarted_endpoint_never_reuses_a_key() {
        let c = Config::default();
        let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
        exchange(&mut a, &mut b, Instant::ZERO);
        let (_, before) = round(&mut a, &mut b, Instant::from_millis(10));
        // All state lost, same static key, its randomness continuing
        // (here: another seed; in a daemon: the operating system's).
        a = endpoint(1, 2, 3, c);
        let now = Instant::from_millis(20);
        exchange(&mut a, &mut b, now);
        let (h, after) = round(&mut a, &mut b, now);
        assert_eq!(
            h.counter, 1,
            "counters restart (after the keepalive's 0) only with a new key"
        );
        assert_ne!(after, before);
    }

    #[test]
    fn ephemeral_keys_and_sessions_are_erased_at_their_named_points() {
        let c = Config::default();
        let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
        a.handle_timeout(Instant::ZERO);
        let p = crate::table::get(&a.peers, 0).expect("peer");
        assert!(
            p.handshake.in_flight.is_some(),
            "the initiation's ephemeral is held"
        );
        exchange(&mut a, &mut b, Instant::ZERO);
        // Confirmed both ways: no ephemeral secret, no handshake state
        // left on either side.
        for e in [&a, &b] {
            let p = crate::table::get(&e.peers, 0).expect("peer");
            assert!(p.handshake.in_flight.is_none(), "ephemeral secret kept");
            assert!(p.handshake.want.is_none());
        }
        // With the peer gone, every session is erased at
        // reject_after_time (a rekey attempt starts before, and fails).
        let end = Instant::ZERO + c.reject_after_time();
        let mut now = Instant::ZERO;
        while now < end {
            now = a.poll_timeout().expect("a deadline").min(end);
            a.handle_timeout(now);
            let mut buf = [0u8; 256];
            while a.poll_transmit(now, &mut buf).expect("room").is_some() {}
        }
        let p = crate::table::get(&a.peers, 0).expect("peer");
        assert!(
            p.sessions.slots.iter().all(Option::is_none),
            "a session outlived reject_after_time"
        );
    }
}

/// §2.6: a session index carries the peer's slot in its high bits and a
/// nonzero tag in its low 12, so that a probe finds its peer without a
/// search.
#[test]
fn session_indexes_name_the_peers_slot_and_a_nonzero_tag() {
    use crate::keys::StaticKeypair;
    use crate::wire::Initiation;
    use crate::{Endpoint, Instant, PeerId};
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    let mut e: Endpoint<ChaCha20Rng, crate::table::FixedTable<3>> = Endpoint::new(
        Config::default(),
        StaticKeypair::from_secret_bytes([1; 32]),
        ChaCha20Rng::seed_from_u64(9),
        crate::fixed_table(),
    );
    for peer in [2u8, 3, 4] {
        e.add_peer(
            Instant::ZERO,
            StaticKeypair::from_secret_bytes([peer; 32]).public(),
        )
        .expect("distinct keys");
    }
    e.handle_timeout(Instant::ZERO);
    let mut buf = [0u8; 256];
    let mut seen = 0;
    while let Some(tx) = e.poll_transmit(Instant::ZERO, &mut buf).expect("room") {
        let init = Initiation::parse(&buf[..tx.len]).expect("an initiation");
        let slot = init.sender_index.0 >> super::INDEX_TAG_BITS;
        assert_eq!(
            PeerId::new(slot, 0),
            tx.peer,
            "the index names the peer's slot"
        );
        assert_ne!(init.sender_index.0 & 0xFFF, 0, "the tag is never zero");
        seen += 1;
    }
    assert_eq!(seen, 3);
}

/// Randomness that is always the same: every session index draws the same
/// tag, so a rekey meets the tag of the session it replaces.
struct Stuck;

impl rand_core::TryRng for Stuck {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x0101_0101)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x0101_0101_0101_0101)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(1);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Stuck {}

/// §2.6: a rekey never takes the index of a session still held; a tag in
/// use moves to the next one up.
#[test]
fn a_tag_in_use_moves_to_the_next_one_up() {
    use crate::keys::StaticKeypair;
    use crate::wire::Initiation;
    use crate::{Endpoint, Instant};
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    let c = Config::default();
    let (ka, kb) = (
        StaticKeypair::from_secret_bytes([1; 32]),
        StaticKeypair::from_secret_bytes([2; 32]),
    );
    let (pa, pb) = (ka.public(), kb.public());
    let mut a: Endpoint<Stuck, crate::table::FixedTable<1>> =
        Endpoint::new(c, ka, Stuck, crate::fixed_table());
    let mut b: Endpoint<ChaCha20Rng, crate::table::FixedTable<1>> =
        Endpoint::new(c, kb, ChaCha20Rng::seed_from_u64(3), crate::fixed_table());
    a.add_peer(Instant::ZERO, pb).expect("distinct keys");
    b.add_peer(Instant::ZERO, pa).expect("distinct keys");
    let mut buf = [0u8; 256];
    // Only `a` initiates; `b` answers.
    a.handle_timeout(Instant::ZERO);
    for _ in 0..8 {
        while let Some(tx) = a.poll_transmit(Instant::ZERO, &mut buf).expect("room") {
            let _ = b.handle_datagram(Instant::ZERO, &mut buf[..tx.len]);
        }
        while let Some(tx) = b.poll_transmit(Instant::ZERO, &mut buf).expect("room") {
            let _ = a.handle_datagram(Instant::ZERO, &mut buf[..tx.len]);
        }
    }
    let held = crate::table::get(&a.peers, 0)
        .and_then(|p| p.sessions.current())
        .expect("a session")
        .local_index;
    assert_eq!(held.0 & 0xFFF, 0x101, "the drawn tag");
    // The rekey's initiation, while that session is still held.
    let index = loop {
        let now = a.poll_timeout().expect("a deadline");
        assert!(now < Instant::ZERO + c.reject_after_time(), "no rekey");
        a.handle_timeout(now);
        if let Some(tx) = a.poll_transmit(now, &mut buf).expect("room")
            && let Ok(init) = Initiation::parse(&buf[..tx.len])
        {
            break init.sender_index;
        }
    };
    assert_eq!(index.0 & 0xFFF, 0x102, "the next tag up");
    assert_eq!(index.0 >> super::INDEX_TAG_BITS, 0);
}

/// §7.3: a handshake wanted for `handshake_failing_after` is reported
/// failing when the caller next runs the timers, however late that is, and
/// the next report is due that much after the one made: a late call
/// neither loses the report nor leaves a deadline in the past.
#[test]
fn a_late_timer_call_still_reports_the_failing_handshake() {
    use crate::event::Event;
    let c = Config::default();
    let mut e = paired(1, 2, 1, c);
    e.handle_timeout(Instant::ZERO);
    while e.poll_event().is_some() {}
    let late = Instant::ZERO + c.handshake_failing_after() + Duration::from_secs(3);
    e.handle_timeout(late);
    let reports: std::vec::Vec<_> = core::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::HandshakeFailing { for_how_long, .. } => Some(for_how_long),
            _ => None,
        })
        .collect();
    assert_eq!(reports, [late.saturating_duration_since(Instant::ZERO)]);
    let next = e.poll_timeout().expect("a deadline");
    assert!(next > late, "a deadline left in the past: {next:?}");
    let failing = |e: &mut Endpoint<ChaCha20Rng, FixedTable<1>>| {
        core::iter::from_fn(|| e.poll_event())
            .filter(|ev| matches!(ev, Event::HandshakeFailing { .. }))
            .count()
    };
    e.handle_timeout(late + (c.handshake_failing_after() - Duration::from_nanos(1)));
    assert_eq!(failing(&mut e), 0, "not again before that much later");
    e.handle_timeout(late + c.handshake_failing_after());
    assert_eq!(failing(&mut e), 1, "reported again that much later");
}

#[test]
fn every_received_datagram_names_its_peer() {
    use super::Received;
    use crate::PeerId;
    use crate::wire::ProbeKind;
    let peer = PeerId::new(3, 1);
    let kinds = [
        Received::Probe {
            peer,
            kind: ProbeKind::Probe,
            body: b"",
        },
        Received::Keepalive { peer },
        Received::Handshake { peer },
    ];
    for r in kinds {
        assert_eq!(r.peer(), peer, "{r:?}");
    }
}

/// The handshake's retry and copy paths, one datagram at a time: what an
/// initiator resends and when (§4.3), what a responder does with a copy of
/// the initiation it read (§4.3, §4.5), and what each side counts.
mod retries_and_copies {
    use crate::endpoint::TransmitKind;
    use crate::ids::SessionIndex;
    use crate::internals::noise::{Initiator, Responder};
    use crate::keys::StaticKeypair;
    use crate::wire::{Initiation, InitiationPayload, Response, ResponsePayload};
    use crate::{Config, Endpoint, Instant, PeerId};
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::vec;
    use std::vec::Vec;

    type E = Endpoint<ChaCha20Rng, crate::table::FixedTable<1>>;

    const PEER: PeerId = PeerId::new(0, 0);

    fn endpoint(secret: u8, peer: u8, seed: u64) -> E {
        super::paired(secret, peer, seed, Config::default())
    }

    /// Everything `e` has to send at `now`, each datagram whole.
    fn sent(e: &mut E, now: Instant) -> Vec<(TransmitKind, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Some(tx) = e.poll_transmit(now, &mut buf).expect("room") {
            out.push((tx.kind, buf[..tx.len].to_vec()));
        }
        out
    }

    /// The one datagram `e` has to send at `now`, of the kind named.
    fn one(e: &mut E, now: Instant, kind: TransmitKind) -> Vec<u8> {
        let mut all = sent(e, now);
        assert_eq!(all.len(), 1, "one datagram: {all:?}");
        let (k, bytes) = all.remove(0);
        assert_eq!(k, kind);
        bytes
    }

    /// Runs `e`'s timers, deadline after deadline, to its next initiation:
    /// when it is sent and its bytes. Nothing else is sent meanwhile.
    fn next_initiation(e: &mut E) -> (Instant, Vec<u8>) {
        loop {
            let now = e.poll_timeout().expect("a deadline");
            e.handle_timeout(now);
            let mut out = sent(e, now);
            if let Some((kind, bytes)) = out.pop() {
                assert!(out.is_empty() && kind == TransmitKind::Initiation);
                return (now, bytes);
            }
        }
    }

    fn deliver(to: &mut E, now: Instant, datagram: &[u8]) -> Result<(), crate::RecvError> {
        to.handle_datagram(now, &mut datagram.to_vec()).map(|_| ())
    }

    /// `a` initiates at zero; `b` (which never initiates) challenges the
    /// unbound initiation, and reads the bound one. Returns the bound
    /// initiation and `b`'s response to it, both undelivered.
    fn read_by_b(a: &mut E, b: &mut E) -> (Vec<u8>, Vec<u8>) {
        let t = Instant::ZERO;
        a.handle_timeout(t);
        let unbound = one(a, t, TransmitKind::Initiation);
        deliver(b, t, &unbound).expect("a challenge");
        let challenge = one(b, t, TransmitKind::Challenge);
        deliver(a, t, &challenge).expect("taken");
        let bound = one(a, t, TransmitKind::Initiation);
        deliver(b, t, &bound).expect("read");
        let response = one(b, t, TransmitKind::Response);
        (bound, response)
    }

    /// §4.3: a retry within `handshake_max_age` of its initiation's writing
    /// resends the same bytes (the responder recognises a copy); the first
    /// retry after it is a new initiation, with a new index.
    #[test]
    fn a_retry_resends_its_initiation_until_max_age_then_writes_a_new_one() {
        let mut a = endpoint(1, 2, 1);
        a.handle_timeout(Instant::ZERO);
        let first = one(&mut a, Instant::ZERO, TransmitKind::Initiation);
        let index = Initiation::parse(&first).expect("parses").sender_index;
        let max_age = Instant::ZERO + Config::default().handshake_max_age();
        let mut resent = 0;
        loop {
            let (now, again) = next_initiation(&mut a);
            assert!(resent < 1000, "no new initiation after max age");
            if now < max_age {
                assert_eq!(again, first, "a copy at {now:?}");
                resent += 1;
            } else {
                assert_ne!(again, first);
                let new = Initiation::parse(&again).expect("parses").sender_index;
                assert_ne!(new, index, "a new initiation takes a new index");
                break;
            }
        }
        // Every two seconds at most (`handshake_retry_max`) for 120 s.
        assert!(resent >= 60, "{resent} copies");
    }

    /// A handshake asked for while one is under way changes nothing: no
    /// initiation before the retry timer, and the backoff runs on.
    #[test]
    fn asking_again_while_initiating_sends_nothing_early() {
        let mut a = endpoint(1, 2, 1);
        a.handle_timeout(Instant::ZERO);
        let _ = one(&mut a, Instant::ZERO, TransmitKind::Initiation);
        let retry = a.poll_timeout().expect("a retry");
        let soon = Instant::from_millis(10);
        assert!(soon < retry);
        a.initiate_handshake(soon, PEER).expect("a peer");
        assert!(sent(&mut a, soon).is_empty(), "an early initiation");
        assert_eq!(a.poll_timeout(), Some(retry));
        let status = a.peer_status(PEER, soon).expect("a peer");
        assert_eq!(
            status.handshake,
            crate::status::HandshakeState::Initiating {
                reason: crate::event::HandshakeReason::NoSession,
                since: Instant::ZERO,
                attempts: 1,
            }
        );
    }

    /// `stats().dh_operations` counts every Diffie-Hellman each side does:
    /// one for the static-static secret when the peer is added, then those
    /// of each handshake message written or read (§4.5's budget).
    #[test]
    fn each_side_counts_its_diffie_hellman_operations_exactly() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        assert_eq!(a.stats().dh_operations, 1, "the static-static secret");
        a.handle_timeout(Instant::ZERO);
        // Noise KK (§4.1): writing the initiation is es (1), reading it es
        // (1), writing the response ee and se (2), reading it ee and se (2).
        assert_eq!(Initiator::WRITE_INITIATION_DH, 1);
        assert_eq!(a.stats().dh_operations, 1 + 1);
        let (_, response) = read_by_b(&mut a, &mut b);
        assert_eq!(b.stats().dh_operations, 1 + 1 + 2);
        deliver(&mut a, Instant::ZERO, &response).expect("read");
        assert_eq!(a.stats().dh_operations, 1 + 1 + 2);
    }

    /// §4.3: a copy of the initiation read, bound to the challenge it spent
    /// or unbound (the initiator's retry), earns the cached response again,
    /// byte for byte and at no Diffie-Hellman cost; a copy bound to
    /// anything else is refused.
    #[test]
    fn a_copy_of_the_initiation_read_earns_the_same_response_at_no_cost() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let (bound, response) = read_by_b(&mut a, &mut b);
        let cost = b.stats().dh_operations;
        let t = Instant::from_millis(10);
        deliver(&mut b, t, &bound).expect("a copy");
        assert_eq!(one(&mut b, t, TransmitKind::Response), response);
        // The retry: a copy unbound.
        let mut unbound = bound.clone();
        crate::table::get(&a.peers, 0)
            .expect("peer")
            .macs
            .rebind(&mut unbound, &crate::mac::NO_CHALLENGE);
        deliver(&mut b, t, &unbound).expect("a copy");
        assert_eq!(one(&mut b, t, TransmitKind::Response), response);
        assert_eq!(b.stats().dh_operations, cost, "a copy costs nothing");
        // Bound to a challenge b never sent: not the initiator's.
        let mut forged = bound.clone();
        crate::table::get(&a.peers, 0)
            .expect("peer")
            .macs
            .rebind(&mut forged, &[7; 16]);
        let refused = deliver(&mut b, t, &forged).expect_err("not a copy");
        assert_eq!(refused.reason, crate::RejectReason::BadMac);
        assert!(sent(&mut b, t).is_empty());
    }

    /// §4.3, §4.5: a restarted initiator's first initiation is new, though
    /// the responder still holds its answer to the one before: it earns a
    /// challenge, not the old answer (which the initiator cannot read).
    #[test]
    fn a_new_initiation_is_not_taken_for_a_copy_of_the_last() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let _ = read_by_b(&mut a, &mut b);
        let mut a = endpoint(1, 2, 3);
        let t = Instant::from_millis(10);
        a.handle_timeout(t);
        let new = one(&mut a, t, TransmitKind::Initiation);
        deliver(&mut b, t, &new).expect("a challenge");
        let _ = one(&mut b, t, TransmitKind::Challenge);
    }

    /// Each of `e`'s sessions with `remote_index`: whether it is proven,
    /// and when it was made (or proven); proven ones first.
    fn held(e: &E, remote_index: u32) -> Vec<(bool, Instant)> {
        let mut held: Vec<_> = crate::table::get(&e.peers, 0)
            .expect("peer")
            .sessions
            .slots
            .iter()
            .flatten()
            .filter(|s| s.remote_index.0 == remote_index)
            .map(|s| (s.proven, s.created_at))
            .collect();
        held.sort_by_key(|&(proven, _)| !proven);
        held
    }

    /// §4.3, §4.4: a copy re-dates the pending session it answers for, so
    /// that the session made from the resent answer is still held when the
    /// initiator's proof arrives; once proven, the session's age counts
    /// from its proof, and a copy (a replay, within the cache's life) never
    /// extends it.
    #[test]
    fn a_copy_re_dates_the_pending_session_and_never_a_proven_one() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let (bound, response) = read_by_b(&mut a, &mut b);
        let index = Initiation::parse(&bound).expect("parses").sender_index.0;
        assert_eq!(held(&b, index), [(false, Instant::ZERO)]);
        let t1 = Instant::from_secs(60);
        deliver(&mut b, t1, &bound).expect("a copy");
        assert_eq!(one(&mut b, t1, TransmitKind::Response), response);
        assert_eq!(held(&b, index), [(false, t1)], "re-dated");
        // a reads the answer and proves the session at t2.
        let t2 = Instant::from_secs(61);
        deliver(&mut a, t2, &response).expect("read");
        let keepalive = one(&mut a, t2, TransmitKind::Keepalive);
        deliver(&mut b, t2, &keepalive).expect("opens");
        assert_eq!(held(&b, index), [(true, t2)], "aged from its proof");
        let _ = sent(&mut b, t2);
        // The proof spent the cached answer: a copy now is a replay, and
        // changes nothing.
        let t3 = Instant::from_secs(100);
        let refused = deliver(&mut b, t3, &bound).expect_err("a replay");
        assert_eq!(refused.reason, crate::RejectReason::Replay);
        assert_eq!(held(&b, index), [(true, t2)]);
    }

    /// Randomness whose 32-bit draws are all `tag` (every session index
    /// draws it) and whose other draws are a ChaCha20 stream.
    struct DrawsTag {
        tag: u32,
        rest: ChaCha20Rng,
    }

    impl rand_core::TryRng for DrawsTag {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.tag)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.rest.try_next_u64()
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            self.rest.try_fill_bytes(dst)
        }
    }

    impl rand_core::TryCryptoRng for DrawsTag {}

    /// §4.3: a restarted initiator may draw the index it held before; the
    /// responder then holds a proven session and a pending one with the
    /// same remote index, and a copy of the new initiation re-dates the
    /// pending one only.
    #[test]
    fn a_copy_re_dates_the_pending_session_whatever_index_it_shares() {
        let pb = StaticKeypair::from_secret_bytes([2; 32]).public();
        let a_with = |seed: u64| {
            let rest = ChaCha20Rng::seed_from_u64(seed);
            let rng = DrawsTag {
                tag: 0x0101_0101,
                rest,
            };
            let mut a = super::bare(Config::default(), 1, rng, crate::fixed_table::<1>());
            a.add_peer(Instant::ZERO, pb).expect("distinct keys");
            a
        };
        let mut b = endpoint(2, 1, 2);
        let mut buf = [0u8; 256];
        // Runs a's handshake with b (b never initiates) at `t`; returns
        // a's last initiation, the one b read.
        let mut handshake = |a: &mut Endpoint<DrawsTag, _>, b: &mut E, t: Instant, prove: bool| {
            a.handle_timeout(t);
            let mut last = Vec::new();
            for _ in 0..4 {
                while let Some(tx) = a.poll_transmit(t, &mut buf).expect("room") {
                    if tx.kind == TransmitKind::Initiation {
                        last = buf[..tx.len].to_vec();
                    }
                    if tx.kind != TransmitKind::Keepalive || prove {
                        let _ = b.handle_datagram(t, &mut buf[..tx.len]);
                    }
                }
                while let Some(tx) = b.poll_transmit(t, &mut buf).expect("room") {
                    if tx.kind != TransmitKind::Response || prove {
                        let _ = a.handle_datagram(t, &mut buf[..tx.len]);
                    }
                }
            }
            last
        };
        let mut a = a_with(1);
        let first = handshake(&mut a, &mut b, Instant::ZERO, true);
        let index = Initiation::parse(&first).expect("parses").sender_index.0;
        // a restarts and draws the same index; b answers, the answer is
        // lost.
        let mut a = a_with(3);
        let t1 = Instant::from_secs(1);
        let second = handshake(&mut a, &mut b, t1, false);
        assert_eq!(
            Initiation::parse(&second).expect("parses").sender_index.0,
            index
        );
        assert_ne!(second, first);
        assert_eq!(held(&b, index), [(true, Instant::ZERO), (false, t1)]);
        // a's retry, a copy of the initiation read.
        let t2 = Instant::from_secs(30);
        deliver(&mut b, t2, &second).expect("a copy");
        let _ = one(&mut b, t2, TransmitKind::Response);
        assert_eq!(held(&b, index), [(true, Instant::ZERO), (false, t2)]);
    }

    /// §4.3: a copy of the response read changes nothing, and earns
    /// another keepalive only while its session awaits confirmation.
    #[test]
    fn a_copy_of_the_response_read_earns_a_keepalive_until_confirmed() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let (_, response) = read_by_b(&mut a, &mut b);
        let t = Instant::ZERO;
        deliver(&mut a, t, &response).expect("read");
        let keepalive = one(&mut a, t, TransmitKind::Keepalive);
        let cost = a.stats().dh_operations;
        deliver(&mut a, t, &response).expect("a copy");
        let _ = one(&mut a, t, TransmitKind::Keepalive);
        assert_eq!(a.stats().dh_operations, cost, "never read again");
        // b confirms (its keepalive in answer proves the session to a).
        deliver(&mut b, t, &keepalive).expect("opens");
        for (_, d) in sent(&mut b, t) {
            let _ = deliver(&mut a, t, &d);
        }
        assert!(
            crate::table::get(&a.peers, 0)
                .expect("peer")
                .sessions
                .unconfirmed_slot()
                .is_none(),
            "confirmed"
        );
        deliver(&mut a, t, &response).expect("a copy");
        assert!(
            sent(&mut a, t)
                .iter()
                .all(|(k, _)| *k != TransmitKind::Keepalive)
        );
    }

    /// `b`'s answer to the initiation `bound`, written as `b` would but
    /// with the Noise payload `lie` makes of the true one: what a peer that
    /// lies (or has a bug) sends.
    fn response_with(
        b: &E,
        bound: &[u8],
        lie: impl Fn(ResponsePayload) -> ResponsePayload,
    ) -> Vec<u8> {
        use crate::wire::{
            INITIATION_EPHEMERAL_OFFSET as E0, INITIATION_PAYLOAD_LEN, RESPONSE_LEN,
            RESPONSE_NOISE_LEN,
        };
        let p = crate::table::get(&b.peers, 0).expect("peer");
        let init = Initiation::parse(bound).expect("parses");
        let mut payload = [0u8; INITIATION_PAYLOAD_LEN];
        let responder = Responder::read_initiation(
            b.prologue.as_bytes(),
            &b.local,
            &p.public,
            &p.ss,
            &init.noise,
            &mut payload,
        )
        .expect("a's initiation");
        let proposed = InitiationPayload::from_bytes(&payload);
        let sender_index = SessionIndex(0x0ABC);
        let truth = ResponsePayload {
            sender_index,
            receiver_index: init.sender_index,
            generation: proposed.generation,
        };
        let mut msg = Response {
            sender_index,
            receiver_index: init.sender_index,
            noise: [0; RESPONSE_NOISE_LEN],
            mac1: [0; 16],
            mac2: [0; 16],
        };
        responder
            .write_response(
                &p.public,
                x25519_dalek::StaticSecret::from([9; 32]),
                &lie(truth).to_bytes(),
                &mut msg.noise,
            )
            .expect("written");
        let mut bytes = vec![0u8; RESPONSE_LEN];
        msg.emit(&mut bytes).expect("room");
        p.macs.seal(&mut bytes, &bound[E0..E0 + 32]);
        bytes
    }

    /// §4.2, §4.3: a response's clear indexes must be the ones its Noise
    /// payload authenticates, and its generation at least the one proposed.
    /// A response that breaks either, however well formed and
    /// authenticated, is refused, and the initiation stays in flight; the
    /// same response told truthfully is read.
    #[test]
    fn a_response_must_repeat_its_indexes_and_not_lower_the_generation() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let (bound, _) = read_by_b(&mut a, &mut b);
        type Lie = fn(ResponsePayload) -> ResponsePayload;
        let lies: [(&str, Lie); 3] = [
            ("sender", |r| ResponsePayload {
                sender_index: SessionIndex(r.sender_index.0 ^ 1),
                ..r
            }),
            ("receiver", |r| ResponsePayload {
                receiver_index: SessionIndex(r.receiver_index.0 ^ 1),
                ..r
            }),
            ("generation", |r| ResponsePayload {
                generation: r.generation - 1,
                ..r
            }),
        ];
        for (what, lie) in lies {
            let lying = response_with(&b, &bound, lie);
            let refused = deliver(&mut a, Instant::ZERO, &lying).expect_err(what);
            assert_eq!(refused.reason, crate::RejectReason::BadTag, "{what}");
            let p = crate::table::get(&a.peers, 0).expect("peer");
            assert!(p.sessions.slots.iter().all(Option::is_none), "{what}");
            assert!(p.handshake.in_flight.is_some(), "{what}");
        }
        let truthful = response_with(&b, &bound, |r| r);
        deliver(&mut a, Instant::ZERO, &truthful).expect("read");
        let p = crate::table::get(&a.peers, 0).expect("peer");
        assert!(p.handshake.in_flight.is_none(), "the response consumes it");
    }

    fn handshake(e: &E) -> &crate::peer::handshake::Handshake {
        &crate::table::get(&e.peers, 0).expect("peer").handshake
    }

    /// §4.5: a challenge that answers the initiation in flight, unbound, is
    /// taken whatever its number (the responder may have restarted and
    /// numbers from one again); a copy of the one bound changes nothing;
    /// any other challenge (one a replayed initiation provoked) is taken
    /// if at least the highest seen (one equal to it is the one held, and
    /// changes nothing), refused as a replay if older.
    #[test]
    fn challenges_are_taken_when_they_answer_us_or_are_newer() {
        let mut b = endpoint(2, 1, 2);
        let t = Instant::ZERO;
        // A recording of an unbound initiation, from before a restart.
        let mut a = endpoint(1, 2, 1);
        a.handle_timeout(t);
        let recorded = one(&mut a, t, TransmitKind::Initiation);
        let mut a = endpoint(1, 2, 3);
        a.handle_timeout(t);
        let unbound = one(&mut a, t, TransmitKind::Initiation);
        deliver(&mut b, t, &unbound).expect("a challenge");
        let first = one(&mut b, t, TransmitKind::Challenge);
        // The direct answer: taken, the initiation resent bound to it.
        deliver(&mut a, t, &first).expect("taken");
        let bound = one(&mut a, t, TransmitKind::Initiation);
        assert_eq!(handshake(&a).challenge_seen, 1);
        // A copy of it: nothing to do.
        deliver(&mut a, t, &first).expect("a copy");
        assert!(sent(&mut a, t).is_empty(), "resent for a copy");
        deliver(&mut b, t, &bound).expect("read");
        let response = one(&mut b, t, TransmitKind::Response);
        deliver(&mut a, t, &response).expect("read");
        let _ = sent(&mut a, t);
        assert!(handshake(&a).in_flight.is_none());
        // The recording provokes a newer challenge, to an index not in
        // flight: held for the next initiation.
        deliver(&mut b, t, &recorded).expect("a challenge");
        let second = one(&mut b, t, TransmitKind::Challenge);
        deliver(&mut a, t, &second).expect("newer");
        assert_eq!(handshake(&a).challenge_seen, 2);
        let held = handshake(&a).held.expect("held");
        // The same again changes nothing; an older one is a replay.
        deliver(&mut a, t, &second).expect("a copy");
        let refused = deliver(&mut a, t, &first).expect_err("older");
        assert_eq!(refused.reason, crate::RejectReason::Replay);
        assert_eq!(handshake(&a).challenge_seen, 2);
        assert_eq!(handshake(&a).held, Some(held));
        assert!(sent(&mut a, t).is_empty());
        // b restarts: a's next initiation, bound to what b no longer
        // knows, is refused; the retry goes unbound and b's answer,
        // numbered 1 again, is direct and taken.
        let mut b = endpoint(2, 1, 4);
        let t = Instant::from_secs(1);
        a.initiate_handshake(t, PEER).expect("a peer");
        let stale = one(&mut a, t, TransmitKind::Initiation);
        assert!(deliver(&mut b, t, &stale).is_err());
        let (t, retry) = next_initiation(&mut a);
        deliver(&mut b, t, &retry).expect("a challenge");
        let again = one(&mut b, t, TransmitKind::Challenge);
        deliver(&mut a, t, &again).expect("direct");
        assert_eq!(handshake(&a).challenge_seen, 1);
        let rebound = one(&mut a, t, TransmitKind::Initiation);
        deliver(&mut b, t, &rebound).expect("read");
        let _ = one(&mut b, t, TransmitKind::Response);
    }

    /// §4.3: the session a response makes is used at once when there is no
    /// confirmed one to lose, and the handshake goes on until the peer
    /// confirms it.
    #[test]
    fn the_first_session_is_used_at_once() {
        let (mut a, mut b) = (endpoint(1, 2, 1), endpoint(2, 1, 2));
        let (_, response) = read_by_b(&mut a, &mut b);
        deliver(&mut a, Instant::ZERO, &response).expect("read");
        let p = crate::table::get(&a.peers, 0).expect("peer");
        assert!(p.sessions.current().is_some(), "no current session");
        // In use, but the handshake is over only when a probe of the
        // peer's validates under it: until then it is still wanted.
        assert!(
            p.handshake.want.is_some(),
            "the handshake ended unconfirmed"
        );
    }
}

/// §2.6: every slot below `MAX_PEERS` is named by the high bits of a
/// session index, and no more slots could be: the limit is what fits.
#[test]
fn max_peers_is_every_slot_a_session_index_can_name() {
    use super::{INDEX_TAG_BITS, MAX_PEERS, slot_of};
    use crate::ids::SessionIndex;
    let last = u32::try_from(MAX_PEERS - 1).expect("fits");
    assert_eq!(
        last.checked_shl(INDEX_TAG_BITS)
            .map(|h| h >> INDEX_TAG_BITS),
        Some(last)
    );
    assert_eq!(
        u64::try_from(MAX_PEERS).expect("fits") << INDEX_TAG_BITS,
        1 << 32
    );
    assert_eq!(
        slot_of(SessionIndex((last << INDEX_TAG_BITS) | 0xFFF)),
        MAX_PEERS - 1
    );
    assert_eq!(slot_of(SessionIndex(0x1FFF)), 1);
}

/// An endpoint's `Debug` names its public key and configuration, and
/// nothing secret.
#[test]
fn an_endpoints_debug_names_its_public_key_and_config() {
    let e = paired(1, 2, 1, Config::default());
    let public = StaticKeypair::from_secret_bytes([1; 32]).public();
    let shown = std::format!("{e:?}");
    let expected = std::format!(
        "Endpoint {{ public: {public:?}, config: {:?}, .. }}",
        Config::default()
    );
    assert_eq!(shown, expected);
}

/// Events past the queue's capacity drop the oldest, and the endpoint's
/// stats count them.
#[test]
fn events_dropped_from_a_full_queue_are_counted() {
    use crate::event::EVENT_QUEUE_CAPACITY;
    let rng = ChaCha20Rng::seed_from_u64(1);
    let mut e = bare(Config::default(), 1, rng, crate::fixed_table::<40>());
    // Each peer added is two events: added, and its handshake started.
    for k in 2u8..42 {
        e.add_peer(
            Instant::ZERO,
            StaticKeypair::from_secret_bytes([k; 32]).public(),
        )
        .expect("distinct keys");
    }
    let dropped = 80 - EVENT_QUEUE_CAPACITY;
    assert_eq!(
        e.stats().events_dropped,
        u64::try_from(dropped).expect("small")
    );
    // The oldest went: the first kept is the first event of the ninth peer.
    let ninth = StaticKeypair::from_secret_bytes([10; 32]).public();
    let first = e.poll_event().expect("an event");
    assert_eq!(
        first,
        crate::Event::PeerAdded {
            peer: e.peer_by_key(&ninth).expect("added")
        }
    );
    let mut kept = 1;
    while e.poll_event().is_some() {
        kept += 1;
    }
    assert_eq!(kept, EVENT_QUEUE_CAPACITY);
}

/// A growable table doubles when full (§7.4: growth costs O(1) per peer
/// over time), exactly: 1, 2, 4, 8 slots.
#[cfg(feature = "alloc")]
#[test]
fn a_growable_table_doubles_when_full() {
    use crate::table::GrowableTable;
    let rng = ChaCha20Rng::seed_from_u64(1);
    let mut e = bare(Config::default(), 1, rng, GrowableTable::new());
    let mut sizes = std::vec::Vec::new();
    for k in 2u8..8 {
        e.add_peer(
            Instant::ZERO,
            StaticKeypair::from_secret_bytes([k; 32]).public(),
        )
        .expect("room");
        sizes.push(e.peers.slots().len());
    }
    assert_eq!(sizes, [1, 2, 4, 4, 8, 8]);
}

/// A table whose `grow` says it grew but did not (a caller's table, the
/// trait being public) ends the growth: the peer is refused, nothing
/// hangs.
#[cfg(feature = "alloc")]
#[test]
fn a_table_that_claims_to_grow_but_does_not_is_full() {
    use crate::AddPeerError;
    use crate::table::GrowableTable;
    struct Claims(GrowableTable);
    impl PeerTable for Claims {
        type Slot = <GrowableTable as PeerTable>::Slot;
        fn slots(&self) -> &[Self::Slot] {
            &self.0
        }
        fn slots_mut(&mut self) -> &mut [Self::Slot] {
            &mut self.0
        }
        fn grow(&mut self) -> bool {
            true
        }
    }
    let rng = ChaCha20Rng::seed_from_u64(1);
    let mut e = bare(Config::default(), 1, rng, Claims(GrowableTable::new()));
    let refused = e.add_peer(
        Instant::ZERO,
        StaticKeypair::from_secret_bytes([2; 32]).public(),
    );
    assert_eq!(refused, Err(AddPeerError::TableFull));
}

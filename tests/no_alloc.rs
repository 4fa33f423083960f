//! The hot path allocates nothing: sealing and opening probes and echoes,
//! across many epoch rotations, refusing replayed, forged and truncated
//! datagrams (one by one and as batches), and the timer, event and
//! transmit polls around them.
//!
//! A counting global allocator counts the allocations (and frees) made by
//! the current thread while it is armed; each measured section runs with it
//! armed and must count zero. Nothing in a measured section may allocate on
//! its own: results are kept in plain counters and checked after disarming.

#![cfg(feature = "std")]
// The library forbids `unsafe`; a global allocator cannot be written without.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::time::Duration;
use std::alloc::System;

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::wire::{PROBE_HEADER_LEN, WireError};
use probekey::{
    Config, Endpoint, Event, Instant, LinkDirection, PROBE_OVERHEAD, PeerId, PeerTable, ProbeKind,
    Received, RecvError, RejectReason, StaticKeypair, fixed_table,
};

thread_local! {
    /// Whether this thread's allocations are being counted.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Allocations (`alloc`, `alloc_zeroed`, `realloc`) while armed.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// Frees while armed.
    static FREES: Cell<u64> = const { Cell::new(0) };
}

/// Adds one to `counter` if this thread is armed. Const-initialised
/// thread-locals without destructors never allocate, so this is safe to
/// call from inside the allocator.
fn note(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|c| c.set(c.get() + 1));
    }
}

/// The system allocator, counting.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counting touches only thread-local `Cell`s.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&FREES);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and frees counted during one measured section.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Counted {
    allocs: u64,
    frees: u64,
}

/// Runs `f` with this thread's counter armed.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Counted) {
    ALLOCS.with(|c| c.set(0));
    FREES.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    let counted = Counted {
        allocs: ALLOCS.with(Cell::get),
        frees: FREES.with(Cell::get),
    };
    (out, counted)
}

type Ep<T> = Endpoint<ChaCha20Rng, T>;

const BODY_LEN: usize = 64;
const STEP: Duration = Duration::from_millis(250);

/// Rotates the send epoch every four probes (and at least every 2 s).
fn rotating_config() -> Config {
    Config::builder()
        .max_reorder_delay(Duration::from_secs(1))
        .epoch_grace(Duration::from_secs(2))
        .rotate_after_time(Duration::from_secs(2))
        .rotate_after_packets(4)
        .build()
        .expect("valid configuration")
}

/// As [`rotating_config`], and the initiator also rekeys every 20 s, so the
/// measured section contains complete rekey handshakes.
fn rekeying_config() -> Config {
    rotating_config()
        .to_builder()
        .rekey_after_time(Duration::from_secs(20))
        .reject_after_time(Duration::from_secs(40))
        .build()
        .expect("valid configuration")
}

/// Two endpoints with each other as peers: `(a, b, b's id at a, a's id at b)`.
fn pair<T: PeerTable>(config: &Config, table_a: T, table_b: T) -> (Ep<T>, Ep<T>, PeerId, PeerId) {
    let now = Instant::ZERO;
    let mut a = Endpoint::new(
        *config,
        StaticKeypair::from_secret_bytes([1; 32]),
        ChaCha20Rng::seed_from_u64(1),
        table_a,
    );
    let mut b = Endpoint::new(
        *config,
        StaticKeypair::from_secret_bytes([2; 32]),
        ChaCha20Rng::seed_from_u64(2),
        table_b,
    );
    let pb = a.add_peer(now, b.public_key()).expect("add b to a");
    let pa = b.add_peer(now, a.public_key()).expect("add a to b");
    (a, b, pb, pa)
}

/// Delivers everything `from` has to send to `to`; returns how many
/// datagrams there were. Allocates nothing.
fn deliver<T: PeerTable>(from: &mut Ep<T>, to: &mut Ep<T>, now: Instant) -> u64 {
    let mut buf = [0u8; 256];
    let mut n = 0;
    while let Ok(Some(t)) = from.poll_transmit(now, &mut buf) {
        let _ = to.handle_datagram(now, &mut buf[..t.len]);
        n += 1;
    }
    n
}

/// Runs timers and delivers handshake traffic both ways until quiet.
fn pump<T: PeerTable>(a: &mut Ep<T>, b: &mut Ep<T>, now: Instant) -> u64 {
    a.handle_timeout(now);
    b.handle_timeout(now);
    let mut total = 0;
    loop {
        let n = deliver(a, b, now) + deliver(b, a, now);
        if n == 0 {
            return total;
        }
        total += n;
    }
}

/// Drives the first handshake on a virtual clock until both sides can seal.
fn establish<T: PeerTable>(a: &mut Ep<T>, b: &mut Ep<T>, pb: PeerId, pa: PeerId) -> Instant {
    let mut now = Instant::ZERO;
    let mut out = [0u8; 256];
    for _ in 0..200 {
        pump(a, b, now);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        let a_ok = a
            .seal(now, pb, ProbeKind::Probe, &[0; BODY_LEN], &mut out)
            .is_ok();
        let b_ok = b
            .seal(now, pa, ProbeKind::Probe, &[0; BODY_LEN], &mut out)
            .is_ok();
        if a_ok && b_ok {
            return now;
        }
        now = now + Duration::from_millis(50);
    }
    panic!("no session after 10 s of virtual time");
}

/// What a measured run saw, checked after disarming.
#[derive(Copy, Clone, Debug, Default)]
struct Tally {
    seal_failures: u64,
    probes_ok: u64,
    echoes_ok: u64,
    bad_tags: u64,
    replays: u64,
    malformed: u64,
    unexpected: u64,
    rotations_out: u64,
    rotations_in: u64,
    transmits: u64,
    timeouts_polled: u64,
}

/// Sorts the outcome of a datagram that must be refused.
fn refused(t: &mut Tally, r: Result<Received<'_>, RecvError>, peer: PeerId) {
    match r {
        Err(RecvError {
            reason: RejectReason::BadTag,
            peer: Some(p),
        }) if p == peer => t.bad_tags += 1,
        Err(RecvError {
            reason: RejectReason::Replay,
            peer: Some(p),
        }) if p == peer => t.replays += 1,
        Err(RecvError {
            reason: RejectReason::Malformed(WireError::BadLength { .. } | WireError::Truncated),
            peer: None,
        }) => t.malformed += 1,
        _ => t.unexpected += 1,
    }
}

/// Counts the events of interest and drops the rest.
fn drain_events<T: PeerTable>(ep: &mut Ep<T>, t: &mut Tally) {
    while let Some(e) = ep.poll_event() {
        if let Event::EpochRotated { direction, .. } = e {
            match direction {
                LinkDirection::Outbound => t.rotations_out += 1,
                LinkDirection::Inbound => t.rotations_in += 1,
            }
        }
    }
}

/// Seals `kind` from `from` to `to` (`to_id` at `from`, `from_id` at `to`)
/// and feeds `to` a bit-flipped copy, the datagram itself, a replay, a
/// truncation and an empty datagram. True if the datagram itself opened to
/// the same kind and body.
#[allow(clippy::too_many_arguments)]
fn exchange<T: PeerTable>(
    from: &mut Ep<T>,
    to: &mut Ep<T>,
    to_id: PeerId,
    from_id: PeerId,
    kind: ProbeKind,
    body: &[u8],
    now: Instant,
    i: usize,
    t: &mut Tally,
) -> bool {
    let mut dgram = [0u8; 256];
    let Ok(len) = from.seal(now, to_id, kind, body, &mut dgram) else {
        t.seal_failures += 1;
        return false;
    };
    let pristine = dgram;
    // A forgery: one bit of the ciphertext flipped. Refused before the
    // genuine copy, so it cannot be mistaken for a replay.
    let mut forged = pristine;
    forged[PROBE_HEADER_LEN + i % body.len()] ^= 1 << (i % 8);
    // The same bytes again, and cut short of a header and tag.
    let (mut replay, mut truncated, mut empty) = (pristine, pristine, [0u8; 0]);
    let mut batch: [&mut [u8]; 5] = [
        &mut forged[..len],
        &mut dgram[..len],
        &mut replay[..len],
        &mut truncated[..PROBE_OVERHEAD - 1],
        &mut empty,
    ];
    let mut ok = false;
    let mut each = |k: usize, r: Result<Received<'_>, RecvError>| {
        if k == 1 {
            // The genuine datagram, opened in place.
            ok = matches!(
                r,
                Ok(Received::Probe { peer, kind: k, body: opened })
                    if peer == from_id && k == kind && opened == body
            );
            if !ok {
                t.unexpected += 1;
            }
        } else {
            refused(t, r, from_id);
        }
    };
    // One by one and as a batch, in turns: the same results.
    if i.is_multiple_of(2) {
        for (k, d) in batch.iter_mut().enumerate() {
            each(k, to.handle_datagram(now, d));
        }
    } else {
        to.handle_datagrams(now, &mut batch, each);
    }
    ok
}

/// `iterations` rounds of: timers, a probe from `a` (with its forgery,
/// replay and truncations at `b`), `b`'s echo of it (the same at `a`),
/// events and transmits. Returns the tally and the clock at the end.
fn run<T: PeerTable>(
    a: &mut Ep<T>,
    b: &mut Ep<T>,
    pb: PeerId,
    pa: PeerId,
    mut now: Instant,
    iterations: usize,
) -> (Tally, Instant) {
    let mut t = Tally::default();
    let mut body = [0u8; BODY_LEN];
    let mut tick = 0u8;
    for i in 0..iterations {
        tick = tick.wrapping_add(1);
        now = now + STEP;
        a.handle_timeout(now);
        b.handle_timeout(now);
        if a.poll_timeout().is_some() {
            t.timeouts_polled += 1;
        }
        if b.poll_timeout().is_some() {
            t.timeouts_polled += 1;
        }
        // Handshake messages and keepalives (only when rekeying).
        loop {
            let n = deliver(a, b, now) + deliver(b, a, now);
            if n == 0 {
                break;
            }
            t.transmits += n;
        }
        drain_events(a, &mut t);
        drain_events(b, &mut t);

        for (j, byte) in (0u8..).zip(body.iter_mut()) {
            *byte = tick.wrapping_mul(31) ^ j;
        }
        if exchange(a, b, pb, pa, ProbeKind::Probe, &body, now, i, &mut t) {
            t.probes_ok += 1;
            // The echo carries the probe's body back.
            if exchange(b, a, pa, pb, ProbeKind::Echo, &body, now, i, &mut t) {
                t.echoes_ok += 1;
            }
        }
        drain_events(a, &mut t);
        drain_events(b, &mut t);
    }
    (t, now)
}

const ITERATIONS: usize = 1000;

/// The measured run with the given tables and configuration; returns what
/// it saw, the allocations counted, and the epochs and handshake counts
/// before and after.
fn measured_run<T: PeerTable>(
    config: &Config,
    table_a: T,
    table_b: T,
) -> (Tally, Counted, [u64; 4]) {
    let (mut a, mut b, pb, pa) = pair(config, table_a, table_b);
    let start = establish(&mut a, &mut b, pb, pa);
    let epoch = |ep: &Ep<T>, p: PeerId, now: Instant| {
        u64::from(
            ep.peer_status(p, now)
                .and_then(|s| s.send_epoch)
                .expect("a session")
                .0,
        )
    };
    let handshakes = |ep: &Ep<T>, p: PeerId, now: Instant| {
        ep.peer_status(p, now).expect("a peer").handshakes_completed
    };
    let (ea0, eb0) = (epoch(&a, pb, start), epoch(&b, pa, start));
    let h0 = handshakes(&a, pb, start) + handshakes(&b, pa, start);

    let ((tally, end), counted) = measure(|| run(&mut a, &mut b, pb, pa, start, ITERATIONS));

    let (ea1, eb1) = (epoch(&a, pb, end), epoch(&b, pa, end));
    let h1 = handshakes(&a, pb, end) + handshakes(&b, pa, end);
    // Both sides are still healthy after the run.
    for (ep, p) in [(&a, pb), (&b, pa)] {
        let st = ep.peer_status(p, end).expect("a peer");
        assert!(st.inbound.fresh && st.outbound.fresh, "{st:?}");
    }
    (
        tally,
        counted,
        [ea1.wrapping_sub(ea0), eb1.wrapping_sub(eb0), h0, h1],
    )
}

/// The checks every measured run must pass.
fn check(tally: &Tally, counted: Counted) {
    let n = u64::try_from(ITERATIONS).expect("fits");
    assert_eq!(tally.seal_failures, 0, "{tally:?}");
    assert_eq!(tally.unexpected, 0, "{tally:?}");
    assert_eq!(tally.probes_ok, n, "{tally:?}");
    assert_eq!(tally.echoes_ok, n, "{tally:?}");
    assert_eq!(tally.bad_tags, 2 * n, "{tally:?}");
    assert_eq!(tally.replays, 2 * n, "{tally:?}");
    assert_eq!(tally.malformed, 4 * n, "{tally:?}");
    assert_eq!(tally.timeouts_polled, 2 * n, "{tally:?}");
    assert!(tally.rotations_out >= 200, "{tally:?}");
    assert!(tally.rotations_in >= 200, "{tally:?}");
    assert_eq!(
        counted,
        Counted {
            allocs: 0,
            frees: 0
        },
        "the measured section allocated; {tally:?}"
    );
}

#[test]
fn the_counter_counts() {
    let (v, counted) = measure(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        core::hint::black_box(v)
    });
    assert!(counted.allocs >= 1, "{counted:?}");
    drop(v);
    let ((), counted) = measure(|| {
        let mut v: Vec<u8> = core::hint::black_box(Vec::with_capacity(1));
        v.extend_from_slice(&[0; 100]);
        drop(core::hint::black_box(v));
    });
    assert!(counted.allocs >= 2 && counted.frees >= 1, "{counted:?}");
    let ((), counted) = measure(|| {
        core::hint::black_box([0u8; 64]);
    });
    assert_eq!(
        counted,
        Counted {
            allocs: 0,
            frees: 0
        }
    );
}

#[test]
fn probes_echoes_rotations_and_rejections_allocate_nothing() {
    let config = rotating_config();
    let (tally, counted, [da, db, h0, h1]) = measured_run(&config, Vec::new(), Vec::new());
    check(&tally, counted);
    assert!(da >= 100 && db >= 100, "epochs advanced by {da} and {db}");
    // No handshake ran inside the measured section.
    assert_eq!(h0, h1);
    assert_eq!(tally.transmits, 0, "{tally:?}");
}

#[test]
fn with_a_fixed_peer_table_too() {
    let config = rotating_config();
    let (tally, counted, [da, db, ..]) =
        measured_run::<probekey::FixedTable<4>>(&config, fixed_table(), fixed_table());
    check(&tally, counted);
    assert!(da >= 100 && db >= 100, "epochs advanced by {da} and {db}");
}

#[test]
fn rekey_handshakes_allocate_nothing_either() {
    let config = rekeying_config();
    let (tally, counted, [_, _, h0, h1]) = measured_run(&config, Vec::new(), Vec::new());
    check(&tally, counted);
    // 250 s of virtual time with a rekey every 20 s.
    assert!(
        h1 >= h0 + 10,
        "handshakes completed: {h0} before, {h1} after"
    );
    assert!(tally.transmits >= 30, "{tally:?}");
}

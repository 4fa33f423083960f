//! The per-probe hot path against the bare AEAD on the same bytes, rejects,
//! many peers, and the handshake. Benchmark ids are stable: compare them
//! across versions. `scripts/bench-summary` runs this briefly and prints
//! the ratios the targets are stated in.

use core::hint::black_box;
use core::time::Duration;

use chacha20::ChaCha20Rng;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use probekey::rand_core::SeedableRng;
use probekey::{
    Config, Endpoint, Instant, PROBE_OVERHEAD, PeerId, ProbeKind, StaticKeypair, SymmetricKey,
};

type Ep = probekey::GrowableEndpoint<ChaCha20Rng>;

const NOW: Instant = Instant::from_secs(1);
const MAX: usize = 256;

fn endpoint(seed: u64) -> Ep {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = StaticKeypair::generate(&mut rng);
    Endpoint::new(Config::default(), key, rng, Vec::new())
}

/// Moves every queued datagram from `from` to `to`; returns how many.
fn flush(from: &mut Ep, to: &mut Ep) -> usize {
    let mut buf = [0u8; MAX];
    let mut n = 0;
    while let Ok(Some(tx)) = from.poll_transmit(NOW, &mut buf) {
        let _ = to.handle_datagram(NOW, &mut buf[..tx.len]);
        n += 1;
    }
    n
}

/// `a` initiates to `b` (which only responds) until both can seal.
fn handshake(a: &mut Ep, b: &mut Ep, b_at_a: PeerId) {
    a.initiate_handshake(NOW, b_at_a);
    while flush(a, b) + flush(b, a) > 0 {}
}

/// Two endpoints with an established session.
fn pair() -> (Ep, Ep, PeerId, PeerId) {
    let (mut a, mut b) = (endpoint(1), endpoint(2));
    let b_at_a = a.add_peer(NOW, b.public_key()).expect("peer");
    let a_at_b = b.add_peer(NOW, a.public_key()).expect("peer");
    handshake(&mut a, &mut b, b_at_a);
    (a, b, b_at_a, a_at_b)
}

#[derive(Clone, Copy)]
struct Datagram {
    bytes: [u8; MAX],
    len: usize,
}

impl Datagram {
    fn bytes(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
}

fn seal(a: &mut Ep, to: PeerId, body: &[u8]) -> Datagram {
    let mut d = Datagram {
        bytes: [0; MAX],
        len: 0,
    };
    d.len = a
        .seal(NOW, to, ProbeKind::Probe, body, &mut d.bytes)
        .expect("session");
    d
}

fn probe_group(c: &mut Criterion, wire_len: usize) {
    let body = vec![0x5Au8; wire_len - PROBE_OVERHEAD];
    let (mut a, mut b, b_at_a, _) = pair();
    let mut g = c.benchmark_group(format!("probe_{wire_len}B"));
    g.throughput(Throughput::Bytes(wire_len as u64));

    // The baseline: the bare AEAD on the same bytes (body encrypted, the
    // 32-byte header as associated data, the same nonce layout).
    let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
    let template = seal(&mut a, b_at_a, &body);
    let header: [u8; 32] = template.bytes[..32].try_into().expect("header");
    let nonce = |n: u64| {
        let mut x = [0u8; 12];
        x[4..].copy_from_slice(&n.to_le_bytes());
        Nonce::from(x)
    };
    let mut raw = template;
    let body_end = raw.len - 16;
    let tag = cipher
        .encrypt_inout_detached(&nonce(1), &header, (&mut raw.bytes[32..body_end]).into())
        .expect("seal");
    raw.bytes[body_end..raw.len].copy_from_slice(&tag);
    let mut counter = 0u64;
    let mut out = [0u8; MAX];
    g.bench_function("raw_aead_seal", |bench| {
        bench.iter(|| {
            counter += 1;
            out[32..32 + body.len()].copy_from_slice(&body);
            let t = cipher.encrypt_inout_detached(
                &nonce(counter),
                &header,
                (&mut out[32..32 + body.len()]).into(),
            );
            black_box(t)
        })
    });
    g.bench_function("raw_aead_open", |bench| {
        bench.iter_batched_ref(
            || raw,
            |d| {
                let (head, rest) = d.bytes[..d.len].split_at_mut(32);
                let (ct, tag) = rest.split_at_mut(body_end - 32);
                let tag = Tag::try_from(&*tag).expect("tag");
                black_box(cipher.decrypt_inout_detached(&nonce(1), head, ct.into(), &tag))
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("seal", |bench| {
        bench.iter(|| black_box(a.seal(NOW, b_at_a, ProbeKind::Probe, &body, &mut out)))
    });
    g.bench_function("open", |bench| {
        bench.iter_batched_ref(
            || seal(&mut a, b_at_a, &body),
            |d| black_box(b.handle_datagram(NOW, d.bytes()).is_ok()),
            BatchSize::SmallInput,
        )
    });
    let fresh = seal(&mut a, b_at_a, &body);
    let mut malformed = fresh;
    malformed.bytes[1] = 2; // unsupported version
    let mut unknown = fresh;
    unknown.bytes[7] ^= 0x55; // another tag in the receiver index
    let mut outside = fresh;
    outside.bytes[11] = outside.bytes[11].wrapping_add(5); // epoch + 5
    let mut replayed = fresh;
    assert!(b.handle_datagram(NOW, replayed.bytes()).is_ok());
    let replayed = fresh;
    for (id, d) in [
        ("reject_malformed", malformed),
        ("reject_unknown_session", unknown),
        ("reject_epoch_outside_window", outside),
        ("reject_replay", replayed),
    ] {
        let mut d = d;
        assert!(b.handle_datagram(NOW, d.bytes()).is_err(), "{id}");
        g.bench_function(id, |bench| {
            bench.iter(|| black_box(b.handle_datagram(NOW, d.bytes()).is_err()))
        });
    }
    g.bench_function("reject_bad_tag", |bench| {
        bench.iter_batched_ref(
            || {
                let mut d = seal(&mut a, b_at_a, &body);
                d.bytes[d.len - 1] ^= 1;
                d
            },
            |d| black_box(b.handle_datagram(NOW, d.bytes()).is_err()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn probes(c: &mut Criterion) {
    probe_group(c, 64);
    probe_group(c, 256);
}

/// An endpoint `b` with `n` established peers, and the peers.
fn many(n: usize) -> (Ep, Vec<(Ep, PeerId)>) {
    let mut b = endpoint(0);
    let mut peers = Vec::with_capacity(n);
    for i in 0..n {
        let mut a = endpoint(10 + i as u64);
        let b_at_a = a.add_peer(NOW, b.public_key()).expect("peer");
        b.add_peer(NOW, a.public_key()).expect("peer");
        handshake(&mut a, &mut b, b_at_a);
        peers.push((a, b_at_a));
    }
    (b, peers)
}

fn peers(c: &mut Criterion) {
    let body = [0x5Au8; 16];
    let mut g = c.benchmark_group("peers");
    for (id, n) in [
        ("open_1_peer", 1),
        ("open_1k_peers", 1_000),
        ("open_10k_peers", 10_000),
    ] {
        let (mut b, mut peers) = many(n);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        g.bench_function(id, |bench| {
            bench.iter_batched_ref(
                || {
                    // Probes arrive from peers in random order.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let (a, to) = &mut peers[(x % n as u64) as usize];
                    seal(a, *to, &body)
                },
                |d| black_box(b.handle_datagram(NOW, d.bytes()).is_ok()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn handshakes(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.measurement_time(Duration::from_secs(5));
    let fresh_pair = || {
        let (mut a, mut b) = (endpoint(1), endpoint(2));
        let b_at_a = a.add_peer(NOW, b.public_key()).expect("peer");
        b.add_peer(NOW, a.public_key()).expect("peer");
        (a, b, b_at_a)
    };
    let mut buf = [0u8; MAX];
    g.bench_function("initiate", |bench| {
        bench.iter_batched_ref(
            fresh_pair,
            |(a, _, to)| {
                a.initiate_handshake(NOW, *to);
                black_box(a.poll_transmit(NOW, &mut buf).is_ok())
            },
            BatchSize::SmallInput,
        )
    });
    let with_initiation = || {
        let (mut a, b, to) = fresh_pair();
        a.initiate_handshake(NOW, to);
        let mut d = Datagram {
            bytes: [0; MAX],
            len: 0,
        };
        d.len = a
            .poll_transmit(NOW, &mut d.bytes)
            .expect("buffer")
            .expect("initiation")
            .len;
        (a, b, d)
    };
    g.bench_function("respond", |bench| {
        bench.iter_batched_ref(
            with_initiation,
            |(_, b, d)| {
                let _ = b.handle_datagram(NOW, d.bytes());
                black_box(b.poll_transmit(NOW, &mut buf).is_ok())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("complete", |bench| {
        bench.iter_batched_ref(
            || {
                let (a, mut b, mut d) = with_initiation();
                let _ = b.handle_datagram(NOW, d.bytes());
                d.len = b
                    .poll_transmit(NOW, &mut d.bytes)
                    .expect("buffer")
                    .expect("response")
                    .len;
                (a, d)
            },
            |(a, d)| black_box(a.handle_datagram(NOW, d.bytes()).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("full", |bench| {
        bench.iter_batched_ref(
            fresh_pair,
            |(a, b, to)| {
                handshake(a, b, *to);
            },
            BatchSize::SmallInput,
        )
    });
    let mut chain = SymmetricKey::from_bytes([9; 32]);
    g.bench_function("rotate_epoch", |bench| {
        bench.iter(|| {
            let (key, next) = probekey::internals::schedule::step(&chain);
            chain = next;
            black_box(key)
        })
    });
    g.finish();
}

criterion_group!(benches, probes, peers, handshakes);
criterion_main!(benches);

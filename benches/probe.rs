//! The per-probe hot path against the bare AEAD on the same bytes (the
//! portable crate, ring and aws-lc-rs) and boringtun's decapsulation, rejects,
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

/// The benchmarks read initiations at one instant, over and over: a
/// Diffie-Hellman budget (§4.5) for all of them, so that every iteration
/// does the work it names.
fn config() -> Config {
    Config::builder()
        .handshake_dh_per_second(u32::MAX)
        .build()
        .expect("config")
}

fn endpoint(seed: u64) -> Ep {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = StaticKeypair::generate(&mut rng);
    Endpoint::new(config(), key, rng, Vec::new())
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
    a.initiate_handshake(NOW, b_at_a)
        .expect("a configured peer");
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
    // ring and aws-lc-rs on the same bytes, keys prepared once, as
    // probekey's epoch keys are.
    {
        use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"));
        let nonce = |n: u64| {
            let mut x = [0u8; 12];
            x[4..].copy_from_slice(&n.to_le_bytes());
            Nonce::assume_unique_for_key(x)
        };
        g.bench_function("ring_open", |bench| {
            bench.iter_batched_ref(
                || raw,
                |d| {
                    let (head, rest) = d.bytes[..d.len].split_at_mut(32);
                    black_box(key.open_in_place(nonce(1), Aad::from(&*head), rest).is_ok())
                },
                BatchSize::SmallInput,
            )
        });
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"));
        let nonce = |n: u64| {
            let mut x = [0u8; 12];
            x[4..].copy_from_slice(&n.to_le_bytes());
            Nonce::assume_unique_for_key(x)
        };
        g.bench_function("aws_lc_open", |bench| {
            bench.iter_batched_ref(
                || raw,
                |d| {
                    let (head, rest) = d.bytes[..d.len].split_at_mut(32);
                    black_box(key.open_in_place(nonce(1), Aad::from(&*head), rest).is_ok())
                },
                BatchSize::SmallInput,
            )
        });
    }
    boringtun_decapsulate(&mut g, wire_len);
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

/// boringtun's `decapsulate` of a WireGuard data packet of `wire_len`
/// bytes on the wire (16-byte header, an IPv4 packet, 16-byte tag), a fresh
/// packet every iteration, after a real handshake between two `Tunn`s.
fn boringtun_decapsulate(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    wire_len: usize,
) {
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    let (sa, sb) = (
        StaticSecret::from([0x11; 32]),
        StaticSecret::from([0x22; 32]),
    );
    let (pa, pb) = (PublicKey::from(&sa), PublicKey::from(&sb));
    let mut a = Tunn::new(sa, pb, None, None, 1, None);
    let mut b = Tunn::new(sb, pa, None, None, 2, None);
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 2048];
    // Initiation, response, and the keepalive that confirms the session.
    let TunnResult::WriteToNetwork(init) = a.format_handshake_initiation(&mut buf, false) else {
        panic!("initiation");
    };
    let init = init.to_vec();
    let TunnResult::WriteToNetwork(resp) = b.decapsulate(None, &init, &mut out) else {
        panic!("response");
    };
    let resp = resp.to_vec();
    if let TunnResult::WriteToNetwork(ka) = a.decapsulate(None, &resp, &mut buf) {
        let ka = ka.to_vec();
        let _ = b.decapsulate(None, &ka, &mut out);
    }
    // An IPv4 packet filling the data packet to `wire_len` bytes.
    let ip_len = wire_len - 32;
    let mut ip = vec![0u8; ip_len];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&u16::try_from(ip_len).expect("small").to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let mut packet = || {
        let mut d = Datagram {
            bytes: [0; MAX],
            len: 0,
        };
        let mut wire = [0u8; 2048];
        if let TunnResult::WriteToNetwork(p) = a.encapsulate(&ip, &mut wire) {
            d.len = p.len();
            d.bytes[..d.len].copy_from_slice(p);
        }
        d
    };
    let mut first = packet();
    assert_eq!(first.len, wire_len, "a data packet of {wire_len} bytes");
    assert!(matches!(
        b.decapsulate(None, first.bytes(), &mut out),
        TunnResult::WriteToTunnelV4(..)
    ));
    g.bench_function("boringtun_decapsulate", |bench| {
        bench.iter_batched_ref(
            &mut packet,
            |d| {
                black_box(matches!(
                    b.decapsulate(None, d.bytes(), &mut out),
                    TunnResult::WriteToTunnelV4(..)
                ))
            },
            BatchSize::SmallInput,
        )
    });
}

fn probes(c: &mut Criterion) {
    probe_group(c, 64);
    probe_group(c, 256);
}

/// An endpoint `b` with `n` established peers, and the peers. The table
/// is reserved for `n` peers, so that adding them never reallocates.
fn many(n: usize) -> (Ep, Vec<(Ep, PeerId)>) {
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let key = StaticKeypair::generate(&mut rng);
    let mut b = Endpoint::new(
        config(),
        key,
        rng,
        probekey::GrowableTable::with_capacity(n),
    );
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

/// A hub with `n` peers that never answer: every peer has an initiation in
/// flight and a retry timer, re-armed at each retry without a new
/// initiation (so without a Diffie-Hellman) for as long as the bench runs.
fn unanswered(n: usize) -> Ep {
    let config = Config::builder()
        .handshake_retry_initial(Duration::from_millis(1))
        .handshake_retry_max(Duration::from_millis(1))
        .handshake_rate_interval(Duration::from_millis(1))
        .handshake_max_age(Duration::from_secs(300 * 24 * 3600))
        .build()
        .expect("config");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = StaticKeypair::generate(&mut rng);
    let mut hub = Endpoint::new(config, key, rng, probekey::GrowableTable::with_capacity(n));
    for i in 0..n {
        let key = StaticKeypair::generate(&mut ChaCha20Rng::seed_from_u64(1_000_000 + i as u64));
        hub.add_peer(NOW, key.public()).expect("peer");
    }
    hub.handle_timeout(NOW);
    hub
}

/// mac1 of a handshake message for `receiver` (§3.4): what anyone who knows
/// the receiver's public key can compute.
fn seal_mac1(receiver: &probekey::PublicKey, message: &mut [u8]) {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let (m1, m2) = (probekey::wire::MAC1_OFFSET, probekey::wire::MAC2_OFFSET);
    let mut h = Sha256::new();
    h.update(b"probekey v1 mac1");
    h.update(receiver.as_bytes());
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&h.finalize()).expect("key");
    m.update(&message[..m1]);
    message[m1..m2].copy_from_slice(&m.finalize().into_bytes()[..16]);
}

/// Batch size of the one-by-one and batch opens.
const BATCH: usize = 16;

/// `BATCH` probes from peers drawn at random.
fn random_probes(peers: &mut [(Ep, PeerId)], x: &mut u64, body: &[u8]) -> [Datagram; BATCH] {
    core::array::from_fn(|_| {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let n = peers.len() as u64;
        let (a, to) = &mut peers[(*x % n) as usize];
        seal(a, *to, body)
    })
}

fn scale(c: &mut Criterion) {
    let body = [0x5Au8; 16];
    let mut g = c.benchmark_group("scale");
    // PROBEKEY_BENCH_MAX_PEERS bounds the sizes (the 100,000-peer setup
    // runs a million Diffie-Hellmans).
    let max: usize = std::env::var("PROBEKEY_BENCH_MAX_PEERS")
        .map(|v| v.parse().expect("PROBEKEY_BENCH_MAX_PEERS: a number"))
        .unwrap_or(100_000);
    for n in [1, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|&n| n <= max)
    {
        let (mut b, mut peers) = many(n);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        // Probes arrive from peers in random order.
        g.bench_function(format!("open/{n}"), |bench| {
            bench.iter_batched_ref(
                || random_probes(&mut peers[..], &mut x, &body)[0],
                |d| black_box(b.handle_datagram(NOW, d.bytes()).is_ok()),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("open_{BATCH}_one_by_one/{n}"), |bench| {
            bench.iter_batched_ref(
                || random_probes(&mut peers[..], &mut x, &body),
                |ds| {
                    let mut ok = 0;
                    for d in ds.iter_mut() {
                        ok += usize::from(b.handle_datagram(NOW, d.bytes()).is_ok());
                    }
                    black_box(ok)
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("open_{BATCH}_batch/{n}"), |bench| {
            bench.iter_batched_ref(
                || random_probes(&mut peers[..], &mut x, &body),
                |ds| {
                    let mut bufs: [&mut [u8]; BATCH] = ds.each_mut().map(|d| d.bytes());
                    let mut ok = 0;
                    b.handle_datagrams(NOW, &mut bufs, |_, r| ok += usize::from(r.is_ok()));
                    black_box(ok)
                },
                BatchSize::SmallInput,
            )
        });
        // The last peer's initiation, replayed: after the first copies earn
        // challenges, each is refused by the rate limit (the clock stands
        // still), after mac1, the key-id lookup and the mac2 checks.
        let (last, to) = peers.last_mut().expect("peers");
        last.initiate_handshake(NOW, *to)
            .expect("a configured peer");
        let mut buf = [0u8; MAX];
        let t = last
            .poll_transmit(NOW, &mut buf)
            .expect("room")
            .expect("initiation");
        let mut replayed = buf[..t.len].to_vec();
        for _ in 0..100 {
            let _ = b.handle_datagram(NOW, &mut replayed);
        }
        g.bench_function(format!("replayed_initiation_last_slot/{n}"), |bench| {
            bench.iter(|| black_box(b.handle_datagram(NOW, &mut replayed).is_err()))
        });
        // A forged initiation with a valid mac1 and a key id nobody has.
        let mut forged = replayed.clone();
        forged[8..16].copy_from_slice(&[0xA5; 8]);
        seal_mac1(&b.public_key(), &mut forged);
        assert!(matches!(
            b.handle_datagram(NOW, &mut forged),
            Err(probekey::RecvError {
                reason: probekey::RejectReason::UnknownPeer,
                ..
            })
        ));
        g.bench_function(format!("forged_initiation/{n}"), |bench| {
            bench.iter(|| black_box(b.handle_datagram(NOW, &mut forged).is_err()))
        });
        drop((b, peers));

        let mut hub = unanswered(n);
        g.bench_function(format!("poll_timeout/{n}"), |bench| {
            bench.iter(|| black_box(hub.poll_timeout()))
        });
        // Each call runs the one retry due (jittered deadlines are distinct).
        g.bench_function(format!("handle_timeout_one_due/{n}"), |bench| {
            bench.iter(|| {
                let due = hub.poll_timeout().expect("a retry is armed");
                hub.handle_timeout(due);
            })
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
                a.initiate_handshake(NOW, *to).expect("a configured peer");
                black_box(a.poll_transmit(NOW, &mut buf).is_ok())
            },
            BatchSize::SmallInput,
        )
    });
    // An initiation the responder reads: bound to its challenge (§4.5),
    // after the first, unbound one earned that challenge.
    let with_initiation = || {
        let (mut a, mut b, to) = fresh_pair();
        a.initiate_handshake(NOW, to).expect("a configured peer");
        let mut d = Datagram {
            bytes: [0; MAX],
            len: 0,
        };
        let mut pass = |from: &mut Ep, to: &mut Ep, kind| {
            let t = from
                .poll_transmit(NOW, &mut d.bytes)
                .expect("buffer")
                .expect("a datagram");
            assert_eq!(t.kind, kind);
            d.len = t.len;
            let _ = to.handle_datagram(NOW, d.bytes());
        };
        pass(&mut a, &mut b, probekey::TransmitKind::Initiation);
        pass(&mut b, &mut a, probekey::TransmitKind::Challenge);
        d.len = a
            .poll_transmit(NOW, &mut d.bytes)
            .expect("buffer")
            .expect("the bound initiation")
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

criterion_group!(benches, probes, scale, handshakes);
criterion_main!(benches);

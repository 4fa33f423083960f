//! The adversarial tests SECURITY.md cites: replays of a whole recorded
//! history at random later moments, handshakes from keys that are not
//! configured, replayed-initiation floods against the rate limit, and
//! formatting of every public type. (Bit flips, forged floods and the
//! per-reason counting are in `tests/replay_forgery.rs`; nonce safety, key
//! erasure and the memory-disclosure check are unit tests next to the state
//! they inspect, in `src/endpoint/tests.rs`, `src/internals/schedule.rs` and `src/keys.rs`.)

mod common;

use core::time::Duration;

use chacha20::ChaCha20Rng;
use common::*;
use probekey::internals::noise::{Initiator, StaticDh};
use probekey::rand_core::{Rng, SeedableRng};
use probekey::wire::{INITIATION_LEN, INITIATION_NOISE_LEN, Initiation};
use probekey::{
    Config, Event, Instant, KeyId, PeerStatus, Received, RejectReason, SessionIndex, StaticKeypair,
    SymmetricKey,
};
use probekey_sim::{Datagram, Fault, FaultWindow, Sim, SimConfig};

/// Rotation every 5 s and a rekey every 30 s, so a recording holds many
/// epochs and several sessions.
fn busy_config() -> Config {
    Config::builder()
        .rotate_after_time(secs(5))
        .rekey_after_time(secs(30))
        .reject_after_time(secs(45))
        .build()
        .expect("valid")
}

/// The parts of a status a replay must not move: freshness, the session in
/// use and its epochs.
fn working_state(s: &PeerStatus) -> impl PartialEq + core::fmt::Debug {
    (
        s.inbound,
        s.outbound,
        s.send_epoch,
        s.recv_epoch,
        s.session_age,
        s.session_role,
    )
}

#[test]
fn every_recorded_datagram_replayed_at_a_random_later_moment_is_refused_or_harmless() {
    // Two minutes of history: handshakes, rotations, rekeys, a restart of
    // node 1 (so old sessions, old epochs and old incarnations are all in
    // the recording), then five minutes in which every recorded datagram is
    // delivered again at a random moment, straight to its receiver.
    let mut cfg = SimConfig::mesh(2, busy_config(), 61);
    cfg.record = true;
    let mut sim = Sim::new(cfg);
    sim.add_fault(FaultWindow {
        start: at(secs(70)),
        end: at(secs(70)),
        fault: Fault::Restart { node: 1 },
    });
    sim.run_until(at(secs(120)));
    assert!(sim.all_fresh());
    let recorded: Vec<Datagram> = sim.recorded.clone();
    let count = |t: u8| recorded.iter().filter(|d| d.bytes[0] == t).count();
    assert!(count(INITIATION) >= 4 && count(RESPONSE) >= 4 && count(PROBE) > 1000);

    let mut rng = ChaCha20Rng::seed_from_u64(61);
    let start = sim.now();
    let span = 300_000_000_000u64; // five minutes, in nanoseconds
    let mut schedule: Vec<(Instant, usize)> = (0..recorded.len())
        .map(|i| (start + Duration::from_nanos(rng.next_u64() % span), i))
        .collect();
    schedule.sort();
    let mut refused = 0;
    let mut answered = 0;
    let mut copies = 0;
    for (t, i) in schedule {
        let d = &recorded[i];
        sim.run_until(t);
        let now = sim.now();
        let before = status(&sim, d.to, d.from);
        let mut bytes = d.bytes.clone();
        let result = sim.node_mut(d.to).endpoint.handle_datagram(now, &mut bytes);
        let after = status(&sim, d.to, d.from);
        match result {
            Err(_) => refused += 1,
            // An initiation may be answered: the responder cannot tell an
            // old one from a restarted peer's. It gets a pending session
            // that can never be proven.
            Ok(Received::Handshake { .. }) if d.bytes[0] == INITIATION => answered += 1,
            // A copy of a response the receiver read, for a session it
            // still holds, is taken for the retransmission it may be and
            // changes nothing (§4.3): it is never read again.
            Ok(Received::Handshake { .. }) if d.bytes[0] == RESPONSE => copies += 1,
            // A challenge is only ever a value to bind; an old one changes
            // nothing that matters (§4.5).
            Ok(Received::Handshake { .. }) if d.bytes[0] == CHALLENGE => copies += 1,
            Ok(r) => panic!("a replayed datagram was accepted: {r:?} ({:?})", d.bytes[0]),
        }
        assert_eq!(
            working_state(&after),
            working_state(&before),
            "a replay moved freshness or displaced the working session"
        );
        assert!(sim.all_fresh(), "the link broke at {now:?}");
    }
    sim.run_until(start + Duration::from_nanos(span) + secs(10));
    assert!(sim.all_fresh());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    // Answered initiations are rate-limited like any others.
    assert!(answered <= count(INITIATION), "{answered}");
    assert!(refused + answered + copies == recorded.len());
}

/// The Noise prologue of the simulator's deployment, as its endpoints
/// write it.
fn prologue_of(sim: &Sim) -> Vec<u8> {
    probekey::internals::noise::Prologue::new(
        probekey::wire::VERSION,
        sim.config().config.deployment_id(),
    )
    .as_bytes()
    .to_vec()
}

/// An initiation written by a key that is not configured at `to`, aimed at
/// `to`, with valid MACs for that (outsider, `to`) pair, claiming `key_id`.
fn outsider_initiation(
    sim: &Sim,
    outsider: &StaticKeypair,
    to: usize,
    key_id: KeyId,
    n: u8,
) -> Vec<u8> {
    let target = sim.node(to).keypair().public();
    let pair = StaticDh::new(outsider, &target).expect("contributory");
    let prologue = prologue_of(sim);
    let mut msg = Initiation {
        sender_index: SessionIndex(u32::from(n)),
        key_id,
        noise: [0; INITIATION_NOISE_LEN],
        mac1: [0; 16],
        mac2: [0; 16],
    };
    let payload = probekey::wire::InitiationPayload {
        sender_index: SessionIndex(u32::from(n)),
        generation: 1,
    }
    .to_bytes();
    Initiator::write_initiation(
        &prologue,
        outsider,
        &target,
        &pair,
        x25519_dalek::StaticSecret::from([n.max(1); 32]),
        &payload,
        &mut msg.noise,
    )
    .expect("written");
    let mut bytes = vec![0u8; INITIATION_LEN];
    msg.emit(&mut bytes).expect("length");
    // No challenge bound: the outsider never got one (§4.5).
    probekey::internals::noise::write_macs(&pair, &target, &mut bytes, &[0; 16]).expect("length");
    bytes
}

#[test]
fn a_handshake_from_a_key_that_is_not_configured_costs_no_diffie_hellman() {
    let mut sim = pair(62);
    settle(&mut sim, secs(5));
    let outsider = StaticKeypair::from_secret_bytes([0x42; 32]);
    let dh_before = sim.node(0).endpoint.stats().dh_operations;
    let configured = sim.node(1).keypair().public().key_id();
    let mut t = sim.now();
    for n in 0..2000u32 {
        t = t + Duration::from_millis(1);
        sim.run_until(t);
        let now = sim.now();
        // Its own key id: no such peer.
        let mut own = outsider_initiation(&sim, &outsider, 0, outsider.public().key_id(), n as u8);
        let r = sim.node_mut(0).endpoint.handle_datagram(now, &mut own);
        assert_eq!(r.map_err(|e| e.reason), Err(RejectReason::UnknownPeer));
        // A configured peer's key id: mac2 is keyed from that pair's secret,
        // which the outsider does not have.
        let mut claimed = outsider_initiation(&sim, &outsider, 0, configured, n as u8);
        let r = sim.node_mut(0).endpoint.handle_datagram(now, &mut claimed);
        assert_eq!(r.map_err(|e| e.reason), Err(RejectReason::BadMac));
        assert!(sim.all_fresh(), "the link stopped validating at {now:?}");
    }
    assert_eq!(
        sim.node(0).endpoint.stats().dh_operations,
        dh_before,
        "an unconfigured key reached Diffie-Hellman"
    );
    let st = status(&sim, 0, 1);
    assert_eq!(st.rejected.rate_limited, 0, "the peer's tokens were spent");
    assert!(sim.all_fresh());
}

#[test]
fn a_replayed_initiation_flood_is_held_to_the_rate_limit_and_the_link_keeps_validating() {
    // Record several distinct authentic initiations from node 1: its first
    // handshake and those after two restarts.
    let mut cfg = SimConfig::mesh(2, Config::default(), 63);
    cfg.record = true;
    let mut sim = Sim::new(cfg);
    for s in [10, 20] {
        sim.add_fault(FaultWindow {
            start: at(secs(s)),
            end: at(secs(s)),
            fault: Fault::Restart { node: 1 },
        });
    }
    sim.run_until(at(secs(40)));
    assert!(sim.all_fresh());
    let initiations: Vec<Vec<u8>> = sim
        .recorded
        .iter()
        .filter(|d| d.from == 1 && d.bytes[0] == INITIATION)
        .map(|d| d.bytes.clone())
        .collect();
    assert!(initiations.len() >= 3);

    // Thirty seconds at 2000 replays per second.
    let c = sim.config().config;
    let flood = secs(30);
    let start = sim.now();
    let dh_before = sim.node(0).endpoint.stats().dh_operations;
    let rejected_before = status(&sim, 0, 1).rejected;
    let events_before = sim.events.len();
    let mut sent = 0u64;
    let mut t = start;
    while t < start + flood {
        t = t + Duration::from_micros(500);
        sim.run_until(t);
        sim.inject(1, 0, initiations[sent as usize % initiations.len()].clone());
        sent += 1;
        assert!(sim.all_fresh(), "the link stopped validating at {t:?}");
    }
    sim.run_until(t + secs(1));
    // No replay is read (§4.5): none binds our current challenge, so none
    // costs a Diffie-Hellman.
    let dh = sim.node(0).endpoint.stats().dh_operations - dh_before;
    assert_eq!(dh, 0, "{dh} DH for {sent} replays");
    // Every replay was refused (over the limit, a copy with nothing
    // pending, or bound to a spent challenge) or answered: with a
    // challenge (within the limit: handshake_rate_burst, then one per
    // handshake_rate_interval) or, for a copy of the last initiation
    // read, with the cached response.
    let rejected = status(&sim, 0, 1).rejected;
    let refused = rejected.total() - rejected_before.total();
    let sent_by_0 = |t: u8| {
        sim.recorded
            .iter()
            .filter(|d| d.from == 0 && d.bytes[0] == t && d.sent_at >= start)
            .count() as u64
    };
    let challenged = sent_by_0(CHALLENGE);
    let answered = sent_by_0(RESPONSE);
    let challenges_max = u64::from(c.handshake_rate_burst())
        + (flood.as_nanos() / c.handshake_rate_interval().as_nanos()) as u64;
    assert!(challenged <= challenges_max, "{challenged} challenges");
    assert_eq!(
        refused + challenged + answered,
        sent,
        "every replay accounted for"
    );
    let limited = rejected.rate_limited - rejected_before.rate_limited;
    let copies = answered;
    assert!(limited > 0, "the flood ran into the limit");
    // Throughout: no health change, no new session.
    for (_, node, e) in &sim.events[events_before..] {
        assert!(
            !matches!(
                e,
                Event::HealthChanged { .. } | Event::SessionEstablished { .. }
            ),
            "node {node}: {e:?} during the flood"
        );
    }
    assert!(sim.violations.is_empty());
    println!(
        "{sent} replays: {dh} DH, {limited} rate limited, {challenged} challenged, {copies} answered from the cache, {refused} refused"
    );
}

/// Every way bytes of `secret` could show in text: hex of any 4-byte
/// window (either case), and decimal lists.
fn assert_hides(text: &str, secret: &[u8], what: &str) {
    let lower = text.to_lowercase();
    for w in secret.windows(4) {
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !lower.contains(&hex),
            "{what} shows key bytes {hex}: {text}"
        );
        let dec = format!("{}, {}, {}, {}", w[0], w[1], w[2], w[3]);
        assert!(!text.contains(&dec), "{what} shows key bytes {dec}: {text}");
    }
}

#[test]
fn debug_and_display_of_every_public_type_print_no_key_bytes() {
    let mut sim = pair(64);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(200))); // several rotations
    let node = sim.node(0);
    let secret = node.keypair().secret_bytes();
    let peer_public = sim.node(1).keypair().public();
    let ss = {
        let s = x25519_dalek::StaticSecret::from(secret);
        s.diffie_hellman(&x25519_dalek::PublicKey::from(*peer_public.as_bytes()))
            .to_bytes()
    };
    let pair_dh = StaticDh::new(node.keypair(), &peer_public).expect("contributory");
    let mut texts = vec![
        ("Endpoint", format!("{:?}", node.endpoint)),
        ("StaticKeypair", format!("{:?}", node.keypair())),
        ("StaticDh", format!("{pair_dh:?}")),
        (
            "SymmetricKey",
            format!("{:?}", SymmetricKey::from_bytes(secret)),
        ),
        ("EndpointStats", format!("{:?}", node.endpoint.stats())),
        ("Config", format!("{:?}", node.endpoint.config())),
        ("ConfigBuilder", format!("{:?}", Config::builder())),
    ];
    for id in node.endpoint.peers() {
        let st = node.endpoint.peer_status(id, sim.now()).expect("peer");
        texts.push(("PeerStatus", format!("{st:?}")));
        texts.push(("PeerId", format!("{id:?} {id}")));
    }
    for (_, _, e) in &sim.events {
        texts.push(("Event", format!("{e:?}")));
    }
    // Noise handshake state with a known ephemeral secret.
    let eph = [0x3c; 32];
    let prologue = prologue_of(&sim);
    let mut out = [0u8; INITIATION_NOISE_LEN];
    let init = Initiator::write_initiation(
        &prologue,
        node.keypair(),
        &peer_public,
        &pair_dh,
        x25519_dalek::StaticSecret::from(eph),
        &[0; probekey::wire::INITIATION_PAYLOAD_LEN],
        &mut out,
    )
    .expect("written");
    texts.push(("Initiator", format!("{init:?}")));
    // The responder's side of the same handshake, and the transport keys
    // both sides derive.
    let peer_node = sim.node(1);
    let peer_pair =
        StaticDh::new(peer_node.keypair(), &node.keypair().public()).expect("contributory");
    let mut payload = [0u8; probekey::wire::INITIATION_PAYLOAD_LEN];
    let responder = probekey::internals::noise::Responder::read_initiation(
        &prologue,
        peer_node.keypair(),
        &node.keypair().public(),
        &peer_pair,
        &out,
        &mut payload,
    )
    .expect("read");
    texts.push(("Responder", format!("{responder:?}")));
    let mut reply = [0u8; probekey::wire::RESPONSE_NOISE_LEN];
    let keys = responder
        .write_response(
            &node.keypair().public(),
            x25519_dalek::StaticSecret::from([0x5d; 32]),
            &[0; probekey::wire::RESPONSE_PAYLOAD_LEN],
            &mut reply,
        )
        .expect("written");
    texts.push(("TransportKeys", format!("{keys:?}")));
    let mut got = [0u8; probekey::wire::RESPONSE_PAYLOAD_LEN];
    let initiator_keys = init
        .read_response(node.keypair(), &reply, &mut got)
        .expect("read");
    texts.push(("TransportKeys", format!("{initiator_keys:?}")));
    // Errors, and their Display.
    let mut junk = [1u8, 1, 0, 0];
    let err = sim
        .node_mut(0)
        .endpoint
        .handle_datagram(Instant::ZERO, &mut junk);
    let err = err.expect_err("malformed");
    texts.push(("RecvError", format!("{err:?} {err}")));
    texts.push(("RejectReason", format!("{:?} {}", err.reason, err.reason)));
    let config_err = Config::builder()
        .probe_interval(Duration::ZERO)
        .build()
        .expect_err("zero");
    texts.push(("ConfigError", format!("{config_err:?} {config_err}")));
    // The detectors catch what they look for.
    for dump in [format!("{:?}", [7u8; 32]), format!("{:x?}", [0xa7u8; 32])] {
        let caught = std::panic::catch_unwind(|| assert_no_byte_dump(&dump, "a dump"));
        assert!(caught.is_err(), "not caught: {dump}");
    }
    for (what, text) in &texts {
        assert_hides(text, &secret, what);
        assert_hides(text, &ss, what);
        assert_hides(text, &eph, what);
        assert_no_byte_dump(text, what);
    }
}

/// Keys whose bytes the test cannot know (transport, epoch and chain keys)
/// would show as a byte dump: a long hex run or a list of numbers. Public
/// keys print an 8-byte (16-digit) prefix, which is allowed.
fn assert_no_byte_dump(text: &str, what: &str) {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        assert!(run <= 16, "{what} prints a long hex run: {text}");
    }
    let numbers = text
        .split(|c: char| !(c.is_ascii_hexdigit() || c == ',' || c == ' '))
        .map(|chunk| chunk.split(',').filter(|n| !n.trim().is_empty()).count())
        .max()
        .unwrap_or(0);
    assert!(numbers < 8, "{what} prints a list of numbers: {text}");
}

#[test]
fn clocks_that_disagree_by_a_year_and_run_at_different_speeds_change_nothing() {
    // Each endpoint reads only its own clock. Node b's clock starts a year
    // ahead of a's and runs 1% faster; a handshake, an hour of probes and
    // echoes with rotations, a rekey, and validation throughout.
    use probekey::{Endpoint, PeerId, ProbeKind, fixed_table};
    let c = Config::builder()
        .rotate_after_time(secs(5))
        .build()
        .expect("valid");
    let (ka, kb) = (
        StaticKeypair::from_secret_bytes([1; 32]),
        StaticKeypair::from_secret_bytes([2; 32]),
    );
    let mut a = Endpoint::new(
        c,
        ka.clone(),
        ChaCha20Rng::seed_from_u64(1),
        fixed_table::<1>(),
    );
    let mut b = Endpoint::new(
        c,
        kb.clone(),
        ChaCha20Rng::seed_from_u64(2),
        fixed_table::<1>(),
    );
    let clock_a = |t: Duration| Instant::ZERO + t;
    let clock_b = |t: Duration| Instant::from_secs(365 * 24 * 3600) + t + t / 100;
    let pa = a
        .add_peer(clock_a(Duration::ZERO), kb.public())
        .expect("peer");
    let pb = b
        .add_peer(clock_b(Duration::ZERO), ka.public())
        .expect("peer");
    let mut buf = [0u8; 256];
    let mut validated = [0u64; 2];
    let mut t = Duration::ZERO;
    let step = Duration::from_millis(250);
    while t < secs(3600) {
        t += step;
        let (na, nb) = (clock_a(t), clock_b(t));
        a.handle_timeout(na);
        b.handle_timeout(nb);
        // Handshake messages and keepalives, both ways, until quiet.
        for _ in 0..4 {
            while let Some(tx) = a.poll_transmit(na, &mut buf).expect("room") {
                let _ = b.handle_datagram(nb, &mut buf[..tx.len]);
            }
            while let Some(tx) = b.poll_transmit(nb, &mut buf).expect("room") {
                let _ = a.handle_datagram(na, &mut buf[..tx.len]);
            }
        }
        let round = |from: &mut Endpoint<_, _>,
                     nf: Instant,
                     p: PeerId,
                     to: &mut Endpoint<_, _>,
                     nt: Instant| {
            let mut out = [0u8; 64];
            let Ok(n) = from.seal(nf, p, ProbeKind::Probe, b"probe", &mut out) else {
                return false;
            };
            matches!(
                to.handle_datagram(nt, &mut out[..n]),
                Ok(Received::Probe { .. })
            )
        };
        validated[0] += u64::from(round(&mut a, na, pa, &mut b, nb));
        validated[1] += u64::from(round(&mut b, nb, pb, &mut a, na));
        if t > secs(5) {
            for (e, p, now) in [(&a, pa, na), (&b, pb, nb)] {
                let st = e.peer_status(p, now).expect("peer");
                assert!(st.inbound.fresh, "inbound stale at {t:?}: {st:?}");
            }
        }
    }
    let st = a.peer_status(pa, clock_a(t)).expect("peer");
    assert!(st.send_epoch.expect("session").0 > 0, "rotated");
    assert!(st.handshakes_completed >= 6, "rekeyed: {st:?}");
    assert!(validated.iter().all(|&v| v > 14_000), "{validated:?}");
}

/// The next datagram of `kind` that `node` has queued.
fn next_tx(
    sim: &mut Sim,
    node: usize,
    now: Instant,
    kind: probekey::TransmitKind,
) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    while let Some(tx) = sim
        .node_mut(node)
        .endpoint
        .poll_transmit(now, &mut buf)
        .expect("room")
    {
        if tx.kind == kind {
            return Some(buf[..tx.len].to_vec());
        }
    }
    None
}

fn deliver(sim: &mut Sim, to: usize, now: Instant, bytes: &[u8]) -> Result<(), RejectReason> {
    let mut b = bytes.to_vec();
    let r = sim.node_mut(to).endpoint.handle_datagram(now, &mut b);
    r.map(|_| ()).map_err(|e| e.reason)
}

#[test]
fn replayed_responses_are_never_read_twice_so_no_counter_repeats_under_a_key() {
    // The attack: B answers A's initiation I1 with R1; a replayed old
    // initiation displaces B's pending session; I1 replayed makes B answer
    // afresh (R1'). If A read R1' after R1, then R1 and R1' again, it would
    // rebuild sessions with the same keys and counters from zero. With
    // challenges (§4.5) B never answers a second time: a replay reads
    // nothing, and every copy of I1, bound or not, earns the cached R1.
    use probekey::{ProbeKind, TransmitKind};
    let mut cfg = SimConfig::mesh(2, Config::default(), 17);
    cfg.record = true;
    let mut sim = Sim::new(cfg);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let old = sim
        .recorded
        .iter()
        .find(|d| d.from == 1 && d.bytes[0] == INITIATION)
        .expect("recorded")
        .bytes
        .clone();
    let (a, b) = (1usize, 0usize);
    let pa = sim.node(a).peer_id(b).expect("peer");
    let ms = |n: u64| at(secs(20)) + Duration::from_millis(n);
    for n in [a, b] {
        while next_tx(&mut sim, n, ms(0), TransmitKind::Initiation).is_some() {}
    }
    let mut sealed = std::collections::HashSet::new();
    let mut seal = |sim: &mut Sim, t: Instant, body: &[u8]| {
        let mut out = [0u8; 80];
        let n = sim
            .node_mut(a)
            .endpoint
            .seal(t, pa, ProbeKind::Probe, body, &mut out)
            .expect("sealed");
        // Receiver index, epoch, counter: the nonce and the key it is under.
        assert!(sealed.insert(out[4..20].to_vec()), "a nonce was used twice");
        out[..n].to_vec()
    };
    assert!(
        sim.node_mut(a)
            .endpoint
            .initiate_handshake(ms(0), pa)
            .is_ok()
    );
    let i1 = next_tx(&mut sim, a, ms(0), TransmitKind::Initiation).expect("I1");
    deliver(&mut sim, b, ms(1), &i1).expect("challenged");
    let c1 = next_tx(&mut sim, b, ms(1), TransmitKind::Challenge).expect("C1");
    deliver(&mut sim, a, ms(1), &c1).expect("challenge read");
    let i1_bound = next_tx(&mut sim, a, ms(1), TransmitKind::Initiation).expect("I1 bound");
    deliver(&mut sim, b, ms(2), &i1_bound).expect("answered");
    let r1 = next_tx(&mut sim, b, ms(2), TransmitKind::Response).expect("R1");
    let dh = sim.node(b).endpoint.stats().dh_operations;
    // The old initiation reads nothing (a challenge at most).
    let _ = deliver(&mut sim, b, ms(2), &old);
    while next_tx(&mut sim, b, ms(2), TransmitKind::Challenge).is_some() {}
    deliver(&mut sim, a, ms(3), &r1).expect("R1 read");
    seal(&mut sim, ms(3), b"body AAAAAAAAAA");
    // I1 again, bound or unbound: a copy, answered with R1 itself.
    for copy in [&i1_bound, &i1] {
        deliver(&mut sim, b, ms(4), copy).expect("a copy is answered from the cache");
        let again = next_tx(&mut sim, b, ms(4), TransmitKind::Response).expect("R1 again");
        assert_eq!(again, r1, "B answered I1 afresh");
    }
    assert_eq!(
        sim.node(b).endpoint.stats().dh_operations,
        dh,
        "no Diffie-Hellman after R1"
    );
    assert_eq!(
        deliver(&mut sim, a, ms(6), &r1),
        Ok(()),
        "a copy of R1 earns a keepalive"
    );
    for n in 0..50 {
        seal(&mut sim, ms(8 + n), b"body BBBBBBBBBB");
    }
    // And the handshake still completes: the next retry is a new initiation.
    sim.run_until(ms(5000));
    assert!(sim.all_fresh());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

/// A response to node 1's `initiation`, written with node 0's own key: a
/// neighbour misbehaving, proposing `generation`.
fn misbehaving_response(sim: &Sim, initiation: &[u8], generation: u64) -> Vec<u8> {
    use probekey::internals::noise::Responder;
    use probekey::wire::{RESPONSE_LEN, RESPONSE_NOISE_LEN, Response};
    let me = sim.node(0).keypair().clone();
    let peer = sim.node(1).keypair().public();
    let pair = StaticDh::new(&me, &peer).expect("contributory");
    let prologue = prologue_of(sim);
    let init = Initiation::parse(initiation).expect("an initiation");
    let mut payload_in = [0u8; probekey::wire::INITIATION_PAYLOAD_LEN];
    let responder =
        Responder::read_initiation(&prologue, &me, &peer, &pair, &init.noise, &mut payload_in)
            .expect("authentic");
    let sender = SessionIndex(0xabc);
    let payload = probekey::wire::ResponsePayload {
        sender_index: sender,
        receiver_index: init.sender_index,
        generation,
    }
    .to_bytes();
    let mut msg = Response {
        sender_index: sender,
        receiver_index: init.sender_index,
        noise: [0; RESPONSE_NOISE_LEN],
        mac1: [0; 16],
        mac2: [0; 16],
    };
    responder
        .write_response(
            &peer,
            x25519_dalek::StaticSecret::from([9; 32]),
            &payload,
            &mut msg.noise,
        )
        .expect("written");
    let mut bytes = vec![0u8; RESPONSE_LEN];
    msg.emit(&mut bytes).expect("length");
    // mac2 binds the ephemeral key of the initiation it answers (§3.5).
    let e = probekey::wire::INITIATION_EPHEMERAL_OFFSET;
    probekey::internals::noise::write_macs(&pair, &peer, &mut bytes, &initiation[e..e + 32])
        .expect("length");
    bytes
}

#[test]
fn a_response_pinning_the_generation_at_its_maximum_latches_nothing() {
    // Ranks can only tie when a peer misuses its own key; the newer
    // session then wins on both sides, so rekeys go on working.
    for generation in [u64::MAX, u64::MAX - 3] {
        let mut cfg = SimConfig::mesh(2, busy_config(), 11);
        cfg.record = true;
        let mut sim = Sim::new(cfg);
        settle(&mut sim, secs(5));
        sim.run_until(at(secs(10)));
        let now = sim.now();
        let id = sim.node(1).peer_id(0).expect("peer");
        sim.node_mut(1)
            .endpoint
            .initiate_handshake(now, id)
            .expect("a configured peer");
        let n = sim.recorded.len();
        let sent = |s: &Sim| {
            s.recorded[n..]
                .iter()
                .find(|d| d.from == 1 && d.bytes[0] == INITIATION)
                .map(|d| d.bytes.clone())
        };
        sim.run_until_true(now + secs(1), |s| sent(s).is_some())
            .expect("an initiation");
        let mut bad = misbehaving_response(&sim, &sent(&sim).expect("sent"), generation);
        let t = sim.now();
        sim.node_mut(1)
            .endpoint
            .handle_datagram(t, &mut bad)
            .expect("authentic");
        // Five minutes: ten rekeys.
        let mut stale = Duration::ZERO;
        let mut t = sim.now();
        while t < at(secs(310)) {
            t = t + Duration::from_millis(10);
            sim.run_until(t);
            if !sim.all_fresh() {
                stale += Duration::from_millis(10);
            }
        }
        let st = status(&sim, 1, 0);
        assert!(
            stale <= sim.config().config.stale_after() + secs(3),
            "{generation:#x}: stale for {stale:?}"
        );
        assert!(st.handshakes_completed >= 10, "rekeys stopped: {st:?}");
    }
}

#[test]
fn a_replay_answering_every_fresh_initiation_never_breaks_the_working_session() {
    // One recorded initiation per direction, replayed into the responder
    // each time it answers a fresh one, so that its pending session is
    // displaced before the initiator's keepalive arrives. The working
    // session stays in use until the new one is confirmed, so the link
    // stays fresh; the rekey waits for the attack to stop.
    let mut cfg = SimConfig::mesh(2, Config::default(), 5);
    cfg.record = true;
    let mut sim = Sim::new(cfg);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(20)));
    let old = |sim: &Sim, from: usize| {
        sim.recorded
            .iter()
            .find(|d| d.from == from && d.bytes[0] == INITIATION)
            .expect("recorded")
            .bytes
            .clone()
    };
    let recorded = [old(&sim, 0), old(&sim, 1)];
    let now = sim.now();
    let id = sim.node(1).peer_id(0).expect("peer");
    sim.node_mut(1)
        .endpoint
        .initiate_handshake(now, id)
        .expect("a configured peer");
    let mut seen = sim.recorded.len();
    let mut replays = 0;
    let mut t = now;
    while t < now + secs(60) {
        t = t + Duration::from_millis(1);
        sim.run_until(t);
        let fresh: Vec<(usize, usize)> = sim.recorded[seen..]
            .iter()
            .filter(|d| d.bytes[0] == RESPONSE && d.bytes[8..12] != recorded[d.to][4..8])
            .map(|d| (d.from, d.to))
            .collect();
        seen = sim.recorded.len();
        for (responder, initiator) in fresh {
            sim.inject(initiator, responder, recorded[initiator].clone());
            replays += 1;
        }
        assert!(
            sim.all_fresh(),
            "the link broke at {t:?} after {replays} replays"
        );
    }
    // Replays displace nothing now (§4.5): the one fresh answer is the
    // rekey's, and the replay after it reads nothing.
    assert!(replays >= 1, "{replays}");
    // The attack stops: the rekey completes.
    let healed = sim.now();
    assert_recovers(&mut sim, healed);
    let done = sim.run_until_true(healed + secs(10), |s| {
        matches!(status(s, 1, 0).handshake, probekey::HandshakeState::Idle)
    });
    assert!(done.is_some(), "the rekey never completed");
    assert!(sim.violations.is_empty());
}

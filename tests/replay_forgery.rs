//! Replayed probes and handshakes, forged and bit-flipped datagrams: each
//! is refused or harmless, counted under the right reason, and changes no
//! state; no working session is displaced and no freshness moves.

mod common;

use core::time::Duration;

use common::*;
use probekey::{Config, Instant, PeerStatus, RejectReason};
use probekey_sim::{Sim, SimConfig};

fn recorded_pair(seed: u64) -> Sim {
    let mut c = SimConfig::mesh(2, Config::default(), seed);
    c.record = true;
    let mut sim = Sim::new(c);
    settle(&mut sim, secs(5));
    sim.run_until(at(secs(30)));
    sim
}

fn without_counters(mut s: PeerStatus) -> PeerStatus {
    s.rejected = Default::default();
    s
}

#[test]
fn replays_during_an_outage_move_no_freshness_and_displace_nothing() {
    let mut sim = recorded_pair(51);
    let recorded = sim.recorded.clone();
    assert!(recorded.iter().any(|d| message_type(d) == INITIATION));
    assert!(recorded.iter().any(|d| message_type(d) == RESPONSE));
    cut(&mut sim, 0, 1, at(secs(30)), at(secs(90)));
    sim.run_until(at(secs(40)));
    for n in [0, 1] {
        assert!(!status(&sim, n, 1 - n).inbound.fresh);
    }
    // Replay every datagram ever sent, straight into its receiver (past
    // the cut link), spread over twenty seconds.
    let before: Vec<_> = [0, 1].iter().map(|&n| status(&sim, n, 1 - n)).collect();
    let dh_before = [0, 1].map(|n| sim.node(n).endpoint.stats().dh_operations);
    let step = Duration::from_secs(20) / recorded.len() as u32;
    let mut now = sim.now();
    let mut accepted = 0;
    for d in &recorded {
        now = now + step;
        sim.run_until(now);
        let mut bytes = d.bytes.clone();
        let t = sim.now();
        if let Ok(r) = sim.node_mut(d.to).endpoint.handle_datagram(t, &mut bytes) {
            // Only a handshake message may be accepted, and only to be
            // answered (an initiation with a challenge, §4.5): never a
            // probe.
            assert!(matches!(r, probekey::Received::Handshake { .. }), "{r:?}");
            accepted += 1;
        }
    }
    for n in [0, 1] {
        let after = status(&sim, n, 1 - n);
        assert_eq!(
            after.inbound.last, before[n].inbound.last,
            "replays moved inbound freshness"
        );
        assert_eq!(after.outbound.last, before[n].outbound.last);
        assert!(!after.inbound.fresh && !after.outbound.fresh);
        assert!(after.rejected.replay > 0);
    }
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    // None was read: replays cost no Diffie-Hellman (§4.5).
    assert_eq!(
        [0, 1].map(|n| sim.node(n).endpoint.stats().dh_operations),
        dh_before,
        "{accepted} replayed handshake messages answered"
    );
    assert_recovers(&mut sim, at(secs(90)));
}

#[test]
fn replays_while_healthy_keep_the_session_working() {
    let mut sim = recorded_pair(52);
    let recorded = sim.recorded.clone();
    let established_before = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, probekey::Event::SessionEstablished { .. }))
        .count();
    let step = Duration::from_secs(60) / recorded.len() as u32;
    let mut now = sim.now();
    for d in &recorded {
        now = now + step;
        sim.run_until(now);
        sim.inject(d.from, d.to, d.bytes.clone());
        assert!(sim.all_fresh(), "a replay broke the link at {now:?}");
    }
    sim.run_until(now + secs(5));
    assert!(sim.all_fresh());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    let established_after = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, probekey::Event::SessionEstablished { .. }))
        .count();
    assert_eq!(
        established_before, established_after,
        "a replay established a session"
    );
}

/// Flips every bit of `datagram` in turn, hands each to node `to`, and
/// checks the reason is allowed for that byte and nothing else changed.
fn flip_every_bit(
    sim: &mut Sim,
    to: usize,
    datagram: &[u8],
    mut now: Instant,
    advance: Duration,
    allowed: impl Fn(usize, RejectReason) -> bool,
    fix: Option<&Macs>,
) {
    let from = 1 - to;
    // Bits of the MACs the attacker recomputes are not worth flipping.
    let bits = match fix {
        Some(_) => probekey::wire::MAC1_OFFSET * 8,
        None => datagram.len() * 8,
    };
    for bit in 0..bits {
        now = now + advance;
        let mut bytes = datagram.to_vec();
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Some(m) = fix {
            m.apply(&mut bytes);
        }
        let before = without_counters(status_at(sim, to, from, now));
        let total_before = status_at(sim, to, from, now).rejected.total();
        let r = sim.node_mut(to).endpoint.handle_datagram(now, &mut bytes);
        let err = match r {
            Err(e) => e,
            Ok(ok) => panic!("bit {bit} flipped was accepted: {ok:?}"),
        };
        assert!(allowed(bit / 8, err.reason), "bit {bit}: {:?}", err.reason);
        let after = status_at(sim, to, from, now);
        if err.peer.is_some() {
            assert_eq!(
                after.rejected.total(),
                total_before + 1,
                "bit {bit} counted once"
            );
        }
        assert_eq!(without_counters(after), before, "bit {bit} changed state");
    }
}

fn status_at(sim: &Sim, at: usize, peer: usize, now: Instant) -> PeerStatus {
    let id = sim.node(at).peer_id(peer).unwrap();
    sim.node(at).endpoint.peer_status(id, now).unwrap()
}

/// The MACs an attacker can recompute: mac1 with the receiver's public key
/// alone; mac2 only with the static-static secret of the pair.
struct Macs {
    receiver: probekey::PublicKey,
    pair: Option<[u8; 32]>,
    /// What mac2 also covers (§3.5): an initiation's challenge value, a
    /// response's initiator ephemeral.
    binding: Vec<u8>,
}

impl Macs {
    fn hmac(key: &[u8], msg: &[u8]) -> [u8; 16] {
        use hmac::{KeyInit, Mac};
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes()[..16].try_into().unwrap()
    }

    fn apply(&self, bytes: &mut [u8]) {
        use sha2::{Digest, Sha256};
        let (m1, m2) = (probekey::wire::MAC1_OFFSET, probekey::wire::MAC2_OFFSET);
        let mut h = Sha256::new();
        h.update(b"probekey v1 mac1");
        h.update(self.receiver.as_bytes());
        let mac1 = Self::hmac(&h.finalize(), &bytes[..m1]);
        bytes[m1..m2].copy_from_slice(&mac1);
        if let Some(ss) = self.pair {
            let mut key = [0u8; 32];
            hkdf::Hkdf::<Sha256>::new(Some(b"probekey v1 mac2"), &ss)
                .expand(&[], &mut key)
                .unwrap();
            let mut covered = bytes[..m2].to_vec();
            covered.extend_from_slice(&self.binding);
            let mac2 = Self::hmac(&key, &covered);
            bytes[m2..m2 + 16].copy_from_slice(&mac2);
        }
    }
}

/// The static-static Diffie-Hellman result of nodes 0 and 1.
fn pair_secret(sim: &Sim) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(sim.node(0).keypair().secret_bytes());
    let public = x25519_dalek::PublicKey::from(*sim.node(1).keypair().public().as_bytes());
    secret.diffie_hellman(&public).to_bytes()
}

fn last_sent(sim: &Sim, from: usize, pred: impl Fn(&probekey_sim::Datagram) -> bool) -> Vec<u8> {
    sim.recorded
        .iter()
        .rev()
        .find(|d| d.from == from && pred(d))
        .map(|d| d.bytes.clone())
        .expect("such a datagram was sent")
}

#[test]
fn every_bit_of_a_probe_flipped_is_refused_for_the_right_reason() {
    use RejectReason::*;
    let mut sim = recorded_pair(53);
    for probe in [
        last_sent(&sim, 0, |d| message_type(d) == PROBE && d.bytes[2] == 0),
        last_sent(&sim, 0, |d| message_type(d) == PROBE && d.bytes[2] == 1),
    ] {
        // A probe that was not delivered yet: make it fresh by sealing one.
        let now = sim.now();
        let pid = sim.node(0).peer_id(1).unwrap();
        let mut out = vec![0u8; probe.len()];
        let body = vec![7u8; probe.len() - probekey::PROBE_OVERHEAD];
        let kind = if probe[2] == 0 {
            probekey::ProbeKind::Probe
        } else {
            probekey::ProbeKind::Echo
        };
        let n = sim
            .node_mut(0)
            .endpoint
            .seal(now, pid, kind, &body, &mut out)
            .unwrap();
        out.truncate(n);
        flip_every_bit(
            &mut sim,
            1,
            &out,
            now,
            Duration::ZERO,
            |byte, r| match byte {
                0 | 1 | 3 => matches!(r, Malformed(_)),
                2 => matches!(r, Malformed(_) | BadTag),
                4..=7 => matches!(r, UnknownSession | BadTag),
                8..=11 => matches!(r, EpochOutsideWindow | BadTag),
                12..=19 => matches!(r, Replay | BadTag),
                _ => r == BadTag,
            },
            None,
        );
        // The untouched probe still opens: nothing was consumed.
        let mut good = out.clone();
        assert!(
            sim.node_mut(1)
                .endpoint
                .handle_datagram(now, &mut good)
                .is_ok()
        );
    }
}

/// Has node 0 start a new handshake and node 1 answer it, outside the
/// simulated network; returns the initiation and the response, with node 0
/// still waiting for that response.
fn fresh_handshake(sim: &mut Sim) -> (Vec<u8>, Vec<u8>) {
    let now = sim.now();
    let p1 = sim.node(0).peer_id(1).unwrap();
    assert!(sim.node_mut(0).endpoint.initiate_handshake(now, p1).is_ok());
    let mut buf = [0u8; 256];
    let tx = sim
        .node_mut(0)
        .endpoint
        .poll_transmit(now, &mut buf)
        .unwrap()
        .unwrap();
    let init = buf[..tx.len].to_vec();
    // Node 1 asks for proof that it is new (a challenge, §4.5); node 0
    // binds it and sends it again; node 1 answers.
    let relay = |sim: &mut Sim, from: usize, bytes: &[u8]| {
        let mut copy = bytes.to_vec();
        sim.node_mut(1 - from)
            .endpoint
            .handle_datagram(now, &mut copy)
            .unwrap();
        let mut buf = [0u8; 256];
        let tx = sim
            .node_mut(1 - from)
            .endpoint
            .poll_transmit(now, &mut buf)
            .unwrap()
            .unwrap();
        buf[..tx.len].to_vec()
    };
    let challenge = relay(sim, 0, &init);
    let bound = relay(sim, 1, &challenge);
    let response = relay(sim, 0, &bound);
    (bound, response)
}

#[test]
fn every_bit_of_handshake_messages_flipped_is_refused() {
    use RejectReason::*;
    let mut sim = recorded_pair(54);
    let (init, resp) = fresh_handshake(&mut sim);
    let now = sim.now();
    // A flipped type byte can turn a handshake message into a probe, whose
    // receiver index then names no session.
    let cheap = |byte: usize, r: RejectReason| match byte {
        0 => matches!(r, Malformed(_) | UnknownSession),
        1..=3 => matches!(r, Malformed(_)),
        _ => r == BadMac,
    };
    // As sent: every flip breaks the header or mac1 first.
    flip_every_bit(&mut sim, 1, &init, now, Duration::ZERO, cheap, None);
    flip_every_bit(&mut sim, 0, &resp, now, Duration::ZERO, cheap, None);
    // An attacker who knows the public keys can make mac1 valid again,
    // but not mac2: nothing gets past it to the rate limit or any DH.
    let pk1 = sim.node(1).keypair().public();
    let pk0 = sim.node(0).keypair().public();
    let dh_before = [0, 1].map(|n| sim.node(n).endpoint.stats().dh_operations);
    let public_only = |lookup: std::ops::RangeInclusive<usize>, lookup_reason: RejectReason| {
        move |byte: usize, r: RejectReason| match byte {
            0 => matches!(r, Malformed(_) | UnknownSession),
            1..=3 => matches!(r, Malformed(_)),
            b if lookup.contains(&b) => r == lookup_reason,
            _ => r == BadMac,
        }
    };
    let mac1_only = |receiver| Macs {
        receiver,
        pair: None,
        binding: Vec::new(),
    };
    flip_every_bit(
        &mut sim,
        1,
        &init,
        now,
        Duration::ZERO,
        public_only(8..=15, UnknownPeer),
        Some(&mac1_only(pk1)),
    );
    flip_every_bit(
        &mut sim,
        0,
        &resp,
        now,
        Duration::ZERO,
        public_only(8..=11, UnknownSession),
        Some(&mac1_only(pk0)),
    );
    assert_eq!(
        [0, 1].map(|n| sim.node(n).endpoint.stats().dh_operations),
        dh_before
    );
    // With both MACs valid (what only a holder of a static key can do), the
    // checks behind them hold. Time advances one rate-limit interval per
    // message so each is fully processed.
    let ss = pair_secret(&sim);
    let interval = sim.config().config.handshake_rate_interval();
    flip_every_bit(
        &mut sim,
        0,
        &resp,
        now,
        interval,
        |byte, r| match byte {
            0 => matches!(r, Malformed(_) | UnknownSession),
            1..=3 => matches!(r, Malformed(_)),
            8..=11 => r == UnknownSession,
            _ => r == BadTag,
        },
        Some(&Macs {
            receiver: pk0,
            pair: Some(ss),
            binding: init[16..48].to_vec(),
        }),
    );
    // An initiation is read only bound to the responder's current
    // challenge (§4.5): each flipped copy asks for one unbound (and gets it,
    // or is refused before), then is sent bound to it.
    let later = now + interval * (resp.len() as u32 * 8 + 1);
    let mut t = later;
    for bit in 0..probekey::wire::MAC1_OFFSET * 8 {
        t = t + interval;
        let mut bytes = init.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let byte = bit / 8;
        let unbound = Macs {
            receiver: pk1,
            pair: Some(ss),
            binding: vec![0; 16],
        };
        unbound.apply(&mut bytes);
        let mut ask = bytes.clone();
        let asked = sim.node_mut(1).endpoint.handle_datagram(t, &mut ask);
        let early = match byte {
            0 => Some(
                matches!(asked, Err(ref e) if matches!(e.reason, Malformed(_) | UnknownSession)),
            ),
            1..=3 => Some(matches!(asked, Err(ref e) if matches!(e.reason, Malformed(_)))),
            8..=15 => Some(matches!(asked, Err(ref e) if e.reason == UnknownPeer)),
            _ => None,
        };
        if let Some(ok) = early {
            assert!(ok, "bit {bit}: {asked:?}");
            continue;
        }
        assert!(
            asked.is_ok(),
            "bit {bit}: an authentic unbound initiation earns a challenge: {asked:?}"
        );
        let mut buf = [0u8; 256];
        let tx = sim
            .node_mut(1)
            .endpoint
            .poll_transmit(t, &mut buf)
            .unwrap()
            .unwrap();
        let challenge = probekey::wire::Challenge::parse(&buf[..tx.len]).expect("a challenge");
        let bound = Macs {
            receiver: pk1,
            pair: Some(ss),
            binding: challenge.value.to_vec(),
        };
        bound.apply(&mut bytes);
        let r = sim.node_mut(1).endpoint.handle_datagram(t, &mut bytes);
        assert!(
            matches!(r, Err(ref e) if e.reason == BadTag),
            "bit {bit}: {r:?}"
        );
    }
    // The untouched messages still work: the response completes the
    // handshake it answers.
    let mut good = resp.clone();
    let t = t + interval;
    assert!(matches!(
        sim.node_mut(0).endpoint.handle_datagram(t, &mut good),
        Ok(probekey::Received::Handshake { .. })
    ));
}

#[test]
fn forged_datagrams_of_every_type_are_refused_before_cryptography() {
    let mut sim = recorded_pair(55);
    let now = sim.now();
    let dh_before = sim.node(1).endpoint.stats().dh_operations;
    let opened_before = sim.node(1).endpoint.stats().probes_opened;
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![3], vec![0xFF; 200], vec![1; 108], vec![2; 108]];
    let mut p = vec![0u8; 64];
    p[..2].copy_from_slice(&[3, 1]);
    junk.push(p);
    for mut j in junk {
        assert!(
            sim.node_mut(1)
                .endpoint
                .handle_datagram(now, &mut j)
                .is_err()
        );
    }
    assert_eq!(sim.node(1).endpoint.stats().dh_operations, dh_before);
    assert_eq!(sim.node(1).endpoint.stats().probes_opened, opened_before);
}

#[test]
fn forged_initiation_flood_from_public_keys_costs_no_dh_and_blocks_no_resync() {
    // An off-path attacker knows every public key: it can write initiations
    // with a valid mac1 and the right key id, but not mac2. A flood of them
    // during a restart must neither cost a Diffie-Hellman nor drain the
    // rate limit that the real resync needs.
    use probekey_sim::{Fault, FaultWindow};
    let mut sim = recorded_pair(56);
    let (init, _) = fresh_handshake(&mut sim);
    sim.add_fault(FaultWindow {
        start: at(secs(40)),
        end: at(secs(40)),
        fault: Fault::Restart { node: 1 },
    });
    let pk = [
        sim.node(0).keypair().public(),
        sim.node(1).keypair().public(),
    ];
    let mut n = 0u32;
    let mut t = sim.now();
    let end = at(secs(45));
    let dh_at_start = sim.node(0).endpoint.stats().dh_operations;
    let restart = at(secs(40));
    let mut fresh_again = None;
    while t < end {
        t = t + Duration::from_millis(5);
        sim.run_until(t);
        if t > restart && fresh_again.is_none() && sim.all_fresh() {
            fresh_again = Some(t);
        }
        for to in [0usize, 1] {
            let mut forged = init.clone();
            n += 1;
            forged[8..16].copy_from_slice(&pk[1 - to].key_id().0); // claims to be the peer
            forged[16..48].copy_from_slice(&[n as u8; 32]); // a new "ephemeral"
            Macs {
                receiver: pk[to],
                pair: None,
                binding: Vec::new(),
            }
            .apply(&mut forged);
            sim.inject(1 - to, to, forged);
        }
    }
    // Validating again within the bound, measured while the flood went on.
    let bound = sim.config().config.recovery_bound(sim.config().rtt());
    let took = fresh_again.expect("recovered during the flood") - restart;
    assert!(took <= bound, "{took:?}");
    assert!(sim.violations.is_empty());
    for node in [0, 1] {
        let st = status(&sim, node, 1 - node);
        assert_eq!(
            st.rejected.rate_limited, 0,
            "node {node}: {:?}",
            st.rejected
        );
    }
    for node in [0, 1] {
        assert!(status(&sim, node, 1 - node).rejected.bad_mac > 500);
    }
    // Node 0 did only the restart's handshake: three DH, nothing for the
    // flood (node 1 restarted, so its counter starts over).
    assert!(sim.node(0).endpoint.stats().dh_operations - dh_at_start <= 6);
}

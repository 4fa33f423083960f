//! A session we sealed in before our clock went back is dated by the peer
//! against readings we have since gone back from: our probes in it look
//! late by the whole step, and the peer reports us stale. The state_machine
//! fuzz target found such a session becoming the one we send on *after* the
//! handshake wanted at the step had been ended by another session, dated
//! afresh: nothing was left to replace it, and the peer heard us stale
//! until the next rekey, ten minutes on. A stamped session is never sent in
//! without a handshake under way to replace it (`docs/PROTOCOL.md` §7).

mod common;

use core::time::Duration;

use common::{Ep, Fate, endpoint, pump};
use probekey::{Config, Instant, PeerId, ProbeKind, TransmitKind};

/// Moves datagrams between `a` (reading `ta`) and `b` (reading `tb`) until
/// none is left; keepalives are held back when `hold`, and returned with
/// whether they were going to `b`.
fn exchange(a: &mut Ep, ta: Instant, b: &mut Ep, tb: Instant, hold: bool) -> Vec<(bool, Vec<u8>)> {
    pump((a, ta), (b, tb), |_, kind| {
        if hold && kind == TransmitKind::Keepalive {
            Fate::Hold
        } else {
            Fate::Deliver
        }
    })
}

fn probe(from: &mut Ep, t_from: Instant, peer: PeerId, to: &mut Ep, t_to: Instant) {
    let mut out = [0u8; 64];
    if let Ok(n) = from.seal(t_from, peer, ProbeKind::Probe, b"p", &mut out) {
        let _ = to.handle_datagram(t_to, &mut out[..n]);
    }
}

/// Crossing rekeys, the keepalives held; `b`'s clock steps back 5 s; the
/// keepalives are delivered; then both probe every 250 ms. `a` must hear
/// `b` throughout.
fn crossing_then_step_back(a_secret: u8, b_secret: u8) {
    let mut a = endpoint(Config::default(), a_secret);
    let mut b = endpoint(Config::default(), b_secret);
    let t0 = Instant::ZERO;
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    let a_at_b = b.add_peer(t0, a.public_key()).expect("peer");
    exchange(&mut a, t0, &mut b, t0, false);
    let t1 = t0 + Duration::from_secs(1);
    probe(&mut b, t1, a_at_b, &mut a, t1);
    probe(&mut a, t1, b_at_a, &mut b, t1);

    let t2 = t0 + Duration::from_secs(10);
    a.initiate_handshake(t2, b_at_a).expect("peer");
    b.initiate_handshake(t2, a_at_b).expect("peer");
    let held = exchange(&mut a, t2, &mut b, t2, true);
    assert!(!held.is_empty());

    // b's clock steps back 5 s, then the held keepalives arrive.
    let (ta, tb) = (t2, t0 + Duration::from_secs(5));
    b.handle_timeout(tb);
    for (to_b, mut d) in held {
        if to_b {
            let _ = b.handle_datagram(tb, &mut d);
        } else {
            let _ = a.handle_datagram(ta, &mut d);
        }
    }
    exchange(&mut a, ta, &mut b, tb, false);
    // b sends in the session it initiated at t2 and confirmed its keepalive
    // in, sealed before the step: a rekey must be under way to replace it.
    let s = b.peer_status(a_at_b, tb).expect("peer");
    if s.session_role == Some(probekey::Role::Initiator) {
        assert!(
            matches!(s.handshake, probekey::HandshakeState::Initiating { .. }),
            "b sends in a session stamped before its step back with no handshake under way \
             (keys {a_secret}, {b_secret}): {s:?}"
        );
    }

    // Both probe every 250 ms, each echoing nothing (probes carry the
    // acknowledgements); whatever handshake follows runs between them.
    let step = Duration::from_millis(250);
    let bound = Config::default().recovery_bound(Duration::ZERO);
    for k in 1..=40u32 {
        let (ta, tb) = (ta + step * k, tb + step * k);
        exchange(&mut a, ta, &mut b, tb, false);
        probe(&mut b, tb, a_at_b, &mut a, ta);
        probe(&mut a, ta, b_at_a, &mut b, tb);
        if step * k > bound {
            let s = a.peer_status(b_at_a, ta).expect("peer");
            assert!(
                s.inbound.fresh,
                "a does not hear b {:?} after the step (keys {a_secret}, {b_secret}): {s:?}\nb: {:?}",
                step * k,
                b.peer_status(a_at_b, tb)
            );
        }
    }
}

#[test]
fn a_session_stamped_before_a_step_back_is_never_sent_in_without_a_rekey_under_way() {
    // The crossing's tie is broken by the keys: both orders.
    crossing_then_step_back(1, 2);
    crossing_then_step_back(2, 1);
}

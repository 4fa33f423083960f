//! An initiation the responder has read, whose answer was lost and whose
//! cached answer the responder no longer holds (its clock ran ahead of the
//! initiator's, or was stepped: the cached response lives
//! `handshake_max_age` on the responder's clock, the initiation as long on
//! the initiator's), must not be refused for good. The state_machine fuzz
//! target found the initiator retransmitting it, refused as a replay at
//! every retry, until the initiation aged out two minutes later: far past
//! the recovery bound. A copy whose answer is gone earns a challenge, and
//! the copy bound to it is read again (`docs/PROTOCOL.md` §4.3, §4.5).

mod common;

use core::time::Duration;

use common::{Ep, Fate, endpoint, pump};
use probekey::{Config, HandshakeState, Instant, TransmitKind};

/// Only `a`'s handshake is in play: `b`'s initiations are lost, and so
/// are `a`'s responses; `b`'s responses are lost while `lose_responses`.
fn exchange(a: &mut Ep, ta: Instant, b: &mut Ep, tb: Instant, lose_responses: bool) {
    pump((a, ta), (b, tb), |from_a, kind| {
        let lost = if from_a {
            kind == TransmitKind::Response
        } else {
            kind == TransmitKind::Initiation || (lose_responses && kind == TransmitKind::Response)
        };
        if lost { Fate::Lose } else { Fate::Deliver }
    });
}

#[test]
fn a_copy_of_a_read_initiation_whose_answer_is_gone_is_answered_again() {
    let mut a = endpoint(Config::default(), 1);
    let mut b = endpoint(Config::default(), 2);
    let t0 = Instant::ZERO;
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    b.add_peer(t0, a.public_key()).expect("peer");
    // b reads a's initiation (after a challenge) and answers; the answer is
    // lost.
    exchange(&mut a, t0, &mut b, t0, true);
    assert!(b.stats().dh_operations > 1, "b read a's initiation");

    // b's clock runs ahead past handshake_max_age: its cached answer is
    // gone. On a's clock a second has passed: its initiation is young and
    // it retransmits it at every retry.
    let ahead = Config::default().handshake_max_age() + Duration::from_secs(1);
    let mut ta = t0;
    let mut tb = t0 + ahead;
    let bound = Config::default().recovery_bound(Duration::ZERO);
    let mut completed = None;
    while ta <= t0 + bound + Duration::from_secs(1) {
        ta = ta + Duration::from_millis(50);
        tb = tb + Duration::from_millis(50);
        exchange(&mut a, ta, &mut b, tb, false);
        let status = a.peer_status(b_at_a, ta).expect("peer");
        if status.session_role.is_some() {
            completed = Some(ta);
            break;
        }
    }
    let status = a.peer_status(b_at_a, ta).expect("peer");
    let took = completed.unwrap_or_else(|| {
        panic!("a's handshake never completed within the recovery bound {bound:?}: {status:?}")
    });
    assert!(took - t0 <= bound, "{took:?}");
    assert_eq!(status.handshake, HandshakeState::Idle, "and confirmed");
}

/// The state_machine fuzz target's next finding of the kind: the initiator
/// was suspended, so its initiation stayed young on its clock while the
/// responder's clock ran on; a copy arrived a few milliseconds before the
/// responder's pending session and cached answer reached
/// `handshake_max_age`, was answered from the cache, and the initiator
/// began sending in a session the responder erased a moment later: every
/// probe refused as of an unknown session until a new handshake. An answer
/// resent from the cache re-dates the pending session it answers for, and
/// the cache, to its sending (`docs/PROTOCOL.md` §4.3).
#[test]
fn a_cached_answer_resent_at_the_end_of_its_life_makes_a_session_the_responder_keeps() {
    let mut a = endpoint(Config::default(), 1);
    let mut b = endpoint(Config::default(), 2);
    let t0 = Instant::ZERO;
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    let a_at_b = b.add_peer(t0, a.public_key()).expect("peer");
    // b reads a's initiation and answers; the answer is lost.
    exchange(&mut a, t0, &mut b, t0, true);

    // a is suspended: on its clock two seconds pass (a retry falls due,
    // the initiation still young); on b's, all but a millisecond of the
    // pending session's life. a's copy is answered from b's cache, and a's
    // keepalive confirming the session arrives 10 ms later on b's clock.
    let age = Config::default().handshake_max_age();
    let ta = t0 + Duration::from_secs(2);
    let tb = t0 + (age - Duration::from_millis(1));
    let held = pump((&mut a, ta), (&mut b, tb), |from_a, kind| {
        match (from_a, kind) {
            (false, TransmitKind::Initiation) => Fate::Lose,
            (true, TransmitKind::Keepalive) => Fate::Hold,
            _ => Fate::Deliver,
        }
    });
    let s = a.peer_status(b_at_a, ta).expect("peer");
    assert!(s.session_role.is_some(), "a read the answer: {s:?}");
    assert!(!held.is_empty(), "a confirms with a keepalive");
    let tb = tb + Duration::from_millis(10);
    b.handle_timeout(tb);
    for (_, mut d) in held {
        b.handle_datagram(tb, &mut d)
            .expect("b still holds the session it answered for");
    }
    let s = b.peer_status(a_at_b, tb).expect("peer");
    assert!(s.inbound.fresh, "{s:?}");
}

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

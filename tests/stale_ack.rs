//! An acknowledgement names the peer's session by the peer's index for it
//! (`docs/PROTOCOL.md` §2.4), and a peer may choose an index again once the
//! session that had it is gone (after a restart, or by chance: indexes are
//! drawn at random and only those in use are avoided). A probe must never
//! acknowledge a session it no longer knows: the handshake fuzz target found
//! a keepalive carrying the acknowledgement of a session from before the
//! peer's restart, which the restarted peer read as our acknowledgement of
//! its new session's first keepalive — one we had never received — and so
//! reported its outbound direction fresh with nothing of its heard.

mod common;

use core::convert::Infallible;

use chacha20::ChaCha20Rng;
use common::{Fate, pump};
use probekey::rand_core::{SeedableRng, TryCryptoRng, TryRng};
use probekey::{
    Config, Endpoint, GrowableEndpoint, GrowableTable, Instant, PeerId, ProbeKind, StaticKeypair,
    TransmitKind,
};

/// A generator whose 32-bit draws are all the same small number, so that
/// every session index is the lowest one free from there (indexes are not
/// secret; freshness must not rest on their being unpredictable), and
/// whose bytes are random, so that ephemeral keys are sound.
struct LowIndexes(u32, ChaCha20Rng);

impl TryRng for LowIndexes {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.1.try_next_u64()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.1.try_fill_bytes(dst)
    }
}

impl TryCryptoRng for LowIndexes {}

type Ep = GrowableEndpoint<LowIndexes>;

fn endpoint(secret: u8, seed: u64, first_index: u32) -> Ep {
    Endpoint::new(
        Config::default(),
        StaticKeypair::from_secret_bytes([secret; 32]),
        LowIndexes(first_index, ChaCha20Rng::seed_from_u64(seed)),
        GrowableTable::new(),
    )
}

fn seal_and_deliver(from: &mut Ep, to: &mut Ep, peer: PeerId, now: Instant) {
    let mut out = [0u8; 64];
    let n = from
        .seal(now, peer, ProbeKind::Probe, b"probe", &mut out)
        .expect("a session");
    to.handle_datagram(now, &mut out[..n]).expect("valid");
}

#[test]
fn a_probe_never_acknowledges_a_session_gone_since_whose_index_was_chosen_again() {
    let t0 = Instant::ZERO;
    let mut a = endpoint(1, 1, 1);
    let mut b = endpoint(2, 2, 1);
    let b_at_a = a.add_peer(t0, b.public_key()).expect("peer");
    b.add_peer(t0, a.public_key()).expect("peer");
    // a's handshake alone makes the first session: b's first initiation is
    // lost, so b answers with the second index it drew, 2 (1 names the
    // initiation it sent).
    let mut first_of_b = true;
    pump((&mut a, t0), (&mut b, t0), |from_a, kind| {
        if !from_a && kind == TransmitKind::Initiation && core::mem::replace(&mut first_of_b, false)
        {
            Fate::Lose
        } else {
            Fate::Deliver
        }
    });
    // a validated b's keepalive answering its own (counter 0): its probes
    // now acknowledge b's index 2 up to counter 0.
    assert!(a.peer_status(b_at_a, t0).expect("peer").inbound.fresh);

    // b restarts (all state lost) and its first draw is 2 this time: its
    // initiation names index 2 again. The handshakes cross; b confirms its
    // session with a keepalive (counter 0), which is lost, and a's
    // keepalive confirming a's session comes after it, still acknowledging
    // counter 0 of index 2: the old session's.
    let t1 = t0 + core::time::Duration::from_secs(10);
    let mut b = endpoint(2, 3, 2);
    let a_at_b = b.add_peer(t1, a.public_key()).expect("peer");
    let held = pump((&mut a, t1), (&mut b, t1), |from_a, kind| {
        match (from_a, kind) {
            (false, TransmitKind::Keepalive) => Fate::Lose,
            (true, TransmitKind::Keepalive) => Fate::Hold,
            _ => Fate::Deliver,
        }
    });
    assert!(!held.is_empty());
    for (_, mut d) in held {
        b.handle_datagram(t1, &mut d)
            .expect("a's keepalive is valid");
    }
    let status = b.peer_status(a_at_b, t1).expect("peer");
    assert!(
        status.session_role.is_some(),
        "the crossing completes: {status:?}"
    );
    assert!(
        !status.outbound.fresh,
        "no probe of the restarted b was heard, yet it reports outbound fresh: {status:?}"
    );

    // Once a probe of b's is heard and acknowledged, it is.
    seal_and_deliver(&mut b, &mut a, a_at_b, t1);
    seal_and_deliver(&mut a, &mut b, b_at_a, t1);
    assert!(b.peer_status(a_at_b, t1).expect("peer").outbound.fresh);
}

//! An endpoint with hundreds of peers, through the public API: the key-id
//! index, the deadline heap and the transmit queue (`docs/PROTOCOL.md`
//! §7.3) agree with the peers they index as peers are added, removed and
//! re-added, and every peer is served. (Debug builds also check, at every
//! `poll_timeout`, that the heap's top is the earliest of every peer's
//! timers.)

use std::collections::{BTreeMap, BTreeSet};

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::{
    AddPeerError, Config, Endpoint, GrowableEndpoint, GrowableTable, Instant, PeerId, Received,
    RecvError, RejectReason, StaticKeypair, TransmitKind,
};

const PEERS: u8 = 200;

fn keypair(i: u16) -> StaticKeypair {
    let mut secret = [7u8; 32];
    secret[..2].copy_from_slice(&i.to_be_bytes());
    StaticKeypair::from_secret_bytes(secret)
}

fn endpoint(key: StaticKeypair, seed: u64) -> GrowableEndpoint<ChaCha20Rng> {
    Endpoint::new(
        Config::default(),
        key,
        ChaCha20Rng::seed_from_u64(seed),
        GrowableTable::new(),
    )
}

/// Every initiation `hub` sends at `now`, by peer; fails on a peer served
/// twice in one round.
fn initiations(hub: &mut GrowableEndpoint<ChaCha20Rng>, now: Instant) -> BTreeMap<PeerId, Vec<u8>> {
    let mut buf = [0u8; 256];
    let mut sent = BTreeMap::new();
    while let Some(t) = hub.poll_transmit(now, &mut buf).expect("room") {
        assert_eq!(t.kind, TransmitKind::Initiation);
        let again = sent.insert(t.peer, buf[..t.len].to_vec());
        assert!(again.is_none(), "{:?} served twice", t.peer);
    }
    sent
}

#[test]
fn indexes_follow_peers_added_removed_and_readded() {
    let hub_key = keypair(0);
    let mut hub = endpoint(hub_key.clone(), 1);
    let keys: Vec<StaticKeypair> = (1..=u16::from(PEERS)).map(keypair).collect();
    let now = Instant::ZERO;
    let ids: Vec<PeerId> = keys
        .iter()
        .map(|k| hub.add_peer(now, k.public()).expect("added"))
        .collect();
    // Slots are handed out in order, and every key is found again.
    for (i, (k, &id)) in keys.iter().zip(&ids).enumerate() {
        assert_eq!(id.slot(), i);
        assert_eq!(hub.peer_by_key(&k.public()), Some(id));
        assert_eq!(
            hub.add_peer(now, k.public()),
            Err(AddPeerError::Duplicate(id))
        );
    }
    assert_eq!(hub.peer_by_key(&keypair(999).public()), None);

    // Every peer wants its first handshake: one initiation each.
    hub.handle_timeout(now);
    assert_eq!(hub.poll_timeout().map(|t| t > now), Some(true));
    let first = initiations(&mut hub, now);
    assert_eq!(first.keys().copied().collect::<Vec<_>>(), ids);

    // Remove every third peer: gone from the key index, the heap and the
    // queue; the others keep their retries.
    let removed: BTreeSet<usize> = (0..ids.len()).step_by(3).collect();
    for &i in &removed {
        assert!(hub.remove_peer(ids[i]).is_ok());
        assert!(hub.remove_peer(ids[i]).is_err());
        assert_eq!(hub.peer_by_key(&keys[i].public()), None);
    }
    let retry = hub.poll_timeout().expect("retries are armed");
    let mut later = retry;
    let mut retried = BTreeSet::new();
    // Run every retry of the round (each peer's jittered backoff).
    while retried.len() < ids.len() - removed.len() {
        later = hub.poll_timeout().expect("armed");
        hub.handle_timeout(later);
        for (peer, _) in initiations(&mut hub, later) {
            assert!(!removed.contains(&peer.slot()), "removed {peer:?} served");
            retried.insert(peer);
        }
    }
    assert!(later >= retry);

    // Re-added peers take the freed slots (no other: the table does not
    // grow) and are found.
    let mut retaken = BTreeSet::new();
    for &i in &removed {
        let id = hub.add_peer(later, keys[i].public()).expect("re-added");
        retaken.insert(id.slot());
        assert_eq!(hub.peer_by_key(&keys[i].public()), Some(id));
    }
    assert_eq!(retaken, removed);
    hub.handle_timeout(later);
    let readded = initiations(&mut hub, later);
    assert_eq!(
        readded.keys().map(|p| p.slot()).collect::<BTreeSet<_>>(),
        removed
    );
}

#[test]
fn an_initiation_from_the_last_slot_finds_its_peer() {
    let hub_key = keypair(0);
    let mut hub = endpoint(hub_key.clone(), 1);
    let keys: Vec<StaticKeypair> = (1..=u16::from(PEERS)).map(keypair).collect();
    let now = Instant::ZERO;
    for k in &keys {
        hub.add_peer(now, k.public()).expect("added");
    }
    let last = keys.last().expect("peers").clone();
    let mut spoke = endpoint(last.clone(), 2);
    spoke.add_peer(now, hub_key.public()).expect("added");
    spoke.handle_timeout(now);
    let mut buf = [0u8; 256];
    let t = spoke
        .poll_transmit(now, &mut buf)
        .expect("room")
        .expect("an initiation");
    let initiation = buf[..t.len].to_vec();
    let last_id = PeerId::new(u32::from(PEERS) - 1, 0);

    // The hub finds the peer, answers (a challenge or a response), and a
    // replay of the same datagram is recognised as that peer's.
    let mut copy = initiation.clone();
    match hub.handle_datagram(now, &mut copy) {
        Ok(Received::Handshake { peer }) => assert_eq!(peer, last_id),
        other => panic!("unexpected {other:?}"),
    }
    let mut copy = initiation.clone();
    match hub.handle_datagram(now, &mut copy) {
        Ok(Received::Handshake { peer }) => assert_eq!(peer, last_id),
        Err(RecvError { peer, reason }) => {
            assert_eq!(peer, Some(last_id));
            assert_ne!(reason, RejectReason::UnknownPeer);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Once removed, it is unknown.
    assert!(hub.remove_peer(last_id).is_ok());
    let mut copy = initiation;
    let e = hub.handle_datagram(now, &mut copy).expect_err("unknown");
    assert_eq!(e.reason, RejectReason::UnknownPeer);
}

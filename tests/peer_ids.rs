//! Peer ids are never silently reused: after `remove_peer`, the next peer
//! added in the same slot has the next generation, and the old id is refused
//! with a typed error everywhere, changing nothing. The caller's value for a
//! peer lives as long as the peer.

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::{
    Config, Endpoint, GrowableEndpoint, GrowableTable, Instant, PeerError, PeerId, ProbeKind,
    SealError, StaticKeypair,
};

fn endpoint() -> GrowableEndpoint<ChaCha20Rng> {
    Endpoint::new(
        Config::default(),
        StaticKeypair::from_secret_bytes([1; 32]),
        ChaCha20Rng::seed_from_u64(1),
        GrowableTable::new(),
    )
}

fn key(i: u8) -> probekey::PublicKey {
    StaticKeypair::from_secret_bytes([i; 32]).public()
}

#[test]
fn a_removed_peers_id_is_refused_and_never_names_the_next_peer_in_its_slot() {
    let now = Instant::ZERO;
    let mut ep = endpoint();
    let old = ep.add_peer(now, key(2)).expect("peer");
    ep.set_user_data(old, 77).expect("peer");
    assert_eq!(ep.user_data(old), Ok(77));
    ep.remove_peer(old).expect("peer");

    // The next peer takes the same slot, with the next generation.
    let new = ep.add_peer(now, key(3)).expect("peer");
    assert_eq!(new.slot(), old.slot());
    assert_eq!(new.generation(), old.generation() + 1);
    assert_ne!(new, old);
    assert_eq!(
        ep.user_data(new),
        Ok(0),
        "the caller's value went with the old peer"
    );

    // Every use of the old id is refused, and changes nothing.
    let before = ep.peer_status(new, now);
    let stats = ep.stats();
    assert_eq!(ep.remove_peer(old), Err(PeerError::Removed));
    assert_eq!(ep.initiate_handshake(now, old), Err(PeerError::Removed));
    assert_eq!(ep.set_user_data(old, 5), Err(PeerError::Removed));
    assert_eq!(ep.user_data(old), Err(PeerError::Removed));
    assert_eq!(ep.peer_error(old), Err(PeerError::Removed));
    assert_eq!(ep.peer_status(old, now), None);
    let mut out = [0u8; 128];
    assert_eq!(
        ep.seal(now, old, ProbeKind::Probe, b"x", &mut out),
        Err(SealError::RemovedPeer)
    );
    assert_eq!(ep.peer_status(new, now), before);
    assert_eq!(ep.stats(), stats);
    assert_eq!(ep.user_data(new), Ok(0));
    assert_eq!(ep.peers().collect::<Vec<_>>(), vec![new]);
    assert_eq!(ep.peer_by_key(&key(3)), Some(new));
    assert_eq!(ep.peer_by_key(&key(2)), None);

    // An id never given out is not configured.
    let never = PeerId::new(9, 0);
    assert_eq!(ep.peer_error(never), Err(PeerError::NotConfigured));
    assert_eq!(ep.remove_peer(never), Err(PeerError::NotConfigured));
    assert_eq!(
        ep.seal(now, never, ProbeKind::Probe, b"x", &mut out),
        Err(SealError::UnknownPeer)
    );
}

#[test]
fn peer_ids_print_and_pack_with_their_generation() {
    let id = PeerId::new(3, 2);
    assert_eq!(id.to_string(), "3.2");
    assert_eq!(format!("{id:?}"), "PeerId(3.2)");
    assert_eq!(PeerId::from_u64(id.to_u64()), id);
    assert_eq!(id.to_u64(), (2 << 32) | 3);
}

//! Unit tests of the peer table: what a peer id resolves to, generations,
//! the two kinds of table (§7.3, §7.4).

#[cfg(feature = "alloc")]
use super::GrowableTable;
use super::sealed::Sealed;
use super::{FixedTable, PeerTable, Slot, configured, get, get_mut, id, resolve};
use crate::peer::{Peer, test_peer as peer};
use crate::{PeerError, PeerId};

fn key_in<T: PeerTable>(t: &T, slot: usize) -> Option<u8> {
    get(t, slot).map(|p| p.public.as_bytes()[0])
}

/// Checks one kind of table: ids name slots and generations; removal moves
/// the slot's generation on, so an old id is refused as removed and never
/// names the next peer put there (§7.3).
fn ids_name_a_slot_and_its_generation<T: PeerTable>(mut t: T) {
    assert!(t.slots().len() >= 3);
    assert_eq!(
        resolve(&t, PeerId::new(1, 0)),
        Err(PeerError::NotConfigured),
        "free"
    );
    let first = id(&t, 1);
    assert_eq!(first, PeerId::new(1, 0));
    let a = peer(2, first);
    let a_key = a.public.as_bytes()[0];
    t.slots_mut()[1].put(a);
    let b = peer(3, id(&t, 2));
    t.slots_mut()[2].put(b);
    assert_eq!(resolve(&t, first), Ok(1));
    assert_eq!(resolve(&t, PeerId::new(2, 0)), Ok(2));
    assert_eq!(key_in(&t, 1), Some(a_key));
    assert_eq!(key_in(&t, 0), None);
    let far = u32::try_from(t.slots().len()).expect("small");
    assert_eq!(
        resolve(&t, PeerId::new(far, 0)),
        Err(PeerError::NotConfigured),
        "past the end"
    );
    assert_eq!(
        resolve(&t, PeerId::new(1, 5)),
        Err(PeerError::Removed),
        "another generation"
    );
    assert_eq!(
        configured(&t).map(|(i, _)| i).collect::<std::vec::Vec<_>>(),
        [1, 2]
    );
    get_mut(&mut t, 1).expect("configured").user_data = 9;
    assert_eq!(get(&t, 1).map(|p| p.user_data), Some(9));
    assert!(get_mut(&mut t, 0).is_none());

    t.slots_mut()[1].clear();
    assert_eq!(get(&t, 1).map(|p| p.user_data), None, "dropped");
    assert_eq!(resolve(&t, first), Err(PeerError::Removed));
    let second = id(&t, 1);
    assert_eq!(second, PeerId::new(1, 1), "the next generation");
    assert_eq!(
        resolve(&t, second),
        Err(PeerError::NotConfigured),
        "not yet put"
    );
    t.slots_mut()[1].put(peer(4, second));
    assert_eq!(resolve(&t, second), Ok(1));
    assert_eq!(
        resolve(&t, first),
        Err(PeerError::Removed),
        "never the new peer"
    );
    assert_eq!(key_in(&t, 1), Some(peer(4, second).public.as_bytes()[0]));
    assert_eq!(configured(&t).count(), 2);
}

#[test]
fn a_fixed_tables_ids_name_a_slot_and_its_generation() {
    let t: FixedTable<3> = super::fixed_table();
    assert_eq!(t.slots().len(), 3);
    ids_name_a_slot_and_its_generation(t);
}

#[cfg(feature = "alloc")]
#[test]
fn a_growable_tables_ids_name_a_slot_and_its_generation() {
    let mut t = GrowableTable::new();
    for n in 1..=3 {
        assert!(t.grow(), "a growable table grows");
        assert_eq!(t.slots().len(), n, "by one slot");
    }
    ids_name_a_slot_and_its_generation(t);
}

#[test]
fn a_fixed_table_never_grows() {
    let mut t: FixedTable<2> = super::fixed_table();
    assert!(!t.grow());
    assert_eq!(t.slots().len(), 2);
}

/// A slot's generation wraps after 2^32 removals; an id from before still
/// counts as removed.
#[test]
fn generations_wrap_and_old_ids_stay_removed() {
    let mut t: FixedTable<1> = super::fixed_table();
    t[0].generation = u32::MAX;
    let last = id(&t, 0);
    t[0].clear();
    assert_eq!(t[0].generation(), 0);
    assert_eq!(resolve(&t, last), Err(PeerError::Removed));
}

/// A slot's `Debug` says whether it holds a peer, and nothing of the peer.
#[test]
fn a_slots_debug_says_only_whether_it_is_configured() {
    let mut s: Slot<Peer> = Slot::default();
    assert_eq!(std::format!("{s:?}"), "Slot { configured: false, .. }");
    s.put(peer(2, PeerId::new(0, 0)));
    assert_eq!(std::format!("{s:?}"), "Slot { configured: true, .. }");
}

//! The indexes against a brute-force model, over random operations.

use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use super::*;
use crate::table::{FixedTable, fixed_table};

const N: usize = 24;

struct Model {
    keys: BTreeMap<KeyId, usize>,
    deadlines: [Option<Instant>; N],
    queue: VecDeque<usize>,
}

fn check(index: &Index, t: &FixedTable<N>, m: &Model) {
    for (&key, &slot) in &m.keys {
        assert_eq!(index.find_key(t, key), Some(slot));
    }
    assert_eq!(index.find_key(t, KeyId([0xee; 8])), None);
    // Every peer with a deadline has an entry, never later than it; the
    // others have none; the heap is ordered and its top is the earliest.
    let mut entries = 0;
    for (slot, d) in m.deadlines.iter().enumerate() {
        let pos = t[slot].row.heap_pos;
        match d {
            None => assert_eq!(pos, NONE, "slot {slot} has an entry"),
            Some(d) => {
                let entry = t[usize_of(pos)].row;
                assert_eq!(usize_of(entry.heap_slot), slot);
                assert!(entry.due <= *d, "slot {slot}: entry late");
                entries += 1;
            }
        }
    }
    assert_eq!(entries, index.timed());
    for i in 1..index.timed() {
        assert!(t[(i - 1) / 2].row.due <= t[i].row.due, "heap order at {i}");
    }
    let earliest = m.deadlines.iter().flatten().min().copied();
    assert!(index.earliest(t) <= earliest.or(index.earliest(t)));
    assert_eq!(index.earliest(t).is_some(), earliest.is_some());
    // The queue, walked from its head, is the model's in order.
    let mut walked = Vec::new();
    let mut at = index.first_queued();
    while let Some(s) = at {
        walked.push(s);
        let next = t[s].row.tx_next;
        at = (next != NONE).then(|| usize_of(next));
    }
    assert_eq!(walked, m.queue.iter().copied().collect::<Vec<_>>());
}

#[test]
fn indexes_agree_with_a_brute_force_model() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let mut t: FixedTable<N> = fixed_table();
    let mut index = Index::new(7);
    let mut m = Model {
        keys: BTreeMap::new(),
        deadlines: [None; N],
        queue: VecDeque::new(),
    };
    for _ in 0..20_000 {
        let slot = usize::try_from(next(N as u64)).unwrap();
        match next(5) {
            0 => {
                // A slot holds at most one key; re-key it.
                if let Some((&old, _)) = m.keys.iter().find(|&(_, &s)| s == slot) {
                    index.remove_key(&mut t, old);
                    m.keys.remove(&old);
                }
                let key = KeyId(next(64).to_be_bytes());
                if index.find_key(&t, key).is_none() {
                    index.insert_key(&mut t, key, slot);
                    m.keys.insert(key, slot);
                }
            }
            1 => {
                if let Some((&old, _)) = m.keys.iter().find(|&(_, &s)| s == slot) {
                    index.remove_key(&mut t, old);
                    m.keys.remove(&old);
                }
            }
            2 => {
                // Few distinct instants, so that ties are common.
                let at = match next(5) {
                    0 => None,
                    n => Some(Instant::from_nanos(next(8) * n)),
                };
                index.set_deadline(&mut t, slot, at);
                m.deadlines[slot] = at;
            }
            3 => {
                // A visit to the peer at the top, as handle_timeout makes.
                if let Some(at) = index.earliest(&t) {
                    let slot = index.due(&t, at).expect("the top is due at its instant");
                    index.refresh(&mut t, slot, m.deadlines[slot]);
                }
            }
            _ => {
                let queued = next(2) == 0;
                index.set_queued(&mut t, slot, queued);
                let present = m.queue.contains(&slot);
                if queued && !present {
                    m.queue.push_back(slot);
                } else if !queued {
                    m.queue.retain(|&s| s != slot);
                }
            }
        }
        check(&index, &t, &m);
    }
}

#[test]
fn free_slots_are_taken_last_freed_first_then_never_used() {
    let mut t: FixedTable<N> = fixed_table();
    let mut index = Index::new(7);
    for want in 0..5 {
        assert_eq!(index.take_free(&mut t), Some(want));
    }
    index.put_free(&mut t, 1);
    index.put_free(&mut t, 3);
    assert_eq!(index.take_free(&mut t), Some(3));
    assert_eq!(index.take_free(&mut t), Some(1));
    assert_eq!(index.take_free(&mut t), Some(5));
    for want in 6..N {
        assert_eq!(index.take_free(&mut t), Some(want));
    }
    assert_eq!(index.take_free(&mut t), None);
    index.put_free(&mut t, 0);
    assert_eq!(index.take_free(&mut t), Some(0));
    assert_eq!(index.take_free(&mut t), None);
}

/// §2.6: a slot at or past `MAX_PEERS` cannot be named by a session index,
/// so none is handed out, whatever the table's size.
#[cfg(feature = "alloc")]
#[test]
fn no_slot_past_max_peers_is_handed_out() {
    use crate::MAX_PEERS;
    use crate::table::GrowableTable;
    let mut t: GrowableTable = (0..=MAX_PEERS).map(|_| Default::default()).collect();
    let mut index = Index::new(7);
    index.used = MAX_PEERS - 1;
    assert_eq!(index.take_free(&mut t), Some(MAX_PEERS - 1));
    assert_eq!(index.take_free(&mut t), None);
}

/// §7.4: key ids' home positions spread over the key index and depend on
/// the endpoint's seed, whatever the seed: nobody who chooses the ids
/// looked up knows the layout, and lookups stay a few probes long.
#[test]
fn key_homes_spread_and_depend_on_the_seed() {
    let keys: Vec<KeyId> = (1..=64u64)
        .map(|i| KeyId(i.wrapping_mul(0x0123_4567_89ab_cdef).to_le_bytes()))
        .collect();
    let cap = 64;
    let homes = |seed: u64| -> Vec<usize> {
        let index = Index::new(seed);
        keys.iter().map(|&k| index.home(k, cap)).collect()
    };
    for seed in [0, u64::MAX, 7, 0x5555_5555_5555_5555] {
        let h = homes(seed);
        assert!(h.iter().all(|&e| e < cap));
        let mut distinct = h.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // 64 keys thrown at 64 homes land on about 40 distinct ones.
        assert!(
            distinct.len() >= 24,
            "seed {seed:#x}: {} homes",
            distinct.len()
        );
    }
    let differ = homes(0)
        .iter()
        .zip(homes(7))
        .filter(|&(a, b)| *a != b)
        .count();
    assert!(
        differ >= 32,
        "another seed, another layout: {differ} of 64 moved"
    );
}

/// §7.4: removal from the key index shifts back exactly the entries that
/// would otherwise be cut off from their home, in clusters that wrap past
/// the index's end too. Keys are chosen so that their homes crowd the last
/// two and the first two of a small index's entries; every key stays
/// found, and no removed one is.
#[test]
fn removal_keeps_every_crowded_key_found_across_the_wrap() {
    const S: usize = 4; // 8 entries, at most 4 keys
    let index_seed = 3;
    let cap = 2 * S;
    let probe = Index::new(index_seed);
    // Eight keys for each of the homes cap - 2, cap - 1, 0 and 1.
    let mut pool: Vec<KeyId> = Vec::new();
    for home in [cap - 2, cap - 1, 0, 1] {
        let found: Vec<KeyId> = (0u64..10_000)
            .map(|i| KeyId(i.to_le_bytes()))
            .filter(|&k| probe.home(k, cap) == home)
            .take(8)
            .collect();
        assert_eq!(found.len(), 8, "keys with home {home}");
        pool.extend(found);
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).unwrap()
    };
    let mut t: FixedTable<S> = fixed_table();
    let mut index = Index::new(index_seed);
    let mut held: BTreeMap<KeyId, usize> = BTreeMap::new();
    for _ in 0..20_000 {
        let slot = next(S);
        if let Some((&old, _)) = held.iter().find(|&(_, &s)| s == slot) {
            index.remove_key(&mut t, old);
            held.remove(&old);
            assert_eq!(index.find_key(&t, old), None, "removed");
        }
        if next(3) != 0 {
            let key = pool[next(pool.len())];
            if let std::collections::btree_map::Entry::Vacant(v) = held.entry(key) {
                index.insert_key(&mut t, key, slot);
                v.insert(slot);
            }
        }
        for (&key, &slot) in &held {
            assert_eq!(index.find_key(&t, key), Some(slot), "{key:?}");
        }
    }
}

/// A peer is due only once its deadline is reached, and an empty heap
/// names none, however late it is.
#[test]
fn a_peer_is_due_only_at_its_deadline() {
    let mut t: FixedTable<N> = fixed_table();
    let mut index = Index::new(7);
    assert_eq!(index.due(&t, Instant::MAX), None, "nothing timed");
    index.set_deadline(&mut t, 5, Some(Instant::from_nanos(10)));
    assert_eq!(index.due(&t, Instant::from_nanos(9)), None);
    assert_eq!(index.due(&t, Instant::from_nanos(10)), Some(5));
    index.set_deadline(&mut t, 5, None);
    assert_eq!(index.due(&t, Instant::MAX), None, "nothing timed again");
}

/// Refreshing a visited peer's entry sets it to exactly the instant given:
/// earlier ones move up to the top, later ones down, and a peer with no
/// entry gets one.
#[test]
fn a_refreshed_entry_moves_either_way() {
    let at = Instant::from_nanos;
    let mut t: FixedTable<N> = fixed_table();
    let mut index = Index::new(7);
    for (slot, due) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
        index.set_deadline(&mut t, slot, Some(at(due)));
    }
    index.refresh(&mut t, 4, Some(at(5)));
    assert_eq!(index.earliest(&t), Some(at(5)));
    assert_eq!(index.due(&t, at(5)), Some(4), "an earlier one moves up");
    index.refresh(&mut t, 4, Some(at(50)));
    assert_eq!(index.due(&t, at(10)), Some(1), "a later one moves down");
    index.refresh(&mut t, 7, Some(at(1)));
    assert_eq!(index.timed(), 5);
    assert_eq!(index.due(&t, at(1)), Some(7), "one with no entry gets one");
    index.refresh(&mut t, 7, None);
    assert_eq!(index.timed(), 4);
    assert_eq!(index.due(&t, at(9)), None);
}

/// The index's `Debug` gives its counts only (key ids are not secret, but
/// the layout is kept from whoever chooses them).
#[test]
fn an_indexs_debug_gives_its_counts() {
    let mut t: FixedTable<N> = fixed_table();
    let mut index = Index::new(7);
    index.insert_key(&mut t, KeyId([1; 8]), 2);
    index.set_deadline(&mut t, 2, Some(Instant::from_nanos(1)));
    index.set_deadline(&mut t, 3, Some(Instant::from_nanos(2)));
    assert_eq!(std::format!("{index:?}"), "Index { keys: 1, timed: 2, .. }");
}

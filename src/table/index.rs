//! The endpoint's indexes over its peers, so that no path costs time
//! linear in the number of peers (`docs/PROTOCOL.md` §7.4):
//!
//! - **the key-id index**, sorted, searched by every handshake initiation
//!   (§3.2) in O(log n) before any cryptography;
//! - **the deadline heap**, a binary min-heap of each peer's earliest
//!   timer (its [`crate::peer::timers::TimerTable`]), with each peer's
//!   position kept so that a peer whose deadline comes earlier moves up in
//!   O(log n); a deadline that moves later is left early in the heap
//!   until it reaches the top, so the probe path (which pushes staleness
//!   back on every probe) does not touch the heap: `poll_timeout` reads
//!   its top (early, never late) and `handle_timeout` visits only the
//!   peers whose entries are due;
//! - **the transmit queue**, a doubly linked list of the peers with
//!   something queued for `poll_transmit`;
//! - **the free slots**, a list of the slots `remove_peer` freed, then the
//!   slots never used, so that `add_peer` finds one in O(1).
//!
//! Entry `i` of the key index and of the heap lives in row `i` of the
//! table (one row per slot, whatever the slot holds): there are never more
//! entries than configured peers, so the rows always suffice, and a table
//! that grows grows its indexes with it. A slot's own heap position and
//! queue and free-list links live in that slot's row.

use core::fmt;

use super::PeerTable;
use super::sealed::Sealed;
use crate::keys::KeyId;
use crate::time::Instant;

/// No slot, no position.
const NONE: u32 = u32::MAX;

/// A free entry of the key index.
const NO_KEY: (KeyId, u32) = (KeyId([0; 8]), NONE);

/// One row of the indexes; see the module's documentation.
#[derive(Copy, Clone)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct Row {
    /// Entries `2i` and `2i + 1` of the key index: key id and slot.
    keys: [(KeyId, u32); 2],
    /// Entry of the heap at this row's position: slot, deadline.
    heap_slot: u32,
    due: Instant,
    /// This slot's position in the heap, or `NONE`.
    heap_pos: u32,
    /// This slot's neighbours in the transmit queue, if queued.
    tx_prev: u32,
    tx_next: u32,
    queued: bool,
    /// The next free slot after this one, while this slot is free and in
    /// the free list.
    free_next: u32,
}

impl Row {
    pub(crate) const EMPTY: Row = Row {
        keys: [NO_KEY; 2],
        heap_slot: NONE,
        due: Instant::MAX,
        heap_pos: NONE,
        tx_prev: NONE,
        tx_next: NONE,
        queued: false,
        free_next: NONE,
    };
}

fn u32_of(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NONE)
}

fn usize_of(i: u32) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

/// The sizes and ends of the indexes; their entries are in the table's
/// rows.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct Index {
    /// Entries of the key index in use, and its size: two per row.
    keys: usize,
    key_cap: usize,
    seed: u64,
    heap: usize,
    tx_head: Option<u32>,
    tx_tail: Option<u32>,
    /// Slots freed by a removal, last freed first; and how many slots have
    /// ever held a peer (every slot from there on is free).
    free_head: Option<u32>,
    used: usize,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("keys", &self.keys)
            .field("timed", &self.heap)
            .finish_non_exhaustive()
    }
}

fn row<T: PeerTable>(t: &T, i: usize) -> Row {
    t.slots().get(i).map_or(Row::EMPTY, |s| *s.row())
}

fn with_row<T: PeerTable>(t: &mut T, i: usize, f: impl FnOnce(&mut Row)) {
    if let Some(s) = t.slots_mut().get_mut(i) {
        f(s.row_mut());
    }
}

/// Key index entry `e`: row `e / 2`.
fn key_entry<T: PeerTable>(t: &T, e: usize) -> (KeyId, u32) {
    row(t, e / 2).keys[e % 2]
}

fn set_key_entry<T: PeerTable>(t: &mut T, e: usize, entry: (KeyId, u32)) {
    with_row(t, e / 2, |r| r.keys[e % 2] = entry);
}

impl Index {
    /// Empty indexes; `seed` is random (see [`Self::find_key`]).
    pub(crate) fn new(seed: u64) -> Self {
        Index {
            keys: 0,
            key_cap: 0,
            seed,
            heap: 0,
            tx_head: None,
            tx_tail: None,
            free_head: None,
            used: 0,
        }
    }

    // ---- key-id index ----

    /// Where `key`'s probe sequence starts in a table of `cap` entries.
    fn home(&self, key: KeyId, cap: usize) -> usize {
        // Key ids are hashes of public keys; the per-endpoint seed keeps
        // the layout unknown to anyone who chooses the ids looked up.
        let h = (u64::from_le_bytes(key.0) ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        usize::try_from((h >> 32) % u64::try_from(cap).unwrap_or(1)).unwrap_or(0)
    }

    /// The slot of the peer with this key id. The table is open-addressed
    /// with linear probing at a load of at most one half, so a lookup,
    /// found or not, stops at an empty entry after a few probes.
    pub(crate) fn find_key<T: PeerTable>(&self, t: &T, key: KeyId) -> Option<usize> {
        let cap = self.key_cap;
        if cap == 0 {
            return None;
        }
        let mut e = self.home(key, cap);
        loop {
            let (k, slot) = key_entry(t, e);
            if slot == NONE {
                return None;
            }
            if k == key {
                return Some(usize_of(slot));
            }
            e = (e + 1) % cap;
        }
    }

    /// Adds `slot` under `key`, which is not in the index yet. If the
    /// table grew since the index was laid out (by doubling, so that this
    /// costs O(1) per peer over time), it is laid out again from the
    /// configured peers.
    pub(crate) fn insert_key<T: PeerTable>(&mut self, t: &mut T, key: KeyId, slot: usize) {
        let cap = 2 * t.slots().len();
        if cap != self.key_cap {
            for e in 0..cap {
                set_key_entry(t, e, NO_KEY);
            }
            self.key_cap = cap;
            self.keys = 0;
            for s in 0..t.slots().len() {
                if let Some(k) = t.slots()[s].peer().map(|p| p.key_id)
                    && self.find_key(t, k).is_none()
                {
                    self.place_key(t, k, s);
                }
            }
        }
        if self.find_key(t, key).is_none() {
            self.place_key(t, key, slot);
        }
    }

    fn place_key<T: PeerTable>(&mut self, t: &mut T, key: KeyId, slot: usize) {
        let cap = self.key_cap;
        if 2 * (self.keys + 1) > cap {
            return;
        }
        let mut e = self.home(key, cap);
        while key_entry(t, e).1 != NONE {
            e = (e + 1) % cap;
        }
        set_key_entry(t, e, (key, u32_of(slot)));
        self.keys += 1;
    }

    /// Removes the entry of `key`, shifting back the entries after it
    /// that would otherwise be cut off from their home (no tombstones).
    pub(crate) fn remove_key<T: PeerTable>(&mut self, t: &mut T, key: KeyId) {
        let cap = self.key_cap;
        if cap == 0 {
            return;
        }
        let mut hole = self.home(key, cap);
        loop {
            let (k, slot) = key_entry(t, hole);
            if slot == NONE {
                return;
            }
            if k == key {
                break;
            }
            hole = (hole + 1) % cap;
        }
        let mut e = hole;
        loop {
            e = (e + 1) % cap;
            let entry = key_entry(t, e);
            if entry.1 == NONE {
                break;
            }
            // The entry may move back into the hole only if its home does
            // not lie cyclically after the hole (up to the entry itself).
            let home = self.home(entry.0, cap);
            let home_after_hole = if hole <= e {
                hole < home && home <= e
            } else {
                hole < home || home <= e
            };
            if !home_after_hole {
                set_key_entry(t, hole, entry);
                hole = e;
            }
        }
        set_key_entry(t, hole, NO_KEY);
        self.keys -= 1;
    }

    // ---- deadline heap ----

    /// How many peers have a deadline.
    pub(crate) fn timed(&self) -> usize {
        self.heap
    }

    /// The earliest deadline of any peer.
    pub(crate) fn earliest<T: PeerTable>(&self, t: &T) -> Option<Instant> {
        (self.heap > 0).then(|| row(t, 0).due)
    }

    /// The slot of a peer with a deadline at or before `now`, if any.
    pub(crate) fn due<T: PeerTable>(&self, t: &T, now: Instant) -> Option<usize> {
        let top = row(t, 0);
        (self.heap > 0 && top.due <= now).then(|| usize_of(top.heap_slot))
    }

    /// Sets the earliest deadline of the peer in `slot` (`None`: it has
    /// none, or the slot is freed). A deadline later than the entry's is
    /// left for [`Self::refresh`].
    pub(crate) fn set_deadline<T: PeerTable>(
        &mut self,
        t: &mut T,
        slot: usize,
        at: Option<Instant>,
    ) {
        let pos = row(t, slot).heap_pos;
        match (pos, at) {
            (NONE, None) => {}
            (NONE, Some(at)) => {
                if self.heap >= t.slots().len() {
                    return;
                }
                let i = self.heap;
                self.heap += 1;
                self.place(t, i, slot, at);
                self.sift_up(t, i);
            }
            (pos, Some(at)) => {
                let i = usize_of(pos);
                // A deadline that moves later (a probe pushing staleness
                // back, the commonest change by far) stays where it is: the
                // entry is then early, never late, and is moved when it
                // reaches the top and its peer is visited (§7.4).
                if at >= row(t, i).due {
                    return;
                }
                self.place(t, i, slot, at);
                let i = self.sift_up(t, i);
                self.sift_down(t, i);
            }
            (pos, None) => {
                let i = usize_of(pos);
                self.heap -= 1;
                let last = self.heap;
                with_row(t, slot, |r| r.heap_pos = NONE);
                if i != last {
                    let moved = row(t, last);
                    self.place(t, i, usize_of(moved.heap_slot), moved.due);
                    let i = self.sift_up(t, i);
                    self.sift_down(t, i);
                }
                with_row(t, last, |r| {
                    r.heap_slot = NONE;
                    r.due = Instant::MAX;
                });
            }
        }
    }

    /// Sets the entry of the peer in `slot` to exactly `at`, later or not:
    /// for a peer just visited at its entry's instant.
    pub(crate) fn refresh<T: PeerTable>(&mut self, t: &mut T, slot: usize, at: Option<Instant>) {
        let pos = row(t, slot).heap_pos;
        match at {
            Some(at) if pos != NONE => {
                let i = usize_of(pos);
                let earlier = at < row(t, i).due;
                self.place(t, i, slot, at);
                if earlier {
                    self.sift_up(t, i);
                } else {
                    self.sift_down(t, i);
                }
            }
            _ => self.set_deadline(t, slot, at),
        }
    }

    /// Writes heap entry `i`: `slot` due at `at`.
    fn place<T: PeerTable>(&self, t: &mut T, i: usize, slot: usize, at: Instant) {
        with_row(t, i, |r| {
            r.heap_slot = u32_of(slot);
            r.due = at;
        });
        with_row(t, slot, |r| r.heap_pos = u32_of(i));
    }

    fn swap<T: PeerTable>(&self, t: &mut T, i: usize, j: usize) {
        let (a, b) = (row(t, i), row(t, j));
        self.place(t, i, usize_of(b.heap_slot), b.due);
        self.place(t, j, usize_of(a.heap_slot), a.due);
    }

    fn sift_up<T: PeerTable>(&self, t: &mut T, mut i: usize) -> usize {
        while i > 0 {
            let parent = (i - 1) / 2;
            if row(t, parent).due <= row(t, i).due {
                break;
            }
            self.swap(t, i, parent);
            i = parent;
        }
        i
    }

    fn sift_down<T: PeerTable>(&self, t: &mut T, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < self.heap && row(t, l).due < row(t, least).due {
                least = l;
            }
            if r < self.heap && row(t, r).due < row(t, least).due {
                least = r;
            }
            if least == i {
                return;
            }
            self.swap(t, i, least);
            i = least;
        }
    }

    // ---- free slots ----

    /// A free slot, if the table has one: the last one freed, else the
    /// first never used. O(1).
    pub(crate) fn take_free<T: PeerTable>(&mut self, t: &mut T) -> Option<usize> {
        if let Some(head) = self.free_head {
            let slot = usize_of(head);
            let next = row(t, slot).free_next;
            with_row(t, slot, |r| r.free_next = NONE);
            self.free_head = (next != NONE).then_some(next);
            return Some(slot);
        }
        // Never a slot that a session index cannot name (§2.6), however
        // many the table has.
        (self.used < t.slots().len().min(crate::MAX_PEERS)).then(|| {
            self.used += 1;
            self.used - 1
        })
    }

    /// `slot` was just freed.
    pub(crate) fn put_free<T: PeerTable>(&mut self, t: &mut T, slot: usize) {
        let next = self.free_head.unwrap_or(NONE);
        with_row(t, slot, |r| r.free_next = next);
        self.free_head = Some(u32_of(slot));
    }

    // ---- transmit queue ----

    /// The first peer with something to transmit.
    pub(crate) fn first_queued(&self) -> Option<usize> {
        self.tx_head.map(usize_of)
    }

    /// Puts the peer in `slot` in the transmit queue, at the end, or takes
    /// it out.
    pub(crate) fn set_queued<T: PeerTable>(&mut self, t: &mut T, slot: usize, queued: bool) {
        let r = row(t, slot);
        if r.queued == queued || slot >= t.slots().len() {
            return;
        }
        let s = u32_of(slot);
        if queued {
            with_row(t, slot, |r| {
                r.queued = true;
                r.tx_prev = self.tx_tail.unwrap_or(NONE);
                r.tx_next = NONE;
            });
            match self.tx_tail {
                Some(tail) => with_row(t, usize_of(tail), |r| r.tx_next = s),
                None => self.tx_head = Some(s),
            }
            self.tx_tail = Some(s);
        } else {
            let (prev, next) = (r.tx_prev, r.tx_next);
            match prev {
                NONE => self.tx_head = (next != NONE).then_some(next),
                p => with_row(t, usize_of(p), |r| r.tx_next = next),
            }
            match next {
                NONE => self.tx_tail = (prev != NONE).then_some(prev),
                n => with_row(t, usize_of(n), |r| r.tx_prev = prev),
            }
            with_row(t, slot, |r| {
                r.queued = false;
                r.tx_prev = NONE;
                r.tx_next = NONE;
            });
        }
    }
}

#[cfg(test)]
mod tests;

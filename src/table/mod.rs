//! Storage for the peers of an endpoint: a fixed array without `alloc`, a
//! growable table with it. The endpoint's logic is the same for both.
//!
//! Each slot also carries one row of the endpoint's indexes (the key-id
//! index, the deadline heap, the transmit queue: see [`index`]), so that
//! the indexes grow with the table and need no allocation of their own.
//!
//! A growable table holds each peer in its own heap block, so that growing
//! the table moves pointers, never a peer: a `Vec` of peers that
//! reallocated would leave a bitwise copy of every peer's keys (the
//! static-static secret among them) in the block it frees, where nothing
//! erases them. A peer's own block is erased field by field as the peer
//! drops (its keys zeroize on drop) before it is freed. The index rows
//! hold no secret (key ids are sent in clear).

pub(crate) mod index;

#[cfg(feature = "alloc")]
use alloc::boxed::Box;
use core::fmt;

use crate::peer::Peer;
use index::Row;

/// One slot of a [`PeerTable`]: free or holding a peer, and one row of
/// the endpoint's indexes. Opaque.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub struct Slot<P> {
    peer: Option<P>,
    row: Row,
    /// Peers removed from this slot so far: the generation of the next
    /// [`crate::PeerId`] it gives out.
    generation: u32,
}

impl<P> Default for Slot<P> {
    fn default() -> Self {
        Slot {
            peer: None,
            row: Row::EMPTY,
            generation: 0,
        }
    }
}

impl<P> fmt::Debug for Slot<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("configured", &self.peer.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`Slot`] can hold: a [`Peer`] in place (the fixed table) or
/// boxed (the growable table). Sealed.
pub trait PeerSlot: sealed::Sealed {}

// The sealing trait is nameable only inside the crate, so the index rows
// its methods hand out stay private whatever the lint infers from
// `PeerSlot` being public.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use super::{Peer, Row, Slot};

    /// The slot operations the endpoint uses.
    pub trait Sealed {
        fn peer(&self) -> Option<&Peer>;
        fn peer_mut(&mut self) -> Option<&mut Peer>;
        /// Puts `peer` in the slot.
        fn put(&mut self, peer: Peer);
        /// Frees the slot, dropping (and so erasing) its peer; the next
        /// peer put in it has the next generation.
        fn clear(&mut self);
        /// The generation of the slot's peer, or of the next one.
        fn generation(&self) -> u32;
        fn row(&self) -> &Row;
        fn row_mut(&mut self) -> &mut Row;
    }

    /// What both slot kinds do the same way: the slot's own fields.
    macro_rules! slot_fields {
        () => {
            fn clear(&mut self) {
                self.peer = None;
                self.generation = self.generation.wrapping_add(1);
            }
            fn generation(&self) -> u32 {
                self.generation
            }
            fn row(&self) -> &Row {
                &self.row
            }
            fn row_mut(&mut self) -> &mut Row {
                &mut self.row
            }
        };
    }

    impl Sealed for Slot<Peer> {
        fn peer(&self) -> Option<&Peer> {
            self.peer.as_ref()
        }
        fn peer_mut(&mut self) -> Option<&mut Peer> {
            self.peer.as_mut()
        }
        fn put(&mut self, peer: Peer) {
            self.peer = Some(peer);
        }
        slot_fields!();
    }

    #[cfg(feature = "alloc")]
    impl Sealed for Slot<alloc::boxed::Box<Peer>> {
        fn peer(&self) -> Option<&Peer> {
            self.peer.as_deref()
        }
        fn peer_mut(&mut self) -> Option<&mut Peer> {
            self.peer.as_deref_mut()
        }
        fn put(&mut self, peer: Peer) {
            self.peer = Some(alloc::boxed::Box::new(peer));
        }
        slot_fields!();
    }
}

impl PeerSlot for Slot<Peer> {}
#[cfg(feature = "alloc")]
impl PeerSlot for Slot<Box<Peer>> {}

/// Where an [`crate::Endpoint`] keeps its peers. Slot `n` holds the peer
/// whose [`crate::PeerId::slot`] is `n`.
pub trait PeerTable {
    /// What one slot is.
    type Slot: PeerSlot;
    /// All slots, configured or free.
    fn slots(&self) -> &[Self::Slot];
    /// All slots, mutable.
    fn slots_mut(&mut self) -> &mut [Self::Slot];
    /// Adds one free slot if the table can grow; false for fixed tables.
    fn grow(&mut self) -> bool {
        false
    }
}

/// The peer in `slot`, if any.
pub(crate) fn get<T: PeerTable>(table: &T, slot: usize) -> Option<&Peer> {
    use sealed::Sealed;
    table.slots().get(slot).and_then(Sealed::peer)
}

/// The peer in `slot`, mutable.
pub(crate) fn get_mut<T: PeerTable>(table: &mut T, slot: usize) -> Option<&mut Peer> {
    use sealed::Sealed;
    table.slots_mut().get_mut(slot).and_then(Sealed::peer_mut)
}

/// The id of the peer in `slot`, or of the next one put there.
pub(crate) fn id<T: PeerTable>(table: &T, slot: usize) -> crate::PeerId {
    use sealed::Sealed;
    let generation = table.slots().get(slot).map_or(0, Sealed::generation);
    crate::PeerId::new(u32::try_from(slot).unwrap_or(u32::MAX), generation)
}

/// The slot `id` names, if it holds that peer: else whether the id was
/// never given out or names a peer removed since.
pub(crate) fn resolve<T: PeerTable>(
    table: &T,
    id: crate::PeerId,
) -> Result<usize, crate::PeerError> {
    use sealed::Sealed;
    let slot = id.slot();
    let s = table
        .slots()
        .get(slot)
        .ok_or(crate::PeerError::NotConfigured)?;
    if s.generation() == id.generation() {
        return s
            .peer()
            .map(|_| slot)
            .ok_or(crate::PeerError::NotConfigured);
    }
    // Generations wrap after 2^32 removals from one slot: an id from
    // before counts as removed, whatever its number.
    Err(crate::PeerError::Removed)
}

/// Every configured peer with its slot.
pub(crate) fn configured<T: PeerTable>(table: &T) -> impl Iterator<Item = (usize, &Peer)> {
    use sealed::Sealed;
    table
        .slots()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.peer().map(|p| (i, p)))
}

/// The fixed table of `N` slots, for builds without `alloc`.
pub type FixedTable<const N: usize> = [Slot<Peer>; N];

impl<const N: usize> PeerTable for FixedTable<N> {
    type Slot = Slot<Peer>;
    fn slots(&self) -> &[Slot<Peer>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Slot<Peer>] {
        self
    }
}

/// A fixed table of `N` free slots, for builds without `alloc`.
pub fn fixed_table<const N: usize>() -> FixedTable<N> {
    core::array::from_fn(|_| Slot::default())
}

/// The growable table: one heap block per peer (see the module's
/// documentation). `GrowableTable::with_capacity(n)` reserves the slots of
/// `n` peers, so that adding them never reallocates.
#[cfg(feature = "alloc")]
pub type GrowableTable = alloc::vec::Vec<Slot<Box<Peer>>>;

#[cfg(feature = "alloc")]
impl PeerTable for GrowableTable {
    type Slot = Slot<Box<Peer>>;
    fn slots(&self) -> &[Slot<Box<Peer>>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Slot<Box<Peer>>] {
        self
    }
    fn grow(&mut self) -> bool {
        self.push(Slot::default());
        true
    }
}

#[cfg(test)]
mod tests;

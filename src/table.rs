//! Storage for the peers of an endpoint: a fixed array without `alloc`, a
//! growable table with it. The endpoint's logic is the same for both.
//!
//! A growable table holds each peer in its own heap block, so that growing
//! the table moves pointers, never a peer: a `Vec<Option<Peer>>` that
//! reallocated would leave a bitwise copy of every peer's keys (the
//! static-static secret among them) in the block it frees, where nothing
//! erases them. A peer's own block is erased field by field as the peer
//! drops (its keys zeroize on drop) before it is freed.

#[cfg(feature = "alloc")]
use alloc::boxed::Box;

use crate::peer::Peer;

/// One slot of a [`PeerTable`]: free, or holding a peer.
pub trait PeerSlot: sealed::Sealed {
    /// The peer, if the slot holds one.
    fn peer(&self) -> Option<&Peer>;
    /// The peer, mutable.
    fn peer_mut(&mut self) -> Option<&mut Peer>;
    /// Puts `peer` in the slot.
    fn put(&mut self, peer: Peer);
    /// Frees the slot, dropping (and so erasing) its peer.
    fn clear(&mut self);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for Option<crate::peer::Peer> {}
    #[cfg(feature = "alloc")]
    impl Sealed for Option<alloc::boxed::Box<crate::peer::Peer>> {}
}

impl PeerSlot for Option<Peer> {
    fn peer(&self) -> Option<&Peer> {
        self.as_ref()
    }
    fn peer_mut(&mut self) -> Option<&mut Peer> {
        self.as_mut()
    }
    fn put(&mut self, peer: Peer) {
        *self = Some(peer);
    }
    fn clear(&mut self) {
        *self = None;
    }
}

#[cfg(feature = "alloc")]
impl PeerSlot for Option<Box<Peer>> {
    fn peer(&self) -> Option<&Peer> {
        self.as_deref()
    }
    fn peer_mut(&mut self) -> Option<&mut Peer> {
        self.as_deref_mut()
    }
    fn put(&mut self, peer: Peer) {
        *self = Some(Box::new(peer));
    }
    fn clear(&mut self) {
        *self = None;
    }
}

/// Where an [`crate::Endpoint`] keeps its peers. Slot `n` holds
/// [`crate::PeerId`]`(n)`.
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

    /// The peer in `slot`, if any.
    fn get(&self, slot: usize) -> Option<&Peer> {
        self.slots().get(slot).and_then(PeerSlot::peer)
    }

    /// The peer in `slot`, mutable.
    fn get_mut(&mut self, slot: usize) -> Option<&mut Peer> {
        self.slots_mut().get_mut(slot).and_then(PeerSlot::peer_mut)
    }

    /// Every configured peer with its slot.
    fn configured(&self) -> impl Iterator<Item = (usize, &Peer)> {
        self.slots()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.peer().map(|p| (i, p)))
    }
}

impl<const N: usize> PeerTable for [Option<Peer>; N] {
    type Slot = Option<Peer>;
    fn slots(&self) -> &[Option<Peer>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Option<Peer>] {
        self
    }
}

/// A fixed table of `N` free slots, for builds without `alloc`.
pub fn fixed_table<const N: usize>() -> [Option<Peer>; N] {
    core::array::from_fn(|_| None)
}

/// The growable table: one heap block per peer (see the module's
/// documentation).
#[cfg(feature = "alloc")]
pub type GrowableTable = alloc::vec::Vec<Option<Box<Peer>>>;

#[cfg(feature = "alloc")]
impl PeerTable for GrowableTable {
    type Slot = Option<Box<Peer>>;
    fn slots(&self) -> &[Option<Box<Peer>>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Option<Box<Peer>>] {
        self
    }
    fn grow(&mut self) -> bool {
        self.push(None);
        true
    }
}

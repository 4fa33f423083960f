//! Storage for the peers of an endpoint: a fixed array without `alloc`, a
//! growable `Vec` with it. The endpoint's logic is the same for both.

use crate::peer::Peer;

/// Where an [`crate::Endpoint`] keeps its peers. Slot `n` holds
/// [`crate::PeerId`]`(n)`.
pub trait PeerTable {
    /// All slots, configured or free.
    fn slots(&self) -> &[Option<Peer>];
    /// All slots, mutable.
    fn slots_mut(&mut self) -> &mut [Option<Peer>];
    /// Adds one free slot if the table can grow; false for fixed tables.
    fn grow(&mut self) -> bool {
        false
    }
}

impl<const N: usize> PeerTable for [Option<Peer>; N] {
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

#[cfg(feature = "alloc")]
impl PeerTable for alloc::vec::Vec<Option<Peer>> {
    fn slots(&self) -> &[Option<Peer>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Option<Peer>] {
        self
    }
    fn grow(&mut self) -> bool {
        self.push(None);
        true
    }
}

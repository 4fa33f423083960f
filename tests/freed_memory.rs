//! No secret is left in memory the crate frees: a scanning global allocator
//! looks for a peer's static-static secret in every block freed (and in the
//! old block of every reallocation) while the growable peer table grows
//! past many reallocations, a peer is removed and the endpoint is dropped.
//!
//! A `Vec<Option<Peer>>` that reallocated left a bitwise copy of every peer
//! in the block it freed: the scan found the first peer's static-static
//! secret there once per growth. The growable table now holds each peer in
//! its own heap block, which the peer's drop erases before it is freed.

#![cfg(feature = "std")]
// The library forbids `unsafe`; a global allocator cannot be written without.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use std::alloc::System;

use chacha20::ChaCha20Rng;
use probekey::rand_core::SeedableRng;
use probekey::{Config, Endpoint, GrowableTable, Instant, StaticKeypair};

thread_local! {
    /// Whether this thread's frees are scanned.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// What the scan looks for.
    static NEEDLE: Cell<[u8; 32]> = const { Cell::new([0; 32]) };
    /// Freed blocks that held it.
    static HITS: Cell<u64> = const { Cell::new(0) };
}

/// Counts a hit if this thread is armed and the `size` bytes at `ptr` hold
/// the needle. Const-initialised thread-locals without destructors never
/// allocate, so this is safe to call from inside the allocator.
fn scan(ptr: *const u8, size: usize) {
    if !ARMED.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let Ok(needle) = NEEDLE.try_with(Cell::get) else {
        return;
    };
    // SAFETY: the allocator is about to free this block of `size` bytes,
    // which it handed out and which nothing else may use any more.
    let block = unsafe { core::slice::from_raw_parts(ptr, size) };
    if block.windows(needle.len()).any(|w| w == needle) {
        let _ = HITS.try_with(|h| h.set(h.get() + 1));
    }
}

/// The system allocator, scanning what it frees.
struct Scanning;

// SAFETY: every method forwards to `System` with the caller's arguments;
// `realloc` is an allocation, a copy and a free, so the old block is
// scanned before it is freed.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        scan(ptr, layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` is non-zero and fits, by realloc's contract.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded contract.
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and
            // distinct; the old one is then freed as `dealloc` would.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

fn keypair(seed: u64) -> StaticKeypair {
    StaticKeypair::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// The static-static secret of `local` and `remote`, as the endpoint
/// computes it for the peer.
fn static_static(local: &StaticKeypair, remote: &StaticKeypair) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(local.secret_bytes());
    let public = x25519_dalek::PublicKey::from(*remote.public().as_bytes());
    secret.diffie_hellman(&public).to_bytes()
}

fn hits() -> u64 {
    HITS.with(Cell::get)
}

#[test]
fn no_freed_block_holds_a_peers_static_static_secret() {
    let local = keypair(1);
    let peers: Vec<StaticKeypair> = (0..300).map(|i| keypair(100 + i)).collect();
    NEEDLE.with(|n| n.set(static_static(&local, &peers[0])));
    let now = Instant::ZERO;

    // The scan finds the secret in a freed block that holds it.
    ARMED.with(|a| a.set(true));
    drop(NEEDLE.with(Cell::get).to_vec());
    ARMED.with(|a| a.set(false));
    assert_eq!(hits(), 1, "the scan sees a freed copy of the secret");
    HITS.with(|h| h.set(0));

    let mut endpoint = Endpoint::new(
        Config::default(),
        local.clone(),
        ChaCha20Rng::seed_from_u64(7),
        GrowableTable::new(),
    );
    ARMED.with(|a| a.set(true));
    // Peer 0 first, then enough others for the table to grow many times.
    let ids: Vec<_> = peers
        .iter()
        .map(|p| endpoint.add_peer(now, p.public()).expect("added"))
        .collect();
    let grown = hits();
    // Removing a peer and dropping the endpoint free the rest.
    assert!(endpoint.remove_peer(ids[0]).is_ok());
    let removed = hits() - grown;
    drop(endpoint);
    let dropped = hits() - grown - removed;
    ARMED.with(|a| a.set(false));
    assert_eq!(
        (grown, removed, dropped),
        (0, 0, 0),
        "freed blocks holding the first peer's static-static secret: \
         (while the table grew, on removal, on drop)"
    );
}

/// A Noise handshake's transport keys erase the handshake hash (the one
/// value of theirs a caller can read) when they are dropped: the freed
/// block does not hold it.
#[test]
fn dropped_transport_keys_leave_no_handshake_hash() {
    use probekey::internals::noise::{Initiator, Responder, StaticDh, message_len};
    let (i, r) = (keypair(1), keypair(2));
    let ss_i = StaticDh::new(&i, &r.public()).expect("contributory");
    let ss_r = StaticDh::new(&r, &i.public()).expect("contributory");
    let eph = |b: u8| x25519_dalek::StaticSecret::from([b; 32]);
    let mut m1 = [0u8; message_len(0)];
    let init = Initiator::write_initiation(b"p", &i, &r.public(), &ss_i, eph(3), b"", &mut m1)
        .expect("written");
    let resp =
        Responder::read_initiation(b"p", &r, &i.public(), &ss_r, &m1, &mut []).expect("read");
    let mut m2 = [0u8; message_len(0)];
    let keys = Box::new(
        resp.write_response(&i.public(), eph(4), b"", &mut m2)
            .expect("written"),
    );
    drop(init);
    NEEDLE.with(|n| n.set(*keys.handshake_hash()));
    HITS.with(|h| h.set(0));
    ARMED.with(|a| a.set(true));
    drop(keys);
    ARMED.with(|a| a.set(false));
    assert_eq!(hits(), 0, "the freed keys held the handshake hash");
}

//! The sans-IO state machine, one per node, holding every peer: the struct,
//! peer management and datagram dispatch (`docs/PROTOCOL.md` §6, §7). The
//! handshake (§4), the probe path (§5), timers and transmission live in
//! the submodules.

mod handshake;
mod probe;
#[cfg(test)]
mod tests;
mod timers;
mod transmit;

use core::fmt;

use rand_core::CryptoRng;

use crate::config::Config;
use crate::error::{AddPeerError, PeerError, RecvError, RejectReason};
use crate::event::{Event, EventQueue, HandshakeReason};
use crate::ids::{PeerId, SessionIndex};
use crate::keys::{PublicKey, StaticKeypair};
use crate::mac::{ChallengeSecret, OwnMac1};
use crate::noise::{Prologue, StaticDh};
use crate::peer::Peer;
use crate::peer::handshake::TokenBucket;
use crate::status::{EndpointStats, PeerStatus};
use crate::table::index::Index;
use crate::table::sealed::Sealed;
use crate::table::{self, PeerTable};
use crate::time::Instant;
use crate::wire::{self, Challenge, Initiation, MessageType, Response, SealedProbe, VERSION};

pub use probe::{MAX_BODY_LEN, Received};
pub use transmit::{Transmit, TransmitKind};

/// Bits of a [`SessionIndex`] that name the peer's slot; the low 12 bits are
/// random (§2.6).
const INDEX_TAG_BITS: u32 = 12;
/// The largest number of peers an endpoint can hold.
pub const MAX_PEERS: usize = 1 << (32 - INDEX_TAG_BITS);

/// One node's side of every link: configuration, static key, peers, and
/// the caller's randomness. See the crate documentation for the drive loop.
#[cfg_attr(feature = "model", derive(Clone))]
pub struct Endpoint<R, T> {
    config: Config,
    local: StaticKeypair,
    mac1: OwnMac1,
    prologue: Prologue,
    rng: R,
    peers: T,
    events: EventQueue,
    stats: EndpointStats,
    /// The key-id index, the deadline heap and the transmit queue over
    /// the peers (§7.4).
    index: Index,
    /// The caller's last reading of its clock (§7).
    latest: Instant,
    /// What our challenges are made from (§4.5).
    challenge: ChallengeSecret,
    /// Diffie-Hellmans left for answering initiations, all peers together
    /// (§4.5).
    dh_budget: TokenBucket,
    /// Whether the probe schedule is on (§7.6).
    schedule: bool,
}

impl<R, T> fmt::Debug for Endpoint<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("public", &self.local.public())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The whole state but the randomness, which the model checker hashes
/// itself ([`Endpoint::rng`]).
#[cfg(feature = "model")]
impl<R, T: core::hash::Hash> core::hash::Hash for Endpoint<R, T> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        let Endpoint {
            config,
            local,
            mac1,
            prologue,
            rng: _,
            peers,
            events,
            stats,
            index,
            latest,
            challenge,
            dh_budget,
            schedule,
        } = self;
        config.hash(h);
        local.hash(h);
        mac1.hash(h);
        prologue.hash(h);
        peers.hash(h);
        events.hash(h);
        stats.hash(h);
        index.hash(h);
        latest.hash(h);
        challenge.hash(h);
        dh_budget.hash(h);
        schedule.hash(h);
    }
}

#[cfg(feature = "model")]
impl<R, T> Endpoint<R, T> {
    /// The caller's randomness, for the model checker's fingerprint.
    pub fn rng(&self) -> &R {
        &self.rng
    }
}

fn reject(reason: RejectReason, peer: Option<PeerId>) -> RecvError {
    RecvError { reason, peer }
}

fn slot_of(index: SessionIndex) -> usize {
    usize::try_from(index.0 >> INDEX_TAG_BITS).unwrap_or(usize::MAX)
}

/// The configured peer in `slot`, if any.
fn peer_at<T: PeerTable>(peers: &mut T, slot: usize) -> Option<&mut Peer> {
    table::get_mut(peers, slot)
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// An endpoint with this configuration, static key, randomness and
    /// peer table (empty: a [`Peer`] is made only by [`Self::add_peer`]).
    pub fn new(config: Config, local: StaticKeypair, mut rng: R, peers: T) -> Self {
        let prologue = Prologue::new(VERSION, config.deployment_id());
        let dh_budget = TokenBucket::new(config.handshake_dh_per_second(), Instant::ZERO);
        let challenge = ChallengeSecret::random(&mut rng);
        let index = Index::new(rng.next_u64());
        Endpoint {
            mac1: OwnMac1::new(&local.public()),
            config,
            local,
            prologue,
            rng,
            peers,
            events: EventQueue::new(),
            stats: EndpointStats::default(),
            index,
            latest: Instant::ZERO,
            challenge,
            dh_budget,
            schedule: false,
        }
    }

    /// Every call that takes `now` passes it here first. Monotonic time is
    /// the caller's contract, but a reading earlier than the last one (a
    /// clock stepped back, a far-ahead reading corrected) must latch
    /// nothing (§7): every peer's stored instants are then brought back to
    /// `now` at the latest, and every peer with a session gets a new one,
    /// so that the peer dates our probes (§6.2) against the clock as it
    /// now reads. A rare path: one comparison otherwise.
    fn observe(&mut self, now: Instant) {
        if now < self.latest {
            let c = self.config;
            self.dh_budget.clamp_time(now);
            for slot in 0..self.peers.slots().len() {
                let Some(p) = peer_at(&mut self.peers, slot) else {
                    continue;
                };
                p.clamp_time(now, &c);
                if p.sessions.current.is_some()
                    && let Some(e) = p.want_handshake(p.id, HandshakeReason::Rekey, now, &c)
                {
                    self.events.push(e);
                }
                self.sync(slot);
            }
        }
        self.latest = now;
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This endpoint's static public key.
    pub fn public_key(&self) -> PublicKey {
        self.local.public()
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            events_dropped: self.events.dropped,
            ..self.stats
        }
    }

    /// Configures a neighbour by its static public key. A handshake with it
    /// starts at the next [`Self::handle_timeout`] (§6.1). Costs one
    /// Diffie-Hellman, done once: the static-static term of every handshake.
    ///
    /// # Errors
    /// See [`AddPeerError`].
    pub fn add_peer(&mut self, now: Instant, public: PublicKey) -> Result<PeerId, AddPeerError> {
        self.observe(now);
        if public == self.local.public() {
            return Err(AddPeerError::OwnKey);
        }
        let key_id = public.key_id();
        if let Some(slot) = self.index.find_key(&self.peers, key_id) {
            let same = table::get(&self.peers, slot).is_some_and(|p| p.public == public);
            let id = table::id(&self.peers, slot);
            return Err(if same {
                AddPeerError::Duplicate(id)
            } else {
                AddPeerError::KeyIdCollision(id)
            });
        }
        let slot = self.free_slot().ok_or(AddPeerError::TableFull)?;
        self.stats.dh_operations += 1;
        let Ok(ss) = StaticDh::new(&self.local, &public) else {
            // The slot goes back to the free list: nothing changed.
            self.index.put_free(&mut self.peers, slot);
            return Err(AddPeerError::LowOrderKey);
        };
        let id = table::id(&self.peers, slot);
        let local_larger = self.local.public() > public;
        let mut peer = Peer::new(id, public, ss, local_larger, &self.config, now);
        peer.schedule.enabled = self.schedule;
        self.events.push(Event::PeerAdded { peer: id });
        if let Some(e) = peer.want_handshake(id, HandshakeReason::NoSession, now, &self.config) {
            self.events.push(e);
        }
        if let Some(s) = self.peers.slots_mut().get_mut(slot) {
            s.put(peer);
        }
        self.index.insert_key(&mut self.peers, key_id, slot);
        self.rearm(slot);
        Ok(id)
    }

    /// A free slot (the last freed, else the first never used: O(1)),
    /// growing the table (to twice its size, so that growth costs O(1) per
    /// peer over time) if there is none.
    fn free_slot(&mut self) -> Option<usize> {
        if let Some(slot) = self.index.take_free(&mut self.peers) {
            return Some(slot);
        }
        let len = self.peers.slots().len();
        let target = len.saturating_mul(2).clamp(1, MAX_PEERS);
        while self.peers.slots().len() < target {
            let before = self.peers.slots().len();
            if !self.peers.grow() || self.peers.slots().len() == before {
                break;
            }
        }
        self.index.take_free(&mut self.peers)
    }

    /// Starts a handshake with `peer` now, as a rekey would (for example
    /// after the operator rotated keys). Does nothing if one is under way.
    ///
    /// # Errors
    /// [`PeerError`] for an id that names no configured peer; nothing
    /// changes.
    pub fn initiate_handshake(&mut self, now: Instant, peer: PeerId) -> Result<(), PeerError> {
        let slot = table::resolve(&self.peers, peer)?;
        self.observe(now);
        if let Some(p) = peer_at(&mut self.peers, slot)
            && let Some(e) = p.want_handshake(peer, HandshakeReason::Rekey, now, &self.config)
        {
            self.events.push(e);
        }
        self.maybe_retry(slot, now);
        self.rearm(slot);
        Ok(())
    }

    /// Forgets a peer and erases all its keys. Its id is never given out
    /// again: the next peer added in its slot has the next generation.
    ///
    /// # Errors
    /// [`PeerError`] for an id that names no configured peer (removed
    /// already, for one); nothing changes.
    pub fn remove_peer(&mut self, peer: PeerId) -> Result<(), PeerError> {
        let slot = table::resolve(&self.peers, peer)?;
        if let Some(key_id) = table::get(&self.peers, slot).map(|p| p.key_id) {
            self.index.remove_key(&mut self.peers, key_id);
        }
        if let Some(s) = self.peers.slots_mut().get_mut(slot) {
            s.clear();
        }
        // No deadline and nothing queued: the indexes drop the slot.
        self.sync(slot);
        self.index.put_free(&mut self.peers, slot);
        Ok(())
    }

    /// Turns the probe schedule on or off, for every peer (§7.6). While on,
    /// the endpoint sends every peer with a session a probe each
    /// `probe_interval` (their deadlines are part of
    /// [`Self::poll_timeout`], the datagrams come from
    /// [`Self::poll_transmit`] as [`TransmitKind::Probe`]), echoes every
    /// probe it validates ([`TransmitKind::Echo`], carrying the first
    /// [`crate::ECHO_BODY_LEN`] bytes of the probe's body), and reports the round
    /// trip of the echoes of its own probes in
    /// [`crate::PeerStatus::echo_rtt`]. The daemon's loop is then: the
    /// socket, [`Self::poll_timeout`], nothing more. Probes and echoes the
    /// daemon seals itself work as before, on or off.
    pub fn set_probe_schedule(&mut self, on: bool, now: Instant) {
        self.observe(now);
        self.schedule = on;
        for slot in 0..self.peers.slots().len() {
            if let Some(p) = peer_at(&mut self.peers, slot) {
                p.schedule.enabled = on;
                p.schedule.next_at = now;
                if !on {
                    p.tx.take(crate::peer::TxQueue::PROBE | crate::peer::TxQueue::ECHO);
                }
                self.rearm(slot);
            }
        }
    }

    /// Whether the probe schedule is on ([`Self::set_probe_schedule`]).
    pub fn probe_schedule(&self) -> bool {
        self.schedule
    }

    /// Stores the caller's value for `peer` (an index into its own table,
    /// say), kept until the peer is removed; zero until set.
    ///
    /// # Errors
    /// [`PeerError`] for an id that names no configured peer.
    pub fn set_user_data(&mut self, peer: PeerId, value: u64) -> Result<(), PeerError> {
        let slot = table::resolve(&self.peers, peer)?;
        if let Some(p) = peer_at(&mut self.peers, slot) {
            p.user_data = value;
        }
        Ok(())
    }

    /// The caller's value for `peer` ([`Self::set_user_data`]).
    ///
    /// # Errors
    /// [`PeerError`] for an id that names no configured peer.
    pub fn user_data(&self, peer: PeerId) -> Result<u64, PeerError> {
        let slot = table::resolve(&self.peers, peer)?;
        Ok(table::get(&self.peers, slot).map_or(0, |p| p.user_data))
    }

    /// The peer configured with this key.
    pub fn peer_by_key(&self, public: &PublicKey) -> Option<PeerId> {
        self.index
            .find_key(&self.peers, public.key_id())
            .and_then(|s| table::get(&self.peers, s))
            .filter(|p| p.public == *public)
            .map(|p| p.id)
    }

    /// Every configured peer.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        table::configured(&self.peers).map(|(_, p)| p.id)
    }

    /// Everything the endpoint reports about a peer, as of `now`; `None`
    /// for an id that names no configured peer ([`Self::peer_error`] says
    /// why).
    pub fn peer_status(&self, peer: PeerId, now: Instant) -> Option<PeerStatus> {
        self.peer(peer).map(|p| p.status(now, &self.config))
    }

    /// Why `peer` names no configured peer, or `Ok` if it names one.
    ///
    /// # Errors
    /// [`PeerError`].
    pub fn peer_error(&self, peer: PeerId) -> Result<(), PeerError> {
        table::resolve(&self.peers, peer).map(|_| ())
    }

    fn peer(&self, peer: PeerId) -> Option<&Peer> {
        let slot = table::resolve(&self.peers, peer).ok()?;
        table::get(&self.peers, slot)
    }

    /// Re-arms the timers of the peer in `slot` after an operation changed
    /// it, and brings the indexes up to date.
    fn rearm(&mut self, slot: usize) {
        let c = self.config;
        if let Some(p) = peer_at(&mut self.peers, slot) {
            p.rearm(&c);
        }
        self.sync(slot);
    }

    /// Brings the deadline heap and the transmit queue up to date with the
    /// peer in `slot` (§7.4), after an operation that may have set one of
    /// its timers or queued a datagram. O(log n).
    fn sync(&mut self, slot: usize) {
        let (next, queued) = table::get(&self.peers, slot)
            .map_or((None, false), |p| (p.timers.next(), !p.tx.is_empty()));
        self.index.set_deadline(&mut self.peers, slot, next);
        self.index.set_queued(&mut self.peers, slot, queued);
    }

    /// The next event, if any. Poll until `None` after every call.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// Handles one datagram from the network, decrypting a probe in place.
    /// Anything that is not a plausible probe is refused before any
    /// cryptography; a forged probe costs at most one AEAD open; a refused
    /// datagram changes nothing but the rejection counters (the buffer
    /// itself may be overwritten where a forged probe's ciphertext was: the
    /// AEAD provider clears what failed to authenticate).
    ///
    /// # Errors
    /// [`RecvError`] with the reason, also counted per peer and endpoint.
    pub fn handle_datagram<'b>(
        &mut self,
        now: Instant,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        self.observe(now);
        let malformed = |e| reject(RejectReason::Malformed(e), None);
        // mac1 (§3.4): refuses, for one HMAC, handshake messages not written
        // for this endpoint.
        let bad_mac1 = reject(RejectReason::BadMac, None);
        let result = match wire::message_type(datagram) {
            Ok(MessageType::Probe) => SealedProbe::parse(datagram)
                .map_err(malformed)
                .and_then(|probe| self.open_probe(now, probe, datagram)),
            Ok(MessageType::Initiation) => match Initiation::parse(datagram) {
                Ok(_) if !self.mac1.check(datagram) => Err(bad_mac1),
                Ok(msg) => self.handle_initiation(now, &msg, datagram),
                Err(e) => Err(malformed(e)),
            },
            Ok(MessageType::Challenge) => match Challenge::parse(datagram) {
                Ok(msg) => self.handle_challenge(&msg, datagram),
                Err(e) => Err(malformed(e)),
            },
            Ok(MessageType::Response) => match Response::parse(datagram) {
                Ok(_) if !self.mac1.check(datagram) => Err(bad_mac1),
                Ok(msg) => self.handle_response(now, &msg, datagram),
                Err(e) => Err(malformed(e)),
            },
            Err(e) => Err(malformed(e)),
        };
        self.after_datagram(&result);
        result
    }

    /// Handles a batch of datagrams (as read with `recvmmsg` or GRO), in
    /// order, calling `each` with every datagram's position in the batch
    /// and its result, exactly as [`Self::handle_datagram`] would return
    /// it. Worth it with many peers: the session state of every probe in
    /// the batch is looked up before the first AEAD, so that the cache
    /// misses overlap instead of each stalling its own open (§7.5).
    /// Allocates nothing.
    pub fn handle_datagrams<D, F>(&mut self, now: Instant, datagrams: &mut [D], mut each: F)
    where
        D: AsMut<[u8]>,
        F: FnMut(usize, Result<Received<'_>, RecvError>),
    {
        self.observe(now);
        const AHEAD: usize = 16;
        for (chunk_no, chunk) in datagrams.chunks_mut(AHEAD).enumerate() {
            let mut reachable = 0usize;
            for d in chunk.iter_mut() {
                reachable += usize::from(self.warm(now, d.as_mut()));
            }
            core::hint::black_box(reachable);
            for (i, d) in chunk.iter_mut().enumerate() {
                each(chunk_no * AHEAD + i, self.handle_datagram(now, d.as_mut()));
            }
        }
    }

    /// What every datagram's result does to the endpoint: the peer's timers
    /// and the indexes follow an accepted one; a refused one is counted.
    fn after_datagram(&mut self, result: &Result<Received<'_>, RecvError>) {
        match result {
            // A probe's timers were re-armed on its path (§5.4).
            Ok(Received::Probe { .. } | Received::Keepalive { .. }) => {}
            Ok(r) => self.rearm(r.peer().slot()),
            Err(e) => {
                self.stats.rejected.count(e.reason);
                if let Some(id) = e.peer
                    && let Some(p) = peer_at(&mut self.peers, id.slot())
                {
                    p.counters.rejected.count(e.reason);
                    self.sync(id.slot());
                }
            }
        }
    }
}

#[cfg(feature = "model")]
const _: () = {
    const fn model_state<T: Clone + core::hash::Hash>() {}
    model_state::<Endpoint<(), crate::table::FixedTable<2>>>();
    #[cfg(feature = "alloc")]
    model_state::<Endpoint<(), crate::table::GrowableTable>>();
};

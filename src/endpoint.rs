//! The sans-IO state machine: one per node, holding every peer
//! (`docs/PROTOCOL.md` §6, §7).

use core::fmt;
use core::time::Duration;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;

use crate::config::Config;
use crate::event::{Event, EventQueue, HandshakeReason, LinkDirection};
use crate::ids::{PeerId, SessionIndex};
use crate::keys::{MacKey, PublicKey, StaticKeypair};
use crate::noise::{self, Initiator, MAX_PROLOGUE_LEN, Responder, StaticDh};
use crate::peer::{
    CachedResponse, InFlight, Peer, PeerStatus, RejectCounters, RejectReason, SESSIONS, TX_ANSWER,
    TX_CONFIRM, TX_INITIATION, TX_RESPONSE, TokenBucket, Want,
};
use crate::session::{COUNTER_LIMIT, REKEY_AFTER_COUNTER, Rank, Role, Session};
use crate::table::PeerTable;
use crate::time::Instant;
use crate::wire::{
    BufferTooSmall, INITIATION_LEN, INITIATION_NOISE_LEN, INITIATION_PAYLOAD_LEN, Initiation,
    MAC1_OFFSET, MAC2_OFFSET, PROBE_HEADER_LEN, PROBE_OVERHEAD, ProbeHeader, ProbeKind,
    RESPONSE_LEN, RESPONSE_NOISE_LEN, RESPONSE_PAYLOAD_LEN, Response, TYPE_INITIATION, TYPE_PROBE,
    TYPE_RESPONSE, VERSION, WireError,
};

/// Bits of a [`SessionIndex`] that name the peer's slot; the low 12 bits are
/// random (§2.4).
const INDEX_TAG_BITS: u32 = 12;
/// The largest number of peers an endpoint can hold.
pub const MAX_PEERS: usize = 1 << (32 - INDEX_TAG_BITS);

/// A datagram refused by [`Endpoint::handle_datagram`]. Nothing but the
/// rejection counters changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecvError {
    /// Why.
    pub reason: RejectReason,
    /// The peer it is attributed to, when the datagram named a live
    /// session or a configured key.
    pub peer: Option<PeerId>,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(p) => write!(f, "datagram from peer {p} refused: {}", self.reason),
            None => write!(f, "datagram refused: {}", self.reason),
        }
    }
}

impl core::error::Error for RecvError {}

/// Why [`Endpoint::seal`] wrote nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
    /// No such peer.
    UnknownPeer,
    /// No session yet; a handshake is under way (§6.1).
    NoSession,
    /// [`ProbeKind::Keepalive`] is reserved to the crate.
    ReservedKind,
    /// The body does not fit in a datagram.
    BodyTooLong,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::BufferTooSmall(e) => e.fmt(f),
            SealError::UnknownPeer => f.write_str("unknown peer"),
            SealError::NoSession => f.write_str("no session with the peer yet"),
            SealError::ReservedKind => f.write_str("keepalives are sent by the crate only"),
            SealError::BodyTooLong => f.write_str("probe body longer than 65000 bytes"),
        }
    }
}

impl core::error::Error for SealError {}

/// Why [`Endpoint::add_peer`] refused a key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddPeerError {
    /// The key is this endpoint's own.
    OwnKey,
    /// The key is already configured.
    Duplicate(PeerId),
    /// Another configured key has the same 8-byte key id.
    KeyIdCollision(PeerId),
    /// The key is of low order: no Diffie-Hellman with it is contributory.
    LowOrderKey,
    /// The peer table is full.
    TableFull,
}

impl fmt::Display for AddPeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddPeerError::OwnKey => f.write_str("peer key is the endpoint's own key"),
            AddPeerError::Duplicate(p) => write!(f, "peer key already configured as peer {p}"),
            AddPeerError::KeyIdCollision(p) => write!(f, "peer key id collides with peer {p}"),
            AddPeerError::LowOrderKey => f.write_str("peer key is of low order"),
            AddPeerError::TableFull => f.write_str("peer table full"),
        }
    }
}

impl core::error::Error for AddPeerError {}

/// What a valid datagram was.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// A probe or echo from `peer`, authenticated; `body` is its decrypted
    /// content, inside the caller's buffer.
    Probe {
        /// Who sent it.
        peer: PeerId,
        /// [`ProbeKind::Probe`] or [`ProbeKind::Echo`].
        kind: ProbeKind,
        /// The body.
        body: &'a [u8],
    },
    /// A keepalive from `peer`, authenticated and consumed by the crate (it
    /// confirms a new session and counts as a validated probe).
    Keepalive {
        /// Who sent it.
        peer: PeerId,
    },
    /// A handshake message from `peer`, consumed by the crate. Call
    /// [`Endpoint::poll_transmit`]: there may be an answer to send.
    Handshake {
        /// Who sent it.
        peer: PeerId,
    },
}

/// What [`Endpoint::poll_transmit`] wrote.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransmitKind {
    /// A handshake initiation (first or retransmitted).
    Initiation,
    /// A handshake response (first or retransmitted).
    Response,
    /// A keepalive probe confirming a new session to its responder.
    Keepalive,
}

/// A datagram to send to `peer`, written at the start of the caller's
/// buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The destination.
    pub peer: PeerId,
    /// Bytes written.
    pub len: usize,
    /// What it is.
    pub kind: TransmitKind,
}

/// Endpoint-wide counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Every refused datagram, attributed or not.
    pub rejected: RejectCounters,
    /// X25519 operations with a variable base (handshakes and peer setup).
    pub dh_operations: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Probes that validated.
    pub probes_opened: u64,
    /// Probes sealed.
    pub probes_sealed: u64,
}

/// The largest probe body (a probe must fit in one UDP datagram).
pub const MAX_BODY_LEN: usize = 65_000;

/// One node's side of every link: configuration, static key, peers, and
/// the caller's randomness. See the crate documentation for the drive loop.
pub struct Endpoint<R, T> {
    config: Config,
    local: StaticKeypair,
    mac1_to_us: MacKey,
    prologue: [u8; MAX_PROLOGUE_LEN],
    prologue_len: usize,
    rng: R,
    peers: T,
    events: EventQueue,
    stats: EndpointStats,
    tx_pending: usize,
}

impl<R, T> fmt::Debug for Endpoint<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("public", &self.local.public())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn reject(reason: RejectReason, peer: Option<PeerId>) -> RecvError {
    RecvError { reason, peer }
}

fn u32_from(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn u64_from(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn peer_id(slot: usize) -> PeerId {
    PeerId(u32::try_from(slot).unwrap_or(u32::MAX))
}

fn slot_of(index: SessionIndex) -> usize {
    usize::try_from(index.0 >> INDEX_TAG_BITS).unwrap_or(usize::MAX)
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// An endpoint with this configuration, static key, randomness and
    /// (usually empty) peer table.
    pub fn new(config: Config, local: StaticKeypair, rng: R, peers: T) -> Self {
        let mut prologue = [0u8; MAX_PROLOGUE_LEN];
        let prologue_len = noise::prologue(VERSION, config.deployment_id(), &mut prologue);
        let mut ep = Endpoint {
            mac1_to_us: MacKey::for_receiver(&local.public()),
            config,
            local,
            prologue,
            prologue_len,
            rng,
            peers,
            events: EventQueue::new(),
            stats: EndpointStats::default(),
            tx_pending: 0,
        };
        ep.tx_pending = ep
            .peers
            .slots()
            .iter()
            .flatten()
            .filter(|p| p.tx != 0)
            .count();
        ep
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
        if public == self.local.public() {
            return Err(AddPeerError::OwnKey);
        }
        let key_id = public.key_id();
        for (slot, p) in self.peers.slots().iter().enumerate() {
            if let Some(p) = p {
                if p.public == public {
                    return Err(AddPeerError::Duplicate(peer_id(slot)));
                }
                if p.key_id == key_id {
                    return Err(AddPeerError::KeyIdCollision(peer_id(slot)));
                }
            }
        }
        let slot = match self.peers.slots().iter().position(Option::is_none) {
            Some(s) => s,
            None if self.peers.slots().len() < MAX_PEERS && self.peers.grow() => {
                self.peers.slots().len() - 1
            }
            None => return Err(AddPeerError::TableFull),
        };
        if slot >= MAX_PEERS {
            return Err(AddPeerError::TableFull);
        }
        self.stats.dh_operations += 1;
        let ss = StaticDh::new(&self.local, &public).map_err(|_| AddPeerError::LowOrderKey)?;
        let id = peer_id(slot);
        let peer = Peer {
            public,
            key_id,
            mac1_to_peer: MacKey::for_receiver(&public),
            mac2: ss.mac2_key(),
            ss,
            local_larger: self.local.public() > public,
            sessions: [None, None, None],
            current: None,
            in_flight: None,
            want: None,
            unconfirmed: None,
            cached_response: None,
            last_initiation: None,
            max_generation: 0,
            bucket: TokenBucket::new(self.config.handshake_rate_burst(), now),
            added_at: now,
            inbound_last: None,
            outbound_last: None,
            inbound_fresh: false,
            outbound_fresh: false,
            last_established_at: None,
            ack_index: SessionIndex(0),
            ack_counter: 0,
            tx: 0,
            rejected: RejectCounters::default(),
            handshakes_started: 0,
            handshakes_completed: 0,
            last_handshake_latency: None,
            probes_sealed: 0,
            probes_opened: 0,
        };
        if let Some(s) = self.peers.slots_mut().get_mut(slot) {
            *s = Some(peer);
        }
        self.want_handshake(slot, now, HandshakeReason::NoSession);
        Ok(id)
    }

    /// Starts a handshake with `peer` now, as a rekey would (for example
    /// after the operator rotated keys). Does nothing if one is under way.
    /// Returns false if there is no such peer.
    pub fn initiate_handshake(&mut self, now: Instant, peer: PeerId) -> bool {
        if self.peer(peer).is_none() {
            return false;
        }
        self.want_handshake(peer.slot(), now, HandshakeReason::Rekey);
        self.maybe_retry(peer.slot(), now);
        true
    }

    /// Forgets a peer and erases all its keys. Returns false if there was
    /// no such peer.
    pub fn remove_peer(&mut self, peer: PeerId) -> bool {
        match self.peers.slots_mut().get_mut(peer.slot()) {
            Some(slot @ Some(_)) => {
                if slot.as_ref().is_some_and(|p| p.tx != 0) {
                    self.tx_pending -= 1;
                }
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// The peer configured with this key.
    pub fn peer_by_key(&self, public: &PublicKey) -> Option<PeerId> {
        self.peers
            .slots()
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.public == *public))
            .map(peer_id)
    }

    /// Every configured peer.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers
            .slots()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .map(|(i, _)| peer_id(i))
    }

    /// Everything the endpoint reports about a peer, as of `now`.
    pub fn peer_status(&self, peer: PeerId, now: Instant) -> Option<PeerStatus> {
        self.peer(peer).map(|p| p.status(now))
    }

    fn peer(&self, peer: PeerId) -> Option<&Peer> {
        self.peers.slots().get(peer.slot()).and_then(Option::as_ref)
    }

    /// The next event, if any. Poll until `None` after every call.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When [`Self::handle_timeout`] must next be called; `None` when there
    /// are no peers. Already-due instants are returned as they are.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .slots()
            .iter()
            .flatten()
            .map(|p| self.peer_deadline(p))
            .min()
    }

    fn peer_deadline(&self, p: &Peer) -> Instant {
        let c = &self.config;
        let mut d = Instant::MAX;
        for s in p.sessions.iter().flatten() {
            d = d.min(s.next_deadline(c));
        }
        if let Some(r) = &p.cached_response {
            d = d.min(r.created_at + c.handshake_max_age());
        }
        if p.inbound_fresh
            && let Some(t) = p.inbound_last
        {
            d = d.min(t + c.stale_after());
        }
        if p.outbound_fresh
            && let Some(t) = p.outbound_last
        {
            d = d.min(t + c.stale_after());
        }
        match &p.want {
            Some(w) => d = d.min(w.retry_at),
            None => {
                if let Some(s) = p.current() {
                    d = d.min(s.created_at + rekey_after(c, s.role));
                } else {
                    d = Instant::ZERO;
                }
                d = d.min(p.stale_reference(p.inbound_last) + c.stale_after());
                d = d.min(p.stale_reference(p.outbound_last) + c.stale_after());
            }
        }
        d
    }

    /// Runs every timer due at `now`: expiries, staleness, handshake
    /// triggers and retries. Cheap to call early or often.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..self.peers.slots().len() {
            if self.peers.slots()[slot].is_some() {
                self.peer_timeout(slot, now);
            }
        }
    }

    fn peer_timeout(&mut self, slot: usize, now: Instant) {
        let id = peer_id(slot);
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return;
        };
        // Expiries (§6.3).
        for i in 0..SESSIONS {
            let alive = match &mut p.sessions[i] {
                Some(s) => {
                    s.expire_keys(now);
                    s.alive(now, &c)
                }
                None => true,
            };
            if !alive {
                p.erase(i);
            }
        }
        if p.current.is_none() {
            p.current = best_proven(p);
        }
        if p.cached_response
            .as_ref()
            .is_some_and(|r| now >= r.created_at + c.handshake_max_age())
        {
            p.cached_response = None;
        }
        // Health (§6.2).
        if p.inbound_fresh && p.inbound_last.is_none_or(|t| now >= t + c.stale_after()) {
            p.inbound_fresh = false;
            self.events.push(Event::HealthChanged {
                peer: id,
                direction: LinkDirection::Inbound,
                fresh: false,
            });
        }
        if p.outbound_fresh && p.outbound_last.is_none_or(|t| now >= t + c.stale_after()) {
            p.outbound_fresh = false;
            self.events.push(Event::HealthChanged {
                peer: id,
                direction: LinkDirection::Outbound,
                fresh: false,
            });
        }
        // Triggers (§6.1).
        if p.want.is_none() {
            let reason = match p.current() {
                None => Some(HandshakeReason::NoSession),
                Some(s)
                    if now >= s.created_at + rekey_after(&c, s.role)
                        || s.send_counter() >= REKEY_AFTER_COUNTER
                        || s.send_epoch().0 == u32::MAX =>
                {
                    Some(HandshakeReason::Rekey)
                }
                Some(_) if now >= p.stale_reference(p.inbound_last) + c.stale_after() => {
                    Some(HandshakeReason::InboundStale)
                }
                Some(_) if now >= p.stale_reference(p.outbound_last) + c.stale_after() => {
                    Some(HandshakeReason::OutboundStale)
                }
                Some(_) => None,
            };
            if let Some(reason) = reason {
                self.want_handshake(slot, now, reason);
            }
        }
        self.maybe_retry(slot, now);
    }

    fn want_handshake(&mut self, slot: usize, now: Instant, reason: HandshakeReason) {
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return;
        };
        if p.want.is_some() {
            return;
        }
        p.want = Some(Want {
            reason,
            since: now,
            attempts: 0,
            retry_at: now,
        });
        p.handshakes_started += 1;
        self.events.push(Event::HandshakeStarted {
            peer: peer_id(slot),
            reason,
        });
    }

    /// Sends the in-flight initiation again, or a new one, when the retry
    /// timer is due (§4.3). Never gives up.
    fn maybe_retry(&mut self, slot: usize, now: Instant) {
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return;
        };
        let Some(want) = &p.want else { return };
        if now < want.retry_at {
            return;
        }
        // A response consumes its initiation (§4.3): after one, the next
        // retry is a new initiation.
        let stale_flight = p
            .in_flight
            .as_ref()
            .is_none_or(|f| now >= f.created_at + c.handshake_max_age());
        if stale_flight {
            p.in_flight = None;
            let sender_index = alloc_index(&mut self.rng, slot, p);
            let generation = p.max_generation.saturating_add(1);
            p.max_generation = generation;
            let mut payload = [0u8; INITIATION_PAYLOAD_LEN];
            payload[..4].copy_from_slice(&sender_index.0.to_be_bytes());
            payload[4..].copy_from_slice(&generation.to_be_bytes());
            let mut msg = Initiation {
                sender_index,
                key_id: self.local.public().key_id(),
                noise: [0; INITIATION_NOISE_LEN],
                mac1: [0; 16],
                mac2: [0; 16],
            };
            let ephemeral = StaticSecret::random_from_rng(&mut self.rng);
            let written = Initiator::write_initiation(
                &self.prologue[..self.prologue_len],
                &self.local,
                &p.public,
                &p.ss,
                ephemeral,
                &payload,
                &mut msg.noise,
                &mut self.stats.dh_operations,
            );
            // Only a low-order ephemeral could fail, and it cannot be
            // generated; if it ever is, the next retry draws a new one.
            if let Ok(noise) = written {
                let mut bytes = [0u8; INITIATION_LEN];
                if msg.emit(&mut bytes).is_ok() {
                    seal_macs(p, &mut bytes);
                    p.in_flight = Some(InFlight {
                        noise,
                        sender_index,
                        generation,
                        message: bytes,
                        created_at: now,
                        first_sent_at: now,
                    });
                }
            }
        }
        let Some(want) = &mut p.want else { return };
        want.attempts = want.attempts.saturating_add(1);
        let delay = backoff(&c, want.attempts, self.rng.next_u32());
        want.retry_at = now + delay;
        if p.in_flight.is_some() {
            queue_tx(&mut self.tx_pending, p, TX_INITIATION);
        }
    }

    /// Writes the next handshake message or keepalive to send into `buf`.
    /// Call until it returns `Ok(None)` after every other call.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the size needed; the datagram stays queued.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<Transmit>, BufferTooSmall> {
        // `now` is part of the contract (every call that changes state takes
        // it) though no transmission depends on it yet.
        let _ = now;
        if self.tx_pending == 0 {
            return Ok(None);
        }
        for slot in 0..self.peers.slots().len() {
            let Some(p) = peer_at(&mut self.peers, slot) else {
                continue;
            };
            if p.tx == 0 {
                continue;
            }
            let result = if p.tx & (TX_CONFIRM | TX_ANSWER) != 0 {
                let needed = PROBE_OVERHEAD;
                let out = buf.get_mut(..needed).ok_or(BufferTooSmall {
                    required_size: needed,
                })?;
                // A confirmation request goes under the session awaiting
                // the peer's confirmation (§4.3), an answer under the
                // current one (§4.4).
                let under = if p.tx & TX_CONFIRM != 0 {
                    p.tx &= !TX_CONFIRM;
                    p.unconfirmed_slot().or(p.current)
                } else {
                    p.tx &= !TX_ANSWER;
                    p.current
                };
                let (ack_index, ack_counter) = (p.ack_index, p.ack_counter);
                let sealed = under
                    .and_then(|i| p.sessions[i].as_mut())
                    .and_then(|s| s.seal(ProbeKind::Keepalive, ack_index, ack_counter, out));
                if sealed.is_some() {
                    p.probes_sealed += 1;
                    self.stats.probes_sealed += 1;
                }
                sealed.map(|_| (needed, TransmitKind::Keepalive))
            } else if p.tx & TX_RESPONSE != 0 {
                let out = buf.get_mut(..RESPONSE_LEN).ok_or(BufferTooSmall {
                    required_size: RESPONSE_LEN,
                })?;
                p.tx &= !TX_RESPONSE;
                p.cached_response.as_ref().map(|r| {
                    out.copy_from_slice(&r.message);
                    (RESPONSE_LEN, TransmitKind::Response)
                })
            } else {
                let out = buf.get_mut(..INITIATION_LEN).ok_or(BufferTooSmall {
                    required_size: INITIATION_LEN,
                })?;
                p.tx &= !TX_INITIATION;
                p.in_flight.as_mut().map(|f| {
                    out.copy_from_slice(&f.message);
                    (INITIATION_LEN, TransmitKind::Initiation)
                })
            };
            if p.tx == 0 {
                self.tx_pending -= 1;
            }
            if let Some((len, kind)) = result {
                return Ok(Some(Transmit {
                    peer: peer_id(slot),
                    len,
                    kind,
                }));
            }
        }
        Ok(None)
    }

    /// Seals a probe (or echo) for `peer` into `out` and returns its length:
    /// `body.len() + `[`PROBE_OVERHEAD`]. Allocates nothing.
    ///
    /// # Errors
    /// See [`SealError`]; nothing is written or consumed on error.
    pub fn seal(
        &mut self,
        now: Instant,
        peer: PeerId,
        kind: ProbeKind,
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        if kind == ProbeKind::Keepalive {
            return Err(SealError::ReservedKind);
        }
        if body.len() > MAX_BODY_LEN {
            return Err(SealError::BodyTooLong);
        }
        let c = &self.config;
        let p = self
            .peers
            .slots_mut()
            .get_mut(peer.slot())
            .and_then(Option::as_mut)
            .ok_or(SealError::UnknownPeer)?;
        let needed = body.len() + PROBE_OVERHEAD;
        let (ack_index, ack_counter) = (p.ack_index, p.ack_counter);
        let Some(s) = p.current_mut() else {
            return Err(SealError::NoSession);
        };
        let out = out
            .get_mut(..needed)
            .ok_or(SealError::BufferTooSmall(BufferTooSmall {
                required_size: needed,
            }))?;
        if s.send_counter() >= COUNTER_LIMIT {
            return Err(SealError::NoSession);
        }
        // Rotation is checked where it is used (§5.3): lazily, at seal time.
        let limits = (
            c.rotate_after_time(),
            c.rotate_after_packets(),
            c.epoch_grace(),
        );
        let rotated = s.maybe_rotate(now, limits);
        out[PROBE_HEADER_LEN..needed - crate::aead::TAG_LEN].copy_from_slice(body);
        if s.seal(kind, ack_index, ack_counter, out).is_none() {
            return Err(SealError::NoSession);
        }
        p.probes_sealed += 1;
        self.stats.probes_sealed += 1;
        if let Some(epoch) = rotated {
            self.events.push(Event::EpochRotated {
                peer,
                direction: LinkDirection::Outbound,
                epoch,
            });
        }
        Ok(needed)
    }

    /// Handles one datagram from the network, decrypting a probe in place.
    /// Anything that is not a plausible probe is refused before any
    /// cryptography; a forged probe costs at most one AEAD open; a refused
    /// datagram changes nothing but the rejection counters.
    ///
    /// # Errors
    /// [`RecvError`] with the reason, also counted per peer and endpoint.
    pub fn handle_datagram<'b>(
        &mut self,
        now: Instant,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        let result = match datagram.first() {
            Some(&TYPE_PROBE) => self.open_probe(now, datagram),
            Some(&TYPE_INITIATION) => self.handle_initiation(now, datagram),
            Some(&TYPE_RESPONSE) => self.handle_response(now, datagram),
            Some(&t) => Err(reject(
                RejectReason::Malformed(WireError::UnknownType(t)),
                None,
            )),
            None => Err(reject(RejectReason::Malformed(WireError::Truncated), None)),
        };
        if let Err(e) = &result {
            self.stats.rejected.count(e.reason);
            if let Some(p) = e
                .peer
                .and_then(|id| self.peers.slots_mut().get_mut(id.slot()))
                .and_then(Option::as_mut)
            {
                p.rejected.count(e.reason);
            }
        }
        result
    }

    fn open_probe<'b>(
        &mut self,
        now: Instant,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        let hdr =
            ProbeHeader::parse(datagram).map_err(|e| reject(RejectReason::Malformed(e), None))?;
        if hdr.kind == ProbeKind::Keepalive && datagram.len() != PROBE_OVERHEAD {
            return Err(reject(
                RejectReason::Malformed(WireError::BadLength {
                    message_type: TYPE_PROBE,
                    actual: datagram.len(),
                }),
                None,
            ));
        }
        let slot = slot_of(hdr.receiver_index);
        let c = &self.config;
        let p = peer_at(&mut self.peers, slot).ok_or(reject(RejectReason::UnknownSession, None))?;
        let id = peer_id(slot);
        let si = p
            .find_session(hdr.receiver_index)
            .filter(|&i| p.sessions[i].as_ref().is_some_and(|s| s.alive(now, c)))
            .ok_or(reject(RejectReason::UnknownSession, None))?;
        if hdr.counter >= COUNTER_LIMIT {
            return Err(reject(RejectReason::Replay, Some(id)));
        }
        let len = datagram.len();
        let (head, rest) = datagram.split_at_mut(PROBE_HEADER_LEN);
        let (body, tag) = rest.split_at_mut(len - PROBE_OVERHEAD);
        let mut tag_bytes = [0u8; crate::aead::TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let Some(session) = p.sessions[si].as_mut() else {
            return Err(reject(RejectReason::UnknownSession, None));
        };
        let advanced = session
            .open(
                now,
                hdr.epoch,
                hdr.counter,
                head,
                body,
                &tag_bytes,
                c.epoch_grace(),
            )
            .map_err(|e| {
                let reason = match e {
                    crate::session::OpenError::EpochOutsideWindow => {
                        RejectReason::EpochOutsideWindow
                    }
                    crate::session::OpenError::Replay => RejectReason::Replay,
                    crate::session::OpenError::BadTag => RejectReason::BadTag,
                };
                reject(reason, Some(id))
            })?;
        self.stats.probes_opened += 1;
        if after_validation(p, id, si, &hdr, advanced, now, c, &mut self.events) {
            queue_tx(&mut self.tx_pending, p, TX_ANSWER);
        }
        if hdr.kind == ProbeKind::Keepalive {
            return Ok(Received::Keepalive { peer: id });
        }
        Ok(Received::Probe {
            peer: id,
            kind: hdr.kind,
            body,
        })
    }

    /// mac1 (§3.4): refuses, for one HMAC, handshake messages not written
    /// for this endpoint.
    fn check_mac1(&self, datagram: &[u8], mac1: &[u8]) -> Result<(), RecvError> {
        if self.mac1_to_us.verify(&datagram[..MAC1_OFFSET], mac1) {
            Ok(())
        } else {
            Err(reject(RejectReason::BadMac, None))
        }
    }

    fn handle_initiation<'b>(
        &mut self,
        now: Instant,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        let msg =
            Initiation::parse(datagram).map_err(|e| reject(RejectReason::Malformed(e), None))?;
        self.check_mac1(datagram, &msg.mac1)?;
        let slot = self
            .peers
            .slots()
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.key_id == msg.key_id))
            .ok_or(reject(RejectReason::UnknownPeer, None))?;
        let id = peer_id(slot);
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return Err(reject(RejectReason::UnknownPeer, None));
        };
        check_mac2(p, id, datagram, &msg.mac2)?;
        // Exact duplicates are recognised by the hash of the whole message,
        // so a copy with any field altered is processed (and refused) as new.
        let fingerprint = initiation_fingerprint(datagram);
        if p.last_initiation == Some(fingerprint) {
            // A retransmission (or replay) of the initiation we last
            // answered: resend the same response while it is pending, at no
            // Diffie-Hellman cost (§4.3).
            if p.cached_response
                .as_ref()
                .is_some_and(|r| r.initiation == fingerprint)
            {
                queue_tx(&mut self.tx_pending, p, TX_RESPONSE);
                return Ok(Received::Handshake { peer: id });
            }
            return Err(reject(RejectReason::Replay, Some(id)));
        }
        if !p.bucket.try_take(now, &c) {
            return Err(reject(RejectReason::RateLimited, Some(id)));
        }
        let mut payload = [0u8; INITIATION_PAYLOAD_LEN];
        let responder = Responder::read_initiation(
            &self.prologue[..self.prologue_len],
            &self.local,
            &p.public,
            &p.ss,
            &msg.noise,
            &mut payload,
            &mut self.stats.dh_operations,
        )
        .map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        // The clear index must be the authenticated one (§4.2).
        if u32_from(&payload) != msg.sender_index.0 {
            return Err(reject(RejectReason::BadTag, Some(id)));
        }
        let proposal = u64_from(&payload[4..]);
        let generation = proposal.max(p.max_generation.saturating_add(1));
        let local_index = alloc_index(&mut self.rng, slot, p);
        let mut resp_payload = [0u8; RESPONSE_PAYLOAD_LEN];
        resp_payload[..4].copy_from_slice(&local_index.0.to_be_bytes());
        resp_payload[4..8].copy_from_slice(&msg.sender_index.0.to_be_bytes());
        resp_payload[8..].copy_from_slice(&generation.to_be_bytes());
        let mut resp = Response {
            sender_index: local_index,
            receiver_index: msg.sender_index,
            noise: [0; RESPONSE_NOISE_LEN],
            mac1: [0; 16],
            mac2: [0; 16],
        };
        let e = StaticSecret::random_from_rng(&mut self.rng);
        let keys = responder
            .write_response(
                &p.public,
                e,
                &resp_payload,
                &mut resp.noise,
                &mut self.stats.dh_operations,
            )
            .map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        let mut bytes = [0u8; RESPONSE_LEN];
        if resp.emit(&mut bytes).is_err() {
            return Err(reject(
                RejectReason::Malformed(WireError::Reserved),
                Some(id),
            ));
        }
        seal_macs(p, &mut bytes);
        // Commit: nothing above changed the peer but the token bucket.
        p.max_generation = generation;
        let rank = Rank {
            generation,
            initiator_larger: !p.local_larger,
        };
        let session = Session::new(
            &keys,
            Role::Responder,
            rank,
            local_index,
            msg.sender_index,
            now,
        );
        let i = p.slot_for_new(true);
        p.install(i, session);
        if p.current.is_none() {
            p.current = best_proven(p);
        }
        p.cached_response = Some(CachedResponse {
            initiation: fingerprint,
            message: bytes,
            created_at: now,
        });
        p.last_initiation = Some(fingerprint);
        queue_tx(&mut self.tx_pending, p, TX_RESPONSE);
        Ok(Received::Handshake { peer: id })
    }

    fn handle_response<'b>(
        &mut self,
        now: Instant,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        let msg =
            Response::parse(datagram).map_err(|e| reject(RejectReason::Malformed(e), None))?;
        self.check_mac1(datagram, &msg.mac1)?;
        let slot = slot_of(msg.receiver_index);
        let c = self.config;
        let p = peer_at(&mut self.peers, slot).ok_or(reject(RejectReason::UnknownSession, None))?;
        // The session an earlier response to this initiation made, if any.
        let used = p.find_session(msg.receiver_index);
        let in_flight = p
            .in_flight
            .as_ref()
            .is_some_and(|f| f.sender_index == msg.receiver_index);
        if used.is_none() && !in_flight {
            return Err(reject(RejectReason::UnknownSession, None));
        }
        let id = peer_id(slot);
        check_mac2(p, id, datagram, &msg.mac2)?;
        // A response to an initiation already answered (§4.3): it is never
        // read again, since its keys would be the session's keys with the
        // counters back at zero. A copy of the one we read, while the
        // session awaits confirmation, earns another keepalive.
        if let Some(i) = used {
            let copy = p.sessions[i]
                .as_ref()
                .is_some_and(|s| s.remote_index == msg.sender_index);
            if copy && p.unconfirmed_slot() == Some(i) {
                queue_tx(&mut self.tx_pending, p, TX_CONFIRM);
                return Ok(Received::Handshake { peer: id });
            }
            return Err(reject(RejectReason::Replay, Some(id)));
        }
        if !p.bucket.try_take(now, &c) {
            return Err(reject(RejectReason::RateLimited, Some(id)));
        }
        let Some(flight) = &p.in_flight else {
            return Err(reject(RejectReason::UnknownSession, None));
        };
        let mut payload = [0u8; RESPONSE_PAYLOAD_LEN];
        let keys = flight
            .noise
            .read_response(
                &self.local,
                &msg.noise,
                &mut payload,
                &mut self.stats.dh_operations,
            )
            .map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        let generation = u64_from(&payload[8..]);
        if u32_from(&payload) != msg.sender_index.0
            || u32_from(&payload[4..]) != msg.receiver_index.0
            || generation < flight.generation
        {
            return Err(reject(RejectReason::BadTag, Some(id)));
        }
        let latency = now.saturating_duration_since(flight.first_sent_at);
        p.max_generation = p.max_generation.max(generation);
        let rank = Rank {
            generation,
            initiator_larger: p.local_larger,
        };
        let session = Session::new(
            &keys,
            Role::Initiator,
            rank,
            msg.receiver_index,
            msg.sender_index,
            now,
        );
        // The response consumes the initiation: its ephemeral secret is
        // erased now, and no other response to it will be read.
        let first_sent_at = flight.first_sent_at;
        p.in_flight = None;
        let i = p.slot_for_new(false);
        p.install(i, session);
        let better = p.sessions[i]
            .as_ref()
            .is_some_and(|new| p.current().is_none_or(|cur| new.outranks(cur)));
        if better {
            // The handshake is over only when a probe of the peer's
            // validates under the new session (§4.3): the responder may
            // have lost it before it was confirmed. Until then a working
            // current session stays in use; with none, the new one is used
            // at once, having nothing to lose. A keepalive under it asks the
            // responder to confirm.
            // SESSIONS is 3: a slot fits in a byte.
            p.unconfirmed = u8::try_from(i).ok().map(|slot| (slot, first_sent_at));
            if !p.current_confirmed() {
                p.current = Some(i);
                established(p, id, Role::Initiator, latency, now, &mut self.events);
            }
            queue_tx(&mut self.tx_pending, p, TX_CONFIRM);
        }
        // Whether or not it is used, the retry timer runs on: an unconfirmed
        // or outranked session is followed by a new initiation, of a higher
        // generation, one backoff interval from now.
        if let Some(want) = &mut p.want {
            want.retry_at = now + backoff(&c, want.attempts, self.rng.next_u32());
        }
        Ok(Received::Handshake { peer: id })
    }
}

/// When a session is renewed: the responder waits longer than the
/// initiator so the two sides do not cross (§4.6).
fn rekey_after(c: &Config, role: Role) -> Duration {
    match role {
        Role::Initiator => c.rekey_after_time(),
        Role::Responder => c.rekey_after_time() + c.stale_after(),
    }
}

/// Writes mac1 (§3.4) and mac2 (§3.5) of a handshake message to `p`.
fn seal_macs(p: &Peer, bytes: &mut [u8]) {
    let mac1 = p.mac1_to_peer.compute(&bytes[..MAC1_OFFSET]);
    bytes[MAC1_OFFSET..MAC2_OFFSET].copy_from_slice(&mac1);
    let mac2 = p.mac2.compute(&bytes[..MAC2_OFFSET]);
    bytes[MAC2_OFFSET..MAC2_OFFSET + 16].copy_from_slice(&mac2);
}

/// mac2 (§3.5): only the two peers hold its key, so a handshake message
/// forged by anyone else stops here, before the rate limit and any
/// Diffie-Hellman.
fn check_mac2(p: &Peer, id: PeerId, datagram: &[u8], mac2: &[u8]) -> Result<(), RecvError> {
    if p.mac2.verify(&datagram[..MAC2_OFFSET], mac2) {
        Ok(())
    } else {
        Err(reject(RejectReason::BadMac, Some(id)))
    }
}

/// The configured peer in `slot`, if any.
fn peer_at<T: PeerTable>(peers: &mut T, slot: usize) -> Option<&mut Peer> {
    peers.slots_mut().get_mut(slot).and_then(Option::as_mut)
}

/// Marks a datagram of kind `bit` to send to `p`, keeping the count of
/// peers with something to send.
fn queue_tx(tx_pending: &mut usize, p: &mut Peer, bit: u8) {
    if p.tx == 0 {
        *tx_pending += 1;
    }
    p.tx |= bit;
}

/// SHA-256 of a whole initiation datagram.
fn initiation_fingerprint(datagram: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(datagram));
    out
}

/// The highest-ranked proven session, the one to send on.
fn best_proven(p: &Peer) -> Option<usize> {
    let mut best: Option<(usize, Rank)> = None;
    for (i, s) in p.sessions.iter().enumerate() {
        if let Some(s) = s
            && s.proven
            && best.is_none_or(|(_, r)| s.rank > r)
        {
            best = Some((i, s.rank));
        }
    }
    best.map(|(i, _)| i)
}

fn established(
    p: &mut Peer,
    id: PeerId,
    role: Role,
    latency: Duration,
    now: Instant,
    events: &mut EventQueue,
) {
    if role == Role::Responder {
        // Proven by the initiator's probe: nothing left to retry, and a
        // session of ours still awaiting confirmation is superseded.
        p.want = None;
        p.in_flight = None;
        p.unconfirmed = None;
    }
    p.last_established_at = Some(now);
    p.handshakes_completed += 1;
    p.last_handshake_latency = Some(latency);
    events.push(Event::SessionEstablished {
        peer: id,
        role,
        latency,
    });
}

/// Everything a validated probe proves (§6.2): the session is held by the
/// peer, the peer is heard, and whatever it acknowledges of ours. Returns
/// true when a keepalive should answer: the initiator's keepalive just
/// proved a new session, and one back lets the initiator validate (and see
/// its probes acknowledged) without waiting for our next probe (§4.4).
#[allow(clippy::too_many_arguments)]
fn after_validation(
    p: &mut Peer,
    id: PeerId,
    si: usize,
    hdr: &ProbeHeader,
    advanced: bool,
    now: Instant,
    c: &Config,
    events: &mut EventQueue,
) -> bool {
    p.probes_opened += 1;
    let Some(s) = p.sessions[si].as_mut() else {
        return false;
    };
    let (proven_now, created_at, role, remote_index, recv_next) = (
        !s.proven,
        s.created_at,
        s.role,
        s.remote_index,
        s.recv_next(),
    );
    s.proven = true;
    if proven_now {
        p.cached_response = None;
    }
    let mut latency = now.saturating_duration_since(created_at);
    if let Some((slot, first_sent_at)) = p.unconfirmed
        && usize::from(slot) == si
    {
        // The peer holds the session we initiated: the handshake is
        // complete (§4.3).
        p.unconfirmed = None;
        p.want = None;
        p.in_flight = None;
        latency = now.saturating_duration_since(first_sent_at);
    }
    // A session the peer demonstrably uses takes over if it outranks the
    // current one (§4.4): a responder's on its proof, an initiator's on its
    // confirmation if it was waiting behind a working session. Ranks only
    // go up, so both sides settle on the highest session both hold.
    let mut answer = false;
    let outranks = p.sessions[si]
        .as_ref()
        .is_some_and(|new| p.current().is_none_or(|cur| new.outranks(cur)));
    if p.current != Some(si) && outranks {
        p.current = Some(si);
        established(p, id, role, latency, now, events);
        answer = proven_now && hdr.kind == ProbeKind::Keepalive;
    }
    if p.current == Some(si) {
        if advanced && let Some(s) = p.current() {
            events.push(Event::EpochRotated {
                peer: id,
                direction: LinkDirection::Inbound,
                epoch: s.recv_epoch(),
            });
        }
        // The peer sends on the current session: older ones get their
        // grace window (§4.4). Not a newer one of ours still awaiting
        // confirmation: the peer has not moved off it, it has yet to move on
        // to it.
        let waiting = p.unconfirmed_slot();
        for (i, other) in p.sessions.iter_mut().enumerate() {
            if let Some(o) = other
                && i != si
                && Some(i) != waiting
                && o.proven
                && o.grace_until.is_none()
            {
                o.grace_until = Some(now + c.epoch_grace());
            }
        }
    }
    p.inbound_last = Some(now);
    if !p.inbound_fresh {
        p.inbound_fresh = true;
        events.push(Event::HealthChanged {
            peer: id,
            direction: LinkDirection::Inbound,
            fresh: true,
        });
    }
    p.ack_index = remote_index;
    p.ack_counter = recv_next;
    if hdr.ack_counter != 0
        && let Some(ai) = p.find_session(hdr.ack_index)
    {
        let acked = p.sessions[ai]
            .as_mut()
            .is_some_and(|s| s.acknowledge(hdr.ack_counter));
        if acked {
            p.outbound_last = Some(now);
            if !p.outbound_fresh {
                p.outbound_fresh = true;
                events.push(Event::HealthChanged {
                    peer: id,
                    direction: LinkDirection::Outbound,
                    fresh: true,
                });
            }
        }
    }
    answer
}

/// A fresh local index for a session with the peer in `slot`: the slot in
/// the high bits, a random nonzero tag unused by the peer in the low bits.
fn alloc_index<R: CryptoRng>(rng: &mut R, slot: usize, p: &Peer) -> SessionIndex {
    let high = u32::try_from(slot).unwrap_or(0) << INDEX_TAG_BITS;
    let mask = (1u32 << INDEX_TAG_BITS) - 1;
    let mut tag = rng.next_u32() & mask;
    // At most four indexes are in use, so this ends within five steps.
    loop {
        let candidate = SessionIndex(high | tag.max(1));
        if !p.index_in_use(candidate) {
            return candidate;
        }
        tag = (tag + 1) & mask;
    }
}

/// The retry interval after `attempts` initiations (§4.3): doubling from
/// `handshake_retry_initial`, capped at `handshake_retry_max`, shortened by
/// up to the jitter percentage.
fn backoff(c: &Config, attempts: u32, random: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    let base = c
        .handshake_retry_initial()
        .saturating_mul(1u32 << doublings.min(31))
        .min(c.handshake_retry_max());
    let nanos = crate::time::duration_nanos(base);
    let jitter_max = nanos / 100 * u64::from(c.handshake_retry_jitter_percent());
    // jitter_max * random / 2^32 < jitter_max, so it fits in u64.
    let jitter = u64::try_from((u128::from(jitter_max) * u128::from(random)) >> 32).unwrap_or(0);
    Duration::from_nanos(nanos - jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_only_shortens() {
        let c = Config::default();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(backoff(&c, 1, 0), ms(500));
        assert_eq!(backoff(&c, 2, 0), ms(1000));
        assert_eq!(backoff(&c, 3, 0), ms(2000));
        assert_eq!(backoff(&c, 4, 0), ms(2000));
        assert_eq!(backoff(&c, u32::MAX, 0), ms(2000));
        let shortest = backoff(&c, 10, u32::MAX);
        assert!(shortest >= ms(1600) && shortest < ms(2000), "{shortest:?}");
    }

    mod keys_and_nonces {
        use super::*;
        use crate::keys::SymmetricKey;
        use crate::wire::ProbeHeader;
        use chacha20::ChaCha20Rng;
        use rand_core::SeedableRng;
        use std::collections::HashSet;

        type E = Endpoint<ChaCha20Rng, [Option<Peer>; 1]>;

        fn endpoint(secret: u8, peer: u8, seed: u64, c: Config) -> E {
            let key = StaticKeypair::from_secret_bytes([secret; 32]);
            let remote = StaticKeypair::from_secret_bytes([peer; 32]).public();
            let mut e = Endpoint::new(c, key, ChaCha20Rng::seed_from_u64(seed), [None]);
            e.add_peer(Instant::ZERO, remote).expect("distinct keys");
            e
        }

        /// Runs timers and delivers every handshake message and keepalive
        /// both ways until neither side has anything to send.
        fn exchange(a: &mut E, b: &mut E, now: Instant) {
            a.handle_timeout(now);
            b.handle_timeout(now);
            fn flush(from: &mut E, to: &mut E, now: Instant) -> bool {
                let mut moved = false;
                let mut buf = [0u8; 256];
                while let Some(tx) = from.poll_transmit(now, &mut buf).expect("room") {
                    let _ = to.handle_datagram(now, &mut buf[..tx.len]);
                    moved = true;
                }
                moved
            }
            for _ in 0..16 {
                let moved = flush(a, b, now) | flush(b, a, now);
                if !moved {
                    return;
                }
            }
        }

        fn current(e: &E) -> &Session {
            e.peers[0]
                .as_ref()
                .and_then(Peer::current)
                .expect("a current session")
        }

        /// Seals a probe from `a`, opens it at `b`, and echoes it back, so
        /// acknowledgements flow and rotation proceeds. Returns the header
        /// and the sending key `a` used.
        fn round(a: &mut E, b: &mut E, now: Instant) -> (ProbeHeader, SymmetricKey) {
            let key = current(a).send_key().clone();
            let peer = peer_id(0);
            let mut out = [0u8; 64];
            let n = a
                .seal(now, peer, ProbeKind::Probe, b"probe", &mut out)
                .expect("sealed");
            let header = ProbeHeader::parse(&out[..n]).expect("own header");
            b.handle_datagram(now, &mut out[..n]).expect("opens");
            let n = b
                .seal(now, peer, ProbeKind::Echo, b"echo", &mut out)
                .expect("sealed");
            a.handle_datagram(now, &mut out[..n]).expect("opens");
            (header, key)
        }

        fn fast() -> Config {
            Config::builder()
                .rotate_after_packets(3)
                .rotate_after_time(Duration::from_millis(200))
                .epoch_grace(Duration::from_millis(100))
                .max_reorder_delay(Duration::from_millis(50))
                .build()
                .expect("valid")
        }

        #[test]
        fn a_counter_is_never_used_twice_under_one_key_across_rotations() {
            let (mut a, mut b) = (endpoint(1, 2, 1, fast()), endpoint(2, 1, 2, fast()));
            exchange(&mut a, &mut b, Instant::ZERO);
            let mut used = HashSet::new();
            let mut last = None;
            let mut epochs = HashSet::new();
            let mut now = Instant::ZERO;
            for _ in 0..600 {
                now = now + Duration::from_millis(50);
                let (h, key) = round(&mut a, &mut b, now);
                assert!(
                    used.insert((key.as_bytes().to_vec(), h.counter)),
                    "counter {} used twice under one key",
                    h.counter
                );
                assert!(last.is_none_or(|l| h.counter > l), "counters only grow");
                last = Some(h.counter);
                epochs.insert(h.epoch);
            }
            assert!(epochs.len() > 50, "{} epochs", epochs.len());
        }

        #[test]
        fn counter_exhaustion_forces_a_new_session_before_the_counter_wraps() {
            let c = Config::default();
            let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
            let peer = peer_id(0);
            exchange(&mut a, &mut b, Instant::ZERO);
            let mut now = Instant::from_millis(10);
            let (_, old_key) = round(&mut a, &mut b, now);
            // Near the end of the counter space a rekey is wanted...
            let s = a.peers[0]
                .as_mut()
                .and_then(Peer::current_mut)
                .expect("session");
            s.set_send_counter(REKEY_AFTER_COUNTER);
            a.handle_timeout(now);
            let st = a.peer_status(peer, now).expect("peer");
            assert!(matches!(
                st.handshake,
                crate::HandshakeState::Initiating {
                    reason: HandshakeReason::Rekey,
                    ..
                }
            ));
            // ...and the last counters are sealed, then sealing stops: the
            // counter never reaches 2^64 - 1, let alone wraps.
            let s = a.peers[0]
                .as_mut()
                .and_then(Peer::current_mut)
                .expect("session");
            s.set_send_counter(COUNTER_LIMIT - 1);
            let mut out = [0u8; 64];
            let n = a
                .seal(now, peer, ProbeKind::Probe, b"last", &mut out)
                .expect("the last counter");
            let h = ProbeHeader::parse(&out[..n]).expect("header");
            assert_eq!(h.counter, COUNTER_LIMIT - 1);
            assert_eq!(
                a.seal(now, peer, ProbeKind::Probe, b"one more", &mut out),
                Err(SealError::NoSession)
            );
            assert_eq!(current(&a).send_counter(), COUNTER_LIMIT);
            // The receiver refuses a counter at the limit, whatever its tag.
            let mut forged = out;
            forged[12..20].copy_from_slice(&COUNTER_LIMIT.to_be_bytes());
            assert!(b.handle_datagram(now, &mut forged[..n]).is_err());
            // The rekey completes: a new session, counters from zero under
            // a new key.
            now = now + Duration::from_millis(10);
            exchange(&mut a, &mut b, now);
            let (h, key) = round(&mut a, &mut b, now);
            assert_eq!(h.counter, 1, "the keepalive took counter 0");
            assert_ne!(key, old_key);
        }

        #[test]
        fn a_restarted_endpoint_never_reuses_a_key() {
            let c = Config::default();
            let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
            exchange(&mut a, &mut b, Instant::ZERO);
            let (_, before) = round(&mut a, &mut b, Instant::from_millis(10));
            // All state lost, same static key, its randomness continuing
            // (here: another seed; in a daemon: the operating system's).
            a = endpoint(1, 2, 3, c);
            let now = Instant::from_millis(20);
            exchange(&mut a, &mut b, now);
            let (h, after) = round(&mut a, &mut b, now);
            assert_eq!(
                h.counter, 1,
                "counters restart (after the keepalive's 0) only with a new key"
            );
            assert_ne!(after, before);
        }

        #[test]
        fn ephemeral_keys_and_sessions_are_erased_at_their_named_points() {
            let c = Config::default();
            let (mut a, mut b) = (endpoint(1, 2, 1, c), endpoint(2, 1, 2, c));
            a.handle_timeout(Instant::ZERO);
            let p = a.peers[0].as_ref().expect("peer");
            assert!(p.in_flight.is_some(), "the initiation's ephemeral is held");
            exchange(&mut a, &mut b, Instant::ZERO);
            // Confirmed both ways: no ephemeral secret, no handshake state
            // left on either side.
            for e in [&a, &b] {
                let p = e.peers[0].as_ref().expect("peer");
                assert!(p.in_flight.is_none(), "ephemeral secret kept");
                assert!(p.want.is_none());
            }
            // With the peer gone, every session is erased at
            // reject_after_time (a rekey attempt starts before, and fails).
            let end = Instant::ZERO + c.reject_after_time();
            let mut now = Instant::ZERO;
            while now < end {
                now = a.poll_timeout().expect("a deadline").min(end);
                a.handle_timeout(now);
                let mut buf = [0u8; 256];
                while a.poll_transmit(now, &mut buf).expect("room").is_some() {}
            }
            let p = a.peers[0].as_ref().expect("peer");
            assert!(
                p.sessions.iter().all(Option::is_none),
                "a session outlived reject_after_time"
            );
        }
    }
}

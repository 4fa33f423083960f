//! The driver: set up before its task starts, then the task's loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use probekey::{Config, Endpoint, Event, Instant, OsEndpoint, PeerId, PublicKey, StaticKeypair};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::handle::{Command, DriverStats, Handle};

/// The default capacity of the event channel.
pub const DEFAULT_EVENT_CAPACITY: usize = 256;
/// The largest capacity [`Driver::set_event_capacity`] accepts.
pub const MAX_EVENT_CAPACITY: usize = 1 << 20;
/// Requests from the [`Handle`] waiting for the task; a caller sending more
/// waits for room (the task itself never waits for the caller).
const COMMAND_CAPACITY: usize = 16;
/// The largest UDP payload: nothing the socket can return is cut short.
const MAX_DATAGRAM: usize = 65_535;

/// The one clock of a driver: the endpoint's [`Instant`]s are nanoseconds
/// since `origin`, and its deadlines are turned back into tokio instants
/// from the same origin, so the two conversions agree.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            origin: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        let since = tokio::time::Instant::now().saturating_duration_since(self.origin);
        Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// `None` for a deadline beyond what the platform's clock can hold
    /// (`Instant::MAX`, centuries away): no wake-up is needed for it.
    fn deadline(&self, t: Instant) -> Option<tokio::time::Instant> {
        self.origin.checked_add(Duration::from_nanos(t.as_nanos()))
    }
}

/// A node's endpoint and socket, before its task runs: configure the
/// neighbours known at start, then [`Driver::spawn`] the task and keep the
/// [`Handle`].
///
/// The endpoint runs with its probe schedule on (`docs/PROTOCOL.md` §7.6):
/// it sends every neighbour with a session a probe each `probe_interval`
/// and echoes the neighbour's, so the driver has no probe timing of its
/// own.
#[derive(Debug)]
pub struct Driver {
    socket: UdpSocket,
    local_addr: SocketAddr,
    clock: Clock,
    endpoint: OsEndpoint,
    addrs: HashMap<PeerId, SocketAddr>,
    event_capacity: usize,
}

impl Driver {
    /// A driver on a bound socket, with this configuration and static key.
    /// Every datagram received on the socket is handed to the endpoint;
    /// every datagram the endpoint sends goes to the configured address of
    /// the neighbour it names.
    ///
    /// # Errors
    /// [`Error::LocalAddr`] if the socket's address cannot be read.
    pub fn new(socket: UdpSocket, config: Config, keypair: StaticKeypair) -> Result<Self, Error> {
        let local_addr = socket.local_addr().map_err(Error::LocalAddr)?;
        let clock = Clock::new();
        let mut endpoint = Endpoint::with_os_rng(config, keypair);
        endpoint.set_probe_schedule(true, clock.now());
        Ok(Driver {
            socket,
            local_addr,
            clock,
            endpoint,
            addrs: HashMap::new(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        })
    }

    /// Binds a UDP socket to `addr` (port 0 for any free port) and makes a
    /// driver on it ([`Driver::new`]).
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime, [`Error::Bind`] if the
    /// address cannot be bound, [`Error::LocalAddr`].
    pub async fn bind(
        addr: SocketAddr,
        config: Config,
        keypair: StaticKeypair,
    ) -> Result<Self, Error> {
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Driver::new(socket, config, keypair)
    }

    /// The socket's local address (with the port the system chose, if 0
    /// was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's static public key, for its neighbours' configuration.
    pub fn public_key(&self) -> PublicKey {
        self.endpoint.public_key()
    }

    /// Configures a neighbour: its static public key and the address its
    /// datagrams are sent to (resolve host names before). A handshake with
    /// it starts as soon as the task runs.
    ///
    /// # Errors
    /// [`Error::AddPeer`] for a key the endpoint refuses (its own, one
    /// configured already, a low-order key).
    pub fn add_neighbour(&mut self, public: PublicKey, addr: SocketAddr) -> Result<PeerId, Error> {
        let peer = self.endpoint.add_peer(self.clock.now(), public)?;
        self.addrs.insert(peer, addr);
        Ok(peer)
    }

    /// Sets how many events the channel to the [`Handle`] holds (default
    /// [`DEFAULT_EVENT_CAPACITY`]). When it is full, as when nobody reads
    /// the events, each new event is dropped and counted in
    /// [`DriverStats::events_dropped`]: the protocol never waits for the
    /// reader, and [`Handle::peer_status`] still tells the current state.
    ///
    /// # Errors
    /// [`Error::EventCapacity`] for 0 or more than [`MAX_EVENT_CAPACITY`];
    /// the capacity is unchanged.
    pub fn set_event_capacity(&mut self, capacity: usize) -> Result<(), Error> {
        if !(1..=MAX_EVENT_CAPACITY).contains(&capacity) {
            return Err(Error::EventCapacity {
                requested: capacity,
            });
        }
        self.event_capacity = capacity;
        Ok(())
    }

    /// Starts the task that owns the socket and the endpoint, on the
    /// current tokio runtime, and returns the handle that talks to it. The
    /// task runs until the handle is dropped or shut down
    /// ([`Handle::shutdown`]), or the runtime stops.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn spawn(self) -> Result<Handle, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (event_tx, event_rx) = mpsc::channel(self.event_capacity);
        let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let local_addr = self.local_addr;
        let public_key = self.endpoint.public_key();
        let task = Task {
            socket: self.socket,
            clock: self.clock,
            endpoint: self.endpoint,
            addrs: self.addrs,
            events: event_tx,
            commands: command_rx,
            stats: DriverStats::default(),
            tx_buf: vec![0; MAX_DATAGRAM],
        };
        let join = runtime.spawn(task.run());
        Ok(Handle::new(
            command_tx, event_rx, join, local_addr, public_key,
        ))
    }
}

/// What the spawned task owns.
struct Task {
    socket: UdpSocket,
    clock: Clock,
    endpoint: OsEndpoint,
    addrs: HashMap<PeerId, SocketAddr>,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    stats: DriverStats,
    tx_buf: Vec<u8>,
}

impl Task {
    /// The drive loop of `docs/PROTOCOL.md` §7 with the probe schedule on:
    /// wait for a datagram, a request from the handle or the endpoint's
    /// deadline; then run the timers if due, send what the endpoint queued
    /// and pass its events on. Ends when the handle is gone.
    async fn run(mut self) {
        let mut recv_buf = vec![0u8; MAX_DATAGRAM];
        loop {
            self.step();
            self.flush().await;
            let deadline = self
                .endpoint
                .poll_timeout()
                .and_then(|t| self.clock.deadline(t));
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
                received = self.socket.recv_from(&mut recv_buf) => match received {
                    // The source address is not used: datagrams go to the
                    // configured address of the peer the endpoint names.
                    Ok((len, _from)) => {
                        self.stats.datagrams_received += 1;
                        if let Some(datagram) = recv_buf.get_mut(..len) {
                            // A refused datagram is counted by the endpoint.
                            let _ = self.endpoint.handle_datagram(self.clock.now(), datagram);
                        }
                    }
                    // On Linux, an ICMP "port unreachable" for an earlier
                    // datagram, say: counted, and the loop goes on.
                    Err(_) => self.stats.recv_errors += 1,
                },
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {}
            }
        }
    }

    /// Runs the endpoint's timers if their deadline has come.
    fn step(&mut self) {
        let now = self.clock.now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    /// Sends every datagram the endpoint has queued, then passes its events
    /// on without waiting for the reader.
    async fn flush(&mut self) {
        let now = self.clock.now();
        loop {
            match self.endpoint.poll_transmit(now, &mut self.tx_buf) {
                Ok(Some(t)) => {
                    let (Some(&addr), Some(datagram)) =
                        (self.addrs.get(&t.peer), self.tx_buf.get(..t.len))
                    else {
                        continue;
                    };
                    match self.socket.send_to(datagram, addr).await {
                        Ok(_) => self.stats.datagrams_sent += 1,
                        Err(_) => self.stats.send_errors += 1,
                    }
                }
                Ok(None) => break,
                // Cannot happen with a buffer of the largest UDP payload;
                // the datagram stays queued, so stop rather than spin.
                Err(_) => {
                    self.stats.send_errors += 1;
                    break;
                }
            }
        }
        while let Some(event) = self.endpoint.poll_event() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.stats.events_dropped += 1,
                // The handle is being dropped: the loop ends at its next turn.
                Err(TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Answers a request from the handle. A requester that gave up (its
    /// future dropped) is not waited for.
    fn command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Status { peer, reply } => {
                let _ = reply.send(self.endpoint.peer_status(peer, now));
            }
            Command::Add {
                public,
                addr,
                reply,
            } => {
                let added = self.endpoint.add_peer(now, public);
                if let Ok(peer) = added {
                    self.addrs.insert(peer, addr);
                }
                let _ = reply.send(added.map_err(Error::from));
            }
            Command::Remove { peer, reply } => {
                let removed = self.endpoint.remove_peer(peer);
                if removed.is_ok() {
                    self.addrs.remove(&peer);
                }
                let _ = reply.send(removed.map_err(Error::from));
            }
            Command::Stats { reply } => {
                let _ = reply.send(DriverStats {
                    endpoint: self.endpoint.stats(),
                    ..self.stats
                });
            }
        }
    }
}

/// A reply to one request of the handle.
pub(crate) type Reply<T> = oneshot::Sender<T>;

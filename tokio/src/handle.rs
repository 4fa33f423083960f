//! What the user keeps: the events, and requests to the driver's task.

use std::net::SocketAddr;

use probekey::{EndpointStats, Event, PeerId, PeerStatus, PublicKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::driver::Reply;
use crate::error::Error;

/// Requests from the handle to the task, each with its reply.
pub(crate) enum Command {
    Status {
        peer: PeerId,
        reply: Reply<Option<PeerStatus>>,
    },
    Add {
        public: PublicKey,
        addr: SocketAddr,
        reply: Reply<Result<PeerId, Error>>,
    },
    Remove {
        peer: PeerId,
        reply: Reply<Result<(), Error>>,
    },
    Stats {
        reply: Reply<DriverStats>,
    },
}

/// The driver's counters, with the endpoint's.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// The endpoint's own counters: refused datagrams by reason, probes
    /// sealed and opened, Diffie-Hellmans.
    pub endpoint: EndpointStats,
    /// Events dropped because the event channel was full (nobody read
    /// them); see [`crate::Driver::set_event_capacity`].
    pub events_dropped: u64,
    /// Datagrams received on the socket, refused or not.
    pub datagrams_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Errors the socket returned when receiving (on Linux, an ICMP
    /// "port unreachable" for an earlier datagram, say).
    pub recv_errors: u64,
    /// Datagrams the socket refused to send (an unreachable network, an
    /// address of the other family, say).
    pub send_errors: u64,
}

/// The user's side of a running driver: its events, and requests to its
/// task. Dropping it stops the task, as [`Handle::shutdown`] does without
/// waiting.
#[derive(Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
    local_addr: SocketAddr,
    public_key: PublicKey,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Status { .. } => "Status",
            Command::Add { .. } => "Add",
            Command::Remove { .. } => "Remove",
            Command::Stats { .. } => "Stats",
        })
    }
}

impl Handle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        events: mpsc::Receiver<Event>,
        task: JoinHandle<()>,
        local_addr: SocketAddr,
        public_key: PublicKey,
    ) -> Self {
        Handle {
            commands,
            events,
            task,
            local_addr,
            public_key,
        }
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's static public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The next event of the endpoint (health changes, handshakes,
    /// rotations), in order; `None` once the task has stopped and every
    /// event it sent was read. Cancel-safe: an event is never lost by
    /// dropping this future.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Everything the endpoint reports about a neighbour, as of now; `None`
    /// for an id that names no configured neighbour.
    ///
    /// # Errors
    /// [`Error::Stopped`] if the task is no longer running.
    pub async fn peer_status(&self, peer: PeerId) -> Result<Option<PeerStatus>, Error> {
        self.request(|reply| Command::Status { peer, reply }).await
    }

    /// Configures a neighbour at run time (see
    /// [`crate::Driver::add_neighbour`]).
    ///
    /// # Errors
    /// [`Error::AddPeer`] for a key the endpoint refuses, [`Error::Stopped`].
    pub async fn add_neighbour(
        &self,
        public: PublicKey,
        addr: SocketAddr,
    ) -> Result<PeerId, Error> {
        self.request(|reply| Command::Add {
            public,
            addr,
            reply,
        })
        .await?
    }

    /// Forgets a neighbour and erases its keys; nothing more is sent to it
    /// and its datagrams are refused.
    ///
    /// # Errors
    /// [`Error::Peer`] for an id that names no configured neighbour (removed
    /// already, say), [`Error::Stopped`].
    pub async fn remove_neighbour(&self, peer: PeerId) -> Result<(), Error> {
        self.request(|reply| Command::Remove { peer, reply })
            .await?
    }

    /// The driver's and the endpoint's counters.
    ///
    /// # Errors
    /// [`Error::Stopped`] if the task is no longer running.
    pub async fn stats(&self) -> Result<DriverStats, Error> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// Stops the task and waits until it has ended: when this returns, the
    /// socket is closed and the keys are erased. Events not read yet are
    /// dropped.
    ///
    /// # Errors
    /// [`Error::Stopped`] if the task had already ended otherwise (its
    /// runtime shut down).
    pub async fn shutdown(self) -> Result<(), Error> {
        let Handle {
            commands,
            events,
            task,
            ..
        } = self;
        drop(commands);
        drop(events);
        task.await.map_err(|_| Error::Stopped)
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)
    }
}

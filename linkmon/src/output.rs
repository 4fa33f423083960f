//! The JSON lines the daemon writes on stdout, one object per line, tagged
//! by `type`. Times are milliseconds with microsecond precision: `t_ms`
//! since the daemon started, `*_ms_ago` before the line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One line of output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The daemon is up.
    Start {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The bound socket address.
        listen: String,
        /// This node's public key, hex.
        public_key: String,
        /// Neighbour names to their addresses.
        neighbours: BTreeMap<String, String>,
        /// The configured probe interval.
        probe_interval_ms: f64,
        /// The configured staleness threshold.
        stale_after_ms: f64,
        /// The configured retry cap.
        handshake_retry_max_ms: f64,
        /// How often status lines come.
        status_interval_ms: f64,
        /// What the crate promises once packets flow again, for a round
        /// trip of zero: add three round trips for a real link.
        recovery_bound_ms_at_zero_rtt: f64,
    },
    /// A direction's freshness changed.
    Health {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// Which direction.
        direction: Direction,
        /// Fresh or stale now.
        fresh: bool,
    },
    /// A resync handshake started.
    HandshakeStarted {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// Why.
        reason: Reason,
    },
    /// A new session is in use.
    SessionEstablished {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// Which side of the handshake this node was.
        role: Role,
        /// From the first initiation (or the answer) to the session in use.
        latency_ms: f64,
    },
    /// An epoch key rotated.
    EpochRotated {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// Which direction's key.
        direction: Direction,
        /// The new epoch.
        epoch: u32,
    },
    /// An event of a kind this daemon does not know, in debug form.
    Event {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The event's `Debug` text.
        debug: String,
    },
    /// Periodic: one neighbour's status.
    Status {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// What it is (boxed: the largest part of any line).
        #[serde(flatten)]
        status: Box<NeighbourStatus>,
    },
    /// Periodic: the endpoint's counters.
    Endpoint {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// Every refused datagram, including those attributed to no
        /// configured neighbour (unknown keys, garbage).
        rejected: Rejected,
        /// Probes sealed.
        probes_sealed: u64,
        /// Probes opened.
        probes_opened: u64,
        /// Events lost to a full queue.
        events_dropped: u64,
        /// Socket receive errors.
        recv_errors: u64,
    },
    /// The last line, after SIGINT or SIGTERM.
    Shutdown {
        /// Since the daemon started.
        t_ms: f64,
        /// This node.
        node: String,
        /// `SIGINT` or `SIGTERM`.
        signal: String,
        /// Every neighbour's final status.
        neighbours: BTreeMap<String, NeighbourStatus>,
    },
}

impl Line {
    /// The node that wrote it.
    pub fn node(&self) -> &str {
        match self {
            Line::Start { node, .. }
            | Line::Health { node, .. }
            | Line::HandshakeStarted { node, .. }
            | Line::SessionEstablished { node, .. }
            | Line::EpochRotated { node, .. }
            | Line::Event { node, .. }
            | Line::Status { node, .. }
            | Line::Endpoint { node, .. }
            | Line::Shutdown { node, .. } => node,
        }
    }
}

/// A direction of a link.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node hears the neighbour.
    Inbound,
    /// The neighbour says it hears this node.
    Outbound,
}

/// Why a handshake started.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No session.
    NoSession,
    /// The session is due for renewal.
    Rekey,
    /// Nothing heard from the neighbour.
    InboundStale,
    /// The neighbour says it hears nothing from us.
    OutboundStale,
    /// A reason this daemon does not know.
    Other,
}

/// Which side of the handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// This node initiated.
    Initiator,
    /// This node answered.
    Responder,
}

/// One direction's freshness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fresh {
    /// Fresh now.
    pub fresh: bool,
    /// When it was last confirmed.
    pub last_ms_ago: Option<f64>,
}

/// The handshake's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Handshake {
    /// Nothing to do.
    Idle,
    /// Retrying until a session is up and confirmed.
    Initiating {
        /// Why it started.
        reason: Reason,
        /// When it started.
        since_ms_ago: f64,
        /// Initiations sent so far.
        attempts: u64,
    },
    /// A state this daemon does not know.
    Other,
}

/// Refused datagrams by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Rejected {
    pub malformed: u64,
    pub unknown_session: u64,
    pub unknown_peer: u64,
    pub bad_mac: u64,
    pub epoch_outside_window: u64,
    pub replay: u64,
    pub bad_tag: u64,
    pub rate_limited: u64,
    /// All of them.
    pub total: u64,
}

/// Everything a status line says about one neighbour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighbourStatus {
    /// Its configured address.
    pub address: String,
    /// This node hears it.
    pub inbound: Fresh,
    /// It says it hears this node.
    pub outbound: Fresh,
    /// The epoch we send under.
    pub send_epoch: Option<u32>,
    /// The epoch we receive under.
    pub recv_epoch: Option<u32>,
    /// The current session's age.
    pub session_age_ms: Option<f64>,
    /// Which side of the current session's handshake we were.
    pub session_role: Option<Role>,
    /// The handshake.
    pub handshake: Handshake,
    /// Handshakes started.
    pub handshakes_started: u64,
    /// Handshakes completed.
    pub handshakes_completed: u64,
    /// The last handshake's latency.
    pub last_handshake_latency_ms: Option<f64>,
    /// The last echo's round trip.
    pub rtt_ms: Option<f64>,
    /// The smoothed round trip.
    pub srtt_ms: Option<f64>,
    /// Probes sent.
    pub probes_sent: u64,
    /// Echoes sent.
    pub echoes_sent: u64,
    /// Echoes of ours received.
    pub echoes_received: u64,
    /// Probes sealed (probes and echoes).
    pub probes_sealed: u64,
    /// Probes opened.
    pub probes_opened: u64,
    /// Refused datagrams attributed to it.
    pub rejected: Rejected,
    /// Socket send errors.
    pub send_errors: u64,
    /// Validated datagrams that came from another address than its own.
    pub from_other_address: u64,
}

//! `Display` for the public enums: the stable snake_case names a metrics
//! label or a log field takes (`as_str`), and a sentence for the events
//! and statuses an operator reads.

use core::fmt;

use crate::endpoint::{Received, TransmitKind};
use crate::event::{Event, HandshakeReason, LinkDirection};
use crate::session::Role;
use crate::status::HandshakeState;
use crate::wire::{Message, MessageType, ProbeKind};

/// `as_str` and a `Display` that prints it, for enums of unit variants.
macro_rules! named {
    ($ty:ty { $($variant:ident => $name:literal,)* }) => {
        impl $ty {
            /// The variant's stable name, in snake_case (a metrics label,
            /// a log field).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name,)*
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named!(LinkDirection {
    Inbound => "inbound",
    Outbound => "outbound",
});

named!(HandshakeReason {
    NoSession => "no_session",
    Rekey => "rekey",
    InboundStale => "inbound_stale",
    OutboundStale => "outbound_stale",
});

named!(Role {
    Initiator => "initiator",
    Responder => "responder",
});

named!(ProbeKind {
    Probe => "probe",
    Echo => "echo",
    Keepalive => "keepalive",
});

named!(TransmitKind {
    Initiation => "initiation",
    Response => "response",
    Keepalive => "keepalive",
    Challenge => "challenge",
    Probe => "probe",
    Echo => "echo",
});

named!(MessageType {
    Initiation => "initiation",
    Response => "response",
    Probe => "probe",
    Challenge => "challenge",
});

named!(crate::status::DownReason {
    Silence => "silence",
    OneWay => "one_way",
    NoSession => "no_session",
});

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::PeerAdded { peer } => {
                write!(f, "peer {peer} added, not yet reachable either way")
            }
            Event::HealthChanged {
                peer,
                direction,
                fresh,
            } => {
                let state = if fresh { "fresh" } else { "stale" };
                write!(f, "peer {peer} {direction} {state}")
            }
            Event::HandshakeStarted { peer, reason } => {
                write!(f, "peer {peer} handshake started ({reason})")
            }
            Event::HandshakeFailing {
                peer,
                for_how_long,
                attempts,
                rejected,
            } => {
                write!(
                    f,
                    "peer {peer} handshake failing for {:.3} s after {attempts} initiations",
                    for_how_long.as_secs_f64()
                )?;
                match rejected.dominant() {
                    Some((name, n)) => write!(f, ", mostly refused as {name} ({n})"),
                    None => f.write_str(", nothing heard from the peer"),
                }
            }
            Event::SessionEstablished {
                peer,
                role,
                latency,
            } => write!(
                f,
                "peer {peer} session established as {role} in {:.3} s",
                latency.as_secs_f64()
            ),
            Event::EpochRotated {
                peer,
                direction,
                epoch,
            } => write!(f, "peer {peer} {direction} epoch {epoch}"),
        }
    }
}

impl fmt::Display for HandshakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HandshakeState::Idle => f.write_str("idle"),
            HandshakeState::Initiating {
                reason,
                since,
                attempts,
            } => write!(
                f,
                "initiating ({reason}) since {since}, {attempts} initiations"
            ),
        }
    }
}

impl fmt::Display for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Received::Probe { peer, kind, body } => {
                write!(f, "{kind} from peer {peer}, {} bytes", body.len())
            }
            Received::Keepalive { peer } => write!(f, "keepalive from peer {peer}"),
            Received::Handshake { peer } => write!(f, "handshake message from peer {peer}"),
        }
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Initiation(m) => write!(f, "initiation from index {}", m.sender_index),
            Message::Response(m) => write!(
                f,
                "response from index {} to index {}",
                m.sender_index, m.receiver_index
            ),
            Message::Probe(h, sealed) => write!(
                f,
                "{} to index {}, counter {}, {} sealed bytes",
                h.kind,
                h.receiver_index,
                h.counter,
                sealed.len()
            ),
            Message::Challenge(m) => write!(f, "challenge to index {}", m.receiver_index),
        }
    }
}

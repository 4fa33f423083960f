//! Newtypes for the numbers of the protocol, so that an epoch is never
//! passed where a session index is expected.

use core::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($ty:ty)) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name(pub $ty);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

/// A configured peer of an endpoint: its slot in the peer table and the
/// slot's generation, which goes up each time a peer is removed from it, so
/// that an id kept after [`crate::Endpoint::remove_peer`] never names the
/// peer added next in the same slot (it is refused with
/// [`crate::PeerError::Removed`]).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerId {
    slot: u32,
    generation: u32,
}

impl PeerId {
    /// The id of the peer in `slot` at `generation`.
    pub const fn new(slot: u32, generation: u32) -> Self {
        PeerId { slot, generation }
    }

    /// The slot number as an index.
    pub fn slot(self) -> usize {
        usize::try_from(self.slot).unwrap_or(usize::MAX)
    }

    /// How many peers were removed from the slot before this one was
    /// added.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// The id as one number (the generation in the high 32 bits), for a
    /// caller's map or a log line; [`Self::from_u64`] reads it back.
    pub const fn to_u64(self) -> u64 {
        (self.generation as u64) << 32 | self.slot as u64
    }

    /// The id [`Self::to_u64`] wrote.
    #[allow(clippy::cast_possible_truncation)]
    pub const fn from_u64(v: u64) -> Self {
        PeerId {
            slot: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({}.{})", self.slot, self.generation)
    }
}

/// `slot.generation`, e.g. `3.0` for the first peer in slot 3.
impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.slot, self.generation)
    }
}
id_newtype! {
    /// The receiver's local name for a session, carried in every probe
    /// (`docs/PROTOCOL.md` §2.4; its layout, §2.6).
    SessionIndex(u32)
}
id_newtype! {
    /// The number of a key epoch within a session and direction. 32 bits:
    /// at one rotation per second it would take 136 years to wrap, and a
    /// session is replaced long before (`docs/PROTOCOL.md` §5.2).
    Epoch(u32)
}

//! Newtypes for the numbers of the protocol, so that an epoch is never
//! passed where a session index is expected.

use core::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($ty:ty)) => {
        $(#[$doc])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
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

id_newtype! {
    /// A configured peer of an endpoint: its slot in the peer table.
    PeerId(u32)
}
id_newtype! {
    /// The receiver's local name for a session, carried in every probe
    /// (`docs/PROTOCOL.md` §2.4).
    SessionIndex(u32)
}
id_newtype! {
    /// The number of a key epoch within a session and direction. 32 bits:
    /// at one rotation per second it would take 136 years to wrap, and a
    /// session is replaced long before (`docs/PROTOCOL.md` §5.2).
    Epoch(u32)
}

impl PeerId {
    /// The slot number as an index.
    pub fn slot(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

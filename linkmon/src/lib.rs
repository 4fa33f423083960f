//! The formats of the `linkmon` daemon, shared with its tests and with
//! anything that reads it: the configuration file it reads
//! ([`file::ConfigFile`]) and the JSON lines it writes ([`output::Line`]).
//! The daemon itself is the `linkmon` binary.

#![forbid(unsafe_code)]

pub mod file;
pub mod output;

//! Internals, public for the benchmarks, the fuzz targets and the
//! interoperability tests only: no stability promise.

pub mod noise;
pub mod replay;
pub mod schedule;

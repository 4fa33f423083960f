//! Datagrams of every shape delivered to endpoints whose sessions are
//! established: arbitrary bytes, real probes altered, real headers with
//! arbitrary ciphertext, replays, reordering and time passing (rotations,
//! grace windows), so the fuzzer works past the header checks and into the
//! replay window, the epoch keys and the AEAD.

use arbitrary::Unstructured;

use super::net::{Net, Op};

const OPS: [Op; 10] = [
    Op::Raw,
    Op::Patched,
    Op::Seal,
    Op::Deliver,
    Op::Corrupt,
    Op::Resize,
    Op::Duplicate,
    Op::Replay,
    Op::Advance,
    Op::DeliverAll,
];

/// The target.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = super::net::config(&mut u) else {
        return;
    };
    let mut net = Net::new(config, 3);
    // Sessions up and probes flowing both ways on every link.
    let bound = net.recovery_bound();
    net.quiet(bound);
    net.run(&mut u, &OPS);
}

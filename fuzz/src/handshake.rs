//! Handshake messages of every kind (real ones replayed or altered, real
//! ones altered with their MACs recomputed, initiations and responses
//! written with the peers' own keys carrying any payload) fed to an
//! initiator and a responder in each of their states: both initiating,
//! responder answered and awaiting confirmation, initiator confirmed,
//! established, one side restarted, rekey under way, session expired.
//!
//! Afterwards the network is good, and both must be fresh both ways within
//! the recovery bound, or — when a message was written with a peer's key,
//! i.e. a misbehaving neighbour rather than a network fault — within
//! `stale_after` more, the time staleness takes to catch a session the
//! real peer does not know.

use arbitrary::Unstructured;
use core::time::Duration;

use super::net::{Net, Op};

const OPS: [Op; 10] = [
    Op::Replay,
    Op::Remac,
    Op::CraftInitiation,
    Op::CraftResponse,
    Op::Deliver,
    Op::Drop,
    Op::Duplicate,
    Op::Corrupt,
    Op::Advance,
    Op::Initiate,
];

/// The opening script: how far the first handshake gets, by delivering the
/// in-flight messages in order.
fn open(net: &mut Net, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let config = *net.config();
    let script: &[&[Op]] = &[
        // Both sides initiating, nothing delivered.
        &[],
        // First initiation answered: responder awaits confirmation.
        &[Op::Deliver],
        // ... and the response read: initiator confirmed.
        &[Op::Deliver, Op::Deliver],
        // Established.
        &[Op::DeliverAll],
        // Established, then node 0 restarted.
        &[Op::DeliverAll, Op::Restart],
        // Established, then a rekey falls due.
        &[Op::DeliverAll, Op::Advance],
        // Established, then the session expires.
        &[Op::DeliverAll, Op::Advance],
    ];
    let k = u.choose_index(script.len())?;
    for &op in script[k] {
        match op {
            Op::Deliver | Op::DeliverAll => {
                // Deterministic: the first datagram in flight.
                let mut one = Unstructured::new(&[0, 0, 0, 0]);
                net.step(&mut one, &[op])?;
            }
            Op::Restart => {
                let mut first = Unstructured::new(&[0, 0, 0, 0]);
                net.step(&mut first, &[op])?;
            }
            _ => {
                let d = if k == 5 {
                    config.rekey_after_time()
                } else {
                    config.reject_after_time() + Duration::from_secs(1)
                };
                net.advance_by(d);
            }
        }
    }
    Ok(())
}

/// The target.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = super::net::config(&mut u) else {
        return;
    };
    let mut net = Net::new(config, 2);
    if open(&mut net, &mut u).is_err() {
        return;
    }
    net.run(&mut u, &OPS);
    let mut bound = net.recovery_bound();
    if net.crafted {
        bound += config.stale_after();
    }
    net.quiet(bound);
}

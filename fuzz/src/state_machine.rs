//! Two or three endpoints driven by any sequence of operations (seal,
//! deliver, drop, duplicate, reorder, corrupt, resize, replay one recorded
//! datagram or a burst of any of them, hold a direction's datagrams and
//! release them later one at a time, advance time by any amount, restart,
//! reboot with the clock at zero, suspend a host while time passes for the
//! others, change a clock's rate, step a clock forward or back as a daemon
//! bug would, up to the end of its range, start a handshake on one side or
//! on both at the same instant), freshness checked against what the
//! network carried after each (`super::freshness`); then a quiet period of good
//! network in which every link must be fresh both ways within the
//! configured recovery bound (on the slowest clock) and stay fresh. Every
//! step checks the invariants listed in [`super::net`].

use arbitrary::Unstructured;

use super::net::{Net, Op};

/// The faults a network (not a key holder) can cause.
const OPS: [Op; 21] = [
    Op::Seal,
    Op::Deliver,
    Op::DeliverAll,
    Op::Drop,
    Op::Duplicate,
    Op::Corrupt,
    Op::Resize,
    Op::Replay,
    Op::ReplayBurst,
    Op::Hold,
    Op::Release,
    Op::Advance,
    Op::Restart,
    Op::Initiate,
    Op::Raw,
    Op::Patched,
    Op::Reboot,
    Op::Suspend,
    Op::InitiateBoth,
    Op::Skew,
    Op::ClockStep,
];

/// The target.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = super::net::config(&mut u) else {
        return;
    };
    let n = if u.arbitrary::<bool>().unwrap_or(false) {
        3
    } else {
        2
    };
    let mut net = Net::new(config, n);
    net.run(&mut u, &OPS);
    let bound = net.recovery_bound();
    net.quiet(bound);
}

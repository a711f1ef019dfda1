//! The cross-core protocol at run time: servicing a vCPU's mailbox, parking, and holding a partition's vCPUs.
//!
//! The states, transitions, mailbox and operation slot are pure and
//! host-tested in `bulkhead_core::protocol`; this module is where cores
//! act on them. Two rules make it deadlock-free:
//!
//! 1. A core never waits for another with its own mailbox unserviced: every
//!    wait loop here either services the waiting vCPU's mailbox (a vCPU of
//!    the partition) or gives up as soon as a request arrives for it (a
//!    manager's core, which then answers BUSY).
//! 2. Every wait has a deadline and an error path, except a parked vCPU's
//!    wait for release: the operation holding it does bounded work and
//!    waits only with deadlines, so it always releases.

use bulkhead_core::protocol::{Claim, HoldAttempt, Operation, Request, Transition, VcpuState};

use super::runtime::Partition;
use super::vcpu::{AfterPark, Vcpu};
use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::snapshot::VcpuSnapshot;
use crate::arch::aarch64::timer::Deadline;

/// How long an operation waits for a running vCPU to park before giving
/// up (BUSY). A vCPU that is itself busy managing another partition (a
/// checkpoint copy) may take this long to look at its mailbox.
pub const PAUSE_TIMEOUT_MS: u64 = 1000;
/// How long a reset waits for a vCPU to leave its guest before stopping the partition instead.
pub const EXIT_TIMEOUT_MS: u64 = 5000;

/// Where a vCPU's core services its mailbox from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The guest was interrupted (IRQ) or faulted: `frame.elr` re-runs what comes next.
    Interrupted,
    /// Inside a hypercall: a snapshot taken here resumes by re-issuing the call.
    Hypercall,
}

/// What the core does after servicing its mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serviced {
    /// Go on (return to the guest, or keep waiting).
    Continue,
    /// The vCPU was parked and the partition restored meanwhile: `frame` now
    /// holds the checkpoint's state. Whatever EL2 was doing for the guest is
    /// moot; return to the guest at once.
    Reloaded,
    /// Leave the guest: the partition is stopping or resetting, or it was
    /// restored to a checkpoint in which this vCPU was off.
    Exit,
}

/// Takes and acts on every request in `vcpu`'s mailbox. Runs on `vcpu`'s own core.
pub fn service(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame, site: Site) -> Serviced {
    let requests = vcpu.cell.mailbox.take();
    if requests.contains(Request::Exit) {
        return Serviced::Exit;
    }
    if requests.contains(Request::Inject) {
        crate::irq::flush_pending(partition, vcpu);
    }
    if requests.contains(Request::Pause) {
        return park(partition, vcpu, frame, site);
    }
    Serviced::Continue
}

/// Saves the vCPU's state and waits in EL2 until the operation holding the
/// partition lets it go; then goes on, or was restored, or must leave.
fn park(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame, site: Site) -> Serviced {
    let mut resumed = frame.clone();
    if site == Site::Hypercall {
        // The call instruction itself, so that a restore re-issues the call.
        resumed.elr = resumed.elr.wrapping_sub(4);
    }
    let snapshot = VcpuSnapshot::capture(&resumed, vcpu.pending_sgis.load(), &mut vcpu.sve.lock());
    *vcpu.snapshot.lock() = Some(snapshot);
    if vcpu.cell.apply(Transition::Park).is_err() {
        // Not running (it already left, say by CPU_OFF): nothing to hold here.
        return Serviced::Continue;
    }
    // Bounded by the holder: it does bounded work and only waits with deadlines.
    while vcpu.state() == VcpuState::Parked {
        core::hint::spin_loop();
    }
    match vcpu.take_after_park() {
        AfterPark::Resume => Serviced::Continue,
        AfterPark::Reload => {
            load_snapshot(partition, vcpu, frame);
            Serviced::Reloaded
        }
        AfterPark::Leave => Serviced::Exit,
    }
}

/// Loads `vcpu.snapshot` into this core and `frame`.
pub fn load_snapshot(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame) {
    let snapshot = vcpu.snapshot.lock();
    if let Some(snapshot) = snapshot.as_ref() {
        vcpu.clear_pending_interrupts();
        // Held level interrupts belong to the state being left.
        crate::irq::release_deferred(vcpu);
        snapshot.apply(frame, &vcpu.sve.lock());
        vcpu.pending_sgis.store(snapshot.pending_sgis);
        // Hardware interrupts in flight at the checkpoint were active in the
        // GIC then: make them so again, so the guest's EOI finds them.
        for intid in snapshot.hardware_interrupts() {
            partition.set_physical_active(vcpu.index, intid);
        }
    }
}

/// The vCPU (of this partition or another) on whose behalf a core operates.
pub struct Operator<'a> {
    /// The operating core's own vCPU: its mailbox is watched while waiting.
    pub vcpu: &'a Vcpu,
    /// Whether that vCPU belongs to the partition operated on (it is then
    /// not held, and its requests can only come from this operation).
    pub member: bool,
}

/// Why holding a partition's vCPUs failed; nothing is held any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldFailed {
    /// A vCPU did not answer before the deadline.
    Timeout,
    /// A request arrived for the operating core: it must service it first.
    Interrupted,
}

/// Holds every vCPU of `partition` but the operator's own: pauses those
/// in their guest (they park with their state saved), holds those out of
/// it where they are. On failure, lets go of everything it held.
pub fn hold_others(partition: &Partition, operator: &Operator) -> Result<(), HoldFailed> {
    let deadline = Deadline::after_ms(PAUSE_TIMEOUT_MS);
    let mut posted = 0u64;
    for vcpu in others(partition, operator) {
        loop {
            match vcpu.cell.hold() {
                HoldAttempt::Held => break,
                HoldAttempt::Running => {
                    let bit = 1u64 << vcpu.index;
                    if posted & bit == 0 {
                        posted |= bit;
                        vcpu.post(Request::Pause);
                    }
                }
            }
            let interrupted = !operator.member && !operator.vcpu.cell.mailbox.peek().is_empty();
            if interrupted || deadline.passed() {
                release(partition, operator, posted);
                return Err(if interrupted {
                    HoldFailed::Interrupted
                } else {
                    HoldFailed::Timeout
                });
            }
            core::hint::spin_loop();
        }
    }
    Ok(())
}

/// Lets every vCPU but the operator's go once `hold_others` succeeded:
/// parked ones run on (as their after-park says), held ones return to Off
/// or OnPending (their cores are kicked to start).
pub fn let_go_others(partition: &Partition, operator: &Operator) {
    release(partition, operator, 0);
}

/// [`let_go_others`], after a hold that may have stopped half-way: a pause
/// request still unread is withdrawn; one its core already took (bit set in
/// `posted`, request gone) is waited for, as that core is committed to park.
fn release(partition: &Partition, operator: &Operator, posted: u64) {
    for vcpu in others(partition, operator) {
        let was_posted = posted & (1u64 << vcpu.index) != 0;
        if !vcpu.cell.mailbox.withdraw(Request::Pause) && was_posted {
            // Taken: its core parks within a snapshot's time, unless it had
            // already left its guest.
            let deadline = Deadline::after_ms(PAUSE_TIMEOUT_MS);
            while vcpu.state() == VcpuState::Running && !deadline.passed() {
                core::hint::spin_loop();
            }
        }
        if vcpu.cell.let_go() {
            crate::arch::aarch64::gic::send_kick(vcpu.mpidr);
        }
    }
}

/// The partition's vCPUs other than the operator's own.
fn others<'a>(partition: &'a Partition, operator: &'a Operator) -> impl Iterator<Item = &'a Vcpu> {
    partition
        .vcpus
        .iter()
        .filter(move |vcpu| !(operator.member && core::ptr::eq(*vcpu, operator.vcpu)))
}

/// Claims `operation` on the caller's own partition for a request that
/// cannot be refused (a reset, a fault): while another operation holds it,
/// the caller's mailbox is serviced (it parks if paused). Err if the
/// caller must leave its guest instead (another vCPU stops or resets it),
/// or must return to it restored (a restore happened while it was parked).
pub fn claim_own<'a>(
    partition: &'a Partition,
    vcpu: &Vcpu,
    frame: &mut GuestFrame,
    site: Site,
    operation: Operation,
) -> Result<Claim<'a>, Serviced> {
    loop {
        if let Ok(claim) = partition.operation.try_claim(operation) {
            return Ok(claim);
        }
        match service(partition, vcpu, frame, site) {
            Serviced::Continue => {}
            other => return Err(other),
        }
        core::hint::spin_loop();
    }
}

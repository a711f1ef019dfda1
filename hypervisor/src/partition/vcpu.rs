//! A vCPU: one physical core pinned to a partition, its protocol cell, and what it keeps across pauses.

use bulkhead_core::pending_sgis::{PendingSgis, Taken};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use bulkhead_core::bounded::BoundedQueue;
use bulkhead_core::level_irq::Deferred;
use bulkhead_core::protocol::{PowerOnRefused, Request, Transition, VcpuCell, VcpuState};
use spin::Mutex;

use crate::arch::aarch64::gic;
use crate::arch::aarch64::snapshot::VcpuSnapshot;
use crate::arch::aarch64::sve::SveRegisters;
use crate::arch::aarch64::vgic_hw::VirtualInterrupt;

/// What a parked vCPU does once its partition's operation lets it go.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterPark {
    /// Run on from where it parked.
    Resume = 0,
    /// Load its snapshot (a restore happened) and run from there.
    Reload = 1,
    /// Leave the guest (restored to a checkpoint in which it was off).
    Leave = 2,
}

pub struct Vcpu {
    /// Index among the partition's vCPUs (its virtual MPIDR Aff0).
    pub index: usize,
    /// Logical id of the physical core (index into the board's CPUs).
    pub cpu: usize,
    /// Physical MPIDR of that core, for SGIs and firmware calls.
    pub mpidr: u64,
    /// Its state and mailbox (`bulkhead_core::protocol`).
    pub cell: VcpuCell,
    /// Entry point and context of the next start: written with the
    /// PowerOn transition under this lock, read with the Start transition.
    start: Mutex<(u64, u64)>,
    /// Virtual SGIs waiting for a list register on this vCPU, with their sources.
    pub pending_sgis: PendingSgis,
    /// Interrupts that found every list register busy, oldest first; sized
    /// at boot for every interrupt the vCPU can receive, so it never grows.
    pub overflow: Mutex<BoundedQueue<VirtualInterrupt>>,
    /// State saved at the last pause (checkpoint), or to load on a restore.
    pub snapshot: Mutex<Option<VcpuSnapshot>>,
    /// The SVE registers that go with `snapshot` (on cores with SVE).
    pub sve: Mutex<SveRegisters>,
    /// Level interrupts held physically active until their line is checked
    /// (`bulkhead_core::level_irq`); only the vCPU's own core touches them.
    pub deferred_level: Mutex<Deferred>,
    /// Set by an operation before it lets a parked vCPU go.
    after_park: AtomicU8,
    /// Start from `snapshot` instead of a PSCI entry point (restored while off).
    pub start_from_snapshot: AtomicBool,
    /// The start a restore found pending in the checkpoint (CPU_ON accepted,
    /// not yet running), handed to a vCPU it makes leave its guest: taken
    /// by its core once out.
    pub restored_start: Mutex<Option<(u64, u64)>>,
    /// The same, as the restore reads it from the store, before it decides
    /// how this vCPU restarts. Apart from `restored_start` because the
    /// vCPU's core may be on its way out of its guest meanwhile: taking a
    /// start meant for the restore's own decision, it lost it (a vCPU that
    /// CPU_ON had started stayed off after the restore).
    pub staged_start: Mutex<Option<(u64, u64)>>,
}

impl Vcpu {
    /// `interrupts`: how many distinct interrupts can be queued for it.
    pub fn new(index: usize, cpu: usize, mpidr: u64, interrupts: usize) -> Vcpu {
        Vcpu {
            index,
            cpu,
            mpidr,
            cell: VcpuCell::new(),
            start: Mutex::new((0, 0)),
            pending_sgis: PendingSgis::new(),
            overflow: Mutex::new(BoundedQueue::with_capacity(interrupts)),
            snapshot: Mutex::new(None),
            sve: Mutex::new(SveRegisters::new()),
            deferred_level: Mutex::new(Deferred::new()),
            after_park: AtomicU8::new(AfterPark::Resume as u8),
            start_from_snapshot: AtomicBool::new(false),
            restored_start: Mutex::new(None),
            staged_start: Mutex::new(None),
        }
    }

    pub fn state(&self) -> VcpuState {
        self.cell.state()
    }

    /// PSCI CPU_ON: records the entry point and makes the vCPU pending.
    pub fn power_on(&self, entry: u64, context: u64) -> Result<(), PowerOnRefused> {
        let mut start = self.start.lock();
        self.cell.power_on()?;
        *start = (entry, context);
        Ok(())
    }

    /// Its own core: OnPending -> Running, with the entry point to start at.
    /// An exit request left from its last run is dropped first (one posted
    /// once it runs stays); a pause request stays: it was posted while the
    /// vCPU was last running, by an operation that still wants it parked.
    pub fn start(&self) -> Option<(u64, u64)> {
        let start = self.start.lock();
        self.cell.mailbox.withdraw(Request::Exit);
        self.cell.apply(Transition::Start).ok()?;
        Some(*start)
    }

    /// An operation holding this vCPU: it will start at `entry` once let go.
    pub fn held_power_on(&self, entry: u64, context: u64) {
        let mut start = self.start.lock();
        if self.cell.apply(Transition::HeldPowerOn).is_ok() {
            *start = (entry, context);
        }
    }

    /// An operation holding this vCPU: it stays off once let go.
    pub fn held_power_off(&self) {
        let _ = self.cell.apply(Transition::HeldPowerOff);
    }

    /// Its own core left the guest (a no-op if an operation already moved it).
    pub fn leave(&self) {
        let _ = self.cell.apply(Transition::Leave);
    }

    /// The entry point and context of the pending start (meaningful while
    /// the vCPU is OnPending or HeldOnPending).
    pub fn pending_start(&self) -> (u64, u64) {
        *self.start.lock()
    }

    /// Its own core, once out of its guest: a restore back to a checkpoint
    /// in which this vCPU was still to start makes it pending again.
    pub fn restart_if_restored_pending(&self) {
        if let Some((entry, context)) = self.restored_start.lock().take() {
            if self.power_on(entry, context).is_err() {
                // Held by an operation since it left: it starts when let go.
                self.held_power_on(entry, context);
            }
        }
    }

    /// Leaves a request and kicks the vCPU's core so that it looks.
    pub fn post(&self, request: Request) {
        self.cell.mailbox.post(request);
        gic::send_kick(self.mpidr);
    }

    pub fn set_after_park(&self, what: AfterPark) {
        self.after_park.store(what as u8, Ordering::SeqCst);
    }

    pub fn take_after_park(&self) -> AfterPark {
        match self
            .after_park
            .swap(AfterPark::Resume as u8, Ordering::SeqCst)
        {
            1 => AfterPark::Reload,
            2 => AfterPark::Leave,
            _ => AfterPark::Resume,
        }
    }

    /// Forgets every interrupt waiting for this vCPU (it is starting afresh).
    /// Called on the vCPU's own core: hardware interrupts among them were
    /// acknowledged there and are still physically active, so they are
    /// deactivated (a line still asserted pends again and is taken anew)
    /// rather than left active forever, deaf to their device.
    pub fn clear_pending_interrupts(&self) {
        self.pending_sgis.store(Taken::default());
        let mut overflow = self.overflow.lock();
        while let Some(interrupt) = overflow.pop_front() {
            if interrupt.hardware {
                gic::deactivate(interrupt.intid);
            }
        }
    }
}

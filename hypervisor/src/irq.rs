//! Guest interrupts: physical IRQs dispatched through the interrupt-owner table, virtual SGIs between vCPUs, and the overflow queues.
//!
//! A physical interrupt reaches EL2 (HCR_EL2.IMO) on the core it is routed
//! to; it is acknowledged and its priority dropped, then its owner
//! (`bulkhead_core::irq_owner`) decides: one of Bulkhead's own goes to its
//! handler in [`HYPERVISOR_INTERRUPTS`]; one of the partition running here
//! goes into a list register with the HW bit, so the guest's EOI
//! deactivates it (when every list register is busy it waits in the
//! vCPU's bounded queue, refilled on the maintenance interrupt); anything
//! else is deactivated and dropped. A level SPI that arrives while the
//! guest masks IRQs is held active for a short grace period and injected
//! only if its line is still asserted then (`bulkhead_core::level_irq`:
//! a handler that EOIs before clearing its device takes no second one). Virtual SGIs never touch the physical
//! GIC: the sender marks them pending on the target vCPU and posts it an
//! Inject request.

use bulkhead_core::decode::SgiRequest;
use bulkhead_core::irq_owner::Owner;
use bulkhead_core::level_irq::{self, Arrival, Settle};
use bulkhead_core::pending_sgis::Taken;
use bulkhead_core::protocol::{PowerView, Request};

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::gic::{self, KICK_SGI, MAINTENANCE_PPI};
use crate::arch::aarch64::timer::{self, HYPERVISOR_TIMER_PPI};
use crate::arch::aarch64::vgic_hw::{self, Injection, VirtualInterrupt};
use crate::partition::protocol::Site;
use crate::partition::{leave_requested, Partition, System, Vcpu};
use crate::trap::TrapOutcome;

/// What a handler of one of Bulkhead's own interrupts asks for afterwards.
#[derive(Clone, Copy, Debug, Default)]
struct Followups {
    checkpoint_due: bool,
    /// Deferred level interrupts may be due for settling.
    deferred_due: bool,
    /// List registers drained or a virtual interrupt was deactivated: refill them.
    refill: bool,
}

/// A handler of one of Bulkhead's own interrupts.
type Handler = fn(&mut Followups);

/// Bulkhead's own interrupts and their handlers; the owner table marks
/// exactly these INTIDs as Bulkhead's (see [`hypervisor_private`]).
const HYPERVISOR_INTERRUPTS: [(u32, Handler); 3] = [
    // The kick only makes the core look at its mailbox, after the loop
    // (an Inject request there refills the list registers).
    (KICK_SGI, |_| {}),
    // List registers ran low or a virtual SPI was deactivated: refilled
    // by `flush_pending` after the loop.
    (MAINTENANCE_PPI, |followups| followups.refill = true),
    (HYPERVISOR_TIMER_PPI, |followups| {
        let expired = timer::take_expired();
        followups.checkpoint_due = expired.checkpoint;
        followups.deferred_due = expired.deferred;
    }),
];

/// Bulkhead's private (per-core) interrupts, for the owner table.
pub fn hypervisor_private() -> [u32; 3] {
    HYPERVISOR_INTERRUPTS.map(|(intid, _)| intid)
}

/// Most physical IRQs one exit acknowledges.
const MOST_PER_EXIT: usize = 64;

/// Handles the physical IRQs pending on this core while its vCPU runs.
pub fn handle_physical_irqs(
    system: &System,
    partition: &Partition,
    partition_index: usize,
    vcpu: &Vcpu,
    frame: &mut GuestFrame,
) -> TrapOutcome {
    let mut followups = Followups::default();
    // Bounded: a level interrupt whose cause stays comes straight back; the
    // rest wait for the next exit rather than hold the vCPU here.
    // The fast path may have acknowledged one already and left it here.
    let mut handed_over = crate::percpu::take_handed_over_interrupt();
    for _ in 0..MOST_PER_EXIT {
        let Some(intid) = handed_over.take().or_else(gic::acknowledge) else {
            break;
        };
        gic::end_of_interrupt(intid);
        match system.interrupts.owner(intid, Some(partition_index)) {
            Owner::Hypervisor => {
                if intid == MAINTENANCE_PPI {
                    // Level-sensitive: its causes (deactivated virtual SPIs
                    // that asked for an EOI maintenance, an underflow) go
                    // before it is deactivated, or it is taken again at once.
                    crate::virtual_spi::take_deactivated(partition);
                    vgic_hw::request_underflow_interrupt(false);
                }
                if let Some((_, handler)) =
                    HYPERVISOR_INTERRUPTS.iter().find(|(own, _)| *own == intid)
                {
                    handler(&mut followups);
                } else {
                    handle_hypervisor_spi(intid);
                }
                gic::deactivate(intid);
            }
            Owner::Partition(index) if index == partition_index => {
                // Cheap tests first: PPIs and unmasked guests are the hot path.
                if frame.spsr & SPSR_I != 0
                    && level_irq::SPIS.contains(&intid)
                    && try_defer(partition, vcpu, intid)
                {
                    continue;
                }
                inject_hardware(partition, vcpu, intid);
            }
            // Not this core's to take: drop it rather than wedge it active.
            Owner::Partition(_) | Owner::Nobody => gic::deactivate(intid),
        }
    }
    if followups.deferred_due {
        settle_due(partition, vcpu);
    }
    if followups.refill {
        flush_pending(partition, vcpu);
    }
    // No console drain here: a core running one partition must not spend
    // its time emitting another partition's output (hostile_storm_console).
    if followups.checkpoint_due {
        crate::partition::checkpoint::periodic(partition, vcpu, frame);
    }
    if leave_requested(partition, vcpu, frame, Site::Interrupted) {
        TrapOutcome::Exit
    } else {
        TrapOutcome::Resume
    }
}

/// An IRQ exit's fast path, with only x0-x18 and x30 saved: takes one
/// interrupt and finishes here if it is the kick (its mailbox then holds
/// nothing, or only an Inject, which needs no more than the list
/// registers) or a private interrupt of this partition (its timer), which
/// go into list registers without looking at the rest of the frame. Any
/// other interrupt is handed over to the general path ([`handle_physical_irqs`]
/// takes it first), as is a mailbox with more in it: `Exit` then.
#[inline(always)]
pub fn handle_fast(
    system: &System,
    partition: &Partition,
    partition_index: usize,
    vcpu: &Vcpu,
) -> TrapOutcome {
    match gic::acknowledge() {
        None => {}
        Some(KICK_SGI) => {
            gic::end_of_interrupt(KICK_SGI);
            gic::deactivate(KICK_SGI);
        }
        Some(intid)
            if intid < 32
                && system.interrupts.owner(intid, Some(partition_index))
                    == Owner::Partition(partition_index) =>
        {
            gic::end_of_interrupt(intid);
            inject_hardware(partition, vcpu, intid);
        }
        Some(intid) => {
            crate::percpu::hand_over_interrupt(intid);
            return TrapOutcome::Exit;
        }
    }
    if crate::partition::must_leave(partition) {
        return TrapOutcome::Exit;
    }
    let mailbox = &vcpu.cell.mailbox;
    if mailbox.peek().is_empty() {
        TrapOutcome::Resume
    } else if mailbox.take_only(Request::Inject) {
        flush_pending(partition, vcpu);
        TrapOutcome::Resume
    } else {
        TrapOutcome::Exit
    }
}

/// SPSR_EL2.I: the interrupted guest context masks IRQs.
const SPSR_I: u64 = 1 << 7;

/// How long a deferred level interrupt is held before its line is checked:
/// time for a handler that EOIed to clear its device (a few instructions
/// to a few microseconds), short enough that a real event waits little.
const DEFERRAL_US: u64 = 50;

#[inline(always)]
fn inject_hardware(partition: &Partition, vcpu: &Vcpu, intid: u32) {
    crate::partition::TrapCounters::bump(&partition.traps.irqs_injected);
    let priority = partition.hardware_priority(vcpu.index, intid);
    queue_or_inject(
        vcpu,
        VirtualInterrupt {
            intid,
            priority,
            hardware: true,
            source: 0,
        },
    );
}

/// Holds `intid` (acknowledged, priority dropped, still active) until its
/// line is checked, if it is a level SPI of the partition (the guest masks
/// IRQs); false if it is to be injected now (not level, or the vCPU holds
/// too many already).
#[cold]
#[inline(never)]
fn try_defer(partition: &Partition, vcpu: &Vcpu, intid: u32) -> bool {
    let level = partition.owns_level_spi(intid);
    if level_irq::on_arrival(intid, level, true) != Arrival::Defer {
        return false;
    }
    let due = timer::now().saturating_add(timer::ticks_from_us(DEFERRAL_US));
    let mut deferred = vcpu.deferred_level.lock();
    if deferred.defer(intid, due).is_err() {
        return false;
    }
    timer::set_deferred_deadline(deferred.next_due());
    true
}

/// Settles the deferred level interrupts whose grace period is over: one
/// whose line is still asserted is injected (it stays active, so the
/// guest's EOI deactivates it as for any other), the others are
/// deactivated unseen. The timer is set for what is left.
#[cold]
#[inline(never)]
fn settle_due(partition: &Partition, vcpu: &Vcpu) {
    let mut deferred = vcpu.deferred_level.lock();
    deferred.take_due(timer::now(), |intid| {
        match level_irq::settle(partition.spi_line_asserted(intid)) {
            Settle::Inject => inject_hardware(partition, vcpu, intid),
            Settle::Deactivate => gic::deactivate(intid),
        }
    });
    timer::set_deferred_deadline(deferred.next_due());
}

/// Deactivates every deferred level interrupt of this core's vCPU (it
/// starts, stops or is restored): one whose line is still asserted pends
/// again at once and is taken afresh, so nothing is lost.
pub fn release_deferred(vcpu: &Vcpu) {
    let mut deferred = vcpu.deferred_level.lock();
    deferred.take_all(gic::deactivate);
    timer::set_deferred_deadline(None);
}

/// Bulkhead's own SPIs (its devices': the SMMU's event queue and global
/// errors, the console UART's input) go to their driver.
fn handle_hypervisor_spi(intid: u32) {
    if !crate::iommu::handle_interrupt(intid) {
        crate::console::handle_input_interrupt(intid);
    }
}

/// Takes the interrupts pending on a core whose vCPU is not running:
/// Bulkhead's own SPIs are handled, anything else is dropped. Bounded, as
/// a still-asserted level interrupt comes straight back.
pub fn drain_idle(system: &System) {
    const MOST: usize = 64;
    for _ in 0..MOST {
        let Some(intid) = gic::acknowledge() else {
            break;
        };
        gic::end_of_interrupt(intid);
        if intid >= 32 && system.interrupts.owner(intid, None) == Owner::Hypervisor {
            handle_hypervisor_spi(intid);
        }
        gic::deactivate(intid);
    }
}

fn queue_or_inject(vcpu: &Vcpu, interrupt: VirtualInterrupt) {
    let mut queue = vcpu.overflow.lock();
    if !queue.is_empty() || vgic_hw::try_inject(interrupt) != Injection::Injected {
        // The queue holds each interrupt once and is sized for every one the
        // vCPU can receive, so it cannot be full here.
        if !queue.contains(&interrupt) && queue.push_back(interrupt).is_err() {
            gic::deactivate(interrupt.intid);
        }
        vgic_hw::request_underflow_interrupt(true);
    }
}

/// Moves the vCPU's pending SGIs and queued interrupts into free list
/// registers. Runs on the vCPU's own core.
pub fn flush_pending(partition: &Partition, vcpu: &Vcpu) {
    let sgis = vcpu.pending_sgis.take();
    let mut left = Taken::default();
    // Only SGIs that found every list register busy need the underflow
    // interrupt; one behind another sender's (Chained) waits for its EOI maintenance.
    let mut sgis_starved = false;
    if !sgis.is_empty() {
        let vgic = partition.vgic.lock();
        for pending in sgis.iter() {
            let sgi = pending.sgi;
            if !vgic.sgi_enabled(vcpu.index, sgi) {
                continue;
            }
            let interrupt = VirtualInterrupt {
                intid: sgi,
                priority: vgic.sgi_priority(vcpu.index, sgi),
                hardware: false,
                source: pending.source,
            };
            match vgic_hw::try_inject(interrupt) {
                Injection::Injected => {}
                Injection::Chained => left.insert(pending),
                Injection::Full => {
                    left.insert(pending);
                    sgis_starved = true;
                }
            }
        }
    }
    if !left.is_empty() {
        vcpu.pending_sgis.put_back(left);
    }
    let mut queue = vcpu.overflow.lock();
    while let Some(&interrupt) = queue.front() {
        if vgic_hw::try_inject(interrupt) != Injection::Injected {
            break;
        }
        queue.pop_front();
    }
    let starved = crate::virtual_spi::flush(partition, vcpu);
    vgic_hw::request_underflow_interrupt(sgis_starved || !queue.is_empty() || starved);
}

/// A trapped write of an SGI register by `sender`: delivers the SGI to the
/// partition's own vCPUs it names; targets outside it are dropped.
pub fn send_sgi(partition: &Partition, sender: &Vcpu, value: u64) {
    let request = SgiRequest::decode(value);
    let sgi = u32::from(request.intid);
    deliver_sgi(
        partition,
        sender,
        sgi,
        request.named_vcpus(sender.index, partition.vcpus.len()),
    );
}

/// A trapped GICD_SGIR write (GICv2) by `sender`, already decoded and
/// restricted to the partition: SGI `sgi` to the vCPUs in `vcpus` (bit `i`: vCPU `i`).
pub fn send_sgi_to(partition: &Partition, sender: &Vcpu, sgi: u32, vcpus: u64) {
    let named = (0..64).filter(|index| vcpus & (1 << index) != 0);
    deliver_sgi(partition, sender, sgi, named);
}

fn deliver_sgi(partition: &Partition, sender: &Vcpu, sgi: u32, named: impl Iterator<Item = usize>) {
    // A GICv2 guest reads the sender's CPU interface (its vCPU index, as
    // ITARGETSR0..7 show it) with the SGI; a GICv3 guest sees no source.
    let source = match gic::concrete() {
        gic::Concrete::V2(_) => sender.index as u8,
        gic::Concrete::V3(_) => 0,
    };
    for index in named {
        // A vCPU that is off would drop it when it starts: do not wake its core.
        let Some(target) = partition
            .vcpus
            .get(index)
            .filter(|target| target.state().power() == PowerView::On)
        else {
            continue;
        };
        target.pending_sgis.mark(sgi, source);
        if target.index == sender.index {
            flush_pending(partition, sender);
        } else {
            target.post(Request::Inject);
        }
    }
}

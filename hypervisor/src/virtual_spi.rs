//! Raising a partition's purely virtual SPIs (channel doorbells, virtual PCI INTx) from any core.
//!
//! A raise from another partition's core takes no lock of the target: it
//! sets a bit and kicks the routed vCPU's core only when the bit was clear,
//! so a flood of raises costs the target one kick, not one per raise. The
//! target core moves pending bits into list registers. While one is still
//! in a list register (not yet deactivated by the guest), a new raise asks
//! for an EOI maintenance interrupt instead and stays pending: the guest
//! takes one interrupt per acknowledgement, however many raises came. A
//! raise while the guest has the SPI disabled is latched in its vGIC model
//! and, until the guest enables it, further raises cost nothing at all.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use bulkhead_core::config::virtual_console::VIRTUAL_UART_INTID;
use bulkhead_core::config::virtual_pci::FIRST_VIRTUAL_SPI;
use bulkhead_core::protocol::{PowerView, Request};
use bulkhead_core::vgic::{virtual_spi_bit, VirtualGic, VIRTUAL_SPI_COUNT};

use crate::arch::aarch64::vgic_hw::{self, Injection};
use crate::partition::{Partition, Vcpu};

/// A partition's virtual SPI lines, outside its vGIC lock.
pub struct VirtualSpiLines {
    /// Raised and not yet in a list register (or waiting for its EOI).
    pending: AtomicU64,
    /// In a list register with an EOI maintenance requested.
    in_flight: AtomicU64,
    /// Latched in the vGIC model (the guest has them disabled): a raise
    /// changes nothing and kicks no one.
    latched: AtomicU64,
    /// Target vCPU of each, mirrored from the vGIC model's IROUTER.
    routes: [AtomicU8; VIRTUAL_SPI_COUNT],
    /// Enabled with group 1 on, and the priority of each, mirrored from
    /// the model so that delivery takes no lock.
    deliverable: AtomicU64,
    /// Configured edge-triggered by the guest (mirrored from the model).
    edge: AtomicU64,
    /// Fed by a level source (the virtual UART): injected with an EOI
    /// maintenance, and raised again at deactivation while the source
    /// still asserts it and the guest has it level-sensitive.
    levels: AtomicU64,
    priorities: [AtomicU8; VIRTUAL_SPI_COUNT],
}

impl VirtualSpiLines {
    pub const fn new() -> VirtualSpiLines {
        VirtualSpiLines {
            pending: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            latched: AtomicU64::new(0),
            routes: [const { AtomicU8::new(0) }; VIRTUAL_SPI_COUNT],
            deliverable: AtomicU64::new(0),
            edge: AtomicU64::new(0),
            levels: AtomicU64::new(0),
            priorities: [const { AtomicU8::new(0) }; VIRTUAL_SPI_COUNT],
        }
    }

    /// Copies what the guest programmed (after a GICD write, a restore):
    /// routes, priorities, which are deliverable, which latched.
    pub fn refresh(&self, vgic: &VirtualGic) {
        for slot in slots(vgic.virtual_spi_slots()) {
            let intid = FIRST_VIRTUAL_SPI + slot as u32;
            if let (Some(route), Some(priority)) =
                (self.routes.get(slot), self.priorities.get(slot))
            {
                route.store(vgic.virtual_spi_route(intid) as u8, Ordering::Release);
                priority.store(vgic.virtual_spi_priority(intid), Ordering::Release);
            }
        }
        self.deliverable
            .store(vgic.deliverable_virtual_spis(), Ordering::Release);
        self.edge.store(vgic.edge_virtual_spis(), Ordering::Release);
        self.latched
            .store(vgic.latched_virtual_spis(), Ordering::Release);
    }

    /// Forgets every raise (partition reset or restore).
    pub fn reset(&self, vgic: &VirtualGic) {
        self.pending.store(0, Ordering::Release);
        self.in_flight.store(0, Ordering::Release);
        self.refresh(vgic);
    }

    /// Marks `intid` as fed by a level source (boot).
    pub fn track_level(&self, intid: u32) {
        if let Some(bit) = virtual_spi_bit(intid) {
            self.levels.fetch_or(bit, Ordering::AcqRel);
        }
    }

    fn route(&self, slot: usize) -> usize {
        self.routes
            .get(slot)
            .map_or(0, |route| usize::from(route.load(Ordering::Acquire)))
    }
}

/// Raises virtual SPI `intid` of `partition`, from any core.
pub fn raise(partition: &Partition, intid: u32) {
    let Some(bit) = virtual_spi_bit(intid) else {
        return;
    };
    let lines = &partition.virtual_spis;
    if lines.latched.load(Ordering::Acquire) & bit != 0
        || lines.pending.fetch_or(bit, Ordering::AcqRel) & bit != 0
    {
        return;
    }
    kick(partition, bit);
}

/// The set bits of a slot mask, lowest first (no walk over empty slots:
/// this runs on every doorbell).
fn slots(mut mask: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let slot = mask.trailing_zeros();
        (slot < 64).then(|| {
            mask &= mask - 1;
            slot as usize
        })
    })
}

/// Kicks the vCPUs the pending bits in `bits` are routed to.
fn kick(partition: &Partition, bits: u64) {
    let lines = &partition.virtual_spis;
    for slot in slots(bits) {
        if let Some(vcpu) = partition
            .vcpus
            .get(lines.route(slot))
            .filter(|vcpu| vcpu.state().power() == PowerView::On)
        {
            vcpu.post(Request::Inject);
        }
    }
}

/// After a guest GICD write: routes may have moved and latched SPIs may
/// have become deliverable (`deliverable`, a slot mask).
pub fn after_distributor_write(partition: &Partition, vgic: &VirtualGic, deliverable: u64) {
    // Most partitions have none: their GICD writes pay nothing here.
    if vgic.virtual_spi_slots() == 0 {
        return;
    }
    let lines = &partition.virtual_spis;
    lines.refresh(vgic);
    let pending = lines.pending.load(Ordering::Acquire);
    if pending != 0 {
        kick(partition, pending);
    }
    if deliverable != 0 {
        // Not under the caller's vGIC lock: `raise` takes none.
        lines.pending.fetch_or(deliverable, Ordering::AcqRel);
        kick(partition, deliverable);
    }
}

/// Frees the list registers of virtual SPIs the guest deactivated since an
/// EOI maintenance was asked for them; they may be delivered again. On the
/// vCPU's own core.
#[inline(always)]
pub fn take_deactivated(partition: &Partition) {
    let lines = &partition.virtual_spis;
    vgic_hw::take_eoi_maintenance(|intid| {
        if let Some(bit) = virtual_spi_bit(intid) {
            lines.in_flight.fetch_and(!bit, Ordering::AcqRel);
            let level = lines.levels.load(Ordering::Acquire) & !lines.edge.load(Ordering::Acquire);
            if level & bit != 0 && still_asserted(partition, intid) {
                // A level line still high fires again after its EOI.
                raise(partition, intid);
            }
        }
    });
}

/// Whether the level source of virtual SPI `intid` still asserts it.
fn still_asserted(partition: &Partition, intid: u32) -> bool {
    intid == VIRTUAL_UART_INTID
        && partition
            .virtual_uart
            .is_some_and(|uart| uart.interrupt_level())
}

/// Moves `vcpu`'s pending virtual SPIs into list registers; on its own
/// core. True if some found every list register busy (the caller asks for
/// the underflow maintenance interrupt).
pub fn flush(partition: &Partition, vcpu: &Vcpu) -> bool {
    let lines = &partition.virtual_spis;
    take_deactivated(partition);
    let waiting = lines.pending.load(Ordering::Acquire) & !lines.in_flight.load(Ordering::Acquire);
    if waiting == 0 {
        return false;
    }
    let mut starved = false;
    for slot in slots(waiting) {
        if lines.route(slot) != vcpu.index {
            continue;
        }
        let bit = 1u64 << slot;
        let intid = FIRST_VIRTUAL_SPI + slot as u32;
        if lines.deliverable.load(Ordering::Acquire) & bit == 0
            && partition.vgic.lock().deliver_virtual_spi(intid).is_none()
        {
            // Disabled: the model latched it for when the guest enables it.
            lines.latched.fetch_or(bit, Ordering::AcqRel);
            lines.pending.fetch_and(!bit, Ordering::AcqRel);
            continue;
        }
        let priority = lines
            .priorities
            .get(slot)
            .map_or(0, |priority| priority.load(Ordering::Acquire));
        let level = lines.levels.load(Ordering::Acquire) & bit != 0;
        match vgic_hw::inject_virtual(intid, priority, level) {
            Injection::Injected => {
                lines.pending.fetch_and(!bit, Ordering::AcqRel);
                if level {
                    // Its deactivation is watched (see `take_deactivated`).
                    lines.in_flight.fetch_or(bit, Ordering::AcqRel);
                }
            }
            // Delivered again once its current instance is deactivated.
            Injection::Chained => {
                lines.in_flight.fetch_or(bit, Ordering::AcqRel);
            }
            Injection::Full => starved = true,
        }
    }
    starved
}

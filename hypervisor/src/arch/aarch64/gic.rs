//! Physical GICv3: distributor and redistributor bring-up, and the SGI that kicks a core.
//!
//! Bulkhead routes every physical IRQ to EL2 (HCR_EL2.IMO). Its own are
//! [`KICK_SGI`], which one core sends another to make it leave its guest
//! (partition stop/reset), leave its idle loop (CPU_ON) or look at newly
//! queued virtual interrupts, and the maintenance PPI. Guest interrupts are
//! acknowledged here and injected by `crate::irq`. EOImode is 1: an EOI only
//! drops priority, and the guest's own EOI deactivates through the LR HW bit.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use super::sysreg::{dsb_sy, isb, read_sysreg, write_sysreg};

/// The SGI Bulkhead uses between its own cores.
pub const KICK_SGI: u32 = 8;
/// The GIC maintenance interrupt (PPI 9): list registers need refilling.
pub const MAINTENANCE_PPI: u32 = 25;
/// INTIDs >= this value are spurious (1020..1023).
const SPURIOUS_FIRST: u64 = 1020;

register_structs! {
    /// Distributor registers Bulkhead programs (GICv3 architecture spec, 12.9).
    pub DistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => @END),
    }
}

register_structs! {
    /// Redistributor control frame (RD_base).
    pub RedistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => iidr: ReadOnly<u32>),
        (0x0008 => typer: ReadOnly<u64>),
        (0x0010 => _reserved0),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// Redistributor SGI/PPI frame (SGI_base = RD_base + 64 KiB).
    pub SgiRegisters {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => @END),
    }
}

const GICD_CTLR_RWP: u32 = 1 << 31;
const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_TYPER_LAST: u64 = 1 << 4;
/// Each GICv3 redistributor is two 64 KiB frames.
const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// Enables the distributor with affinity routing. Boot CPU, once.
///
/// # Safety
/// `distributor` must be the GICv3 distributor's base, identity-mapped as device memory.
pub unsafe fn init_distributor(distributor: u64) {
    // SAFETY: per the contract, the address is the distributor's MMIO block.
    let gicd = unsafe { &*(distributor as *const DistributorRegisters) };
    gicd.ctlr.set(0);
    while gicd.ctlr.get() & GICD_CTLR_RWP != 0 {}
    gicd.ctlr
        .set(GICD_CTLR_ARE | GICD_CTLR_ENABLE_GRP1 | GICD_CTLR_ENABLE_GRP0);
    while gicd.ctlr.get() & GICD_CTLR_RWP != 0 {}
}

/// Configures an SPI Bulkhead itself handles (its SMMU's): edge-triggered,
/// group 1, highest guest-visible priority, routed to the core `mpidr`, enabled.
///
/// # Safety
/// `distributor` must be the GICv3 distributor's base, identity-mapped as
/// device memory; boot CPU, before partitions run (no one else programs it).
pub unsafe fn enable_hypervisor_spi(distributor: u64, intid: u32, mpidr: u64) {
    if !(32..1020).contains(&intid) {
        return;
    }
    let word = u64::from(intid / 32) * 4;
    let bit = 1u32 << (intid % 32);
    let config_word = u64::from(intid / 16) * 4;
    let config_edge = 0b10u32 << ((intid % 16) * 2);
    // GICD_IGROUPR (0x080), ICFGR (0xC00), IPRIORITYR (0x400), IROUTER
    // (0x6000) and ISENABLER (0x100): architected registers inside the
    // distributor frame the caller names.
    let read = |offset: u64| {
        // SAFETY: an aligned register of the distributor frame (contract).
        unsafe { core::ptr::read_volatile((distributor + offset) as *const u32) }
    };
    let write = |offset: u64, value: u32| {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile((distributor + offset) as *mut u32, value) }
    };
    write(0x080 + word, read(0x080 + word) | bit);
    write(0xC00 + config_word, read(0xC00 + config_word) | config_edge);
    // SAFETY: IPRIORITYR is byte-accessible; inside the frame (contract).
    unsafe { core::ptr::write_volatile((distributor + 0x400 + u64::from(intid)) as *mut u8, 0x80) };
    let affinity = mpidr & 0xff_00ff_ffff;
    // SAFETY: IROUTER<n> is a 64-bit register inside the frame (contract).
    unsafe {
        core::ptr::write_volatile(
            (distributor + 0x6000 + u64::from(intid) * 8) as *mut u64,
            affinity,
        )
    };
    write(0x100 + word, bit);
}

/// Wakes this core's redistributor, enables [`KICK_SGI`] and the EL2 CPU interface.
///
/// # Safety
/// `redistributors` must be the base of the GICv3 redistributor region,
/// identity-mapped as device memory, and `size` its length.
pub unsafe fn init_this_cpu(redistributors: u64, size: u64) -> Result<(), &'static str> {
    // SAFETY: per this function's contract.
    let frame = unsafe { find_redistributor(redistributors, size, super::sysreg::mpidr()) }
        .ok_or("no GIC redistributor matches this core's MPIDR")?;
    // SAFETY: `find_redistributor` returned a frame inside the region.
    let rd = unsafe { &*(frame as *const RedistributorRegisters) };
    rd.waker.set(rd.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
    while rd.waker.get() & GICR_WAKER_CHILDREN_ASLEEP != 0 {}

    // SAFETY: the SGI frame follows the control frame of the same redistributor.
    let sgi = unsafe { &*((frame + 0x1_0000) as *const SgiRegisters) };
    sgi.icenabler0.set(u32::MAX);
    sgi.igroupr0.set(u32::MAX);
    sgi.ipriorityr[KICK_SGI as usize].set(0x80);
    sgi.ipriorityr[MAINTENANCE_PPI as usize].set(0x80);
    sgi.ipriorityr[super::timer::HYPERVISOR_TIMER_PPI as usize].set(0x80);
    sgi.isenabler0
        .set(1 << KICK_SGI | 1 << MAINTENANCE_PPI | 1 << super::timer::HYPERVISOR_TIMER_PPI);
    dsb_sy();

    // EL2 uses the system-register interface and lets EL1 use it too.
    write_sysreg!("icc_sre_el2", 0b1111);
    isb();
    write_sysreg!("icc_pmr_el1", 0xff);
    write_sysreg!("icc_bpr1_el1", 0);
    // EOImode = 1: priority drop and deactivation are separate.
    write_sysreg!("icc_ctlr_el1", 1 << 1);
    write_sysreg!("icc_igrpen1_el1", 1);
    isb();
    Ok(())
}

/// The RD_base of the redistributor whose GICR_TYPER affinity matches `mpidr`.
///
/// # Safety
/// `redistributors`/`size` must describe the GICv3 redistributor region,
/// identity-mapped as device memory.
pub unsafe fn find_redistributor(redistributors: u64, size: u64, mpidr: u64) -> Option<u64> {
    // GICR_TYPER[63:32] holds Aff3.Aff2.Aff1.Aff0.
    let wanted = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
    let end = redistributors.saturating_add(size);
    let mut frame = redistributors;
    while frame < end {
        // SAFETY: `frame` lies inside the redistributor region.
        let rd = unsafe { &*(frame as *const RedistributorRegisters) };
        let typer = rd.typer.get();
        if typer >> 32 == wanted {
            return Some(frame);
        }
        if typer & GICR_TYPER_LAST != 0 {
            return None;
        }
        frame += REDISTRIBUTOR_STRIDE;
    }
    None
}

/// Sends [`KICK_SGI`] to the core with physical MPIDR `mpidr`.
pub fn send_kick(mpidr: u64) {
    let aff0 = mpidr & 0xff;
    let value = ((mpidr >> 32) & 0xff) << 48
        | ((mpidr >> 16) & 0xff) << 32
        | (KICK_SGI as u64) << 24
        | ((mpidr >> 8) & 0xff) << 16
        | (aff0 / 16) << 44
        | 1 << (aff0 % 16);
    dsb_sy();
    write_sysreg!("icc_sgi1r_el1", value);
    isb();
}

/// Acknowledges the highest-priority pending interrupt, if any.
pub fn acknowledge() -> Option<u32> {
    let intid = read_sysreg!("icc_iar1_el1") & 0xff_ffff;
    (intid < SPURIOUS_FIRST).then_some(intid as u32)
}

/// Drops the running priority (EOImode 1: the interrupt stays active).
pub fn end_of_interrupt(intid: u32) {
    write_sysreg!("icc_eoir1_el1", u64::from(intid));
}

/// Deactivates an interrupt whose priority was already dropped.
pub fn deactivate(intid: u32) {
    write_sysreg!("icc_dir_el1", u64::from(intid));
}

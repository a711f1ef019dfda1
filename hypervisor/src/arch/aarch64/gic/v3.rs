//! Physical GICv3: distributor and redistributor bring-up, the system-register CPU interface, and the ICH_* virtual interface.
//!
//! EOImode is 1: an EOI only drops priority, and the guest's own EOI
//! deactivates through the LR HW bit. The virtual interface is the
//! ICH_*_EL2 system registers; list registers hold [`ListRegister`] values
//! in their architected 64-bit encoding.

use bulkhead_core::decode::ListRegister;
use bulkhead_core::intid::IntId;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use super::{InterruptController, VirtualCpuInterface, KICK_SGI, MAINTENANCE_PPI};
use crate::arch::aarch64::sysreg::{dsb_sy, isb, read_sysreg, write_sysreg};
use crate::arch::aarch64::timer::HYPERVISOR_TIMER_PPI;

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
    let frame =
        unsafe { find_redistributor(redistributors, size, crate::arch::aarch64::sysreg::mpidr()) }
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
    sgi.ipriorityr[HYPERVISOR_TIMER_PPI as usize].set(0x80);
    sgi.isenabler0
        .set(1 << KICK_SGI | 1 << MAINTENANCE_PPI | 1 << HYPERVISOR_TIMER_PPI);
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

/// The GICv3 as the seam sees it: the CPU interface is system registers,
/// so nothing but the redistributor region is needed after bring-up.
pub struct GicV3 {
    pub redistributors: u64,
    pub redistributors_size: u64,
}

impl InterruptController for GicV3 {
    fn init_this_cpu(&self) -> Result<(), &'static str> {
        // SAFETY: `GicV3` is built at boot from the board DT's redistributor
        // region, which the EL2 identity map covers as device memory.
        unsafe { init_this_cpu(self.redistributors, self.redistributors_size) }
    }

    fn acknowledge(&self) -> Option<IntId> {
        let intid = read_sysreg!("icc_iar1_el1") & 0xff_ffff;
        (intid < SPURIOUS_FIRST).then_some(IntId::new(intid as u32))
    }

    fn end_of_interrupt(&self, intid: IntId) {
        write_sysreg!("icc_eoir1_el1", u64::from(intid.raw()));
    }

    fn deactivate(&self, intid: IntId) {
        write_sysreg!("icc_dir_el1", u64::from(intid.raw()));
    }

    fn send_kick(&self, mpidr: u64) {
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
}

/// ICH_HCR_EL2 fields.
const ICH_HCR_EN: u64 = 1 << 0;
const ICH_HCR_UIE: u64 = 1 << 1;

fn read_lr(index: usize) -> u64 {
    match index {
        0 => read_sysreg!("ich_lr0_el2"),
        1 => read_sysreg!("ich_lr1_el2"),
        2 => read_sysreg!("ich_lr2_el2"),
        3 => read_sysreg!("ich_lr3_el2"),
        4 => read_sysreg!("ich_lr4_el2"),
        5 => read_sysreg!("ich_lr5_el2"),
        6 => read_sysreg!("ich_lr6_el2"),
        7 => read_sysreg!("ich_lr7_el2"),
        8 => read_sysreg!("ich_lr8_el2"),
        9 => read_sysreg!("ich_lr9_el2"),
        10 => read_sysreg!("ich_lr10_el2"),
        11 => read_sysreg!("ich_lr11_el2"),
        12 => read_sysreg!("ich_lr12_el2"),
        13 => read_sysreg!("ich_lr13_el2"),
        14 => read_sysreg!("ich_lr14_el2"),
        _ => read_sysreg!("ich_lr15_el2"),
    }
}

fn write_lr(index: usize, value: u64) {
    match index {
        0 => write_sysreg!("ich_lr0_el2", value),
        1 => write_sysreg!("ich_lr1_el2", value),
        2 => write_sysreg!("ich_lr2_el2", value),
        3 => write_sysreg!("ich_lr3_el2", value),
        4 => write_sysreg!("ich_lr4_el2", value),
        5 => write_sysreg!("ich_lr5_el2", value),
        6 => write_sysreg!("ich_lr6_el2", value),
        7 => write_sysreg!("ich_lr7_el2", value),
        8 => write_sysreg!("ich_lr8_el2", value),
        9 => write_sysreg!("ich_lr9_el2", value),
        10 => write_sysreg!("ich_lr10_el2", value),
        11 => write_sysreg!("ich_lr11_el2", value),
        12 => write_sysreg!("ich_lr12_el2", value),
        13 => write_sysreg!("ich_lr13_el2", value),
        14 => write_sysreg!("ich_lr14_el2", value),
        _ => write_sysreg!("ich_lr15_el2", value),
    }
}

impl VirtualCpuInterface for GicV3 {
    fn list_register_count(&self) -> usize {
        (read_sysreg!("ich_vtr_el2") & 0x1f) as usize + 1
    }

    fn read_raw(&self, index: usize) -> u64 {
        read_lr(index)
    }

    fn write_raw(&self, index: usize, value: u64) {
        write_lr(index, value);
    }

    fn decode(&self, raw: u64) -> ListRegister {
        ListRegister::decode(raw)
    }

    fn encode(&self, register: &ListRegister) -> u64 {
        register.encode()
    }

    fn empty_list_registers(&self) -> u64 {
        read_sysreg!("ich_elrsr_el2")
    }

    fn ended_list_registers(&self) -> u64 {
        read_sysreg!("ich_eisr_el2")
    }

    fn request_underflow_interrupt(&self, enabled: bool) {
        let hcr = read_sysreg!("ich_hcr_el2");
        let hcr = if enabled {
            hcr | ICH_HCR_UIE
        } else {
            hcr & !ICH_HCR_UIE
        };
        write_sysreg!("ich_hcr_el2", hcr);
    }

    fn enable(&self) {
        write_sysreg!("ich_ap0r0_el2", 0);
        write_sysreg!("ich_ap1r0_el2", 0);
        write_sysreg!("ich_vmcr_el2", 0);
        write_sysreg!("ich_hcr_el2", ICH_HCR_EN);
        isb();
    }

    fn disable(&self) {
        write_sysreg!("ich_hcr_el2", 0);
        isb();
    }

    fn save_state(&self) -> [u64; 3] {
        [
            read_sysreg!("ich_vmcr_el2"),
            read_sysreg!("ich_ap0r0_el2"),
            read_sysreg!("ich_ap1r0_el2"),
        ]
    }

    fn restore_state(&self, state: [u64; 3]) {
        write_sysreg!("ich_vmcr_el2", state[0]);
        write_sysreg!("ich_ap0r0_el2", state[1]);
        write_sysreg!("ich_ap1r0_el2", state[2]);
    }
}

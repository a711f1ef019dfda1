//! Physical GICv2: distributor and memory-mapped CPU interface (GICC) bring-up, and the GICH virtual interface control.
//!
//! Differences from the GICv3 path that shape this file:
//! - the CPU interface is MMIO (GICC), banked per core at one address, as
//!   are GICH and the distributor's SGI/PPI registers;
//! - SGIs are sent through GICD_SGIR to a CPU interface number, which is not
//!   the MPIDR: each core learns its own from GICD_ITARGETSR0 (which reads
//!   back the reading core's bit) and records it in [`GicV2`];
//! - an acknowledged SGI carries its source CPU in GICC_IAR bits 12:10, and
//!   its EOI and deactivation must name the same source;
//! - the board has no security extensions (QEMU virt without `secure=on`),
//!   so all interrupts stay in group 0, signalled as IRQs; GICC_CTLR.AckCtl
//!   lets the acknowledge see either group all the same.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use bulkhead_core::decode::gicv2::MAX_CPU_INTERFACES;
use bulkhead_core::decode::{ListRegister, ListRegisterV2};
use bulkhead_core::intid::IntId;
use bulkhead_platform::current::PLATFORM;

use super::{InterruptController, VirtualCpuInterface, KICK_SGI, MAINTENANCE_PPI};
use crate::arch::aarch64::sysreg::{dsb_sy, isb};
use crate::arch::aarch64::timer::HYPERVISOR_TIMER_PPI;

// Distributor registers (GICv2 architecture specification, 4.1.2).
const GICD_CTLR: u64 = 0x000;
const GICD_IIDR: u64 = 0x008;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_ICFGR: u64 = 0xC00;
const GICD_SGIR: u64 = 0xF00;
/// GICD_CTLR without security extensions: EnableGrp0 | EnableGrp1.
const GICD_CTLR_ENABLE: u32 = 0b11;

// CPU interface registers (4.1.3).
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_BPR: u64 = 0x08;
const GICC_IAR: u64 = 0x0C;
const GICC_EOIR: u64 = 0x10;
const GICC_DIR: u64 = 0x1000;
/// EnableGrp0 | EnableGrp1 | AckCtl | EOImode (bit 9: without security
/// extensions the only copy's EOImodeS): priority drop and deactivation apart.
const GICC_CTLR_VALUE: u32 = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 9;
/// GICC_IAR/EOIR/DIR: interrupt ID (9:0) and, for SGIs, source CPU (12:10).
const IAR_INTID_MASK: u32 = 0x3ff;
const IAR_SOURCE_MASK: u32 = 0x1c00;

// Virtual interface control registers, GICH (5.3).
const GICH_HCR: u64 = 0x00;
const GICH_VTR: u64 = 0x04;
const GICH_VMCR: u64 = 0x08;
const GICH_EISR0: u64 = 0x20;
const GICH_ELRSR0: u64 = 0x30;
const GICH_APR: u64 = 0xF0;
const GICH_LR0: u64 = 0x100;
const GICH_HCR_EN: u32 = 1 << 0;
const GICH_HCR_UIE: u32 = 1 << 1;
/// GICH_VTR.ListRegs (5:0) is the count minus one; GICv2 has at most 64.
const VTR_LIST_REGS_MASK: u32 = 0x3f;

/// A CPU interface slot not yet learnt.
const UNKNOWN: u64 = u64::MAX;

/// The board's GICv2 (physical addresses, identity-mapped at EL2 as device memory).
pub struct GicV2 {
    distributor: u64,
    cpu_interface: u64,
    hypervisor_interface: u64,
    /// MPIDR of the core behind CPU interface `n`, learnt by each core in
    /// [`InterruptController::init_this_cpu`].
    interface_mpidr: [AtomicU64; MAX_CPU_INTERFACES],
    /// Per logical CPU: the raw GICC_IAR of the SGI it acknowledged last,
    /// whose EOI and deactivation must name the same source CPU.
    sgi_acknowledged: [AtomicU32; PLATFORM.max_cpus],
    /// See [`VirtualCpuInterface::hardware_eoi_resignals`]; learnt in
    /// [`GicV2::init_distributor`].
    hardware_eoi_resignals: AtomicBool,
}

/// GICD_IIDR of QEMU's GICv2 model (implementer Arm, product 0, revision
/// 0; a GIC-400 reads 0x0200_143B). After a guest's EOI of an HW = 1 list
/// register, QEMU 10 deactivates the physical interrupt but only updates
/// the virtual interface (`gic_complete_irq` calls `gic_update_virt`), so
/// a level interrupt whose line is still asserted is not signalled again
/// until some other event touches the physical GIC: measured, a race_gicd
/// partition lost every re-fire once its neighbour stopped trapping, and a
/// virtual timer re-armed in the past by its handler (a loaded host makes
/// any deadline late) left both of irq_timer's partitions asleep for good.
const QEMU_GICV2_IIDR: u32 = 0x0000_043B;

impl GicV2 {
    /// # Safety
    /// The three addresses must be the board's GICD, GICC and GICH frames
    /// (from its DT), identity-mapped as device memory at EL2.
    pub const unsafe fn new(
        distributor: u64,
        cpu_interface: u64,
        hypervisor_interface: u64,
    ) -> GicV2 {
        GicV2 {
            distributor,
            cpu_interface,
            hypervisor_interface,
            interface_mpidr: [const { AtomicU64::new(UNKNOWN) }; MAX_CPU_INTERFACES],
            sgi_acknowledged: [const { AtomicU32::new(0) }; PLATFORM.max_cpus],
            hardware_eoi_resignals: AtomicBool::new(true),
        }
    }

    fn read(&self, base: u64, offset: u64) -> u32 {
        // SAFETY: `base` is one of the frames `new`'s contract names and
        // every offset used in this file is an architected 32-bit register
        // inside it; reads of these have no side effects beyond the
        // architected ones (GICC_IAR acknowledges, as intended).
        unsafe { core::ptr::read_volatile((base + offset) as *const u32) }
    }

    fn write(&self, base: u64, offset: u64, value: u32) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile((base + offset) as *mut u32, value) }
    }

    fn write_byte(&self, base: u64, offset: u64, value: u8) {
        // SAFETY: as for `read`; IPRIORITYR and ITARGETSR are byte-accessible.
        unsafe { core::ptr::write_volatile((base + offset) as *mut u8, value) }
    }

    /// Turns the distributor on. Boot CPU, once, before partitions run.
    pub fn init_distributor(&self) {
        let iidr = self.read(self.distributor, GICD_IIDR);
        self.hardware_eoi_resignals
            .store(iidr != QEMU_GICV2_IIDR, Ordering::Relaxed);
        self.write(self.distributor, GICD_CTLR, 0);
        self.write(self.distributor, GICD_CTLR, GICD_CTLR_ENABLE);
    }

    /// This core's CPU interface number: GICD_ITARGETSR0..7 read back the
    /// reading core's own bit (any SGI's byte does).
    fn own_interface(&self) -> Option<usize> {
        let mask = self.read(self.distributor, GICD_ITARGETSR) & 0xff;
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }

    /// The CPU interface of the core `mpidr`: learnt, or else its Aff0 (the
    /// numbering of QEMU virt and of single-cluster GIC-400 systems), for a
    /// core that has not come up yet.
    fn interface_of(&self, mpidr: u64) -> u32 {
        let learnt = self
            .interface_mpidr
            .iter()
            .position(|slot| slot.load(Ordering::Acquire) == mpidr & 0xff_00ff_ffff);
        match learnt {
            Some(interface) => interface as u32,
            None => (mpidr & 0x7) as u32,
        }
    }

    /// Configures an SPI Bulkhead itself handles: edge-triggered, priority
    /// 0x80, targeted at the core `mpidr`, enabled. Boot CPU, before partitions run.
    pub fn enable_hypervisor_spi(&self, intid: u32, mpidr: u64) {
        if !(32..1020).contains(&intid) {
            return;
        }
        let config = GICD_ICFGR + u64::from(intid / 16) * 4;
        let edge = 0b10u32 << ((intid % 16) * 2);
        self.write(
            self.distributor,
            config,
            self.read(self.distributor, config) | edge,
        );
        self.write_byte(self.distributor, GICD_IPRIORITYR + u64::from(intid), 0x80);
        let target = 1u8 << (self.interface_of(mpidr) & 0x7);
        self.write_byte(self.distributor, GICD_ITARGETSR + u64::from(intid), target);
        self.write(
            self.distributor,
            GICD_ISENABLER + u64::from(intid / 32) * 4,
            1 << (intid % 32),
        );
    }

    /// The physical ITARGETSR value naming the core `mpidr`, for the vGIC.
    pub fn target_of(&self, mpidr: u64) -> u8 {
        1u8 << (self.interface_of(mpidr) & 0x7)
    }

    fn current_slot(&self) -> Option<&AtomicU32> {
        self.sgi_acknowledged.get(crate::percpu::current_cpu())
    }

    /// The value GICC_EOIR/DIR take for `intid`: an SGI's with the source it
    /// was acknowledged with.
    fn completion_value(&self, intid: IntId) -> u32 {
        if intid.raw() < IntId::PPI_FIRST {
            let raw = self
                .current_slot()
                .map_or(0, |slot| slot.load(Ordering::Relaxed));
            (raw & IAR_SOURCE_MASK) | intid.raw()
        } else {
            intid.raw()
        }
    }
}

impl InterruptController for GicV2 {
    fn init_this_cpu(&self) -> Result<(), &'static str> {
        let interface = self
            .own_interface()
            .ok_or("GICD_ITARGETSR0 names no CPU interface for this core")?;
        let mpidr = crate::arch::aarch64::sysreg::mpidr() & 0xff_00ff_ffff;
        if let Some(slot) = self.interface_mpidr.get(interface) {
            slot.store(mpidr, Ordering::Release);
        }
        // The banked SGI/PPI registers: everything off but Bulkhead's own.
        self.write(self.distributor, GICD_ICENABLER, u32::MAX);
        for own in [KICK_SGI, MAINTENANCE_PPI, HYPERVISOR_TIMER_PPI] {
            self.write_byte(self.distributor, GICD_IPRIORITYR + u64::from(own), 0x80);
        }
        self.write(
            self.distributor,
            GICD_ISENABLER,
            1 << KICK_SGI | 1 << MAINTENANCE_PPI | 1 << HYPERVISOR_TIMER_PPI,
        );
        dsb_sy();
        self.write(self.cpu_interface, GICC_PMR, 0xff);
        self.write(self.cpu_interface, GICC_BPR, 0);
        self.write(self.cpu_interface, GICC_CTLR, GICC_CTLR_VALUE);
        isb();
        Ok(())
    }

    fn acknowledge(&self) -> Option<IntId> {
        let raw = self.read(self.cpu_interface, GICC_IAR);
        let intid = IntId::new(raw & IAR_INTID_MASK);
        if intid.is_special() {
            return None;
        }
        if intid.raw() < IntId::PPI_FIRST {
            if let Some(slot) = self.current_slot() {
                slot.store(raw, Ordering::Relaxed);
            }
        }
        Some(intid)
    }

    fn end_of_interrupt(&self, intid: IntId) {
        self.write(self.cpu_interface, GICC_EOIR, self.completion_value(intid));
    }

    fn deactivate(&self, intid: IntId) {
        self.write(self.cpu_interface, GICC_DIR, self.completion_value(intid));
    }

    fn send_kick(&self, mpidr: u64) {
        let targets = 1u32 << (self.interface_of(mpidr) & 0x7);
        dsb_sy();
        // TargetListFilter 0 (the list), CPUTargetList bits 23:16, SGIINTID.
        self.write(self.distributor, GICD_SGIR, targets << 16 | KICK_SGI);
        isb();
    }
}

impl VirtualCpuInterface for GicV2 {
    fn hardware_eoi_resignals(&self) -> bool {
        self.hardware_eoi_resignals.load(Ordering::Relaxed)
    }

    fn list_register_count(&self) -> usize {
        (self.read(self.hypervisor_interface, GICH_VTR) & VTR_LIST_REGS_MASK) as usize + 1
    }

    fn read_raw(&self, index: usize) -> u64 {
        u64::from(self.read(self.hypervisor_interface, GICH_LR0 + index as u64 * 4))
    }

    fn write_raw(&self, index: usize, value: u64) {
        self.write(
            self.hypervisor_interface,
            GICH_LR0 + index as u64 * 4,
            value as u32,
        );
    }

    fn decode(&self, raw: u64) -> ListRegister {
        ListRegisterV2::decode(raw as u32).register
    }

    fn encode(&self, register: &ListRegister) -> u64 {
        self.encode_from(register, 0)
    }

    fn encode_from(&self, register: &ListRegister, source: u8) -> u64 {
        // Group 0: a GICv2 guest (Linux among them) enables only group 0 in
        // GICC_CTLR, and without FIQEn group 0 is signalled as an IRQ.
        let register = ListRegister {
            group1: false,
            ..*register
        };
        // CPUID is an SGI's only: for any other interrupt those bits are
        // the pINTID's (HW = 1) or must be zero.
        let source = if register.virtual_intid < IntId::PPI_FIRST {
            source
        } else {
            0
        };
        u64::from(ListRegisterV2 { register, source }.encode())
    }

    fn sgi_source(&self, raw: u64) -> u8 {
        ListRegisterV2::decode(raw as u32).source
    }

    fn empty_list_registers(&self) -> u64 {
        // Four list registers on QEMU, at most 64: the second word only matters beyond 32.
        let low = self.read(self.hypervisor_interface, GICH_ELRSR0);
        let high = if self.list_register_count() > 32 {
            self.read(self.hypervisor_interface, GICH_ELRSR0 + 4)
        } else {
            0
        };
        u64::from(high) << 32 | u64::from(low)
    }

    fn ended_list_registers(&self) -> u64 {
        let low = self.read(self.hypervisor_interface, GICH_EISR0);
        let high = if self.list_register_count() > 32 {
            self.read(self.hypervisor_interface, GICH_EISR0 + 4)
        } else {
            0
        };
        u64::from(high) << 32 | u64::from(low)
    }

    fn request_underflow_interrupt(&self, enabled: bool) {
        let hcr = self.read(self.hypervisor_interface, GICH_HCR);
        let hcr = if enabled {
            hcr | GICH_HCR_UIE
        } else {
            hcr & !GICH_HCR_UIE
        };
        self.write(self.hypervisor_interface, GICH_HCR, hcr);
    }

    fn enable(&self) {
        self.write(self.hypervisor_interface, GICH_APR, 0);
        self.write(self.hypervisor_interface, GICH_VMCR, 0);
        self.write(self.hypervisor_interface, GICH_HCR, GICH_HCR_EN);
        isb();
    }

    fn disable(&self) {
        self.write(self.hypervisor_interface, GICH_HCR, 0);
        isb();
    }

    /// GICH_VMCR and GICH_APR (GICv2 has one active-priorities register).
    fn save_state(&self) -> [u64; 3] {
        [
            u64::from(self.read(self.hypervisor_interface, GICH_VMCR)),
            u64::from(self.read(self.hypervisor_interface, GICH_APR)),
            0,
        ]
    }

    fn restore_state(&self, state: [u64; 3]) {
        self.write(self.hypervisor_interface, GICH_VMCR, state[0] as u32);
        self.write(self.hypervisor_interface, GICH_APR, state[1] as u32);
    }
}

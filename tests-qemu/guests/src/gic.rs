//! The GIC as an EL1 guest drives it: GICv3 (distributor, own redistributor, system-register CPU interface) or GICv2 (distributor, memory-mapped GICC).
//!
//! The same code runs under Bulkhead (emulated distributor and
//! redistributors, virtual CPU interface) and bare on QEMU `virt` (the real
//! GIC, security disabled). Which GIC it is comes from the device tree
//! ([`configure`]): with a GICv2 every function below takes its GICv2 path,
//! and an SGI request in ICC_SGI1R_EL1 form becomes a GICD_SGIR write (the
//! GICv2 twin of each SGI a test sends). Every MMIO access is a single
//! `ldr`/`str` without writeback, so a trapping hypervisor always gets a
//! valid syndrome.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// QEMU virt's distributor: the fallback when the device tree names none.
pub const DEFAULT_DISTRIBUTOR: u64 = 0x0800_0000;
/// QEMU virt's first redistributor: the fallback when the device tree names none.
pub const DEFAULT_REDISTRIBUTORS: u64 = 0x080A_0000;
/// One redistributor: RD_base and SGI_base frames of 64 KiB each.
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// Distributor register offsets.
pub mod gicd {
    pub const CTLR: u64 = 0x0000;
    pub const TYPER: u64 = 0x0004;
    pub const IGROUPR: u64 = 0x0080;
    pub const ISENABLER: u64 = 0x0100;
    pub const ICENABLER: u64 = 0x0180;
    pub const ISPENDR: u64 = 0x0200;
    pub const ICPENDR: u64 = 0x0280;
    pub const ISACTIVER: u64 = 0x0300;
    pub const ICACTIVER: u64 = 0x0380;
    pub const IPRIORITYR: u64 = 0x0400;
    pub const ICFGR: u64 = 0x0C00;
    /// 64-bit routing register of INTID n at IROUTER + 8 * n (n >= 32).
    pub const IROUTER: u64 = 0x6000;
    /// CTLR: register write pending.
    pub const CTLR_RWP: u32 = 1 << 31;
    /// CTLR bits 0, 1 and 4: the group enables and affinity routing, in both
    /// the single-security view (EnableGrp0, EnableGrp1, ARE) and the
    /// Non-secure view (EnableGrp1, EnableGrp1A, ARE_NS), as Linux writes it.
    pub const CTLR_ENABLE_ARE: u32 = (1 << 0) | (1 << 1) | (1 << 4);
}

/// Redistributor register offsets (RD_base frame, then SGI_base frame).
pub mod gicr {
    pub const CTLR: u64 = 0x0000;
    pub const TYPER: u64 = 0x0008;
    pub const WAKER: u64 = 0x0014;
    /// The SGI_base frame follows RD_base.
    pub const SGI_BASE: u64 = 0x1_0000;
    pub const IGROUPR0: u64 = SGI_BASE + 0x0080;
    pub const ISENABLER0: u64 = SGI_BASE + 0x0100;
    pub const ICENABLER0: u64 = SGI_BASE + 0x0180;
    pub const ICPENDR0: u64 = SGI_BASE + 0x0280;
    pub const IPRIORITYR: u64 = SGI_BASE + 0x0400;
    /// CTLR: register write pending.
    pub const CTLR_RWP: u32 = 1 << 3;
    /// WAKER: ProcessorSleep.
    pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
    /// WAKER: ChildrenAsleep.
    pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
    /// TYPER: this is the last redistributor of the region.
    pub const TYPER_LAST: u64 = 1 << 4;
}

/// The virtual timer's PPI.
pub const VIRTUAL_TIMER_INTID: u32 = 27;
/// First SPI.
pub const FIRST_SPI: u32 = 32;
/// INTIDs from this one up are special (1020..1023: spurious and friends).
pub const SPECIAL_INTID: u32 = 1020;
/// The priority this runtime gives every interrupt it enables.
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// Longest wait for RWP or the redistributor to wake, in polls.
const POLLS: u32 = 1_000_000;

/// GICv2 distributor and CPU interface registers the guests use.
pub mod gicv2 {
    pub const ITARGETSR: u64 = 0x0800;
    pub const SGIR: u64 = 0x0F00;
    pub const GICC_CTLR: u64 = 0x00;
    pub const GICC_PMR: u64 = 0x04;
    pub const GICC_BPR: u64 = 0x08;
    pub const GICC_IAR: u64 = 0x0C;
    pub const GICC_EOIR: u64 = 0x10;
    /// IAR: interrupt ID (9:0); bits 12:10 name an SGI's source CPU.
    pub const IAR_INTID: u32 = 0x3ff;
    pub const IAR_ID_AND_SOURCE: u32 = 0x1fff;
}

/// Where this GIC's frames are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gic {
    pub distributor: u64,
    /// GICv3: the first redistributor (unused on a GICv2).
    pub redistributors: u64,
    /// GICv2: the CPU interface (GICC); `None` on a GICv3.
    pub cpu_interface: Option<u64>,
}

/// QEMU virt's GICv2 CPU interface.
pub const DEFAULT_GICV2_CPU_INTERFACE: u64 = 0x0801_0000;

impl Gic {
    /// QEMU virt's GIC when no device tree says: a GICv3 if the CPU
    /// implements the GIC system registers (ID_AA64PFR0_EL1.GIC, bits
    /// 27:24, nonzero; QEMU sets it only with a GICv3), else its GICv2.
    pub fn without_device_tree() -> Gic {
        let pfr0: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack)) };
        if (pfr0 >> 24) & 0xf != 0 {
            Gic::default()
        } else {
            Gic {
                cpu_interface: Some(DEFAULT_GICV2_CPU_INTERFACE),
                ..Gic::default()
            }
        }
    }
}

impl Default for Gic {
    fn default() -> Self {
        Self {
            distributor: DEFAULT_DISTRIBUTOR,
            redistributors: DEFAULT_REDISTRIBUTORS,
            cpu_interface: None,
        }
    }
}

/// The GIC every vCPU of this guest uses, set once by vCPU 0 ([`configure`]).
static DISTRIBUTOR: AtomicU64 = AtomicU64::new(DEFAULT_DISTRIBUTOR);
static REDISTRIBUTORS: AtomicU64 = AtomicU64::new(DEFAULT_REDISTRIBUTORS);
/// GICv2: the GICC base; 0 on a GICv3.
static CPU_INTERFACE: AtomicU64 = AtomicU64::new(0);
/// GICv2: the last GICC_IAR value each vCPU read (its EOI must repeat an
/// SGI's source), by vCPU index.
static LAST_IAR: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Records where the GIC is (from the device tree), for every vCPU.
pub fn configure(gic: Gic) {
    DISTRIBUTOR.store(gic.distributor, Ordering::Release);
    REDISTRIBUTORS.store(gic.redistributors, Ordering::Release);
    CPU_INTERFACE.store(gic.cpu_interface.unwrap_or(0), Ordering::Release);
}

/// The GIC recorded by [`configure`] (QEMU virt's before that).
pub fn configured() -> Gic {
    let cpu_interface = CPU_INTERFACE.load(Ordering::Acquire);
    Gic {
        distributor: DISTRIBUTOR.load(Ordering::Acquire),
        redistributors: REDISTRIBUTORS.load(Ordering::Acquire),
        cpu_interface: (cpu_interface != 0).then_some(cpu_interface),
    }
}

/// The GICv2 CPU interface, if the configured GIC is a GICv2.
fn gicv2_cpu_interface() -> Option<u64> {
    match CPU_INTERFACE.load(Ordering::Relaxed) {
        0 => None,
        base => Some(base),
    }
}

/// Reads a 32-bit register.
pub fn read32(address: u64) -> u32 {
    let value: u32;
    // SAFETY: callers pass GIC or PL011 registers inside the identity map's
    // Device window; a single `ldr` without writeback gives a trapping
    // hypervisor a valid syndrome, and a refused access is its to report.
    unsafe { asm!("ldr {0:w}, [{1}]", out(reg) value, in(reg) address, options(nostack)) };
    value
}

/// Writes a 32-bit register.
pub fn write32(address: u64, value: u32) {
    // SAFETY: as for `read32`.
    unsafe { asm!("str {0:w}, [{1}]", in(reg) value, in(reg) address, options(nostack)) };
}

/// Reads a 64-bit register.
pub fn read64(address: u64) -> u64 {
    let value: u64;
    // SAFETY: as for `read32`.
    unsafe { asm!("ldr {0}, [{1}]", out(reg) value, in(reg) address, options(nostack)) };
    value
}

/// Writes a 64-bit register.
pub fn write64(address: u64, value: u64) {
    // SAFETY: as for `read32`.
    unsafe { asm!("str {0}, [{1}]", in(reg) value, in(reg) address, options(nostack)) };
}

/// Reads one byte register (IPRIORITYR).
pub fn read8(address: u64) -> u8 {
    let value: u32;
    // SAFETY: as for `read32`.
    unsafe { asm!("ldrb {0:w}, [{1}]", out(reg) value, in(reg) address, options(nostack)) };
    value as u8
}

/// Writes one byte register (IPRIORITYR).
pub fn write8(address: u64, value: u8) {
    // SAFETY: as for `read32`.
    unsafe {
        asm!("strb {0:w}, [{1}]", in(reg) u32::from(value), in(reg) address, options(nostack))
    };
}

/// Polls until `done` or the poll budget runs out; false on timeout.
fn poll(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..POLLS {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// (register offset, bit) of INTID `intid` in a one-bit-per-INTID array.
pub fn bit_position(intid: u32) -> (u64, u32) {
    (u64::from(intid / 32) * 4, 1 << (intid % 32))
}

/// This vCPU's affinity (MPIDR_EL1 Aff3..Aff0 packed as IROUTER wants them).
pub fn own_affinity() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & 0x00ff_ffff) | ((mpidr >> 32) & 0xff) << 32
}

/// This vCPU's index: MPIDR Aff0 (Bulkhead numbers vCPUs 0..n-1 there).
pub fn own_vcpu() -> u64 {
    own_affinity() & 0xff
}

impl Gic {
    /// The redistributor frame of vCPU `vcpu` (frames are laid out in vCPU order).
    pub fn redistributor(&self, vcpu: u64) -> u64 {
        self.redistributors + vcpu * REDISTRIBUTOR_STRIDE
    }

    /// The distributor's register at `offset`.
    pub fn gicd(&self, offset: u64) -> u64 {
        self.distributor + offset
    }

    /// Distributor on with affinity routing (once, by vCPU 0). Returns
    /// GICD_CTLR as read back afterwards.
    pub fn init_distributor(&self) -> u32 {
        if self.cpu_interface.is_some() {
            // GICv2 without security extensions: bit 0 enables (group 0).
            write32(self.gicd(gicd::CTLR), 0);
            write32(self.gicd(gicd::CTLR), 1);
            return read32(self.gicd(gicd::CTLR));
        }
        write32(self.gicd(gicd::CTLR), 0);
        self.wait_distributor();
        write32(self.gicd(gicd::CTLR), gicd::CTLR_ENABLE_ARE);
        self.wait_distributor();
        read32(self.gicd(gicd::CTLR))
    }

    fn wait_distributor(&self) -> bool {
        poll(|| read32(self.gicd(gicd::CTLR)) & gicd::CTLR_RWP == 0)
    }

    /// Wakes this vCPU's redistributor, makes its SGIs and PPIs Group 1
    /// (disabled, not pending) and turns the CPU interface on. Returns
    /// GICR_TYPER's affinity field (Aff3.Aff2.Aff1.Aff0, one byte each):
    /// vCPU n of cluster 0 must read n.
    pub fn init_cpu(&self) -> u64 {
        if self.cpu_interface.is_some() {
            // GICv2: this vCPU's banked SGI/PPI registers, and its CPU
            // interface number from ITARGETSR0 (vCPU n must read n).
            write32(self.gicd(gicd::ICENABLER), u32::MAX);
            write32(self.gicd(gicd::ICPENDR), u32::MAX);
            cpu_interface_on();
            let mask = read32(self.gicd(gicv2::ITARGETSR)) & 0xff;
            return u64::from(mask.trailing_zeros());
        }
        let rd = self.redistributor(own_vcpu());
        let waker = read32(rd + gicr::WAKER);
        write32(rd + gicr::WAKER, waker & !gicr::WAKER_PROCESSOR_SLEEP);
        poll(|| read32(rd + gicr::WAKER) & gicr::WAKER_CHILDREN_ASLEEP == 0);
        write32(rd + gicr::ICENABLER0, u32::MAX);
        write32(rd + gicr::ICPENDR0, u32::MAX);
        poll(|| read32(rd + gicr::CTLR) & gicr::CTLR_RWP == 0);
        write32(rd + gicr::IGROUPR0, u32::MAX);
        cpu_interface_on();
        read64(rd + gicr::TYPER) >> 32
    }

    /// Enables SGI/PPI `intid` (< 32) on this vCPU's redistributor.
    pub fn enable_private(&self, intid: u32) {
        if self.cpu_interface.is_some() {
            write8(
                self.gicd(gicd::IPRIORITYR + u64::from(intid)),
                DEFAULT_PRIORITY,
            );
            write32(self.gicd(gicd::ISENABLER), 1 << (intid % 32));
            return;
        }
        let rd = self.redistributor(own_vcpu());
        write8(rd + gicr::IPRIORITYR + u64::from(intid), DEFAULT_PRIORITY);
        write32(rd + gicr::ISENABLER0, 1 << (intid % 32));
    }

    /// Disables SGI/PPI `intid` (< 32) on this vCPU's redistributor.
    pub fn disable_private(&self, intid: u32) {
        if self.cpu_interface.is_some() {
            write32(self.gicd(gicd::ICENABLER), 1 << (intid % 32));
            return;
        }
        let rd = self.redistributor(own_vcpu());
        write32(rd + gicr::ICENABLER0, 1 << (intid % 32));
        poll(|| read32(rd + gicr::CTLR) & gicr::CTLR_RWP == 0);
    }

    /// Makes SPI `intid` Group 1, level-sensitive, priority
    /// [`DEFAULT_PRIORITY`], routed to affinity `target`, and enables it.
    pub fn enable_spi(&self, intid: u32, target: u64) {
        let (word, bit) = bit_position(intid);
        let group = self.gicd(gicd::IGROUPR + word);
        write32(group, read32(group) | bit);
        write8(
            self.gicd(gicd::IPRIORITYR + u64::from(intid)),
            DEFAULT_PRIORITY,
        );
        let config = self.gicd(gicd::ICFGR + u64::from(intid / 16) * 4);
        write32(config, read32(config) & !(0b11 << ((intid % 16) * 2)));
        if self.cpu_interface.is_some() {
            // GICv2: the target's CPU interface (vCPU n is interface n).
            let targets = 1u8.checked_shl((target & 0xff) as u32).unwrap_or(0);
            write8(self.gicd(gicv2::ITARGETSR + u64::from(intid)), targets);
        } else {
            write64(self.gicd(gicd::IROUTER + u64::from(intid) * 8), target);
        }
        write32(self.gicd(gicd::ISENABLER + word), bit);
    }

    /// SPI `intid`'s route as an affinity: GICv3's GICD_IROUTER as it
    /// reads; on a GICv2 the Aff0 (vCPU n is interface n) of the lowest core
    /// its ITARGETSR byte names, 0 when it names none.
    pub fn read_route(&self, intid: u32) -> u64 {
        if self.cpu_interface.is_some() {
            let targets = read8(self.gicd(gicv2::ITARGETSR + u64::from(intid)));
            return if targets == 0 {
                0
            } else {
                u64::from(targets.trailing_zeros())
            };
        }
        read64(self.gicd(gicd::IROUTER + u64::from(intid) * 8))
    }

    /// Routes SPI `intid` to any core: GICD_IROUTER.IRM on a GICv3, every
    /// CPU interface in its ITARGETSR byte on a GICv2 (its twin: a foreign
    /// SPI must not move, an own one may only name the partition's cores).
    pub fn route_to_any(&self, intid: u32) {
        if self.cpu_interface.is_some() {
            write8(self.gicd(gicv2::ITARGETSR + u64::from(intid)), 0xff);
            return;
        }
        write64(self.gicd(gicd::IROUTER + u64::from(intid) * 8), 1 << 31);
    }

    /// Disables SPI `intid`.
    pub fn disable_spi(&self, intid: u32) {
        let (word, bit) = bit_position(intid);
        write32(self.gicd(gicd::ICENABLER + word), bit);
        self.wait_distributor();
    }

    /// Bit `intid` of the distributor's one-bit-per-INTID array at `base`
    /// (ISENABLER, ISPENDR, ISACTIVER, IGROUPR).
    pub fn distributor_bit(&self, base: u64, intid: u32) -> bool {
        let (word, bit) = bit_position(intid);
        read32(self.gicd(base + word)) & bit != 0
    }
}

/// ICC_SRE_EL1.SRE on, priority mask open, binary point 0, Group 1 on
/// (GICv2: GICC_PMR open, BPR 0, group 0 on, EOImode 0).
pub fn cpu_interface_on() {
    if let Some(gicc) = gicv2_cpu_interface() {
        write32(gicc + gicv2::GICC_PMR, 0xff);
        write32(gicc + gicv2::GICC_BPR, 0);
        write32(gicc + gicv2::GICC_CTLR, 1);
        return;
    }
    // SAFETY: programming this vCPU's own CPU interface; SRE is RAO/WI where
    // the system-register interface is the only one, and the remaining
    // writes only decide which interrupts this vCPU takes.
    unsafe {
        asm!(
            "mrs {tmp}, icc_sre_el1",
            "orr {tmp}, {tmp}, #0x7",
            "msr icc_sre_el1, {tmp}",
            "isb",
            "mov {tmp}, #0xff",
            "msr icc_pmr_el1, {tmp}",
            "msr icc_bpr1_el1, xzr",
            "mov {tmp}, #1",
            "msr icc_igrpen1_el1, {tmp}",
            "isb",
            tmp = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// ICC_IAR1_EL1: acknowledges the highest-priority pending Group 1 interrupt.
#[inline(always)]
pub fn acknowledge() -> u32 {
    if let Some(gicc) = gicv2_cpu_interface() {
        let raw = read32(gicc + gicv2::GICC_IAR);
        if let Some(slot) = LAST_IAR.get(own_vcpu() as usize) {
            slot.store(u64::from(raw), Ordering::Relaxed);
        }
        return raw & gicv2::IAR_INTID;
    }
    let intid: u64;
    // SAFETY: acknowledging only changes this vCPU's interrupt state, which
    // the caller then owns until it writes EOI.
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) intid, options(nomem, nostack)) };
    (intid & 0xff_ffff) as u32
}

/// GICv2: the source CPU (GICC_IAR bits 12:10) of the interrupt this vCPU
/// acknowledged last, for an SGI handler; None on a GICv3, whose SGIs carry none.
pub fn acknowledged_source() -> Option<u32> {
    gicv2_cpu_interface()?;
    let last = LAST_IAR.get(own_vcpu() as usize)?.load(Ordering::Relaxed) as u32;
    Some((last & gicv2::IAR_ID_AND_SOURCE) >> 10)
}

/// ICC_EOIR1_EL1: ends (and, with EOImode 0, deactivates) `intid`.
#[inline(always)]
pub fn end_of_interrupt(intid: u32) {
    if let Some(gicc) = gicv2_cpu_interface() {
        // An SGI's EOI names the source it was acknowledged with.
        let last = LAST_IAR
            .get(own_vcpu() as usize)
            .map_or(0, |slot| slot.load(Ordering::Relaxed) as u32);
        let value = if intid < 16 && last & gicv2::IAR_INTID == intid {
            last & gicv2::IAR_ID_AND_SOURCE
        } else {
            intid
        };
        write32(gicc + gicv2::GICC_EOIR, value);
        return;
    }
    // SAFETY: ends an interrupt this vCPU acknowledged.
    unsafe { asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(intid), options(nomem, nostack)) };
}

/// An ICC_SGI1R_EL1 value: SGI `intid` to the vCPUs in `target_list`
/// (bit n = Aff0 n) of cluster Aff3.Aff2.Aff1 = `cluster` (packed as
/// Aff3 << 16 | Aff2 << 8 | Aff1).
pub fn sgi_value(intid: u32, cluster: u32, target_list: u16) -> u64 {
    let aff1 = u64::from(cluster & 0xff);
    let aff2 = u64::from((cluster >> 8) & 0xff);
    let aff3 = u64::from((cluster >> 16) & 0xff);
    u64::from(target_list) | aff1 << 16 | u64::from(intid & 0xf) << 24 | aff2 << 32 | aff3 << 48
}

/// The ICC_SGI1R_EL1 value for SGI `intid` to every PE but the sender (IRM = 1).
pub fn sgi_broadcast_value(intid: u32) -> u64 {
    u64::from(intid & 0xf) << 24 | 1 << 40
}

/// The GICD_SGIR value a GICv2 sends for an ICC_SGI1R_EL1 `value`: a
/// broadcast (IRM) becomes "all but self", a list its Aff0 bits 0..7 as the
/// CPU target list (vCPU n is interface n); a list naming another cluster
/// or range names no one.
pub fn gicv2_sgir_value(value: u64) -> u32 {
    let intid = ((value >> 24) & 0xf) as u32;
    if value & 1 << 40 != 0 {
        return 1 << 24 | intid;
    }
    let elsewhere = value & (0xff << 16 | 0xff << 32 | 0xff << 48 | 0xf << 44) != 0;
    let list = if elsewhere { 0 } else { (value & 0xff) as u32 };
    list << 16 | intid
}

/// Writes ICC_SGI1R_EL1 (GICv2: its GICD_SGIR twin, [`gicv2_sgir_value`]).
pub fn send_sgi_raw(value: u64) {
    if gicv2_cpu_interface().is_some() {
        write32(
            DISTRIBUTOR.load(Ordering::Relaxed) + gicv2::SGIR,
            gicv2_sgir_value(value),
        );
        return;
    }
    // SAFETY: generating an SGI only makes interrupts pending; the ISB makes
    // the write take effect before the caller goes on.
    unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

/// SGI `intid` to the vCPUs of cluster 0 in `target_list`.
pub fn send_sgi(intid: u32, target_list: u16) {
    send_sgi_raw(sgi_value(intid, 0, target_list));
}

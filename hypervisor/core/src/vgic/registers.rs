//! GICv3 register offsets and field encodings the model uses (GICv3/v4 architecture specification, IHI 0069).

/// Size of the distributor frame a partition sees.
pub const DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// Per vCPU: RD_base frame + SGI_base frame (no VLPI frames: GICR_TYPER.VLPIS = 0).
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// PPIs a partition may own on its cores: PMU (23), EL1 virtual timer (27), EL1 physical timer (30).
/// Never 25 (maintenance) or 26/28 (EL2 timers), which belong to the hypervisor.
pub const GUEST_PPIS: [u32; 3] = [23, 27, 30];

/// Bits of GUEST_PPIS in a 32-bit bank covering INTIDs 0..=31.
pub(super) const GUEST_PPI_MASK: u32 =
    (1 << GUEST_PPIS[0]) | (1 << GUEST_PPIS[1]) | (1 << GUEST_PPIS[2]);
/// Bits of SGIs (INTIDs 0..=15) in a 32-bit bank.
pub(super) const SGI_MASK: u32 = 0xFFFF;
/// Number of SGIs.
pub(super) const SGI_COUNT: usize = 16;

/// First SPI.
pub(super) const FIRST_SPI: u32 = 32;
/// Last SPI (1020..=1023 are special INTIDs).
pub(super) const LAST_SPI: u32 = 1019;
/// INTIDs covered by the distributor's per-INTID banks.
pub(super) const INTID_COUNT: u32 = 1024;

// Distributor (GICD_*), offsets from the frame base.
pub(super) const GICD_CTLR: u64 = 0x0000;
pub(super) const GICD_TYPER: u64 = 0x0004;
pub(super) const GICD_IIDR: u64 = 0x0008;
/// 32-bit registers with one bit per INTID, 32 registers each.
pub(super) const GICD_IGROUPR: u64 = 0x0080;
pub(super) const GICD_ISENABLER: u64 = 0x0100;
pub(super) const GICD_ICENABLER: u64 = 0x0180;
pub(super) const GICD_ISPENDR: u64 = 0x0200;
pub(super) const GICD_ICPENDR: u64 = 0x0280;
pub(super) const GICD_ISACTIVER: u64 = 0x0300;
pub(super) const GICD_ICACTIVER: u64 = 0x0380;
/// One byte per INTID.
pub(super) const GICD_IPRIORITYR: u64 = 0x0400;
/// Two bits per INTID, 64 registers.
pub(super) const GICD_ICFGR: u64 = 0x0C00;
/// 64-bit, one per INTID; only SPIs have one.
pub(super) const GICD_IROUTER: u64 = 0x6000;
/// Identification registers (PIDR4..7, PIDR0..3, CIDR0..3).
pub(super) const GICD_ID_FIRST: u64 = 0xFFD0;
pub(super) const GICD_ID_LAST: u64 = 0xFFFC;
pub(super) const GICD_PIDR2: u64 = 0xFFE8;

/// Bytes a one-bit-per-INTID bank covers (1024 INTIDs / 8).
pub(super) const BIT_BANK_SIZE: u64 = 0x80;
/// Bytes the ICFGR bank covers (1024 INTIDs * 2 bits / 8).
pub(super) const ICFGR_BANK_SIZE: u64 = 0x100;

// GICD_CTLR fields, as seen with a single security state (DS = 1).
pub(super) const CTLR_ENABLE_GRP0: u32 = 1 << 0;
pub(super) const CTLR_ENABLE_GRP1: u32 = 1 << 1;
pub(super) const CTLR_ARE: u32 = 1 << 4;
pub(super) const CTLR_DS: u32 = 1 << 6;

// GICD_TYPER fields.
pub(super) const TYPER_IT_LINES_NUMBER: u32 = 0x1F;
pub(super) const TYPER_CPU_NUMBER_SHIFT: u32 = 5;
pub(super) const TYPER_ID_BITS: u32 = 0x1F << 19;
pub(super) const TYPER_NO1N: u32 = 1 << 25;

/// PIDR2 with ArchRev = 3 (GICv3), JEDEC = 1, DES_1 = 3: what the guest's driver checks.
pub(super) const PIDR2_GICV3: u64 = 0x3B;

// GICD_IROUTER<n> fields.
/// Aff3 (39:32), Aff2 (23:16), Aff1 (15:8), Aff0 (7:0): the same places as in MPIDR_EL1.
pub(super) const AFFINITY_MASK: u64 = 0xFF_00FF_FFFF;
pub(super) const IROUTER_IRM: u64 = 1 << 31;

// Redistributor RD_base frame (GICR_*).
pub(super) const GICR_IIDR: u64 = 0x0004;
pub(super) const GICR_TYPER: u64 = 0x0008;
pub(super) const GICR_WAKER: u64 = 0x0014;
pub(super) const GICR_ID_FIRST: u64 = 0xFFD0;
pub(super) const GICR_ID_LAST: u64 = 0xFFFC;
pub(super) const GICR_PIDR2: u64 = 0xFFE8;

// GICR_TYPER fields.
pub(super) const GICR_TYPER_LAST: u64 = 1 << 4;
pub(super) const GICR_TYPER_PROCESSOR_NUMBER_SHIFT: u32 = 8;
pub(super) const GICR_TYPER_AFFINITY_SHIFT: u32 = 32;

// GICR_WAKER fields.
pub(super) const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
pub(super) const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

// Redistributor SGI_base frame, offsets from RD_base.
pub(super) const SGI_BASE: u64 = 0x1_0000;
pub(super) const GICR_IGROUPR0: u64 = SGI_BASE + 0x0080;
pub(super) const GICR_ISENABLER0: u64 = SGI_BASE + 0x0100;
pub(super) const GICR_ICENABLER0: u64 = SGI_BASE + 0x0180;
pub(super) const GICR_ISPENDR0: u64 = SGI_BASE + 0x0200;
pub(super) const GICR_ICPENDR0: u64 = SGI_BASE + 0x0280;
pub(super) const GICR_ISACTIVER0: u64 = SGI_BASE + 0x0300;
pub(super) const GICR_ICACTIVER0: u64 = SGI_BASE + 0x0380;
pub(super) const GICR_IPRIORITYR0: u64 = SGI_BASE + 0x0400;
/// IPRIORITYR0..7 cover INTIDs 0..=31.
pub(super) const GICR_IPRIORITYR_SIZE: u64 = 0x20;
pub(super) const GICR_ICFGR0: u64 = SGI_BASE + 0x0C00;
pub(super) const GICR_ICFGR1: u64 = SGI_BASE + 0x0C04;

/// ICFGR0 as the guest sees it: every SGI edge-triggered.
pub(super) const ICFGR_SGIS_EDGE: u64 = 0xAAAA_AAAA;
/// Priority a reset gives the owned interrupts (Linux's default, mid-range).
pub(super) const DEFAULT_PRIORITY: u8 = 0xA0;

//! SMMUv3 programming-interface register offsets, fields and value encoders (IHI 0070, chapter 6).
//!
//! Offsets are from the SMMU's base. The event queue's PROD and CONS live in
//! page 1 (base + 64 KiB) so that software may map them separately; QEMU
//! aliases the two pages, so page-1 offsets work there and on hardware.

/// Size of the register frame Bulkhead maps: page 0 and page 1.
pub const FRAME_SIZE: u64 = 0x2_0000;

/// Feature registers: read-only, probed once by [`super::Features::from_idr`].
pub const IDR0: u64 = 0x00;
pub const IDR1: u64 = 0x04;
pub const IDR2: u64 = 0x08;
pub const IDR3: u64 = 0x0C;
pub const IDR4: u64 = 0x10;
pub const IDR5: u64 = 0x14;
pub const IIDR: u64 = 0x18;
pub const AIDR: u64 = 0x1C;

/// Global control: software writes CR0 and waits until CR0ACK reads the same.
pub const CR0: u64 = 0x20;
pub const CR0ACK: u64 = 0x24;
/// Cacheability and shareability of the SMMU's own queue and table accesses.
pub const CR1: u64 = 0x28;
pub const CR2: u64 = 0x2C;
pub const STATUSR: u64 = 0x40;
/// What happens to traffic while CR0.SMMUEN = 0 (bypass or abort).
pub const GBPA: u64 = 0x44;
pub const IRQ_CTRL: u64 = 0x50;
pub const IRQ_CTRLACK: u64 = 0x54;
/// Global errors: an error is active while its GERROR bit differs from GERRORN's.
pub const GERROR: u64 = 0x60;
pub const GERRORN: u64 = 0x64;
/// MSI address, data and attributes for global errors (64-bit, 32-bit, 32-bit).
pub const GERROR_IRQ_CFG0: u64 = 0x68;
pub const GERROR_IRQ_CFG1: u64 = 0x70;
pub const GERROR_IRQ_CFG2: u64 = 0x74;
/// 64-bit: stream table base address and read-allocate hint.
pub const STRTAB_BASE: u64 = 0x80;
pub const STRTAB_BASE_CFG: u64 = 0x88;
/// 64-bit: command queue base, size and read-allocate hint.
pub const CMDQ_BASE: u64 = 0x90;
pub const CMDQ_PROD: u64 = 0x98;
pub const CMDQ_CONS: u64 = 0x9C;
/// 64-bit: event queue base, size and write-allocate hint.
pub const EVENTQ_BASE: u64 = 0xA0;
/// Page 1. QEMU also answers at 0xA8 (page 0), real SMMUs need not.
pub const EVENTQ_PROD: u64 = 0x1_00A8;
/// Page 1. QEMU also answers at 0xAC (page 0), real SMMUs need not.
pub const EVENTQ_CONS: u64 = 0x1_00AC;
/// MSI address, data and attributes for the event queue (64-bit, 32-bit, 32-bit).
pub const EVENTQ_IRQ_CFG0: u64 = 0xB0;
pub const EVENTQ_IRQ_CFG1: u64 = 0xB8;
pub const EVENTQ_IRQ_CFG2: u64 = 0xBC;

/// CR0 and CR0ACK bits.
pub const CR0_SMMUEN: u32 = 1 << 0;
pub const CR0_PRIQEN: u32 = 1 << 1;
pub const CR0_EVENTQEN: u32 = 1 << 2;
pub const CR0_CMDQEN: u32 = 1 << 3;

/// CR1 fields: inner/outer cacheability (0b00 non-cacheable, 0b01 write-back,
/// 0b10 write-through) and shareability (0b00 non, 0b10 outer, 0b11 inner).
pub const CR1_QUEUE_IC_SHIFT: u32 = 0;
pub const CR1_QUEUE_OC_SHIFT: u32 = 2;
pub const CR1_QUEUE_SH_SHIFT: u32 = 4;
pub const CR1_TABLE_IC_SHIFT: u32 = 6;
pub const CR1_TABLE_OC_SHIFT: u32 = 8;
pub const CR1_TABLE_SH_SHIFT: u32 = 10;
pub const CR1_CACHE_NONE: u32 = 0b00;
pub const CR1_CACHE_WRITE_BACK: u32 = 0b01;
pub const CR1_CACHE_WRITE_THROUGH: u32 = 0b10;
pub const CR1_SHARE_NONE: u32 = 0b00;
pub const CR1_SHARE_OUTER: u32 = 0b10;
pub const CR1_SHARE_INNER: u32 = 0b11;

/// CR2 bits. RECINVSID makes the SMMU record C_BAD_STREAMID for unknown devices.
pub const CR2_E2H: u32 = 1 << 0;
pub const CR2_RECINVSID: u32 = 1 << 1;
pub const CR2_PTM: u32 = 1 << 2;

/// GBPA bits: software sets UPDATE with its change and waits for UPDATE to clear.
pub const GBPA_ABORT: u32 = 1 << 20;
pub const GBPA_UPDATE: u32 = 1 << 31;

/// IRQ_CTRL and IRQ_CTRLACK bits.
pub const IRQ_CTRL_GERROR_IRQEN: u32 = 1 << 0;
pub const IRQ_CTRL_PRIQ_IRQEN: u32 = 1 << 1;
pub const IRQ_CTRL_EVENTQ_IRQEN: u32 = 1 << 2;

/// GERROR and GERRORN bits.
pub const GERROR_CMDQ_ERR: u32 = 1 << 0;
pub const GERROR_EVENTQ_ABT_ERR: u32 = 1 << 2;
pub const GERROR_PRIQ_ABT_ERR: u32 = 1 << 3;
pub const GERROR_MSI_CMDQ_ABT_ERR: u32 = 1 << 4;
pub const GERROR_MSI_EVENTQ_ABT_ERR: u32 = 1 << 5;
pub const GERROR_MSI_PRIQ_ABT_ERR: u32 = 1 << 6;
pub const GERROR_MSI_GERROR_ABT_ERR: u32 = 1 << 7;
pub const GERROR_SFM_ERR: u32 = 1 << 8;
pub const GERROR_CMDQP_ERR: u32 = 1 << 9;

/// STRTAB_BASE_CFG fields.
pub const STRTAB_BASE_CFG_LOG2SIZE_MASK: u32 = 0x3F;
pub const STRTAB_BASE_CFG_SPLIT_SHIFT: u32 = 6;
pub const STRTAB_BASE_CFG_FMT_SHIFT: u32 = 16;
pub const STRTAB_BASE_CFG_FMT_LINEAR: u32 = 0b00 << STRTAB_BASE_CFG_FMT_SHIFT;
pub const STRTAB_BASE_CFG_FMT_TWO_LEVEL: u32 = 0b01 << STRTAB_BASE_CFG_FMT_SHIFT;

/// Read-allocate hint of STRTAB_BASE and CMDQ_BASE, write-allocate of EVENTQ_BASE.
pub const BASE_ALLOCATE_HINT: u64 = 1 << 62;
/// STRTAB_BASE.ADDR is bits [51:6]: the table is at least 64-byte aligned.
pub const STRTAB_BASE_ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_FFC0;
/// CMDQ_BASE/EVENTQ_BASE.ADDR is bits [51:5]. QEMU ignores bit 5 (it masks
/// [51:6]), so queues should be at least 64-byte aligned.
pub const QUEUE_BASE_ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_FFE0;
/// CMDQ_BASE/EVENTQ_BASE.LOG2SIZE is bits [4:0].
pub const QUEUE_BASE_LOG2SIZE_MASK: u64 = 0x1F;

/// CMDQ_CONS.ERR, bits [30:24]: why the command at CONS was not executed.
pub const CMDQ_CONS_ERR_SHIFT: u32 = 24;
pub const CMDQ_CONS_ERR_MASK: u32 = 0x7F << CMDQ_CONS_ERR_SHIFT;
/// EVENTQ_PROD.OVFLG: toggled by the SMMU when the full event queue dropped a record.
pub const EVENTQ_PROD_OVFLG: u32 = 1 << 31;
/// EVENTQ_CONS.OVACKFLG: software copies OVFLG here to acknowledge the overflow.
pub const EVENTQ_CONS_OVACKFLG: u32 = 1 << 31;

/// STRTAB_BASE value for a stream table at `address` (64-byte aligned, bits above 51 dropped).
pub fn strtab_base(address: u64) -> u64 {
    BASE_ALLOCATE_HINT | (address & STRTAB_BASE_ADDRESS_MASK)
}

/// STRTAB_BASE_CFG value for a linear table of 2^`log2_entries` stream table entries.
pub fn strtab_base_cfg_linear(log2_entries: u32) -> u32 {
    STRTAB_BASE_CFG_FMT_LINEAR | (log2_entries & STRTAB_BASE_CFG_LOG2SIZE_MASK)
}

/// CMDQ_BASE/EVENTQ_BASE value for a queue of 2^`log2_entries` entries at `address`.
///
/// The queue must be aligned to its size (and to 64 bytes for QEMU).
pub fn queue_base(address: u64, log2_entries: u32) -> u64 {
    BASE_ALLOCATE_HINT
        | (address & QUEUE_BASE_ADDRESS_MASK)
        | (u64::from(log2_entries) & QUEUE_BASE_LOG2SIZE_MASK)
}

/// CR1 value: queues and tables write-back cacheable, inner shareable, as
/// Bulkhead's memory is (needs IDR0.COHACC; without it use non-cacheable and
/// clean the cache instead).
pub fn cr1_cacheable_inner_shareable() -> u32 {
    (CR1_CACHE_WRITE_BACK << CR1_QUEUE_IC_SHIFT)
        | (CR1_CACHE_WRITE_BACK << CR1_QUEUE_OC_SHIFT)
        | (CR1_SHARE_INNER << CR1_QUEUE_SH_SHIFT)
        | (CR1_CACHE_WRITE_BACK << CR1_TABLE_IC_SHIFT)
        | (CR1_CACHE_WRITE_BACK << CR1_TABLE_OC_SHIFT)
        | (CR1_SHARE_INNER << CR1_TABLE_SH_SHIFT)
}

/// GBPA value that makes traffic abort while the SMMU is disabled, so no
/// device reaches memory untranslated between reset and CR0.SMMUEN.
pub fn gbpa_abort() -> u32 {
    GBPA_UPDATE | GBPA_ABORT
}

/// Global errors that are active: bits where GERROR differs from GERRORN.
pub fn active_global_errors(gerror: u32, gerrorn: u32) -> u32 {
    gerror ^ gerrorn
}

//! What the SMMU can do, read from IDR0, IDR1 and IDR5, and whether Bulkhead can use it.

use core::fmt;

/// IDR0 fields.
const IDR0_S2P: u32 = 1 << 0;
const IDR0_S1P: u32 = 1 << 1;
const IDR0_TTF_SHIFT: u32 = 2;
const IDR0_COHACC: u32 = 1 << 4;
const IDR0_BTM: u32 = 1 << 5;
const IDR0_ASID16: u32 = 1 << 12;
const IDR0_MSI: u32 = 1 << 13;
const IDR0_VMID16: u32 = 1 << 18;
const IDR0_TTENDIAN_SHIFT: u32 = 21;
const IDR0_STALL_MODEL_SHIFT: u32 = 24;
const IDR0_TERM_MODEL: u32 = 1 << 26;
const IDR0_ST_LEVEL_SHIFT: u32 = 27;

/// TTF: bit 0 is AArch32 (LPAE) tables, bit 1 AArch64 tables.
const TTF_AARCH32: u32 = 0b01;
const TTF_AARCH64: u32 = 0b10;
/// TTENDIAN: 0b00 mixed, 0b01 reserved, 0b10 little-endian only, 0b11 big-endian only.
const TTENDIAN_MIXED: u32 = 0b00;
const TTENDIAN_LITTLE: u32 = 0b10;
/// STALL_MODEL 0b10: the SMMU forces stalling, so STE.S2S = 0 would be ILLEGAL.
const STALL_MODEL_FORCED: u32 = 0b10;
/// ST_LEVEL 0b01: two-level stream tables are supported.
const ST_LEVEL_TWO: u32 = 0b01;

/// IDR1 fields.
const IDR1_SIDSIZE_MASK: u32 = 0x3F;
const IDR1_EVENTQS_SHIFT: u32 = 16;
const IDR1_CMDQS_SHIFT: u32 = 21;
const IDR1_QUEUE_SIZE_MASK: u32 = 0x1F;
const IDR1_ATTR_TYPES_OVR: u32 = 1 << 27;
const IDR1_QUEUES_PRESET: u32 = 1 << 29;
const IDR1_TABLES_PRESET: u32 = 1 << 30;

/// IDR5 fields.
const IDR5_OAS_MASK: u32 = 0b111;
const IDR5_GRAN4K: u32 = 1 << 4;
const IDR5_GRAN16K: u32 = 1 << 5;
const IDR5_GRAN64K: u32 = 1 << 6;

/// The SMMU properties Bulkhead's driver depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// IDR0.S2P: stage-2 translation, the only kind Bulkhead uses.
    pub stage2: bool,
    /// IDR0.S1P: stage-1 translation (unused, reported for diagnostics).
    pub stage1: bool,
    /// IDR0.TTF bit 1: AArch64 table format.
    pub aarch64_tables: bool,
    /// IDR0.TTF bit 0: AArch32 (LPAE) table format; widens the input size to 40 bits.
    pub aarch32_tables: bool,
    /// IDR5.GRAN4K, the granule of Bulkhead's stage-2 tables.
    pub granule_4k: bool,
    pub granule_16k: bool,
    pub granule_64k: bool,
    /// IDR0.COHACC: table walks and queue accesses snoop the CPU caches.
    pub coherent: bool,
    /// IDR0.BTM: the SMMU observes the CPU's broadcast TLB invalidations.
    pub broadcast_tlb_maintenance: bool,
    /// IDR0.ST_LEVEL = 0b01.
    pub two_level_stream_table: bool,
    /// IDR0.VMID16: 16-bit VMIDs; otherwise only 8 bits are significant.
    pub vmid16: bool,
    /// IDR0.ASID16.
    pub asid16: bool,
    /// IDR0.MSI: the SMMU can signal through MSIs.
    pub msi: bool,
    /// IDR0.TTENDIAN allows little-endian tables.
    pub little_endian_ok: bool,
    /// IDR0.TERM_MODEL = 1: terminated transactions always abort (never RAZ/WI).
    pub terminate_always_aborts: bool,
    /// IDR1.ATTR_TYPES_OVR: STE.SHCFG and friends are implemented, not RES0.
    pub attribute_types_override: bool,
    /// IDR1.SIDSIZE: stream IDs have this many bits.
    pub stream_id_bits: u32,
    /// IDR1.CMDQS: log2 of the largest command queue.
    pub command_queue_log2_max: u32,
    /// IDR1.EVENTQS: log2 of the largest event queue.
    pub event_queue_log2_max: u32,
    /// IDR5.OAS decoded: physical address bits the SMMU can output.
    pub output_address_bits: u32,
    /// IDR5.OAS raw (0..=6), the same encoding as STE.S2PS.
    pub output_size_field: u32,
}

/// Why Bulkhead cannot isolate DMA with this SMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    NoStage2,
    NoAArch64Tables,
    No4KGranule,
    BigEndianOnly,
    ReservedEndianness,
    StallForced,
    PresetQueues,
    PresetTables,
    ReservedOutputSize(u32),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::NoStage2 => {
                formatter.write_str("the SMMU has no stage-2 translation (IDR0.S2P = 0)")
            }
            Unsupported::NoAArch64Tables => formatter.write_str(
                "the SMMU cannot walk AArch64 translation tables (IDR0.TTF lacks bit 1)",
            ),
            Unsupported::No4KGranule => {
                formatter.write_str("the SMMU has no 4 KiB translation granule (IDR5.GRAN4K = 0)")
            }
            Unsupported::BigEndianOnly => formatter.write_str(
                "the SMMU walks only big-endian translation tables (IDR0.TTENDIAN = 0b11)",
            ),
            Unsupported::ReservedEndianness => formatter
                .write_str("the SMMU reports a reserved table endianness (IDR0.TTENDIAN = 0b01)"),
            Unsupported::StallForced => formatter
                .write_str("the SMMU forces the stall fault model (IDR0.STALL_MODEL = 0b10)"),
            Unsupported::PresetQueues => formatter
                .write_str("the SMMU's queue bases are fixed by hardware (IDR1.QUEUES_PRESET = 1)"),
            Unsupported::PresetTables => formatter.write_str(
                "the SMMU's stream table base is fixed by hardware (IDR1.TABLES_PRESET = 1)",
            ),
            Unsupported::ReservedOutputSize(field) => {
                write!(
                    formatter,
                    "the SMMU reports a reserved output size (IDR5.OAS = {field})"
                )
            }
        }
    }
}

/// Physical address bits for an OAS / S2PS encoding, None for reserved values.
pub fn output_size_bits(field: u32) -> Option<u32> {
    match field {
        0 => Some(32),
        1 => Some(36),
        2 => Some(40),
        3 => Some(42),
        4 => Some(44),
        5 => Some(48),
        6 => Some(52),
        _ => None,
    }
}

impl Features {
    /// Decodes the ID registers and refuses an SMMU Bulkhead cannot drive.
    pub fn from_idr(idr0: u32, idr1: u32, idr5: u32) -> Result<Features, Unsupported> {
        let table_formats = (idr0 >> IDR0_TTF_SHIFT) & 0b11;
        let endianness = (idr0 >> IDR0_TTENDIAN_SHIFT) & 0b11;
        let output_size_field = idr5 & IDR5_OAS_MASK;
        let features = Features {
            stage2: idr0 & IDR0_S2P != 0,
            stage1: idr0 & IDR0_S1P != 0,
            aarch64_tables: table_formats & TTF_AARCH64 != 0,
            aarch32_tables: table_formats & TTF_AARCH32 != 0,
            granule_4k: idr5 & IDR5_GRAN4K != 0,
            granule_16k: idr5 & IDR5_GRAN16K != 0,
            granule_64k: idr5 & IDR5_GRAN64K != 0,
            coherent: idr0 & IDR0_COHACC != 0,
            broadcast_tlb_maintenance: idr0 & IDR0_BTM != 0,
            two_level_stream_table: (idr0 >> IDR0_ST_LEVEL_SHIFT) & 0b11 == ST_LEVEL_TWO,
            vmid16: idr0 & IDR0_VMID16 != 0,
            asid16: idr0 & IDR0_ASID16 != 0,
            msi: idr0 & IDR0_MSI != 0,
            little_endian_ok: endianness == TTENDIAN_MIXED || endianness == TTENDIAN_LITTLE,
            terminate_always_aborts: idr0 & IDR0_TERM_MODEL != 0,
            attribute_types_override: idr1 & IDR1_ATTR_TYPES_OVR != 0,
            stream_id_bits: idr1 & IDR1_SIDSIZE_MASK,
            command_queue_log2_max: (idr1 >> IDR1_CMDQS_SHIFT) & IDR1_QUEUE_SIZE_MASK,
            event_queue_log2_max: (idr1 >> IDR1_EVENTQS_SHIFT) & IDR1_QUEUE_SIZE_MASK,
            output_address_bits: output_size_bits(output_size_field).unwrap_or(0),
            output_size_field,
        };
        if !features.stage2 {
            return Err(Unsupported::NoStage2);
        }
        if !features.aarch64_tables {
            return Err(Unsupported::NoAArch64Tables);
        }
        if !features.granule_4k {
            return Err(Unsupported::No4KGranule);
        }
        match endianness {
            0b01 => return Err(Unsupported::ReservedEndianness),
            0b11 => return Err(Unsupported::BigEndianOnly),
            _ => {}
        }
        if (idr0 >> IDR0_STALL_MODEL_SHIFT) & 0b11 == STALL_MODEL_FORCED {
            return Err(Unsupported::StallForced);
        }
        if idr1 & IDR1_QUEUES_PRESET != 0 {
            return Err(Unsupported::PresetQueues);
        }
        if idr1 & IDR1_TABLES_PRESET != 0 {
            return Err(Unsupported::PresetTables);
        }
        if features.output_address_bits == 0 {
            return Err(Unsupported::ReservedOutputSize(output_size_field));
        }
        Ok(features)
    }

    /// Largest IPA a stage-2 STE may translate (IAS): the OAS, or at least 40
    /// bits when AArch32 tables are also implemented.
    pub fn input_address_bits(&self) -> u32 {
        if self.aarch32_tables {
            self.output_address_bits.max(40)
        } else {
            self.output_address_bits
        }
    }

    /// Significant VMID bits: with 8-bit VMIDs the upper byte of S2VMID is ignored.
    pub fn vmid_bits(&self) -> u32 {
        if self.vmid16 {
            16
        } else {
            8
        }
    }
}

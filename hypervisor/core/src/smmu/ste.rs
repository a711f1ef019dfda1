//! Stream table entries: abort, and stage-2-only translation through a partition's tables.
//!
//! Field positions are from IHI 0070 section 5.2 and match QEMU's STE_* macros.
//! Bulkhead uses a linear stream table, one 64-byte entry per stream ID.

use super::features::{output_size_bits, Features};

/// One stream table entry as the SMMU reads it: eight little-endian doublewords.
pub type StreamTableEntry = [u64; 8];

/// Bytes per stream table entry.
pub const STE_SIZE: usize = 64;

/// Dword 0: V and Config.
const V: u64 = 1 << 0;
const CONFIG_SHIFT: u32 = 1;
const CONFIG_MASK: u64 = 0b111;
/// Config 0b000: abort every transaction, record no event.
pub const CONFIG_ABORT: u64 = 0b000;
/// Config 0b100: bypass both stages (Bulkhead never uses it).
pub const CONFIG_BYPASS: u64 = 0b100;
/// Config 0b110: stage 1 bypassed, stage 2 translates.
pub const CONFIG_STAGE2: u64 = 0b110;
/// Dword 0 bits [63:59]: S1CDMAX, must stay 0 for QEMU.
const S1CDMAX_SHIFT: u32 = 59;

/// Dword 1.
const S1STALLD: u64 = 1 << 27;
const STRW_SHIFT: u32 = 30;
const SHCFG_SHIFT: u32 = 44;
/// SHCFG 0b01: use the device's incoming shareability.
const SHCFG_INCOMING: u64 = 0b01;

/// Dword 2: the stage-2 controls.
const S2VMID_MASK: u64 = 0xFFFF;
const S2T0SZ_SHIFT: u32 = 32;
const S2SL0_SHIFT: u32 = 38;
const S2IR0_SHIFT: u32 = 40;
const S2OR0_SHIFT: u32 = 42;
const S2SH0_SHIFT: u32 = 44;
const S2TG_SHIFT: u32 = 46;
const S2PS_SHIFT: u32 = 48;
const S2AA64: u64 = 1 << 51;
const S2ENDI: u64 = 1 << 52;
const S2AFFD: u64 = 1 << 53;
const S2PTW: u64 = 1 << 54;
const S2HD: u64 = 1 << 55;
const S2HA: u64 = 1 << 56;
const S2S: u64 = 1 << 57;
const S2R: u64 = 1 << 58;
/// Table walks: Normal, write-back read/write-allocate, inner shareable, like VTCR_EL2.
const WALK_WRITE_BACK: u64 = 0b01;
const WALK_INNER_SHAREABLE: u64 = 0b11;
/// S2TG 0b00: 4 KiB granule.
const GRANULE_4K: u64 = 0b00;

/// Dword 3: S2TTB, bits [51:4]; Bulkhead's tables are 4 KiB aligned.
const S2TTB_MASK: u64 = 0x000F_FFFF_FFFF_FFF0;

/// Largest S2PS Bulkhead's descriptors can express (48 bits).
const OUTPUT_SIZE_FIELD_MAX: u32 = 5;
const PAGE_SIZE: u64 = 4096;
/// At most 16 root tables may be concatenated at the start level.
const MAX_CONCATENATED_LOG2: u32 = 4;

/// A stage-2-only entry, shared with the CPU's stage 2 of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Config {
    /// The partition's VMID, so SMMU TLB entries are tagged and invalidated per partition.
    pub vmid: u16,
    /// Physical address of the root table (S2TTB), 4 KiB aligned.
    pub table: u64,
    /// Bits of IPA the tables translate; S2T0SZ = 64 - ipa_bits.
    pub ipa_bits: u32,
    /// Level the walk starts at: 0, 1 or 2 with a 4 KiB granule.
    pub start_level: u32,
    /// S2PS, the same encoding as IDR5.OAS (0..=5).
    pub output_size_field: u32,
    /// S2R: write an event record for every fault, so Bulkhead can report the device.
    pub record_faults: bool,
    /// Set SHCFG to "use incoming"; only allowed when IDR1.ATTR_TYPES_OVR = 1
    /// (otherwise SHCFG is RES0 and the incoming shareability is used anyway).
    pub incoming_shareability: bool,
}

/// An STE decoded back into its fields, so tests prove the encoders round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteView {
    pub valid: bool,
    pub config: u64,
    pub s1cdmax: u64,
    pub s1stalld: bool,
    pub strw: u64,
    pub shcfg: u64,
    pub vmid: u16,
    pub t0sz: u64,
    pub sl0: u64,
    pub ir0: u64,
    pub or0: u64,
    pub sh0: u64,
    pub tg: u64,
    pub ps: u64,
    pub aa64: bool,
    pub big_endian: bool,
    pub affd: bool,
    pub ptw: bool,
    pub hd: bool,
    pub ha: bool,
    pub stall: bool,
    pub record_faults: bool,
    pub table: u64,
}

impl SteView {
    /// IPA bits from S2T0SZ.
    pub fn ipa_bits(&self) -> u64 {
        64u64.saturating_sub(self.t0sz)
    }

    /// Start level from S2SL0 with a 4 KiB granule; None for the reserved 0b11.
    pub fn start_level(&self) -> Option<u32> {
        match self.sl0 {
            0b00 => Some(2),
            0b01 => Some(1),
            0b10 => Some(0),
            _ => None,
        }
    }
}

/// V = 1, Config = abort: the device's transactions fail and no event is written.
///
/// (V = 0 would also stop it, but raises C_BAD_STE on every access.)
pub fn abort() -> StreamTableEntry {
    let mut entry = [0; 8];
    entry[0] = V | (CONFIG_ABORT << CONFIG_SHIFT);
    entry
}

/// S2SL0 for a start level with a 4 KiB granule: level 2 is 0b00, 1 is 0b01, 0 is 0b10.
pub fn start_level_field(start_level: u32) -> u64 {
    u64::from(2u32.saturating_sub(start_level))
}

/// S2T0SZ for an IPA size.
pub fn t0sz_field(ipa_bits: u32) -> u64 {
    u64::from(64u32.saturating_sub(ipa_bits)) & 0x3F
}

/// The stage-2-only entry. Check the config with [`stage2_config_error`]
/// first: this encoder masks out-of-range fields instead of refusing them.
pub fn stage2(config: &Stage2Config) -> StreamTableEntry {
    let mut entry = [0; 8];
    entry[0] = V | (CONFIG_STAGE2 << CONFIG_SHIFT);
    // STRW = 0b00 (NS-EL1), EATS = 0 (no ATS), S1STALLD = 0 (QEMU rejects 1).
    if config.incoming_shareability {
        entry[1] = SHCFG_INCOMING << SHCFG_SHIFT;
    }
    entry[2] = (u64::from(config.vmid) & S2VMID_MASK)
        | (t0sz_field(config.ipa_bits) << S2T0SZ_SHIFT)
        | ((start_level_field(config.start_level) & 0b11) << S2SL0_SHIFT)
        | (WALK_WRITE_BACK << S2IR0_SHIFT)
        | (WALK_WRITE_BACK << S2OR0_SHIFT)
        | (WALK_INNER_SHAREABLE << S2SH0_SHIFT)
        | (GRANULE_4K << S2TG_SHIFT)
        | ((u64::from(config.output_size_field) & 0b111) << S2PS_SHIFT)
        | S2AA64
        // Bulkhead's descriptors always set AF; with S2AFFD an AF = 0
        // descriptor still cannot raise an access-flag fault.
        | S2AFFD
        | if config.record_faults { S2R } else { 0 };
    entry[3] = config.table & S2TTB_MASK;
    entry
}

/// Every field of an STE, read back.
pub fn describe(entry: &StreamTableEntry) -> SteView {
    let [dword0, dword1, dword2, dword3, ..] = *entry;
    let field = |dword: u64, shift: u32, mask: u64| (dword >> shift) & mask;
    SteView {
        valid: dword0 & V != 0,
        config: field(dword0, CONFIG_SHIFT, CONFIG_MASK),
        s1cdmax: field(dword0, S1CDMAX_SHIFT, 0x1F),
        s1stalld: dword1 & S1STALLD != 0,
        strw: field(dword1, STRW_SHIFT, 0b11),
        shcfg: field(dword1, SHCFG_SHIFT, 0b11),
        vmid: (dword2 & S2VMID_MASK) as u16,
        t0sz: field(dword2, S2T0SZ_SHIFT, 0x3F),
        sl0: field(dword2, S2SL0_SHIFT, 0b11),
        ir0: field(dword2, S2IR0_SHIFT, 0b11),
        or0: field(dword2, S2OR0_SHIFT, 0b11),
        sh0: field(dword2, S2SH0_SHIFT, 0b11),
        tg: field(dword2, S2TG_SHIFT, 0b11),
        ps: field(dword2, S2PS_SHIFT, 0b111),
        aa64: dword2 & S2AA64 != 0,
        big_endian: dword2 & S2ENDI != 0,
        affd: dword2 & S2AFFD != 0,
        ptw: dword2 & S2PTW != 0,
        hd: dword2 & S2HD != 0,
        ha: dword2 & S2HA != 0,
        stall: dword2 & S2S != 0,
        record_faults: dword2 & S2R != 0,
        table: dword3 & S2TTB_MASK,
    }
}

/// IPA sizes the architecture allows for each start level with a 4 KiB
/// granule: more than the next level alone covers (the SMMU's S2T0SZ <= 39
/// gives level 2 its 25-bit floor), at most 16 concatenated root tables, and
/// no concatenation at level 0.
fn ipa_range(start_level: u32) -> Option<(u32, u32)> {
    match start_level {
        2 => Some((25, 34)),
        1 => Some((31, 43)),
        0 => Some((40, 48)),
        _ => None,
    }
}

/// Bits of IPA one root table resolves at `start_level` (4 KiB granule, 9 bits a level).
fn bits_resolved(start_level: u32) -> u32 {
    12 + 9 * 4u32.saturating_sub(start_level)
}

/// Why this config would make the SMMU raise C_BAD_STE (or mistranslate), or None.
///
/// Mirrors QEMU's decode_ste_s2_cfg (S2T0SZ, S2SL0, concatenation and S2TTB
/// range checks) plus the architectural lower bounds QEMU leaves out.
pub fn stage2_config_error(config: &Stage2Config, features: &Features) -> Option<&'static str> {
    let Some((ipa_min, ipa_max)) = ipa_range(config.start_level) else {
        return Some("the start level must be 0, 1 or 2 with a 4 KiB granule");
    };
    if config.ipa_bits < ipa_min || config.ipa_bits > ipa_max {
        return Some(
            "the IPA size does not fit the start level (4 KiB granule: level 2 takes 25..=34 bits, level 1 31..=43, level 0 40..=48)",
        );
    }
    if config.ipa_bits > features.input_address_bits() {
        return Some("the IPA size exceeds the SMMU's input address size");
    }
    if config.output_size_field > OUTPUT_SIZE_FIELD_MAX {
        return Some(
            "S2PS above 48 bits needs 52-bit descriptors, which Bulkhead's tables do not use",
        );
    }
    if config.output_size_field > features.output_size_field {
        return Some("S2PS exceeds the SMMU's output address size (IDR5.OAS)");
    }
    if u32::from(config.vmid) >> features.vmid_bits() != 0 {
        return Some("the VMID needs 16 bits but the SMMU has 8-bit VMIDs");
    }
    if !config.table.is_multiple_of(PAGE_SIZE) {
        return Some("the stage-2 root table is not 4 KiB aligned");
    }
    let concatenated_log2 = config
        .ipa_bits
        .saturating_sub(bits_resolved(config.start_level))
        .min(MAX_CONCATENATED_LOG2);
    let root_size = PAGE_SIZE << concatenated_log2;
    if !config.table.is_multiple_of(root_size) {
        return Some("the concatenated root tables are not aligned to their total size");
    }
    let output_bits = output_size_bits(config.output_size_field).unwrap_or(0);
    if config.table.checked_shr(output_bits).unwrap_or(0) != 0 {
        return Some("the stage-2 root table lies above the output address size (S2PS)");
    }
    if config.incoming_shareability && !features.attribute_types_override {
        return Some("SHCFG is RES0 on this SMMU (IDR1.ATTR_TYPES_OVR = 0)");
    }
    None
}

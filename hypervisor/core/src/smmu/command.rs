//! Command queue entries the driver issues, and the error the SMMU reports in CMDQ_CONS.ERR.
//!
//! Layouts from IHI 0070 chapter 4; QEMU decodes the same fields (CMD_* macros).

use super::registers::{CMDQ_CONS_ERR_MASK, CMDQ_CONS_ERR_SHIFT};

/// One command: two little-endian doublewords.
pub type Command = [u64; 2];

/// Bytes per command queue entry.
pub const COMMAND_SIZE: usize = 16;

/// Opcodes, dword 0 bits [7:0].
pub const PREFETCH_CONFIG: u8 = 0x01;
pub const CFGI_STE: u8 = 0x03;
/// CFGI_STE_RANGE; CFGI_ALL is this opcode with Range = 31 (QEMU rejects 0x07 as illegal).
pub const CFGI_STE_RANGE: u8 = 0x04;
pub const TLBI_S12_VMALL: u8 = 0x28;
pub const TLBI_S2_IPA: u8 = 0x2A;
pub const TLBI_NSNH_ALL: u8 = 0x30;
pub const CMD_SYNC: u8 = 0x46;

/// Dword 0 bits [63:32]: StreamID (CFGI_*, PREFETCH_*).
const STREAM_ID_SHIFT: u32 = 32;
/// Dword 0 bits [47:32]: VMID (TLBI_S12_VMALL, TLBI_S2_IPA).
const VMID_SHIFT: u32 = 32;
/// Dword 1 bit 0: Leaf (CFGI_STE: only the STE, not descriptors it points to;
/// TLBI_S2_IPA: only last-level entries).
const LEAF: u64 = 1 << 0;
/// Dword 1 bits [4:0]: Range, invalidating 2^(Range + 1) stream IDs.
const RANGE_ALL: u64 = 31;
/// Dword 1 bits [51:12]: the IPA of TLBI_S2_IPA.
const IPA_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// CMD_SYNC dword 0 bits [13:12]: CS = 0b00, signal nothing; completion shows as CMDQ_CONS passing it.
const CS_SHIFT: u32 = 12;
const CS_NONE: u64 = 0b00;

/// The opcode of a command.
pub fn opcode(command: &Command) -> u8 {
    (command[0] & 0xFF) as u8
}

/// Drop the SMMU's cached copy of one stream's STE after rewriting it.
/// `leaf` = true: only the STE itself changed (always so for stage-2-only STEs).
pub fn cfgi_ste(stream_id: u32, leaf: bool) -> Command {
    [
        u64::from(CFGI_STE) | (u64::from(stream_id) << STREAM_ID_SHIFT),
        if leaf { LEAF } else { 0 },
    ]
}

/// CFGI_ALL: drop every cached configuration (CFGI_STE_RANGE over all stream IDs).
pub fn cfgi_all() -> Command {
    [u64::from(CFGI_STE_RANGE), RANGE_ALL]
}

/// Drop all TLB entries tagged with `vmid`, after changing a partition's stage 2.
pub fn tlbi_s12_vmall(vmid: u16) -> Command {
    [
        u64::from(TLBI_S12_VMALL) | (u64::from(vmid) << VMID_SHIFT),
        0,
    ]
}

/// Drop the TLB entries for one IPA page of `vmid` (no range: TG = 0, TTL = 0).
pub fn tlbi_s2_ipa(vmid: u16, ipa: u64, leaf: bool) -> Command {
    [
        u64::from(TLBI_S2_IPA) | (u64::from(vmid) << VMID_SHIFT),
        (ipa & IPA_MASK) | if leaf { LEAF } else { 0 },
    ]
}

/// Drop every non-secure, non-hypervisor TLB entry (all VMIDs), at boot.
pub fn tlbi_nsnh_all() -> Command {
    [u64::from(TLBI_NSNH_ALL), 0]
}

/// CMD_SYNC without a signal: earlier commands are complete once CMDQ_CONS has moved past it.
pub fn sync_none() -> Command {
    [u64::from(CMD_SYNC) | (CS_NONE << CS_SHIFT), 0]
}

/// Ask the SMMU to fetch a stream's configuration ahead of its first DMA (a hint).
pub fn prefetch_config(stream_id: u32) -> Command {
    [
        u64::from(PREFETCH_CONFIG) | (u64::from(stream_id) << STREAM_ID_SHIFT),
        0,
    ]
}

/// Why the SMMU stopped at the command CMDQ_CONS points to (GERROR.CMDQ_ERR active).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// CERROR_ILL: unknown opcode or an illegal field.
    Illegal,
    /// CERROR_ABT: reading the command from memory aborted.
    Abort,
    /// CERROR_ATC_INV_SYNC: an ATS invalidation timed out before a CMD_SYNC.
    AtcInvalidationSync,
    /// Any other code (including CERROR_NONE, 0).
    Unknown(u8),
}

impl CommandError {
    /// Decodes CMDQ_CONS.ERR (bits [30:24]).
    pub fn from_cons(cons: u32) -> CommandError {
        match ((cons & CMDQ_CONS_ERR_MASK) >> CMDQ_CONS_ERR_SHIFT) as u8 {
            1 => CommandError::Illegal,
            2 => CommandError::Abort,
            3 => CommandError::AtcInvalidationSync,
            other => CommandError::Unknown(other),
        }
    }

    /// A short description for the console.
    pub fn name(&self) -> &'static str {
        match self {
            CommandError::Illegal => "illegal command",
            CommandError::Abort => "command fetch aborted",
            CommandError::AtcInvalidationSync => "ATC invalidation timed out",
            CommandError::Unknown(_) => "unknown command error",
        }
    }
}

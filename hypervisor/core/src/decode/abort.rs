//! Data and instruction abort syndromes (ESR_EL2 ISS for EC 0x24 and 0x20) and the MMIO access a data abort describes.

use crate::vgic::Width;

use super::register::GeneralRegister;

/// ISS bits of a data abort.
const ISV: u32 = 1 << 24;
const SAS_SHIFT: u32 = 22;
const SSE: u32 = 1 << 21;
const SRT_SHIFT: u32 = 16;
const SF: u32 = 1 << 15;
const S1PTW: u32 = 1 << 7;
const WNR: u32 = 1 << 6;
const FSC_MASK: u32 = 0x3f;

/// A fault status code (DFSC or IFSC, ISS bits 5:0).
///
/// `level` is the translation table level the fault was found at (0..=3).
/// Codes Bulkhead has no use for stay [`FaultStatus::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// 0b0000LL: the output address is beyond the configured size.
    AddressSize { level: u8 },
    /// 0b0001LL: no valid descriptor (for stage 2: the IPA is not mapped).
    Translation { level: u8 },
    /// 0b0010LL: the descriptor's access flag is clear.
    AccessFlag { level: u8 },
    /// 0b0011LL: the descriptor forbids the access (e.g. a write to a read-only page).
    Permission { level: u8 },
    /// 0b010000: synchronous external abort, not on a table walk.
    SynchronousExternal,
    /// 0b100001: alignment fault.
    Alignment,
    /// 0b110000: TLB conflict abort.
    TlbConflict,
    /// Any other code, as it was in the syndrome.
    Other(u8),
}

impl FaultStatus {
    /// Decodes the six-bit status code in the low bits of `code` (higher bits ignored).
    pub const fn from_code(code: u8) -> FaultStatus {
        let code = code & FSC_MASK as u8;
        let level = code & 0b11;
        match code >> 2 {
            0b0000 => FaultStatus::AddressSize { level },
            0b0001 => FaultStatus::Translation { level },
            0b0010 => FaultStatus::AccessFlag { level },
            0b0011 => FaultStatus::Permission { level },
            _ => match code {
                0b01_0000 => FaultStatus::SynchronousExternal,
                0b10_0001 => FaultStatus::Alignment,
                0b11_0000 => FaultStatus::TlbConflict,
                other => FaultStatus::Other(other),
            },
        }
    }

    /// The six-bit code this status is encoded as.
    pub const fn code(self) -> u8 {
        match self {
            FaultStatus::AddressSize { level } => level & 0b11,
            FaultStatus::Translation { level } => 0b0100 | (level & 0b11),
            FaultStatus::AccessFlag { level } => 0b1000 | (level & 0b11),
            FaultStatus::Permission { level } => 0b1100 | (level & 0b11),
            FaultStatus::SynchronousExternal => 0b01_0000,
            FaultStatus::Alignment => 0b10_0001,
            FaultStatus::TlbConflict => 0b11_0000,
            FaultStatus::Other(code) => code & FSC_MASK as u8,
        }
    }
}

/// The ISS of a data abort taken from a lower EL (EC 0x24).
///
/// Every field is decoded whatever ISV says; [`DataAbort::mmio_access`] is
/// the only view of SAS/SSE/SRT/SF that checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// ISV: the access fields below describe the faulting instruction.
    pub syndrome_valid: bool,
    /// SAS: size of the access.
    pub width: Width,
    /// SSE: a load sign-extends the value.
    pub sign_extend: bool,
    /// SRT: the transfer register.
    pub register: GeneralRegister,
    /// SF: the transfer register is 64 bits wide (X, not W).
    pub sixty_four: bool,
    /// WnR: the access was a write.
    pub write: bool,
    /// S1PTW: the fault happened on a stage-1 table walk, not on the access itself.
    pub stage1_walk: bool,
    /// DFSC.
    pub status: FaultStatus,
}

impl DataAbort {
    /// Decodes a data abort's ISS (ESR_EL2 bits 24:0; higher bits are ignored).
    pub const fn from_iss(iss: u32) -> DataAbort {
        DataAbort {
            syndrome_valid: iss & ISV != 0,
            width: match (iss >> SAS_SHIFT) & 0b11 {
                0 => Width::Byte,
                1 => Width::Half,
                2 => Width::Word,
                _ => Width::Double,
            },
            sign_extend: iss & SSE != 0,
            register: GeneralRegister::from_field((iss >> SRT_SHIFT) as u64),
            sixty_four: iss & SF != 0,
            write: iss & WNR != 0,
            stage1_walk: iss & S1PTW != 0,
            status: FaultStatus::from_code((iss & FSC_MASK) as u8),
        }
    }

    /// A permission fault that can only be a write: WnR, or a stage-1
    /// table walk (reads and fetches are allowed wherever a walk may go, so
    /// a walk faults only when it writes: the hardware updating a stage-1
    /// descriptor's access flag or dirty state, FEAT_HAFDBS, whatever WnR
    /// says). How checkpoint tracking sees the first write to a
    /// write-protected page.
    pub const fn is_write_permission_fault(&self) -> bool {
        (self.write || self.stage1_walk) && matches!(self.status, FaultStatus::Permission { .. })
    }

    /// The single load or store to emulate, if the syndrome is valid (ISV);
    /// None for accesses it does not describe (load/store pair, SIMD, ...).
    pub const fn mmio_access(&self) -> Option<MmioAccess> {
        if !self.syndrome_valid {
            return None;
        }
        Some(MmioAccess {
            width: self.width,
            register: self.register,
            write: self.write,
            sign_extend: self.sign_extend,
            sixty_four: self.sixty_four,
        })
    }
}

/// A load or store an emulated device has to carry out, from a data abort with ISV set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    pub width: Width,
    /// The guest register loaded into or stored from (xzr reads 0, ignores writes).
    pub register: GeneralRegister,
    pub write: bool,
    /// A load sign-extends the device value to the register width.
    pub sign_extend: bool,
    /// The register is an X register; a W register gets its upper 32 bits cleared.
    pub sixty_four: bool,
}

impl MmioAccess {
    /// The value to put in the guest register after a load that read `raw`
    /// from the device: `raw` truncated to the access width, sign-extended
    /// if SSE, and cut to 32 bits for a W register.
    #[inline]
    pub const fn load_value(&self, raw: u64) -> u64 {
        let mut value = truncate(raw, self.width);
        if self.sign_extend {
            let shift = 64 - 8 * self.width.bytes() as u32;
            value = (((value << shift) as i64) >> shift) as u64;
        }
        if !self.sixty_four {
            value &= 0xffff_ffff;
        }
        value
    }

    /// The value a store hands the device, given the guest register's value:
    /// its low bytes, as many as the access is wide.
    #[inline]
    pub const fn store_value(&self, register_value: u64) -> u64 {
        truncate(register_value, self.width)
    }
}

/// `value` cut to `width`.
const fn truncate(value: u64, width: Width) -> u64 {
    match width {
        Width::Double => value,
        other => value & ((1u64 << (8 * other.bytes() as u32)) - 1),
    }
}

/// The ISS of an instruction abort taken from a lower EL (EC 0x20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstructionAbort {
    /// S1PTW: the fault happened on a stage-1 table walk.
    pub stage1_walk: bool,
    /// IFSC.
    pub status: FaultStatus,
}

impl InstructionAbort {
    /// Decodes an instruction abort's ISS (higher bits are ignored).
    pub const fn from_iss(iss: u32) -> InstructionAbort {
        InstructionAbort {
            stage1_walk: iss & S1PTW != 0,
            status: FaultStatus::from_code((iss & FSC_MASK) as u8),
        }
    }

    /// A permission fault on the stage-1 table walk of a fetch: the walk
    /// wrote (FEAT_HAFDBS sets the access flag of the descriptor it used)
    /// to a page stage 2 lets it read. On a page checkpoint tracking
    /// write-protected, it is that page's first write.
    pub const fn is_walk_write_permission_fault(&self) -> bool {
        self.stage1_walk && matches!(self.status, FaultStatus::Permission { .. })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// -cpu max / neoverse-v1 under checkpoint tracking: the ESRs of a
    /// stage-1 walk's access-flag update into a write-protected table page.
    #[test]
    fn stage1_walk_writes_count_as_writes() {
        // EC 0x20, IL, ISS 0x8f: S1PTW, IFSC permission level 3.
        let fetch = InstructionAbort::from_iss(0x8f);
        assert!(fetch.is_walk_write_permission_fault());
        // The same walk for a load, with WnR clear.
        assert!(DataAbort::from_iss(0x8f).is_write_permission_fault());
        // A translation fault on a walk, or a plain read, is not one.
        assert!(!InstructionAbort::from_iss(0x87).is_walk_write_permission_fault());
        assert!(!InstructionAbort::from_iss(0x0f).is_walk_write_permission_fault());
        assert!(!DataAbort::from_iss(0x0f).is_write_permission_fault());
    }

    /// A data abort ISS from its fields.
    fn data_iss(isv: bool, sas: u32, sse: bool, srt: u32, sf: bool, wnr: bool, dfsc: u32) -> u32 {
        u32::from(isv) << 24
            | sas << 22
            | u32::from(sse) << 21
            | srt << 16
            | u32::from(sf) << 15
            | u32::from(wnr) << 6
            | dfsc
    }

    /// Reference: `mmio.rs`'s load path before the move, verbatim in effect.
    fn reference_load(esr: u64, value: u64) -> u64 {
        let width = match (esr >> 22) & 0b11 {
            0 => 1u32,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let mut value = if width == 8 {
            value
        } else {
            value & ((1u64 << (8 * width)) - 1)
        };
        if esr & (1 << 21) != 0 {
            let shift = 64 - 8 * width;
            value = (((value << shift) as i64) >> shift) as u64;
        }
        if esr & (1 << 15) == 0 {
            value &= 0xffff_ffff;
        }
        value
    }

    #[test]
    fn fault_status_decodes_every_level() {
        for level in 0..4u8 {
            assert_eq!(
                FaultStatus::from_code(level),
                FaultStatus::AddressSize { level }
            );
            assert_eq!(
                FaultStatus::from_code(0x04 | level),
                FaultStatus::Translation { level }
            );
            assert_eq!(
                FaultStatus::from_code(0x08 | level),
                FaultStatus::AccessFlag { level }
            );
            assert_eq!(
                FaultStatus::from_code(0x0c | level),
                FaultStatus::Permission { level }
            );
        }
        assert_eq!(
            FaultStatus::from_code(0x10),
            FaultStatus::SynchronousExternal
        );
        assert_eq!(FaultStatus::from_code(0x21), FaultStatus::Alignment);
        assert_eq!(FaultStatus::from_code(0x30), FaultStatus::TlbConflict);
        assert_eq!(FaultStatus::from_code(0x11), FaultStatus::Other(0x11));
        assert_eq!(FaultStatus::from_code(0x3f), FaultStatus::Other(0x3f));
        // Bits above the six-bit code are not part of it.
        assert_eq!(
            FaultStatus::from_code(0xc7),
            FaultStatus::Translation { level: 3 }
        );
    }

    #[test]
    fn fault_status_code_round_trips() {
        for code in 0..64u8 {
            assert_eq!(FaultStatus::from_code(code).code(), code);
        }
    }

    #[test]
    fn data_abort_fields() {
        let abort = DataAbort::from_iss(data_iss(true, 2, true, 5, true, true, 0x07));
        assert_eq!(
            abort,
            DataAbort {
                syndrome_valid: true,
                width: Width::Word,
                sign_extend: true,
                register: GeneralRegister::from_field(5),
                sixty_four: true,
                write: true,
                stage1_walk: false,
                status: FaultStatus::Translation { level: 3 },
            }
        );
        let walk = DataAbort::from_iss(1 << 7 | 0x06);
        assert!(walk.stage1_walk);
        assert!(!walk.write);
        assert!(!walk.syndrome_valid);
        assert_eq!(walk.status, FaultStatus::Translation { level: 2 });
    }

    #[test]
    fn access_sizes() {
        for (sas, width) in [
            (0, Width::Byte),
            (1, Width::Half),
            (2, Width::Word),
            (3, Width::Double),
        ] {
            let abort = DataAbort::from_iss(data_iss(true, sas, false, 0, false, false, 0));
            assert_eq!(abort.width, width);
        }
    }

    #[test]
    fn transfer_register_31_is_xzr() {
        let abort = DataAbort::from_iss(data_iss(true, 3, false, 31, true, false, 0));
        assert_eq!(abort.register, GeneralRegister::ZERO);
        assert_eq!(abort.register.index(), None);
        let abort = DataAbort::from_iss(data_iss(true, 3, false, 30, true, false, 0));
        assert_eq!(abort.register.index(), Some(30));
    }

    #[test]
    fn write_permission_fault_needs_both_write_and_permission() {
        for dfsc in 0..64 {
            for wnr in [false, true] {
                let abort = DataAbort::from_iss(data_iss(false, 0, false, 0, false, wnr, dfsc));
                let expected = wnr && (0x0c..=0x0f).contains(&dfsc);
                assert_eq!(
                    abort.is_write_permission_fault(),
                    expected,
                    "dfsc {dfsc:#x} wnr {wnr}"
                );
            }
        }
    }

    #[test]
    fn mmio_access_only_with_a_valid_syndrome() {
        let invalid = DataAbort::from_iss(data_iss(false, 2, false, 3, true, true, 0x07));
        assert_eq!(invalid.mmio_access(), None);
        let valid = DataAbort::from_iss(data_iss(true, 2, false, 3, true, true, 0x07));
        assert_eq!(
            valid.mmio_access(),
            Some(MmioAccess {
                width: Width::Word,
                register: GeneralRegister::from_field(3),
                write: true,
                sign_extend: false,
                sixty_four: true,
            })
        );
    }

    fn access(width: Width, sign_extend: bool, sixty_four: bool) -> MmioAccess {
        MmioAccess {
            width,
            register: GeneralRegister::from_field(0),
            write: false,
            sign_extend,
            sixty_four,
        }
    }

    #[test]
    fn loads_truncate_to_the_access_width() {
        let raw = 0x1122_3344_5566_7788;
        assert_eq!(access(Width::Byte, false, true).load_value(raw), 0x88);
        assert_eq!(access(Width::Half, false, true).load_value(raw), 0x7788);
        assert_eq!(
            access(Width::Word, false, true).load_value(raw),
            0x5566_7788
        );
        assert_eq!(access(Width::Double, false, true).load_value(raw), raw);
    }

    #[test]
    fn loads_sign_extend_when_asked() {
        assert_eq!(
            access(Width::Byte, true, true).load_value(0x80),
            0xffff_ffff_ffff_ff80
        );
        assert_eq!(access(Width::Byte, true, true).load_value(0x7f), 0x7f);
        assert_eq!(
            access(Width::Half, true, true).load_value(0x1_8000),
            0xffff_ffff_ffff_8000
        );
        assert_eq!(
            access(Width::Word, true, true).load_value(0x8000_0000),
            0xffff_ffff_8000_0000
        );
        assert_eq!(
            access(Width::Double, true, true).load_value(u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn loads_into_w_registers_clear_the_upper_half() {
        // LDRSB w0: sign-extended to 32 bits only.
        assert_eq!(
            access(Width::Byte, true, false).load_value(0x80),
            0xffff_ff80
        );
        assert_eq!(
            access(Width::Word, true, false).load_value(0x8000_0000),
            0x8000_0000
        );
        // A 64-bit access with SF clear cannot be encoded, but must still not keep the top half.
        assert_eq!(
            access(Width::Double, false, false).load_value(u64::MAX),
            0xffff_ffff
        );
    }

    #[test]
    fn stores_hand_over_the_low_bytes() {
        let value = 0x1122_3344_5566_7788;
        assert_eq!(access(Width::Byte, false, true).store_value(value), 0x88);
        assert_eq!(access(Width::Half, true, false).store_value(value), 0x7788);
        assert_eq!(
            access(Width::Word, false, false).store_value(value),
            0x5566_7788
        );
        assert_eq!(access(Width::Double, false, true).store_value(value), value);
    }

    #[test]
    fn instruction_abort_fields() {
        let abort = InstructionAbort::from_iss(1 << 7 | 0x0f);
        assert!(abort.stage1_walk);
        assert_eq!(abort.status, FaultStatus::Permission { level: 3 });
        let abort = InstructionAbort::from_iss(0x05);
        assert!(!abort.stage1_walk);
        assert_eq!(abort.status, FaultStatus::Translation { level: 1 });
    }

    proptest! {
        #[test]
        fn any_iss_decodes_without_panicking(iss in any::<u32>(), raw in any::<u64>()) {
            let abort = DataAbort::from_iss(iss);
            let _ = abort.is_write_permission_fault();
            prop_assert_eq!(abort.status.code(), (iss & 0x3f) as u8);
            prop_assert!(abort.register.number() < 32);
            if let Some(access) = abort.mmio_access() {
                let _ = access.load_value(raw);
                let stored = access.store_value(raw);
                prop_assert_eq!(stored & !truncate(u64::MAX, access.width), 0);
            }
            let _ = InstructionAbort::from_iss(iss);
        }

        #[test]
        fn loads_match_the_old_mmio_decoding(esr in any::<u64>(), raw in any::<u64>()) {
            let access = DataAbort::from_iss(esr as u32 | ISV).mmio_access().unwrap();
            prop_assert_eq!(access.load_value(raw), reference_load(esr, raw));
        }
    }
}

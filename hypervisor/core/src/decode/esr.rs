//! ESR_EL2, the exception syndrome: its class, the decoders for each class's ISS, and the one-line fault report.

use crate::address::Ipa;

use super::abort::{DataAbort, FaultStatus, InstructionAbort};
use super::system_register::SysRegAccess;

/// ESR_EL2 as read on a trap to EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Esr(pub u64);

impl Esr {
    /// EC (bits 31:26).
    pub const fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(((self.0 >> 26) & 0x3f) as u8)
    }

    /// ISS (bits 24:0), the class-specific syndrome.
    pub const fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// The data abort this syndrome reports, if its class is a lower-EL data abort.
    pub const fn data_abort(self) -> Option<DataAbort> {
        match self.class() {
            ExceptionClass::DataAbortLower => Some(DataAbort::from_iss(self.iss())),
            _ => None,
        }
    }

    /// The instruction abort this syndrome reports, if its class is a lower-EL instruction abort.
    pub const fn instruction_abort(self) -> Option<InstructionAbort> {
        match self.class() {
            ExceptionClass::InstructionAbortLower => Some(InstructionAbort::from_iss(self.iss())),
            _ => None,
        }
    }

    /// The trapped MSR/MRS this syndrome reports, if its class is EC 0x18.
    pub const fn sys_reg_access(self) -> Option<SysRegAccess> {
        match self.class() {
            ExceptionClass::SysReg => Some(SysRegAccess::from_iss(self.iss())),
            _ => None,
        }
    }
}

/// ESR_EL2.EC: why the exception was taken.
///
/// [`ExceptionClass::from_code`] never yields `Other` for a class that has a
/// variant of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    /// 0x16: HVC from AArch64.
    Hvc64,
    /// 0x17: SMC from AArch64 (trapped by HCR_EL2.TSC).
    Smc64,
    /// 0x18: MSR, MRS or system instruction from AArch64.
    SysReg,
    /// 0x1d: an SME instruction or register, trapped by CPTR_EL2.TSM.
    Sme,
    /// 0x20: instruction abort from a lower EL (for a guest: stage 2).
    InstructionAbortLower,
    /// 0x24: data abort from a lower EL (for a guest: stage 2).
    DataAbortLower,
    /// Any other class, by its six-bit code.
    Other(u8),
}

impl ExceptionClass {
    /// The class with six-bit code `code` (higher bits ignored).
    pub const fn from_code(code: u8) -> ExceptionClass {
        match code & 0x3f {
            0x16 => ExceptionClass::Hvc64,
            0x17 => ExceptionClass::Smc64,
            0x18 => ExceptionClass::SysReg,
            0x1d => ExceptionClass::Sme,
            0x20 => ExceptionClass::InstructionAbortLower,
            0x24 => ExceptionClass::DataAbortLower,
            other => ExceptionClass::Other(other),
        }
    }

    /// The six-bit EC value.
    pub const fn code(self) -> u8 {
        match self {
            ExceptionClass::Hvc64 => 0x16,
            ExceptionClass::Smc64 => 0x17,
            ExceptionClass::SysReg => 0x18,
            ExceptionClass::Sme => 0x1d,
            ExceptionClass::InstructionAbortLower => 0x20,
            ExceptionClass::DataAbortLower => 0x24,
            ExceptionClass::Other(code) => code & 0x3f,
        }
    }
}

/// Describes a guest fault from its syndrome, e.g. "stage-2 data abort (write) at IPA 0x42000000".
///
/// `ipa` is only used for aborts. The texts for data aborts, system register
/// accesses and other classes are what the QEMU scenarios match on: keep them.
pub fn describe(esr: Esr, ipa: Ipa) -> Description {
    Description { esr, ipa }
}

/// A fault's description, written out by `Display` (no allocation: faults
/// are reported while guests run).
#[derive(Clone, Copy, Debug)]
pub struct Description {
    esr: Esr,
    ipa: Ipa,
}

impl core::fmt::Display for Description {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (esr, ipa) = (self.esr, self.ipa.0);
        match esr.class() {
            ExceptionClass::DataAbortLower => {
                let abort = DataAbort::from_iss(esr.iss());
                let access = if abort.write { "write" } else { "read" };
                let walk = if abort.stage1_walk {
                    " during a stage-1 table walk"
                } else {
                    ""
                };
                write!(f, "stage-2 data abort ({access}) at IPA {ipa:#x}{walk}")
            }
            ExceptionClass::InstructionAbortLower => {
                write!(f, "stage-2 instruction abort at IPA {ipa:#x}")?;
                match InstructionAbort::from_iss(esr.iss()).status {
                    FaultStatus::Translation { level } => {
                        write!(f, " (translation fault, level {level})")
                    }
                    FaultStatus::Permission { level } => {
                        write!(f, " (permission fault, level {level})")
                    }
                    _ => Ok(()),
                }
            }
            ExceptionClass::SysReg => {
                let access = SysRegAccess::from_iss(esr.iss());
                write!(
                    f,
                    "trapped system register access (op0={} op1={} CRn={} CRm={} op2={})",
                    access.op0, access.op1, access.crn, access.crm, access.op2
                )
            }
            class => write!(f, "unhandled exception class {:#x}", class.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};

    fn describe_text(esr: Esr, ipa: Ipa) -> String {
        describe(esr, ipa).to_string()
    }

    /// Reference: `fault.rs`'s `describe` before the move.
    fn reference(esr: u64, ipa: u64) -> String {
        let class = esr >> 26;
        let iss = esr & 0x1ff_ffff;
        match class {
            0x24 => {
                let access = if iss & (1 << 6) != 0 { "write" } else { "read" };
                let walk = if iss & (1 << 7) != 0 {
                    " during a stage-1 table walk"
                } else {
                    ""
                };
                format!("stage-2 data abort ({access}) at IPA {ipa:#x}{walk}")
            }
            0x20 => format!("stage-2 instruction abort at IPA {ipa:#x}"),
            0x18 => format!(
                "trapped system register access (op0={} op1={} CRn={} CRm={} op2={})",
                (iss >> 20) & 3,
                (iss >> 14) & 7,
                (iss >> 10) & 0xf,
                (iss >> 1) & 0xf,
                (iss >> 17) & 7
            ),
            _ => format!("unhandled exception class {class:#x}"),
        }
    }

    fn esr(class: u64, iss: u64) -> Esr {
        Esr(class << 26 | 1 << 25 | iss)
    }

    #[test]
    fn classes() {
        assert_eq!(esr(0x16, 0).class(), ExceptionClass::Hvc64);
        assert_eq!(esr(0x17, 0).class(), ExceptionClass::Smc64);
        assert_eq!(esr(0x18, 0).class(), ExceptionClass::SysReg);
        assert_eq!(esr(0x20, 0).class(), ExceptionClass::InstructionAbortLower);
        assert_eq!(esr(0x24, 0).class(), ExceptionClass::DataAbortLower);
        assert_eq!(esr(0x25, 0).class(), ExceptionClass::Other(0x25));
        assert_eq!(esr(0x01, 0).class(), ExceptionClass::Other(0x01));
        // ISS2 (bits 36:32) is not part of the class.
        assert_eq!(
            Esr(0x1f << 32 | 0x24 << 26).class(),
            ExceptionClass::DataAbortLower
        );
    }

    #[test]
    fn class_codes_round_trip() {
        for code in 0..64u8 {
            assert_eq!(ExceptionClass::from_code(code).code(), code);
        }
        assert_eq!(
            ExceptionClass::from_code(0x40 | 0x16),
            ExceptionClass::Hvc64
        );
    }

    #[test]
    fn iss_is_the_low_25_bits() {
        assert_eq!(Esr(u64::MAX).iss(), 0x1ff_ffff);
        assert_eq!(esr(0x24, 0x47).iss(), 0x47);
    }

    #[test]
    fn class_specific_decoders_check_the_class() {
        let data = esr(0x24, 1 << 6 | 0x0f);
        assert!(data
            .data_abort()
            .is_some_and(|abort| abort.is_write_permission_fault()));
        assert_eq!(data.instruction_abort(), None);
        assert_eq!(data.sys_reg_access(), None);

        let instruction = esr(0x20, 0x0f);
        assert_eq!(instruction.data_abort(), None);
        assert_eq!(
            instruction.instruction_abort().map(|abort| abort.status),
            Some(FaultStatus::Permission { level: 3 })
        );

        let sysreg = esr(0x18, 3 << 20 | 12 << 10 | 11 << 1 | 5 << 17);
        assert_eq!(sysreg.data_abort(), None);
        assert!(sysreg
            .sys_reg_access()
            .is_some_and(|access| access.sgi_register().is_some()));
        // A same-EL data abort (0x25) is not a guest's.
        assert_eq!(esr(0x25, 1 << 6 | 0x0f).data_abort(), None);
    }

    #[test]
    fn describes_data_aborts_as_before() {
        let ipa = Ipa(0x4200_0000);
        assert_eq!(
            describe_text(esr(0x24, 0x07), ipa),
            "stage-2 data abort (read) at IPA 0x42000000"
        );
        assert_eq!(
            describe_text(esr(0x24, 1 << 6 | 0x0f), ipa),
            "stage-2 data abort (write) at IPA 0x42000000"
        );
        assert_eq!(
            describe_text(esr(0x24, 1 << 7 | 0x06), Ipa(0x7000_0000)),
            "stage-2 data abort (read) at IPA 0x70000000 during a stage-1 table walk"
        );
    }

    #[test]
    fn describes_instruction_aborts_with_their_kind() {
        let ipa = Ipa(0x4008_0000);
        assert_eq!(
            describe_text(esr(0x20, 0x07), ipa),
            "stage-2 instruction abort at IPA 0x40080000 (translation fault, level 3)"
        );
        assert_eq!(
            describe_text(esr(0x20, 0x0e), ipa),
            "stage-2 instruction abort at IPA 0x40080000 (permission fault, level 2)"
        );
        assert_eq!(
            describe_text(esr(0x20, 0x10), ipa),
            "stage-2 instruction abort at IPA 0x40080000"
        );
    }

    #[test]
    fn describes_system_register_accesses_and_other_classes() {
        // MSR ICC_SGI1R_EL1 (S3_0_C12_C11_5).
        assert_eq!(
            describe_text(
                esr(0x18, 3 << 20 | 5 << 17 | 12 << 10 | 2 << 5 | 11 << 1),
                Ipa(0)
            ),
            "trapped system register access (op0=3 op1=0 CRn=12 CRm=11 op2=5)"
        );
        assert_eq!(
            describe_text(esr(0x01, 0), Ipa(0)),
            "unhandled exception class 0x1"
        );
        assert_eq!(
            describe_text(esr(0x2f, 0), Ipa(0)),
            "unhandled exception class 0x2f"
        );
        assert_eq!(
            describe_text(Esr(0), Ipa(0)),
            "unhandled exception class 0x0"
        );
    }

    proptest! {
        #[test]
        fn any_syndrome_decodes_without_panicking(raw in any::<u64>(), ipa in any::<u64>()) {
            let esr = Esr(raw);
            let _ = esr.class();
            let _ = esr.data_abort();
            let _ = esr.instruction_abort();
            let _ = esr.sys_reg_access();
            prop_assert!(!describe_text(esr, Ipa(ipa)).is_empty());
        }

        #[test]
        fn texts_match_the_old_describe_text(
            class in prop_oneof![Just(0x18u64), Just(0x20), Just(0x24), 0u64..64],
            iss in 0u64..(1 << 25),
            ipa in any::<u64>(),
        ) {
            let esr = Esr(class << 26 | iss);
            let text = describe_text(esr, Ipa(ipa));
            let old = reference(esr.0, ipa);
            if class == 0x20 {
                // Only detail is appended to instruction aborts.
                prop_assert!(text.starts_with(&old), "{} vs {}", text, old);
            } else {
                prop_assert_eq!(text, old);
            }
        }
    }
}

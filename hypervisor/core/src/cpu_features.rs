//! What guests see of the CPU: the ID registers, trapped (HCR_EL2.TID3) and sanitized.
//!
//! A feature a guest sees must be one Bulkhead virtualizes whole, its state
//! saved in a checkpoint and restored; everything else is hidden. Each
//! AArch64 ID register therefore has an explicit list of the fields passed
//! through (some capped); a field not listed, including any an architecture
//! revision adds later, reads as 0 ("not implemented"). The AArch32 ID
//! registers describe what EL0 may run in AArch32 and add no state beyond
//! the general registers: they pass unchanged.

use crate::decode::SysRegAccess;

/// An ID register of the TID3 group: `S3_0_C0_C<crm>_<op2>`, `crm` 1..=7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRegister {
    pub crm: u8,
    pub op2: u8,
}

impl IdRegister {
    pub const AA64PFR0: IdRegister = IdRegister { crm: 4, op2: 0 };
    pub const AA64PFR1: IdRegister = IdRegister { crm: 4, op2: 1 };
    pub const AA64ZFR0: IdRegister = IdRegister { crm: 4, op2: 4 };
    pub const AA64DFR0: IdRegister = IdRegister { crm: 5, op2: 0 };
    pub const AA64ISAR0: IdRegister = IdRegister { crm: 6, op2: 0 };
    pub const AA64ISAR1: IdRegister = IdRegister { crm: 6, op2: 1 };
    pub const AA64ISAR2: IdRegister = IdRegister { crm: 6, op2: 2 };
    pub const AA64MMFR0: IdRegister = IdRegister { crm: 7, op2: 0 };
    pub const AA64MMFR1: IdRegister = IdRegister { crm: 7, op2: 1 };
    pub const AA64MMFR2: IdRegister = IdRegister { crm: 7, op2: 2 };

    /// The ID register a trapped MRS reads, if it is one of the group.
    pub const fn read_by(access: &SysRegAccess) -> Option<IdRegister> {
        if access.read
            && access.op0 == 3
            && access.op1 == 0
            && access.crn == 0
            && access.crm >= 1
            && access.crm <= 7
        {
            Some(IdRegister {
                crm: access.crm,
                op2: access.op2,
            })
        } else {
            None
        }
    }

    /// Whether the guest's value depends on the hardware's: the others
    /// read as 0 whatever the core has, so EL2 need not read them.
    pub fn needs_hardware_value(self) -> bool {
        is_aarch32(self) || rules(self).is_some_and(|rules| !rules.is_empty())
    }
}

/// What happens to one 4-bit field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// The hardware's value.
    Pass,
    /// The hardware's value, but at most this (a higher level adds state).
    AtMost(u8),
}

/// (shift, rule) of the fields a register passes; unlisted fields read 0.
type Fields = &'static [(u8, Rule)];

use Rule::{AtMost, Pass};

/// ID_AA64PFR0_EL1: EL0 (AArch32 or not), EL1 as AArch64 only (HCR_EL2.RW
/// fixes it), FP, AdvSIMD, the GIC system
/// registers, SVE (Z/P/FFR/ZCR_EL1 are checkpointed), DIT (a PSTATE bit),
/// CSV2 up to 1 (2 adds SCXTNUM_ELx) and CSV3. Hidden: EL2 and EL3 (no
/// nested virtualization; EL3 is Bulkhead's business), RAS (error records
/// are the machine's), SEL2, MPAM, AMU, RME.
const AA64PFR0: Fields = &[
    (0, Pass),
    (4, AtMost(1)),
    (16, Pass),
    (20, Pass),
    (24, Pass),
    (32, Pass),
    (48, Pass),
    (56, AtMost(1)),
    (60, Pass),
];
/// ID_AA64PFR1_EL1: BTI and SSBS (PSTATE and SCTLR_EL1 bits), CSV2_frac up
/// to 1. Hidden: MTE (tags are not checkpointed; HCR_EL2.ATA stays clear),
/// SME (CPTR_EL2.TSM traps it), NMI, GCS, THE, RNDR_trap, PFAR, DF2, the
/// RAS/MPAM/MTE fractions.
const AA64PFR1: Fields = &[(0, Pass), (4, Pass), (32, AtMost(1))];
/// ID_AA64ZFR0_EL1: which SVE instructions exist; they add no state.
const AA64ZFR0: Fields = &[
    (0, Pass),
    (4, Pass),
    (16, Pass),
    (20, Pass),
    (32, Pass),
    (40, Pass),
    (44, Pass),
    (52, Pass),
    (56, Pass),
];
/// ID_AA64DFR0_EL1: the debug architecture, breakpoints, watchpoints and
/// the PMU (guests own their core's debug and PMU state), double lock,
/// MTPMU, HPMN0. Hidden: the trace unit, SPE, the trace buffer, BRBE.
const AA64DFR0: Fields = &[
    (0, Pass),
    (8, Pass),
    (12, Pass),
    (20, Pass),
    (28, Pass),
    (36, Pass),
    (48, Pass),
    (60, Pass),
];
/// ID_AA64ISAR0_EL1: instructions only (crypto, atomics, flag manipulation, RNDR…).
const AA64ISAR0: Fields = &[
    (4, Pass),
    (8, Pass),
    (12, Pass),
    (16, Pass),
    (20, Pass),
    (28, Pass),
    (32, Pass),
    (36, Pass),
    (40, Pass),
    (44, Pass),
    (48, Pass),
    (52, Pass),
    (56, Pass),
    (60, Pass),
];
/// ID_AA64ISAR1_EL1: instructions and pointer authentication (keys are
/// checkpointed). Hidden: LS64 (needs HCRX_EL2 enables).
const AA64ISAR1: Fields = &[
    (0, Pass),
    (4, Pass),
    (8, Pass),
    (12, Pass),
    (16, Pass),
    (20, Pass),
    (24, Pass),
    (28, Pass),
    (32, Pass),
    (36, Pass),
    (40, Pass),
    (44, Pass),
    (48, Pass),
    (52, Pass),
    (56, Pass),
];
/// ID_AA64ISAR2_EL1: WFxT, RPRES, QARMA3 pointer authentication, BC,
/// PAC_frac, CLRBHB, PRFMSLC, RPRFM, CSSC, LUT. Hidden: MOPS (usable at
/// EL1/EL0 only with HCRX_EL2.MSCEn), the 128-bit system registers and
/// instructions, ATS1A.
const AA64ISAR2: Fields = &[
    (0, Pass),
    (4, Pass),
    (8, Pass),
    (12, Pass),
    (20, Pass),
    (24, Pass),
    (28, Pass),
    (40, Pass),
    (48, Pass),
    (52, Pass),
    (56, Pass),
];
/// ID_AA64MMFR0_EL1: the stage-1 view (PA range = the IPA range stage 2
/// gives, ASID size, endianness, granules), ExS, ECV up to 1 (2 is
/// CNTPOFF_EL2, EL2's). Hidden: the stage-2 granule fields and FGT.
const AA64MMFR0: Fields = &[
    (0, Pass),
    (4, Pass),
    (8, Pass),
    (12, Pass),
    (16, Pass),
    (20, Pass),
    (24, Pass),
    (28, Pass),
    (44, Pass),
    (60, AtMost(1)),
];
/// ID_AA64MMFR1_EL1: HAFDBS, HPDS, PAN, SpecSEI, ETS, AFP, nTLBPA, TIDCP1,
/// CMOW, ECBHB (all stage-1, PSTATE or SCTLR_EL1/TCR_EL1 bits). Hidden:
/// VMIDBits, VH, XNX, TWED, HCX (EL2's), LORegions (LOR registers are not
/// checkpointed).
const AA64MMFR1: Fields = &[
    (0, Pass),
    (12, Pass),
    (20, Pass),
    (24, Pass),
    (36, Pass),
    (44, Pass),
    (48, Pass),
    (52, Pass),
    (56, Pass),
    (60, Pass),
];
/// ID_AA64MMFR2_EL1: CnP, UAO, LSM, IESB, VARange, CCIDX, ST, AT, IDS,
/// TTL, BBM, E0PD. Hidden: NV, FWB, EVT (EL2's).
const AA64MMFR2: Fields = &[
    (0, Pass),
    (4, Pass),
    (8, Pass),
    (12, Pass),
    (16, Pass),
    (20, Pass),
    (28, Pass),
    (32, Pass),
    (36, Pass),
    (48, Pass),
    (52, Pass),
    (60, Pass),
];
/// Hidden whole: ID_AA64PFR2 (MTE extensions, FPMR), ID_AA64SMFR0 (SME),
/// ID_AA64FPFR0 (FP8), ID_AA64DFR1/2, ID_AA64AFR0/1 (implementation
/// defined), ID_AA64ISAR3, ID_AA64MMFR3 (TCR2, SCTLR2, permission
/// indirection and overlays, AIE: registers not checkpointed), ID_AA64MMFR4.
const HIDDEN: Fields = &[];

/// The field rules of an AArch64 ID register; `None` for the AArch32 ones
/// and unallocated encodings.
fn rules(register: IdRegister) -> Option<Fields> {
    Some(match (register.crm, register.op2) {
        (4, 0) => AA64PFR0,
        (4, 1) => AA64PFR1,
        (4, 4) => AA64ZFR0,
        (5, 0) => AA64DFR0,
        (6, 0) => AA64ISAR0,
        (6, 1) => AA64ISAR1,
        (6, 2) => AA64ISAR2,
        (7, 0) => AA64MMFR0,
        (7, 1) => AA64MMFR1,
        (7, 2) => AA64MMFR2,
        (4, 2) | (4, 5) | (4, 7) | (5, 1) | (5, 2) | (5, 4) | (5, 5) | (6, 3) | (7, 3) | (7, 4) => {
            HIDDEN
        }
        _ => return None,
    })
}

/// The AArch32 ID registers' allocated encodings (CRm 1..=3), which pass.
fn is_aarch32(register: IdRegister) -> bool {
    match register.crm {
        1 | 2 => true,
        3 => matches!(register.op2, 0 | 1 | 2 | 4 | 5 | 6),
        _ => false,
    }
}

/// The value a guest reads from `register` on a core where it reads `hardware`.
pub fn guest_value(register: IdRegister, hardware: u64) -> u64 {
    if is_aarch32(register) {
        return hardware;
    }
    // Unallocated encodings of the group are RAZ.
    let Some(fields) = rules(register) else {
        return 0;
    };
    fields.iter().fold(0, |value, &(shift, rule)| {
        let field = (hardware >> shift) & 0xf;
        let field = match rule {
            Pass => field,
            AtMost(max) => field.min(u64::from(max)),
        };
        value | field << shift
    })
}

/// Whether a core's ID_AA64PFR0_EL1 shows SVE.
pub fn has_sve(aa64pfr0: u64) -> bool {
    (aa64pfr0 >> 32) & 0xf != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Synthetic values of a core with everything: EL0..EL3 AArch32-capable,
    /// SVE, RAS, AMU, CSV2 2; BTI, SSBS 2, MTE 3, SME, CSV2_frac 2, NMI.
    const MAX_PFR0: u64 = 0x1201_1111_1111_2222;
    const MAX_PFR1: u64 = 0x0000_0012_0121_0321;

    fn field(value: u64, shift: u8) -> u64 {
        (value >> shift) & 0xf
    }

    #[test]
    fn mte_and_sme_are_hidden_bti_and_ssbs_are_not() {
        let guest = guest_value(IdRegister::AA64PFR1, MAX_PFR1);
        assert_eq!(field(guest, 8), 0, "MTE");
        assert_eq!(field(guest, 24), 0, "SME");
        assert_eq!(field(guest, 0), 1, "BT");
        assert_eq!(field(guest, 4), 2, "SSBS");
        assert_eq!(field(guest, 32), 1, "CSV2_frac");
    }

    #[test]
    fn sve_fp_and_gic_pass_el2_el3_ras_amu_are_hidden() {
        let guest = guest_value(IdRegister::AA64PFR0, MAX_PFR0);
        assert!(has_sve(guest));
        assert_eq!(field(guest, 0), 2, "EL0");
        assert_eq!(field(guest, 4), 1, "EL1: AArch64 only");
        assert_eq!(field(guest, 8), 0, "EL2");
        assert_eq!(field(guest, 12), 0, "EL3");
        assert_eq!(field(guest, 16), 1, "FP");
        assert_eq!(field(guest, 24), 1, "GIC");
        assert_eq!(field(guest, 28), 0, "RAS");
        assert_eq!(field(guest, 44), 0, "AMU");
        assert_eq!(field(guest, 56), 1, "CSV2 capped");
    }

    #[test]
    fn not_implemented_fp_stays_not_implemented() {
        // FP = 0xf and AdvSIMD = 0xf mean "not implemented" (signed fields).
        let hardware = 0xff << 16;
        assert_eq!(
            guest_value(IdRegister::AA64PFR0, hardware),
            hardware,
            "signed fields pass unchanged"
        );
    }

    #[test]
    fn wholly_hidden_and_unallocated_registers_read_zero() {
        for (crm, op2) in [
            (4, 2),
            (4, 5),
            (4, 7),
            (7, 3),
            (7, 4),
            (4, 3),
            (5, 3),
            (7, 7),
        ] {
            let register = IdRegister { crm, op2 };
            assert_eq!(guest_value(register, u64::MAX), 0, "{register:?}");
            assert!(!register.needs_hardware_value(), "{register:?}");
        }
    }

    #[test]
    fn aarch32_registers_pass() {
        for (crm, op2) in [(1, 0), (2, 7), (3, 0), (3, 6)] {
            let register = IdRegister { crm, op2 };
            assert_eq!(guest_value(register, 0x1234_5678), 0x1234_5678);
            assert!(register.needs_hardware_value());
        }
        assert_eq!(guest_value(IdRegister { crm: 3, op2: 3 }, 7), 0);
    }

    #[test]
    fn only_group_reads_are_id_registers() {
        let access = |op0, op1, crn, crm, op2, read| SysRegAccess {
            op0,
            op1,
            crn,
            crm,
            op2,
            register: crate::decode::GeneralRegister::from_field(3),
            read,
        };
        assert_eq!(
            IdRegister::read_by(&access(3, 0, 0, 4, 1, true)),
            Some(IdRegister::AA64PFR1)
        );
        assert_eq!(IdRegister::read_by(&access(3, 0, 0, 4, 1, false)), None);
        assert_eq!(IdRegister::read_by(&access(3, 0, 0, 0, 0, true)), None); // MIDR
        assert_eq!(IdRegister::read_by(&access(3, 1, 0, 4, 1, true)), None);
        assert_eq!(IdRegister::read_by(&access(3, 0, 1, 4, 1, true)), None);
    }

    proptest! {
        /// A guest never sees a feature level the hardware lacks, nor a
        /// field outside the pass lists.
        #[test]
        fn never_more_than_the_hardware(crm in 1u8..=7, op2 in 0u8..=7, hardware: u64) {
            let register = IdRegister { crm, op2 };
            let guest = guest_value(register, hardware);
            for shift in (0..64).step_by(4) {
                prop_assert!(field(guest, shift) <= field(hardware, shift));
            }
            if let Some(fields) = rules(register) {
                for shift in (0..64u8).step_by(4) {
                    if !fields.iter().any(|&(listed, _)| listed == shift) {
                        prop_assert_eq!(field(guest, shift), 0);
                    }
                }
            }
        }
    }
}

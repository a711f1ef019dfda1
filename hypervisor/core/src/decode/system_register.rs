//! Trapped MSR/MRS syndromes (ESR_EL2 ISS for EC 0x18) and which of them generate SGIs.

use super::register::GeneralRegister;

/// A trapped MSR or MRS: the system register's encoding and the general register involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegAccess {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    /// Rt: the register read into (MRS) or written from (MSR).
    pub register: GeneralRegister,
    /// Direction: an MRS (read of the system register); false for an MSR.
    pub read: bool,
}

impl SysRegAccess {
    /// Decodes the ISS of an EC 0x18 syndrome (higher bits are ignored).
    pub const fn from_iss(iss: u32) -> SysRegAccess {
        SysRegAccess {
            op0: ((iss >> 20) & 0b11) as u8,
            op2: ((iss >> 17) & 0b111) as u8,
            op1: ((iss >> 14) & 0b111) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            register: GeneralRegister::from_field((iss >> 5) as u64),
            crm: ((iss >> 1) & 0xf) as u8,
            read: iss & 1 != 0,
        }
    }

    /// Which SGI generation register this access writes, if any (reads of them are not SGIs).
    pub const fn sgi_register(&self) -> Option<SgiRegister> {
        if self.read || self.op0 != 3 || self.op1 != 0 || self.crn != 12 || self.crm != 11 {
            return None;
        }
        match self.op2 {
            5 => Some(SgiRegister::Group1),
            6 => Some(SgiRegister::AlternateGroup1),
            7 => Some(SgiRegister::Group0),
            _ => None,
        }
    }
}

/// ESR_EL2 of a trapped ICC_SGI1R_EL1 write (EC 0x18; ISS op0 3, op2 5,
/// op1 0, CRn 12, CRm 11, direction 0) under [`SGI1R_WRITE_ESR_MASK`]
/// (EC and every ISS field but Rt): what the exception vector matches with
/// one compare for the SGI fast path.
pub const SGI1R_WRITE_ESR: u64 = 0x18 << 26 | 0x3A_3016;
pub const SGI1R_WRITE_ESR_MASK: u64 = 0x3f << 26 | 0x3F_FC1F;

/// The GICv3 SGI generation registers, all encoded S3_0_C12_C11_<op2>.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiRegister {
    /// ICC_SGI1R_EL1 (op2 5): a Group 1 SGI for the current Security state.
    Group1,
    /// ICC_ASGI1R_EL1 (op2 6): a Group 1 SGI for the other Security state.
    AlternateGroup1,
    /// ICC_SGI0R_EL1 (op2 7): a Group 0 SGI.
    Group0,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The fast path's one compare agrees with the decoder on every
        /// EC 0x18 syndrome: it matches exactly the ICC_SGI1R_EL1 writes.
        #[test]
        fn sgi1r_write_compare_agrees_with_the_decoder(
            op0 in 0u32..4, op1 in 0u32..8, crn in 0u32..16, crm in 0u32..16,
            op2 in 0u32..8, rt in 0u32..32, read in 0u32..2, res0 in 0u32..8,
        ) {
            let iss = res0 << 22 | op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5
                | crm << 1 | read;
            let esr = 0x18u64 << 26 | 1 << 25 | u64::from(iss);
            let access = SysRegAccess::from_iss(iss);
            prop_assert_eq!(
                esr & SGI1R_WRITE_ESR_MASK == SGI1R_WRITE_ESR,
                access.sgi_register() == Some(SgiRegister::Group1),
            );
        }
    }

    /// The ISS of an MSR/MRS of S<op0>_<op1>_C<crn>_C<crm>_<op2> with register `rt`.
    fn iss(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32, read: bool) -> u32 {
        op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | u32::from(read)
    }

    /// Reference: `trap.rs`'s `sgi_register_write` before the move.
    fn reference(esr: u64) -> Option<usize> {
        let iss = esr & 0x1ff_ffff;
        let is_read = iss & 1 != 0;
        let op0 = (iss >> 20) & 0b11;
        let op2 = (iss >> 17) & 0b111;
        let op1 = (iss >> 14) & 0b111;
        let crn = (iss >> 10) & 0xf;
        let crm = (iss >> 1) & 0xf;
        let register = ((iss >> 5) & 0x1f) as usize;
        (!is_read && op0 == 3 && op1 == 0 && crn == 12 && crm == 11 && (5..=7).contains(&op2))
            .then_some(register)
    }

    #[test]
    fn decodes_every_field() {
        // MRS x7, CNTVCT_EL0 = S3_3_C14_C0_2.
        let access = SysRegAccess::from_iss(iss(3, 3, 14, 0, 2, 7, true));
        assert_eq!(
            access,
            SysRegAccess {
                op0: 3,
                op1: 3,
                crn: 14,
                crm: 0,
                op2: 2,
                register: GeneralRegister::from_field(7),
                read: true,
            }
        );
        let all_ones = SysRegAccess::from_iss(0x1ff_ffff);
        assert_eq!(
            (
                all_ones.op0,
                all_ones.op1,
                all_ones.crn,
                all_ones.crm,
                all_ones.op2
            ),
            (3, 7, 15, 15, 7)
        );
        assert_eq!(all_ones.register, GeneralRegister::ZERO);
        assert!(all_ones.read);
    }

    #[test]
    fn sgi_registers_by_op2() {
        let write = |op2| SysRegAccess::from_iss(iss(3, 0, 12, 11, op2, 2, false)).sgi_register();
        assert_eq!(write(5), Some(SgiRegister::Group1));
        assert_eq!(write(6), Some(SgiRegister::AlternateGroup1));
        assert_eq!(write(7), Some(SgiRegister::Group0));
        for op2 in 0..5 {
            assert_eq!(write(op2), None, "op2 {op2}");
        }
    }

    #[test]
    fn reads_and_neighbours_are_not_sgis() {
        assert_eq!(
            SysRegAccess::from_iss(iss(3, 0, 12, 11, 5, 2, true)).sgi_register(),
            None
        );
        assert_eq!(
            SysRegAccess::from_iss(iss(2, 0, 12, 11, 5, 2, false)).sgi_register(),
            None
        );
        assert_eq!(
            SysRegAccess::from_iss(iss(3, 1, 12, 11, 5, 2, false)).sgi_register(),
            None
        );
        assert_eq!(
            SysRegAccess::from_iss(iss(3, 0, 13, 11, 5, 2, false)).sgi_register(),
            None
        );
        // ICC_EOIR1_EL1 is S3_0_C12_C12_1, ICC_DIR_EL1 S3_0_C12_C11_1.
        assert_eq!(
            SysRegAccess::from_iss(iss(3, 0, 12, 12, 1, 2, false)).sgi_register(),
            None
        );
        assert_eq!(
            SysRegAccess::from_iss(iss(3, 0, 12, 11, 1, 2, false)).sgi_register(),
            None
        );
    }

    #[test]
    fn sgi_from_xzr() {
        let access = SysRegAccess::from_iss(iss(3, 0, 12, 11, 5, 31, false));
        assert_eq!(access.sgi_register(), Some(SgiRegister::Group1));
        assert_eq!(access.register, GeneralRegister::ZERO);
    }

    proptest! {
        #[test]
        fn matches_the_old_trap_decoding(esr in prop_oneof![
            any::<u64>(),
            // Near misses and hits: the SGI registers' encoding with one field varied.
            (0u32..4, 0u32..8, 11u32..14, 10u32..13, 0u32..8, 0u32..32, any::<bool>(), any::<u64>())
                .prop_map(|(op0, op1, crn, crm, op2, rt, read, high)| {
                    high & !0x1ff_ffff | u64::from(iss(op0, op1, crn, crm, op2, rt, read))
                }),
        ]) {
            let access = SysRegAccess::from_iss(esr as u32 & 0x1ff_ffff);
            let decoded = access.sgi_register().map(|_| access.register.number() as usize);
            prop_assert_eq!(decoded, reference(esr));
        }
    }
}

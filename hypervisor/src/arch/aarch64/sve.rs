//! SVE: guests get the hardware's full vector length, and their Z, P, FFR and ZCR_EL1 are saved whole.
//!
//! EL2 never uses SVE itself (it is built soft-float): the registers below
//! still hold the guest's values whenever EL2 reads them on the vCPU's own
//! core. EL2's own vector length (ZCR_EL2) is the largest the hardware has,
//! so a save at EL2 covers whatever length the guest chose for EL1.

use super::sysreg::{isb, read_sysreg, write_sysreg};

/// The architecture's largest vector: 2048 bits.
pub const MAX_VECTOR_BYTES: usize = 256;
/// Z0..Z31, then P0..P15, then FFR, at the largest vector length.
pub const MAX_STATE_BYTES: usize = state_bytes(MAX_VECTOR_BYTES);

/// Bytes of the Z, P and FFR registers at a vector length of `vector_bytes`.
pub const fn state_bytes(vector_bytes: usize) -> usize {
    32 * vector_bytes + 17 * (vector_bytes / 8)
}

/// Whether this core implements SVE (ID_AA64PFR0_EL1.SVE).
pub fn implemented() -> bool {
    bulkhead_core::cpu_features::has_sve(read_sysreg!("id_aa64pfr0_el1"))
}

/// Lets EL1 and EL2 use the longest vector the core has: ZCR_EL2.LEN is
/// a cap, and the hardware rounds the largest value down to what exists.
pub fn allow_full_length() {
    if implemented() {
        // ZCR_EL2 by encoding (the assembler names it only with +sve).
        write_sysreg!("s3_4_c1_c2_0", 0xf);
        isb();
    }
}

/// This core's vector length in bytes as EL2 sees it (its largest, after
/// [`allow_full_length`]); `None` without SVE.
pub fn vector_bytes() -> Option<usize> {
    if !implemented() {
        return None;
    }
    let bytes: u64;
    // SAFETY: RDVL reads the vector length into a general register; SVE is
    // implemented and not trapped at EL2 (CPTR_EL2.TZ clear).
    unsafe {
        core::arch::asm!(
            ".arch_extension sve",
            "rdvl {}, #1",
            out(reg) bytes,
            options(nomem, nostack)
        )
    };
    Some(bytes as usize)
}

/// A vCPU's SVE registers: too large for a stack-held snapshot, so each
/// vCPU keeps them in place next to its snapshot.
pub struct SveRegisters {
    /// ZCR_EL1: the vector length the guest chose for EL1 and EL0.
    pub zcr_el1: u64,
    /// Z0..Z31, P0..P15, FFR at this core's vector length.
    pub state: [u8; MAX_STATE_BYTES],
}

impl SveRegisters {
    pub const fn new() -> SveRegisters {
        SveRegisters {
            zcr_el1: 0,
            state: [0; MAX_STATE_BYTES],
        }
    }

    /// Reads this core's live SVE registers (a core with SVE, vector length
    /// `vector_bytes` as [`vector_bytes`] reported).
    pub fn capture(&mut self, vector_bytes: usize) {
        if vector_bytes > MAX_VECTOR_BYTES {
            return;
        }
        self.zcr_el1 = read_sysreg!("s3_0_c1_c2_0");
        let z = self.state.as_mut_ptr();
        // SAFETY: `state` holds 32 Z registers, 16 P registers and FFR at
        // any vector length up to MAX_VECTOR_BYTES (checked above); the
        // stores stay inside it. P0 is used to read FFR and reloaded after.
        unsafe {
            core::arch::asm!(
                ".arch_extension sve",
                "str z0, [{z}, #0, mul vl]", "str z1, [{z}, #1, mul vl]",
                "str z2, [{z}, #2, mul vl]", "str z3, [{z}, #3, mul vl]",
                "str z4, [{z}, #4, mul vl]", "str z5, [{z}, #5, mul vl]",
                "str z6, [{z}, #6, mul vl]", "str z7, [{z}, #7, mul vl]",
                "str z8, [{z}, #8, mul vl]", "str z9, [{z}, #9, mul vl]",
                "str z10, [{z}, #10, mul vl]", "str z11, [{z}, #11, mul vl]",
                "str z12, [{z}, #12, mul vl]", "str z13, [{z}, #13, mul vl]",
                "str z14, [{z}, #14, mul vl]", "str z15, [{z}, #15, mul vl]",
                "str z16, [{z}, #16, mul vl]", "str z17, [{z}, #17, mul vl]",
                "str z18, [{z}, #18, mul vl]", "str z19, [{z}, #19, mul vl]",
                "str z20, [{z}, #20, mul vl]", "str z21, [{z}, #21, mul vl]",
                "str z22, [{z}, #22, mul vl]", "str z23, [{z}, #23, mul vl]",
                "str z24, [{z}, #24, mul vl]", "str z25, [{z}, #25, mul vl]",
                "str z26, [{z}, #26, mul vl]", "str z27, [{z}, #27, mul vl]",
                "str z28, [{z}, #28, mul vl]", "str z29, [{z}, #29, mul vl]",
                "str z30, [{z}, #30, mul vl]", "str z31, [{z}, #31, mul vl]",
                // P registers are VL/8 bytes: P0 starts 32 Z registers = 256 P lengths in.
                "addvl {p}, {z}, #31",
                "addvl {p}, {p}, #1",
                "str p0, [{p}, #0, mul vl]", "str p1, [{p}, #1, mul vl]",
                "str p2, [{p}, #2, mul vl]", "str p3, [{p}, #3, mul vl]",
                "str p4, [{p}, #4, mul vl]", "str p5, [{p}, #5, mul vl]",
                "str p6, [{p}, #6, mul vl]", "str p7, [{p}, #7, mul vl]",
                "str p8, [{p}, #8, mul vl]", "str p9, [{p}, #9, mul vl]",
                "str p10, [{p}, #10, mul vl]", "str p11, [{p}, #11, mul vl]",
                "str p12, [{p}, #12, mul vl]", "str p13, [{p}, #13, mul vl]",
                "str p14, [{p}, #14, mul vl]", "str p15, [{p}, #15, mul vl]",
                "rdffr p0.b",
                "str p0, [{p}, #16, mul vl]",
                "ldr p0, [{p}, #0, mul vl]",
                z = in(reg) z,
                p = out(reg) _,
                options(nostack),
            )
        };
    }

    /// Loads the registers into this core (the same vector length they were
    /// captured at: a snapshot from another length is refused when read).
    pub fn apply(&self, vector_bytes: usize) {
        if vector_bytes > MAX_VECTOR_BYTES {
            return;
        }
        write_sysreg!("s3_0_c1_c2_0", self.zcr_el1);
        let z = self.state.as_ptr();
        // SAFETY: reads stay inside `state` (see `capture`); EL2 compiled
        // code uses no SIMD/SVE register, so overwriting them is harmless.
        unsafe {
            core::arch::asm!(
                ".arch_extension sve",
                "addvl {p}, {z}, #31",
                "addvl {p}, {p}, #1",
                "ldr p0, [{p}, #16, mul vl]",
                "wrffr p0.b",
                "ldr p0, [{p}, #0, mul vl]", "ldr p1, [{p}, #1, mul vl]",
                "ldr p2, [{p}, #2, mul vl]", "ldr p3, [{p}, #3, mul vl]",
                "ldr p4, [{p}, #4, mul vl]", "ldr p5, [{p}, #5, mul vl]",
                "ldr p6, [{p}, #6, mul vl]", "ldr p7, [{p}, #7, mul vl]",
                "ldr p8, [{p}, #8, mul vl]", "ldr p9, [{p}, #9, mul vl]",
                "ldr p10, [{p}, #10, mul vl]", "ldr p11, [{p}, #11, mul vl]",
                "ldr p12, [{p}, #12, mul vl]", "ldr p13, [{p}, #13, mul vl]",
                "ldr p14, [{p}, #14, mul vl]", "ldr p15, [{p}, #15, mul vl]",
                "ldr z0, [{z}, #0, mul vl]", "ldr z1, [{z}, #1, mul vl]",
                "ldr z2, [{z}, #2, mul vl]", "ldr z3, [{z}, #3, mul vl]",
                "ldr z4, [{z}, #4, mul vl]", "ldr z5, [{z}, #5, mul vl]",
                "ldr z6, [{z}, #6, mul vl]", "ldr z7, [{z}, #7, mul vl]",
                "ldr z8, [{z}, #8, mul vl]", "ldr z9, [{z}, #9, mul vl]",
                "ldr z10, [{z}, #10, mul vl]", "ldr z11, [{z}, #11, mul vl]",
                "ldr z12, [{z}, #12, mul vl]", "ldr z13, [{z}, #13, mul vl]",
                "ldr z14, [{z}, #14, mul vl]", "ldr z15, [{z}, #15, mul vl]",
                "ldr z16, [{z}, #16, mul vl]", "ldr z17, [{z}, #17, mul vl]",
                "ldr z18, [{z}, #18, mul vl]", "ldr z19, [{z}, #19, mul vl]",
                "ldr z20, [{z}, #20, mul vl]", "ldr z21, [{z}, #21, mul vl]",
                "ldr z22, [{z}, #22, mul vl]", "ldr z23, [{z}, #23, mul vl]",
                "ldr z24, [{z}, #24, mul vl]", "ldr z25, [{z}, #25, mul vl]",
                "ldr z26, [{z}, #26, mul vl]", "ldr z27, [{z}, #27, mul vl]",
                "ldr z28, [{z}, #28, mul vl]", "ldr z29, [{z}, #29, mul vl]",
                "ldr z30, [{z}, #30, mul vl]", "ldr z31, [{z}, #31, mul vl]",
                z = in(reg) z,
                p = out(reg) _,
                options(nostack, readonly),
            )
        };
        isb();
    }
}

impl Default for SveRegisters {
    fn default() -> Self {
        Self::new()
    }
}

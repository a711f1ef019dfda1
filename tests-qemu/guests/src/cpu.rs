//! What a guest sees of its CPU: ID registers, the SVE vector length and register file, pointer-authentication keys.

use core::arch::asm;

/// Reads an ID register of the TID3 group, S3_0_C0_C<crm>_<op2>, by name.
macro_rules! read_id {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: an MRS of an ID register has no side effect.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack)) };
        value
    }};
}

/// The asm lines that load (`ldr`) or store (`str`) Z0..Z31 at `base` and
/// P0..P15 right after them (x23 is the P base).
macro_rules! sve_file {
    ($op:ident, $base:literal) => {
        concat!(
            stringify!($op),
            " z0, [",
            $base,
            ", #0, mul vl]\n",
            stringify!($op),
            " z1, [",
            $base,
            ", #1, mul vl]\n",
            stringify!($op),
            " z2, [",
            $base,
            ", #2, mul vl]\n",
            stringify!($op),
            " z3, [",
            $base,
            ", #3, mul vl]\n",
            stringify!($op),
            " z4, [",
            $base,
            ", #4, mul vl]\n",
            stringify!($op),
            " z5, [",
            $base,
            ", #5, mul vl]\n",
            stringify!($op),
            " z6, [",
            $base,
            ", #6, mul vl]\n",
            stringify!($op),
            " z7, [",
            $base,
            ", #7, mul vl]\n",
            stringify!($op),
            " z8, [",
            $base,
            ", #8, mul vl]\n",
            stringify!($op),
            " z9, [",
            $base,
            ", #9, mul vl]\n",
            stringify!($op),
            " z10, [",
            $base,
            ", #10, mul vl]\n",
            stringify!($op),
            " z11, [",
            $base,
            ", #11, mul vl]\n",
            stringify!($op),
            " z12, [",
            $base,
            ", #12, mul vl]\n",
            stringify!($op),
            " z13, [",
            $base,
            ", #13, mul vl]\n",
            stringify!($op),
            " z14, [",
            $base,
            ", #14, mul vl]\n",
            stringify!($op),
            " z15, [",
            $base,
            ", #15, mul vl]\n",
            stringify!($op),
            " z16, [",
            $base,
            ", #16, mul vl]\n",
            stringify!($op),
            " z17, [",
            $base,
            ", #17, mul vl]\n",
            stringify!($op),
            " z18, [",
            $base,
            ", #18, mul vl]\n",
            stringify!($op),
            " z19, [",
            $base,
            ", #19, mul vl]\n",
            stringify!($op),
            " z20, [",
            $base,
            ", #20, mul vl]\n",
            stringify!($op),
            " z21, [",
            $base,
            ", #21, mul vl]\n",
            stringify!($op),
            " z22, [",
            $base,
            ", #22, mul vl]\n",
            stringify!($op),
            " z23, [",
            $base,
            ", #23, mul vl]\n",
            stringify!($op),
            " z24, [",
            $base,
            ", #24, mul vl]\n",
            stringify!($op),
            " z25, [",
            $base,
            ", #25, mul vl]\n",
            stringify!($op),
            " z26, [",
            $base,
            ", #26, mul vl]\n",
            stringify!($op),
            " z27, [",
            $base,
            ", #27, mul vl]\n",
            stringify!($op),
            " z28, [",
            $base,
            ", #28, mul vl]\n",
            stringify!($op),
            " z29, [",
            $base,
            ", #29, mul vl]\n",
            stringify!($op),
            " z30, [",
            $base,
            ", #30, mul vl]\n",
            stringify!($op),
            " z31, [",
            $base,
            ", #31, mul vl]\n",
            "addvl x23, ",
            $base,
            ", #31\n",
            "addvl x23, x23, #1\n",
            stringify!($op),
            " p0, [x23, #0, mul vl]\n",
            stringify!($op),
            " p1, [x23, #1, mul vl]\n",
            stringify!($op),
            " p2, [x23, #2, mul vl]\n",
            stringify!($op),
            " p3, [x23, #3, mul vl]\n",
            stringify!($op),
            " p4, [x23, #4, mul vl]\n",
            stringify!($op),
            " p5, [x23, #5, mul vl]\n",
            stringify!($op),
            " p6, [x23, #6, mul vl]\n",
            stringify!($op),
            " p7, [x23, #7, mul vl]\n",
            stringify!($op),
            " p8, [x23, #8, mul vl]\n",
            stringify!($op),
            " p9, [x23, #9, mul vl]\n",
            stringify!($op),
            " p10, [x23, #10, mul vl]\n",
            stringify!($op),
            " p11, [x23, #11, mul vl]\n",
            stringify!($op),
            " p12, [x23, #12, mul vl]\n",
            stringify!($op),
            " p13, [x23, #13, mul vl]\n",
            stringify!($op),
            " p14, [x23, #14, mul vl]\n",
            stringify!($op),
            " p15, [x23, #15, mul vl]\n",
        )
    };
}

/// The ID registers the feature checks print, by name.
pub fn id_registers() -> [(&'static str, u64); 8] {
    [
        ("midr", read_id!("midr_el1")),
        ("pfr0", read_id!("s3_0_c0_c4_0")),
        ("pfr1", read_id!("s3_0_c0_c4_1")),
        ("pfr2", read_id!("s3_0_c0_c4_2")),
        ("zfr0", read_id!("s3_0_c0_c4_4")),
        ("smfr0", read_id!("s3_0_c0_c4_5")),
        ("isar1", read_id!("s3_0_c0_c6_1")),
        ("mmfr3", read_id!("s3_0_c0_c7_3")),
    ]
}

/// Whether the guest's ID_AA64PFR0_EL1 shows SVE.
pub fn has_sve() -> bool {
    (read_id!("s3_0_c0_c4_0") >> 32) & 0xf != 0
}

/// Lets EL1 and EL0 use SVE and FP untrapped (CPACR_EL1.ZEN and FPEN).
pub fn enable_sve() {
    // SAFETY: CPACR_EL1 only controls traps of this guest's own EL1/EL0.
    unsafe {
        asm!(
            "mrs {t}, cpacr_el1",
            "orr {t}, {t}, #(3 << 16)",
            "orr {t}, {t}, #(3 << 20)",
            "msr cpacr_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nomem, nostack)
        )
    };
}

/// Sets ZCR_EL1.LEN (vector length = (len + 1) × 128 bits, capped by EL2 and the hardware).
pub fn set_vector_length(len: u64) {
    // SAFETY: ZCR_EL1 only sets this guest's own vector length.
    unsafe { asm!("msr s3_0_c1_c2_0, {}", "isb", in(reg) len, options(nomem, nostack)) };
}

/// ZCR_EL1 as the guest reads it.
pub fn vector_length_register() -> u64 {
    read_id!("s3_0_c1_c2_0")
}

/// The current vector length in bytes.
pub fn vector_bytes() -> usize {
    let bytes: u64;
    // SAFETY: RDVL reads the vector length; SVE is enabled (`enable_sve`).
    unsafe { asm!(".arch_extension sve", "rdvl {}, #1", out(reg) bytes, options(nomem, nostack)) };
    bytes as usize
}

/// Bytes of Z0..Z31, P0..P15 and FFR at the largest vector length.
pub const SVE_FILE_BYTES: usize = 32 * 256 + 17 * 32;

/// Bytes of the register file at `vector_bytes`.
pub const fn sve_file_bytes(vector_bytes: usize) -> usize {
    32 * vector_bytes + 17 * (vector_bytes / 8)
}

/// Loads Z0..Z31 and P0..P15 from `pattern` and FFR with its first
/// `ffr_true` byte elements set (FFR holds monotonic values), calls
/// CHECKPOINT_TAKE on itself with nothing in between, and stores the whole
/// register file into `out` right after the call returns (either return).
/// Returns x0 and x1 of the call.
pub fn take_self_holding_sve(
    pattern: &[u8; SVE_FILE_BYTES],
    ffr_true: u64,
    out: &mut [u8; SVE_FILE_BYTES],
) -> (u64, u64) {
    let (x0, x1): (u64, u64);
    // SAFETY: loads and stores stay within the two buffers, each sized for
    // the largest vector length; the call passes register values only and
    // the clobbers name every caller-saved register (the SVE file included:
    // the compiler keeps nothing in it across an asm block it cannot see
    // into, as z/p are not operands here and the block is the whole use).
    unsafe {
        asm!(
            ".arch_extension sve",
            sve_file!(ldr, "x20"),
            "whilelo p0.b, xzr, x22",
            "wrffr p0.b",
            "ldr p0, [x23, #0, mul vl]",
            "hvc #0",
            sve_file!(str, "x21"),
            "rdffr p0.b",
            "str p0, [x23, #16, mul vl]",
            in("x20") pattern.as_ptr(),
            in("x21") out.as_mut_ptr(),
            in("x22") ffr_true,
            out("x23") _,
            inout("x0") u64::from(crate::abi::vendor::CHECKPOINT_TAKE) => x0,
            inout("x1") crate::abi::vendor::SELF => x1,
            out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _,
            out("v6") _, out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _,
            out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _,
            out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
    (x0, x1)
}

/// Overwrites the whole SVE register file with `junk` (FFR all true).
pub fn scribble_sve(junk: &[u8; SVE_FILE_BYTES]) {
    // SAFETY: loads stay within `junk`; every SIMD register is clobbered.
    unsafe {
        asm!(
            ".arch_extension sve",
            "ptrue p0.b",
            "wrffr p0.b",
            sve_file!(ldr, "x20"),
            in("x20") junk.as_ptr(),
            out("x23") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _,
            out("v6") _, out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _,
            out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _,
            out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
}

/// The APIA key (low, high) as the guest reads it.
pub fn apia_key() -> (u64, u64) {
    (read_id!("s3_0_c2_c1_0"), read_id!("s3_0_c2_c1_1"))
}

/// Sets the APIA key and enables instruction-address authentication with
/// it at EL1 (SCTLR_EL1.EnIA), so PACIA/AUTIA use it.
pub fn set_apia_key(low: u64, high: u64) {
    // SAFETY: the key and SCTLR_EL1.EnIA only affect this guest's own
    // pointer authentication; nothing signed is in use yet.
    unsafe {
        asm!(
            "msr s3_0_c2_c1_0, {lo}",
            "msr s3_0_c2_c1_1, {hi}",
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, #(1 << 31)",
            "msr sctlr_el1, {t}",
            "isb",
            lo = in(reg) low,
            hi = in(reg) high,
            t = out(reg) _,
            options(nomem, nostack)
        )
    };
}

/// PACIA: `pointer` signed with the APIA key and `modifier`.
pub fn sign(pointer: u64, modifier: u64) -> u64 {
    let mut value = pointer;
    // SAFETY: PACIA computes on registers only.
    unsafe {
        asm!(".arch_extension pauth", "pacia {p}, {m}", p = inout(reg) value, m = in(reg) modifier, options(nomem, nostack))
    };
    value
}

/// AUTIA: `signed` authenticated with the APIA key and `modifier` (on a
/// failure: the pointer with an error code, or a fault with FEAT_FPAC).
pub fn authenticate(signed: u64, modifier: u64) -> u64 {
    let mut value = signed;
    // SAFETY: AUTIA computes on registers only.
    unsafe {
        asm!(".arch_extension pauth", "autia {p}, {m}", p = inout(reg) value, m = in(reg) modifier, options(nomem, nostack))
    };
    value
}

//! `sve_check SECONDS`: holds a round-specific pattern in the whole SVE register file while it spins, and checks it.
//!
//! Each round loads Z0..Z31 and P0..P15 from the round's pattern (and FFR
//! with a monotonic prefix), spins about a millisecond with them live, then
//! stores the file and compares. Every round differs, so a register file
//! rolled back wrongly (a checkpoint of Linux that lost the SVE upper bits,
//! P or FFR, or its vector length) shows as mismatches. The vector length
//! is set to the longest the kernel allows. Prints `linux sve second=<n>
//! rounds=<r> mismatches=<m> vl=<bytes>` each second of CNTVCT time and
//! `linux sve done rounds=<r> mismatches=<m> vl=<bytes>` at the end.

use std::arch::asm;

/// Bytes of Z0..Z31, P0..P15 and FFR at the largest vector length.
const FILE_BYTES: usize = 32 * 256 + 17 * 32;
/// prctl(2) options for the SVE vector length (linux/prctl.h).
const PR_SVE_SET_VL: u64 = 50;
const SYS_PRCTL: u64 = 167;
/// Spin iterations per round with the pattern live (about 1 ms).
const SPIN: u64 = 300_000;

/// prctl(PR_SVE_SET_VL, bytes): the vector length the kernel granted, or a negative errno.
fn set_vector_length(bytes: u64) -> i64 {
    let result: i64;
    // SAFETY: a prctl system call with register arguments only.
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") PR_SVE_SET_VL => result,
            in("x1") bytes,
            in("x2") 0u64, in("x3") 0u64, in("x4") 0u64,
            in("x8") SYS_PRCTL,
            options(nostack)
        )
    };
    result
}

fn vector_bytes() -> usize {
    let bytes: u64;
    // SAFETY: RDVL reads the vector length into a general register.
    unsafe { asm!(".arch_extension sve", "rdvl {}, #1", out(reg) bytes, options(nomem, nostack)) };
    bytes as usize
}

fn counter() -> (u64, u64) {
    let (ticks, frequency): (u64, u64);
    // SAFETY: EL0 reads of the virtual counter and its frequency.
    unsafe {
        asm!("mrs {}, cntvct_el0", "mrs {}, cntfrq_el0", out(reg) ticks, out(reg) frequency, options(nomem, nostack))
    };
    (ticks, frequency)
}

/// The asm lines that load (`ldr`) or store (`str`) Z0..Z31 at `$base` and
/// P0..P15 right after them (x23 holds the P base afterwards).
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

/// One round: the register file loaded from `pattern` (FFR: the first
/// `ffr_true` byte elements), held `SPIN` iterations, stored into `seen`.
fn hold(pattern: &[u8; FILE_BYTES], ffr_true: u64, seen: &mut [u8; FILE_BYTES]) {
    // SAFETY: loads and stores stay within the two buffers (sized for the
    // largest vector length); every SIMD register is declared clobbered.
    unsafe {
        asm!(
            ".arch_extension sve",
            sve_file!(ldr, "x20"),
            "whilelo p0.b, xzr, x22",
            "wrffr p0.b",
            "ldr p0, [x23, #0, mul vl]",
            "2:",
            "subs x24, x24, #1",
            "b.ne 2b",
            sve_file!(str, "x21"),
            "rdffr p0.b",
            "str p0, [x23, #16, mul vl]",
            in("x20") pattern.as_ptr(),
            in("x21") seen.as_mut_ptr(),
            in("x22") ffr_true,
            inout("x24") SPIN => _,
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

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(10);
    let granted = set_vector_length(256);
    if granted < 0 {
        println!("linux sve unavailable errno={}", -granted);
        std::process::exit(1);
    }
    let vl = vector_bytes();
    let used = 32 * vl + 17 * (vl / 8);
    let zp = 32 * vl + 16 * (vl / 8);
    let ffr_true = (vl / 2 + 1) as u64;
    let mut pattern = Box::new([0u8; FILE_BYTES]);
    let mut seen = Box::new([0u8; FILE_BYTES]);
    let (start, frequency) = counter();
    let (mut rounds, mut mismatches, mut second) = (0u64, 0u64, 0u64);
    loop {
        let (now, _) = counter();
        let elapsed = (now - start) / frequency.max(1);
        if elapsed >= seconds {
            break;
        }
        if elapsed > second {
            second = elapsed;
            println!("linux sve second={second} rounds={rounds} mismatches={mismatches} vl={vl}");
        }
        for (index, byte) in pattern[..zp].iter_mut().enumerate() {
            *byte =
                (index as u64 ^ rounds.wrapping_mul(0x9e37_79b9)).wrapping_mul(0x2545_f491) as u8;
        }
        hold(&pattern, ffr_true, &mut seen);
        let zp_wrong = (0..zp).filter(|&i| seen[i] != pattern[i]).count() as u64;
        let ffr = &seen[zp..used];
        let ffr_wrong = (0..vl)
            .filter(|&e| (ffr[e / 8] >> (e % 8) & 1) != u8::from((e as u64) < ffr_true))
            .count() as u64;
        mismatches += zp_wrong + ffr_wrong;
        rounds += 1;
    }
    println!("linux sve done rounds={rounds} mismatches={mismatches} vl={vl}");
}

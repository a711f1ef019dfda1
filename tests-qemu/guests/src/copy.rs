//! An optimized memcpy's inner loop: 128-bit SIMD loads and stores, 64 bytes per iteration.
//!
//! What libc's large-copy loop does (glibc's AdvSIMD memcpy moves 64 bytes
//! per iteration with `ldp`/`stp` of q registers): the benchmarks' honest
//! anchor for the hypervisor's checkpoint copy, beside the compiler's
//! word-by-word `copy_nonoverlapping`.

/// Bytes one iteration moves.
pub const STEP_BYTES: usize = 64;

/// Copies `bytes` (a multiple of [`STEP_BYTES`]; the rest is not copied)
/// from `from` to `to`.
///
/// # Safety
/// `from..from + bytes` must be readable, `to..to + bytes` writable, and
/// the two must not overlap.
pub unsafe fn copy_simd(from: *const u8, to: *mut u8, bytes: usize) {
    let steps = bytes / STEP_BYTES;
    if steps == 0 {
        return;
    }
    // SAFETY: the caller guarantees the ranges; the loop reads and writes
    // exactly `steps * 64` bytes from each start and clobbers only the
    // registers declared.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldp q0, q1, [{from}], #32",
            "ldp q2, q3, [{from}], #32",
            "stp q0, q1, [{to}], #32",
            "stp q2, q3, [{to}], #32",
            "subs {steps}, {steps}, #1",
            "b.ne 2b",
            from = inout(reg) from => _,
            to = inout(reg) to => _,
            steps = inout(reg) steps => _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            options(nostack),
        )
    };
}

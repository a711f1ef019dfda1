//! Memory kernels in 128-bit SIMD, 64 bytes a step: the checkpoint's page
//! kernels (copy, checksum, and both fused) and the boot images' bulk copy
//! and trailing-zero scan.
//!
//! EL2 is built soft-float, so the vector registers always hold the state of
//! the guest that runs (or last ran) on this core: a vCPU of the partition
//! being checkpointed, its manager's, Linux's (the control function), or
//! the periodic timer's first vCPU. None of them is reloaded from a
//! snapshot on every path back to its guest, so each kernel call leaves the
//! registers as it found them: one asm block saves the twelve it uses
//! (v0-v7 and v16-v19; on SVE cores the whole Z registers at EL2's vector
//! length, the hardware's longest, since a write to a V register zeroes
//! the bits of Z above 128), runs, and restores them. P registers, FFR, FPCR and FPSR
//! are never touched (integer adds, loads and stores only). CPTR_EL2 leaves
//! FP/SIMD and SVE untrapped at EL2 (`vm::CPTR_GUEST`).
//!
//! The checksum is `bulkhead_core::checkpoint::checksum`: v4/v5 hold the
//! first-order sums of lanes 0-1/2-3, v6/v7 the second-order ones, in the
//! lane order `checksum_from_lanes` documents (and core's host tests model);
//! each 256-byte block is folded into v0/v1 (v16-v19 take its last three
//! 64-byte steps) before it is added in and weighed.

use core::mem::MaybeUninit;

use bulkhead_core::checkpoint::{checksum_from_lanes, PageKernel, LANES, PAGE_BYTES};

use super::sve;

/// Bytes moved per loop iteration: four 64-byte steps.
const ITERATION_BYTES: usize = 256;
const ITERATIONS: usize = PAGE_BYTES / ITERATION_BYTES;
const _: () = assert!(PAGE_BYTES.is_multiple_of(ITERATION_BYTES));

/// Vector registers a kernel may use: v0-v7 and (the checksum kernels) v16-v19.
const SAVED_REGISTERS: usize = 12;

/// Room for the Z registers the kernels use at the architecture's longest
/// vector (their V views use the first 192 bytes). Left uninitialised:
/// zeroing 3 KiB per page would cost a third of the copy.
/// (u128: 16-byte aligned.)
type SavedVectors = [u128; SAVED_REGISTERS * sve::MAX_VECTOR_BYTES / 16];

/// Runs `$body` between a save and a restore of the vector registers it
/// uses (v0-v7; with `upper;` first, v16-v19 as well: only the checksum
/// kernels need them); `$sve`: save the whole Z registers. Operands follow
/// the body.
macro_rules! preserving_vectors {
    (upper; $sve:expr, $saved:expr, $body:expr, $($operands:tt)*) => {
        preserving_vectors!(@with
            [
                "str z16, [{save}, #8, mul vl]", "str z17, [{save}, #9, mul vl]",
                "str z18, [{save}, #10, mul vl]", "str z19, [{save}, #11, mul vl]",
            ]
            [
                "ldr z16, [{save}, #8, mul vl]", "ldr z17, [{save}, #9, mul vl]",
                "ldr z18, [{save}, #10, mul vl]", "ldr z19, [{save}, #11, mul vl]",
            ]
            [
                "add {upper}, {save_high}, #64",
                "st1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{upper}]",
            ]
            [
                "add {upper}, {save_high}, #64",
                "ld1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{upper}]",
            ]
            [upper = out(reg) _,]
            $sve, $saved, $body, $($operands)*)
    };
    ($sve:expr, $saved:expr, $body:expr, $($operands:tt)*) => {
        preserving_vectors!(@with [] [] [] [] [] $sve, $saved, $body, $($operands)*)
    };
    (@with [$($save_sve:expr,)*] [$($restore_sve:expr,)*]
        [$($save_simd:expr,)*] [$($restore_simd:expr,)*] [$($extra:tt)*]
        $sve:expr, $saved:expr, $body:expr, $($operands:tt)*) => {{
        let save = $saved.as_mut_ptr().cast::<u8>();
        if $sve {
            core::arch::asm!(
                ".arch_extension sve",
                ".arch_extension simd",
                "str z0, [{save}, #0, mul vl]", "str z1, [{save}, #1, mul vl]",
                "str z2, [{save}, #2, mul vl]", "str z3, [{save}, #3, mul vl]",
                "str z4, [{save}, #4, mul vl]", "str z5, [{save}, #5, mul vl]",
                "str z6, [{save}, #6, mul vl]", "str z7, [{save}, #7, mul vl]",
                $($save_sve,)*
                $body,
                "ldr z0, [{save}, #0, mul vl]", "ldr z1, [{save}, #1, mul vl]",
                "ldr z2, [{save}, #2, mul vl]", "ldr z3, [{save}, #3, mul vl]",
                "ldr z4, [{save}, #4, mul vl]", "ldr z5, [{save}, #5, mul vl]",
                "ldr z6, [{save}, #6, mul vl]", "ldr z7, [{save}, #7, mul vl]",
                $($restore_sve,)*
                save = in(reg) save,
                $($operands)*
            )
        } else {
            core::arch::asm!(
                ".arch_extension simd",
                "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{save}]",
                "st1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{save_high}]",
                $($save_simd,)*
                $body,
                "ld1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{save}]",
                "ld1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{save_high}]",
                $($restore_simd,)*
                save = in(reg) save,
                save_high = in(reg) save.wrapping_add(64),
                $($extra)*
                $($operands)*
            )
        }
    }};
}

/// The checksum loop over a page at `{source}` (`{count}` iterations of
/// one 256-byte block: four 64-byte steps), each step's bytes also stored
/// at `{destination}` when given `copy`; the lanes end in `{lanes}`. A
/// block's first step goes into v0-v3 and is folded into v0/v1 (words 0-1
/// and 4-5, 2-3 and 6-7); each later one into v16-v19, folded likewise and
/// added in; then the block is added to the sums and weighed.
macro_rules! checksum_loop {
    ($($copy:ident)?) => {
        concat!(
            "movi v4.2d, #0\n",
            "movi v5.2d, #0\n",
            "movi v6.2d, #0\n",
            "movi v7.2d, #0\n",
            "2:\n",
            "ld1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{source}], #64\n",
            $(checksum_loop!(@$copy v0),)?
            "add v0.2d, v0.2d, v2.2d\n",
            "add v1.2d, v1.2d, v3.2d\n",
            ".rept 3\n",
            "ld1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{source}], #64\n",
            $(checksum_loop!(@$copy v16),)?
            "add v16.2d, v16.2d, v18.2d\n",
            "add v17.2d, v17.2d, v19.2d\n",
            "add v0.2d, v0.2d, v16.2d\n",
            "add v1.2d, v1.2d, v17.2d\n",
            ".endr\n",
            "add v4.2d, v4.2d, v0.2d\n",
            "add v5.2d, v5.2d, v1.2d\n",
            "add v6.2d, v6.2d, v4.2d\n",
            "add v7.2d, v7.2d, v5.2d\n",
            "subs {count}, {count}, #1\n",
            "b.ne 2b\n",
            "st1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{lanes}]",
        )
    };
    (@copy v0) => {
        "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{destination}], #64\n"
    };
    (@copy v16) => {
        "st1 {{v16.2d, v17.2d, v18.2d, v19.2d}}, [{destination}], #64\n"
    };
}

/// The SIMD page kernels. Sound on any core at any time (each call restores
/// what it uses); used inside checkpoint and restore pauses only.
pub struct SimdPageKernel {
    /// Whether this core has SVE: Z registers to preserve whole.
    sve: bool,
}

impl SimdPageKernel {
    pub fn new() -> SimdPageKernel {
        SimdPageKernel {
            sve: sve::implemented(),
        }
    }
}

impl PageKernel for SimdPageKernel {
    fn copy_with_checksum(
        &mut self,
        destination: &mut [u8; PAGE_BYTES],
        source: &[u8; PAGE_BYTES],
    ) -> u64 {
        let mut saved = MaybeUninit::<SavedVectors>::uninit();
        // [sum 0-1, sum 2-3, weighted 0-1, weighted 2-3]
        let mut lanes = [0u64; 2 * LANES];
        // SAFETY: reads the 4 KiB of `source`, writes the 4 KiB of
        // `destination` (distinct: one is borrowed mutably) and the 64 bytes
        // of `lanes`; `saved` has room for the twelve Z registers used at
        // any vector length EL2 can have. Every vector register written is restored from `saved`
        // before the block ends, so neither compiled code nor the guest on
        // this core sees a change.
        unsafe {
            preserving_vectors!(
                upper;
                self.sve,
                saved,
                checksum_loop!(copy),
                source = inout(reg) source.as_ptr() => _,
                destination = inout(reg) destination.as_mut_ptr() => _,
                count = inout(reg) ITERATIONS => _,
                lanes = in(reg) lanes.as_mut_ptr(),
                options(nostack),
            )
        };
        finish(lanes)
    }

    fn checksum(&mut self, page: &[u8; PAGE_BYTES]) -> u64 {
        let mut saved = MaybeUninit::<SavedVectors>::uninit();
        let mut lanes = [0u64; 2 * LANES];
        // SAFETY: as in `copy_with_checksum`, without the destination.
        unsafe {
            preserving_vectors!(
                upper;
                self.sve,
                saved,
                checksum_loop!(),
                source = inout(reg) page.as_ptr() => _,
                count = inout(reg) ITERATIONS => _,
                lanes = in(reg) lanes.as_mut_ptr(),
                options(nostack),
            )
        };
        finish(lanes)
    }

    fn copy(&mut self, destination: &mut [u8; PAGE_BYTES], source: &[u8; PAGE_BYTES]) {
        // SAFETY: a page of each, distinct (one is borrowed mutably).
        unsafe {
            copy_steps(
                self.sve,
                destination.as_mut_ptr(),
                source.as_ptr(),
                ITERATIONS,
            )
        };
    }
}

/// Copies `steps` × 256 bytes from `source` to `destination`, restoring
/// the vector registers it uses (v0-v3; their Z registers whole with `sve`).
///
/// # Safety
/// Both ranges must be valid for `steps` × 256 bytes and must not overlap.
unsafe fn copy_steps(sve: bool, destination: *mut u8, source: *const u8, steps: usize) {
    let mut saved = MaybeUninit::<SavedVectors>::uninit();
    // SAFETY: per this function's contract; `saved` has room for the Z
    // registers preserved at any vector length EL2 can have, and every
    // register written is restored from it before the block ends.
    unsafe {
        preserving_vectors!(
            sve,
            saved,
            concat!(
                "2:\n",
                ".rept 4\n",
                "ld1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{source}], #64\n",
                "st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{destination}], #64\n",
                ".endr\n",
                "subs {count}, {count}, #1\n",
                "b.ne 2b",
            ),
            source = inout(reg) source => _,
            destination = inout(reg) destination => _,
            count = inout(reg) steps => _,
            options(nostack),
        )
    };
}

/// Copies `source` into `destination` (the shorter length of the two),
/// 256 bytes a step; the tail that is not a whole step bytewise. Sound on
/// any core at any time, like the page kernels.
pub fn copy_bytes(destination: &mut [u8], source: &[u8]) {
    let len = destination.len().min(source.len());
    let steps = len / ITERATION_BYTES;
    let bulk = steps * ITERATION_BYTES;
    if steps > 0 {
        // SAFETY: `bulk` bytes of each, in bounds, distinct (one is
        // borrowed mutably).
        unsafe {
            copy_steps(
                sve::implemented(),
                destination.as_mut_ptr(),
                source.as_ptr(),
                steps,
            )
        };
    }
    destination[bulk..len].copy_from_slice(&source[bulk..len]);
}

/// The length of `bytes` without its trailing zeros, rounded up to a
/// 256-byte step (never beyond `bytes.len()`): scanned from the end, a step
/// at a time, so a module slot's zero tail costs a load per 16 bytes.
pub fn trimmed_len(bytes: &[u8]) -> usize {
    let steps = bytes.len() / ITERATION_BYTES;
    let bulk = steps * ITERATION_BYTES;
    if let Some(last) = bytes[bulk..].iter().rposition(|&byte| byte != 0) {
        return bulk + last + 1;
    }
    if steps == 0 {
        return 0;
    }
    let mut saved = MaybeUninit::<SavedVectors>::uninit();
    let mut remaining = steps;
    // SAFETY: reads the `bulk` bytes of `bytes`, from the end down, 256 at
    // a time; the registers it uses are restored from `saved` as in the page kernels.
    unsafe {
        preserving_vectors!(
            sve::implemented(),
            saved,
            concat!(
                "2:\n",
                "sub {end}, {end}, #256\n",
                "mov {cursor}, {end}\n",
                "ld1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [{cursor}], #64\n",
                ".rept 3\n",
                "ld1 {{v4.2d, v5.2d, v6.2d, v7.2d}}, [{cursor}], #64\n",
                "orr v0.16b, v0.16b, v4.16b\n",
                "orr v1.16b, v1.16b, v5.16b\n",
                "orr v2.16b, v2.16b, v6.16b\n",
                "orr v3.16b, v3.16b, v7.16b\n",
                ".endr\n",
                "orr v0.16b, v0.16b, v1.16b\n",
                "orr v2.16b, v2.16b, v3.16b\n",
                "orr v0.16b, v0.16b, v2.16b\n",
                "umaxv s0, v0.4s\n",
                "fmov {word:w}, s0\n",
                "cbnz {word:w}, 3f\n",
                "subs {count}, {count}, #1\n",
                "b.ne 2b\n",
                "3:",
            ),
            end = inout(reg) bytes.as_ptr().wrapping_add(bulk) => _,
            cursor = out(reg) _,
            word = out(reg) _,
            count = inout(reg) remaining,
            options(nostack),
        )
    };
    // `remaining` counts down to the step with a non-zero byte (or 0).
    remaining * ITERATION_BYTES
}

/// Whether the SIMD kernels give exactly the portable definition's results
/// (`bulkhead_core::checkpoint::checksum`) on a page of every byte value and
/// carries out of every lane: run once at boot, before any checkpoint, so a
/// kernel that disagrees stops the machine instead of writing a store no
/// full verification would accept.
pub fn agrees_with_portable() -> bool {
    let mut source = alloc::vec![0u8; 2 * PAGE_BYTES];
    let mut state = 0x0123_4567_89ab_cdefu64;
    for (index, word) in source.chunks_exact_mut(8).enumerate() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let value = if index % 97 == 0 { u64::MAX } else { state };
        word.copy_from_slice(&value.to_le_bytes());
    }
    let (first, copy) = source.split_at_mut(PAGE_BYTES);
    let (Ok(first), Ok(copy)) = (
        <&mut [u8; PAGE_BYTES]>::try_from(first),
        <&mut [u8; PAGE_BYTES]>::try_from(copy),
    ) else {
        return false;
    };
    let expected = bulkhead_core::checkpoint::checksum(first);
    let mut kernel = SimdPageKernel::new();
    let copied = kernel.copy_with_checksum(copy, first);
    copied == expected && *copy == *first && kernel.checksum(first) == expected
}

/// The checksum from the four sum vectors as stored.
fn finish(lanes: [u64; 2 * LANES]) -> u64 {
    let [s0, s1, s2, s3, w0, w1, w2, w3] = lanes;
    checksum_from_lanes([s0, s1, s2, s3], [w0, w1, w2, w3], PAGE_BYTES)
}

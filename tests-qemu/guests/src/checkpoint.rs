//! Checkpoint hypercalls (take, restore, status, the corruption test hook) and the boot count from the device tree.

use crate::hypercall::{call, hvc};
use bulkhead_abi::{ret, vendor};

/// `target` value naming the caller's own partition.
pub const SELF: u64 = vendor::SELF;

/// How a CHECKPOINT_TAKE returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// The checkpoint was taken; execution goes on after it.
    Taken { generation: u64 },
    /// The partition was rolled back to this checkpoint (second return);
    /// `x1` is whatever the hypervisor left in x1.
    Restored { x1: u64 },
    /// The call failed with this SMCCC error.
    Failed(i64),
}

/// CHECKPOINT_TAKE on `target` (or [`SELF`]). On the caller itself this
/// returns once when taken and again, as [`Take::Restored`], after each
/// restore to it: every register and all memory are as they were, only x0
/// differs, so the second return is an ordinary return to the compiler.
#[inline(never)]
pub fn take(target: u64) -> Take {
    let r = hvc(vendor::CHECKPOINT_TAKE, [target, 0, 0, 0, 0, 0]);
    match r[0] as i64 {
        ret::SUCCESS => Take::Taken { generation: r[1] },
        code if code as u64 == vendor::RESTORED => Take::Restored { x1: r[1] },
        code => Take::Failed(code),
    }
}

/// CHECKPOINT_TAKE on the caller, with `value` held in FP/SIMD register v8
/// across the call (not spilled to memory): returns how it returned and what
/// v8 held afterwards, so a guest can see its FP state rolled back too.
#[inline(never)]
pub fn take_self_holding_fp(value: f64) -> (Take, f64) {
    let (x0, x1, held): (u64, u64, f64);
    // SAFETY: the call passes register values only; the clobbers name every
    // caller-saved general register, as for `hypercall::hvc`, and v8 is an
    // explicit in/out operand.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") u64::from(vendor::CHECKPOINT_TAKE) => x0,
            inout("x1") SELF => x1,
            inout("v8") value => held,
            out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            options(nostack),
        );
    }
    let take = match x0 as i64 {
        ret::SUCCESS => Take::Taken { generation: x1 },
        code if code as u64 == vendor::RESTORED => Take::Restored { x1 },
        code => Take::Failed(code),
    };
    (take, held)
}

/// CHECKPOINT_RESTORE on `target`: on the caller itself it only returns on
/// failure (with the error); on another partition 0 or an error.
pub fn restore(target: u64) -> i64 {
    call(vendor::CHECKPOINT_RESTORE, target, 0, 0)
}

/// CHECKPOINT_RESTORE on another partition, asked again while it answers
/// BUSY (another operation, such as its periodic checkpoint, holds it), at
/// most `attempts` times, 1 ms apart. Returns the last code and the BUSY count.
pub fn restore_retrying(target: u64, attempts: u32) -> (i64, u32) {
    let mut busy = 0;
    loop {
        let code = restore(target);
        if code != crate::abi::ret::BUSY || busy + 1 >= attempts {
            return (code, busy);
        }
        busy += 1;
        crate::timer::delay_ms(1);
    }
}

/// What CHECKPOINT_STATUS reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Generation of the current checkpoint (0: none).
    pub generation: u64,
    /// Checkpoints taken so far.
    pub taken: u64,
    /// Pages the last checkpoint copied.
    pub pages_copied: u64,
    /// Its pause, in counter ticks.
    pub pause_ticks: u64,
}

/// CHECKPOINT_STATUS on `target`, or its SMCCC error.
pub fn status(target: u64) -> Result<Status, i64> {
    let r = hvc(vendor::CHECKPOINT_STATUS, [target, 0, 0, 0, 0, 0]);
    match r[0] as i64 {
        ret::SUCCESS => Ok(Status {
            generation: r[1],
            taken: r[2],
            pages_copied: r[3],
            pause_ticks: r[4],
        }),
        code => Err(code),
    }
}

/// CHECKPOINT_STATUS's x0 alone: 0 or an error (for permission tests).
pub fn status_code(target: u64) -> i64 {
    call(vendor::CHECKPOINT_STATUS, target, 0, 0)
}

/// CHECKPOINT_TAKE's x0 alone, never on the caller (for permission tests).
pub fn take_code(target: u64) -> i64 {
    call(vendor::CHECKPOINT_TAKE, target, 0, 0)
}

/// Test hook: corrupts the stored copy of the page at `ipa` of `target`.
pub fn corrupt_for_test(target: u64, ipa: u64) -> i64 {
    call(vendor::CHECKPOINT_CORRUPT_FOR_TEST, target, ipa, 0)
}

/// The first 8 bytes of `/chosen/rng-seed` and `/chosen/kaslr-seed`
/// (0 when absent): Bulkhead's per-start seeds.
pub fn seeds(dtb: u64) -> (u64, u64) {
    let Some(fdt) = crate::dt::blob(dtb) else {
        return (0, 0);
    };
    let Some(chosen) = fdt.find_node("/chosen") else {
        return (0, 0);
    };
    let first_word = |name: &str| {
        chosen
            .property(name)
            .and_then(|property| property.value.get(..8))
            .and_then(|bytes| bytes.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    (first_word("rng-seed"), first_word("kaslr-seed"))
}

/// `/chosen/bulkhead,boot-count` of the device tree at `dtb`: 1 on the
/// first boot, 2 after one restart, ...; `None` without one.
pub fn boot_count(dtb: u64) -> Option<u64> {
    let fdt = crate::dt::blob(dtb)?;
    let value = fdt.find_node("/chosen")?.property("bulkhead,boot-count")?;
    value.as_usize().map(|count| count as u64)
}

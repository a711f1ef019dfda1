//! SMCCC 1.1 conduits (`hvc #0`, `smc #0`) and Bulkhead's vendor calls.

use bulkhead_abi::vendor;
use core::arch::asm;

/// x0..x4 as returned by a call.
pub type Registers = [u64; 5];

/// Issues `hvc #0` with `function` in w0 and `args` in x1..x6.
#[inline(always)]
pub fn hvc(function: u32, args: [u64; 6]) -> Registers {
    hvc_raw(u64::from(function), args)
}

/// Issues `smc #0`, which Bulkhead traps to the same dispatcher as `hvc`.
#[inline(always)]
pub fn smc(function: u32, args: [u64; 6]) -> Registers {
    smc_raw(u64::from(function), args)
}

/// Issues `hvc #0` with all 64 bits of x0 chosen by the caller (SMCCC
/// ignores the upper half of the function ID: attack tests set it).
#[inline(always)]
pub fn hvc_raw(x0: u64, args: [u64; 6]) -> Registers {
    let (r0, r1, r2, r3, r4): (u64, u64, u64, u64, u64);
    // SAFETY: the call only passes register values to the hypervisor; any
    // memory it reads on our behalf is named by IPA in those registers and
    // the hypervisor checks it against our map. All caller-saved registers
    // are clobbered.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") x0 => r0,
            inout("x1") args[0] => r1,
            inout("x2") args[1] => r2,
            inout("x3") args[2] => r3,
            inout("x4") args[3] => r4,
            inout("x5") args[4] => _,
            inout("x6") args[5] => _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3, r4]
}

/// [`hvc_raw`] through `smc #0`.
#[inline(always)]
pub fn smc_raw(x0: u64, args: [u64; 6]) -> Registers {
    let (r0, r1, r2, r3, r4): (u64, u64, u64, u64, u64);
    // SAFETY: as for `hvc_raw`; Bulkhead traps `smc` (HCR_EL2.TSC).
    unsafe {
        asm!(
            "smc #0",
            inout("x0") x0 => r0,
            inout("x1") args[0] => r1,
            inout("x2") args[1] => r2,
            inout("x3") args[2] => r3,
            inout("x4") args[3] => r4,
            inout("x5") args[4] => _,
            inout("x6") args[5] => _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3, r4]
}

/// `hvc` with up to three arguments, returning x0 as a signed SMCCC result.
pub fn call(function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    hvc(function, [a1, a2, a3, 0, 0, 0])[0] as i64
}

/// What PARTITION_INFO reports about the caller.
#[derive(Clone, Copy, Debug)]
pub struct PartitionInfo {
    pub id: u64,
    pub vcpus: u64,
    pub vcpu: u64,
    pub memory_bytes: u64,
}

/// PARTITION_INFO, or `None` if there is no Bulkhead to answer.
pub fn partition_info() -> Option<PartitionInfo> {
    let r = hvc(vendor::PARTITION_INFO, [0; 6]);
    (r[0] as i64 == bulkhead_abi::ret::SUCCESS).then_some(PartitionInfo {
        id: r[1],
        vcpus: r[2],
        vcpu: r[3],
        memory_bytes: r[4],
    })
}

/// CONSOLE_WRITE of `len` bytes at `ipa`: bytes written or an SMCCC error.
/// Takes raw values on purpose: the hypercall-argument guest passes bad ones.
pub fn console_write_raw(ipa: u64, len: u64) -> i64 {
    call(vendor::CONSOLE_WRITE, ipa, len, 0)
}

/// CONSOLE_WRITE of a buffer we own (VA == IPA under the identity map).
pub fn console_write(bytes: &[u8]) -> i64 {
    console_write_raw(bytes.as_ptr() as u64, bytes.len() as u64)
}

/// Issues NULL `calls` times back to back (the trap round trip, nothing else).
pub fn null_loop(calls: u64) {
    call_loop(vendor::NULL, calls);
}

/// Issues `function` (no arguments) `calls` times back to back, in a loop
/// of four instructions, for round-trip benchmarks.
pub fn call_loop(function: u32, calls: u64) {
    if calls == 0 {
        return;
    }
    // SAFETY: the calls take no arguments and no memory; the loop only
    // clobbers the registers declared below.
    unsafe {
        asm!(
            "2:",
            "mov x0, {id:x}",
            "hvc #0",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            id = in(reg) u64::from(function),
            n = inout(reg) calls => _,
            out("x0") _, out("x1") _, out("x2") _, out("x3") _, out("x4") _,
            out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        );
    }
}

/// STATS on `target` (or [`vendor::SELF`]): its counters in
/// `vendor::stats` order (x1..x8), or the SMCCC error.
pub fn stats(target: u64) -> Result<[u64; vendor::stats::COUNT], i64> {
    let mut r = [0u64; 9];
    // SAFETY: register values only; all caller-saved registers are clobbered.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") u64::from(vendor::STATS) => r[0],
            inout("x1") target => r[1],
            out("x2") r[2], out("x3") r[3], out("x4") r[4], out("x5") r[5],
            out("x6") r[6], out("x7") r[7], out("x8") r[8],
            out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    if r[0] as i64 != bulkhead_abi::ret::SUCCESS {
        return Err(r[0] as i64);
    }
    let mut values = [0; vendor::stats::COUNT];
    values.copy_from_slice(&r[1..=vendor::stats::COUNT]);
    Ok(values)
}

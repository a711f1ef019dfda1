//! Cache maintenance for memory the hypervisor writes and a guest reads with caches off.

use core::arch::asm;

use super::sysreg::{dsb_sy, isb};

/// Cleans `[start, start + len)` to the point of coherency, then invalidates
/// the instruction cache: a guest that starts with MMU and caches off must
/// see what EL2 wrote through its cacheable mapping.
pub fn clean_to_poc_and_invalidate_icache(start: u64, len: u64) {
    let line = cache_line_size();
    let mut address = start & !(line - 1);
    let end = start.saturating_add(len);
    // Four lines a step while four fit (a boot image is tens of MiB), then
    // one at a time: never a line past `end`, which may be unmapped.
    let lines = end.saturating_sub(address).div_ceil(line);
    let steps = lines / 4;
    if steps > 0 {
        // SAFETY: as below, for the first `4 * steps` lines of the range.
        unsafe {
            asm!(
                "2:",
                "dc cvac, {address}", "add {address}, {address}, {line}",
                "dc cvac, {address}", "add {address}, {address}, {line}",
                "dc cvac, {address}", "add {address}, {address}, {line}",
                "dc cvac, {address}", "add {address}, {address}, {line}",
                "subs {steps}, {steps}, #1",
                "b.ne 2b",
                address = inout(reg) address,
                line = in(reg) line,
                steps = inout(reg) steps => _,
                options(nostack),
            )
        };
    }
    while address < end {
        // SAFETY: a clean by VA does not change memory contents; the range is
        // identity-mapped RAM the caller just wrote.
        unsafe { asm!("dc cvac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    dsb_sy();
    // SAFETY: invalidating the instruction cache only discards cached code.
    unsafe { asm!("ic iallu", options(nostack)) };
    dsb_sy();
    isb();
}

/// Smallest data cache line size, from CTR_EL0.DminLine.
fn cache_line_size() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effect.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

//! Starting a core parked on a spin table: write its entry address to the release word, send an event.
//!
//! The firmware's spin loop (QEMU's raspi stub, the Raspberry Pi's armstub)
//! waits in `wfe` until its core's 64-bit release word is non-zero, then
//! branches there at EL2 with the MMU off and x0 = 0. So the core cannot be
//! told its logical id: [`spin_table_entry`] finds it by looking its MPIDR up
//! in a table the boot CPU fills (and cleans to memory) before the release.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

use bulkhead_core::address::PhysAddr;
use bulkhead_platform::current::PLATFORM;

use super::sysreg::dsb_sy;

/// MPIDR (affinity fields) of each logical CPU released so far; `u64::MAX`
/// for none. Read by [`spin_table_entry`] with the MMU off.
#[no_mangle]
static SPIN_TABLE_MPIDRS: [AtomicU64; PLATFORM.max_cpus] =
    [const { AtomicU64::new(u64::MAX) }; PLATFORM.max_cpus];

global_asm!(
    r#"
    .section .text
    .global spin_table_entry
spin_table_entry:
    mrs     x9, mpidr_el1
    ldr     x10, =0xff00ffffff           // affinity fields, as sysreg::mpidr
    and     x9, x9, x10
    ldr     x10, =SPIN_TABLE_MPIDRS
    mov     x11, #0
1:  cmp     x11, #{max_cpus}
    b.hs    3f
    ldr     x12, [x10, x11, lsl #3]
    cmp     x12, x9
    b.eq    2f
    add     x11, x11, #1
    b       1b
2:  mov     x0, x11                      // logical id, as PSCI CPU_ON passes it
    b       secondary_entry
3:  wfe                                  // not released by us: stay parked
    b       3b
    .ltorg
"#,
    max_cpus = const PLATFORM.max_cpus,
);

extern "C" {
    /// Where a spin-table core is released to (physical address; MMU off).
    fn spin_table_entry();
}

/// Why a core could not be released.
#[derive(Debug)]
pub enum ReleaseError {
    /// The logical id has no stack slot.
    NoSlot,
}

/// Releases logical CPU `cpu` (MPIDR `mpidr`) from the spin table word at
/// `release`: it enters [`secondary_entry`](super::entry::secondary_entry)
/// with x0 = `cpu`.
///
/// # Safety
/// `release` must be the core's `cpu-release-addr` from the board DT: an
/// 8-byte-aligned word of RAM in the EL2 identity map that nothing else uses.
pub unsafe fn release(cpu: usize, mpidr: u64, release: PhysAddr) -> Result<(), ReleaseError> {
    let slot = SPIN_TABLE_MPIDRS.get(cpu).ok_or(ReleaseError::NoSlot)?;
    slot.store(mpidr, Ordering::Release);
    clean_to_poc(slot.as_ptr() as u64);
    let word = release.0 as *mut u64;
    // SAFETY: the caller guarantees `release` is the core's aligned release
    // word in identity-mapped RAM.
    unsafe { word.write_volatile(spin_table_entry as *const () as u64) };
    clean_to_poc(release.0);
    // SAFETY: `sev` only wakes cores waiting in `wfe`.
    unsafe { asm!("sev", options(nomem, nostack)) };
    Ok(())
}

/// The parked core reads with its MMU and caches off: push the line out.
fn clean_to_poc(address: u64) {
    // SAFETY: a clean by VA writes a line back without changing memory's
    // contents; `address` is identity-mapped RAM.
    unsafe { asm!("dc civac, {}", in(reg) address, options(nostack)) };
    dsb_sy();
}

//! System registers that `aarch64-cpu` does not model (GIC CPU interface, TLB, cache ops).

use core::arch::asm;

/// Reads a system register by name.
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading a system register has no side effect on memory.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack)) };
        value
    }};
}

/// Writes a system register by name.
macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: every caller writes a register of the EL2 GIC/timer
        // interface with a value documented at the call site; none of them
        // changes the memory map the compiler relies on.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nostack)) };
    }};
}

pub(crate) use read_sysreg;
pub(crate) use write_sysreg;

/// Instruction synchronization barrier.
#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { asm!("isb", options(nostack)) };
}

/// Data synchronization barrier, inner shareable.
#[inline(always)]
pub fn dsb_ish() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { asm!("dsb ish", options(nostack)) };
}

/// Data synchronization barrier for stores, inner shareable: a descriptor
/// write reaches every core's table walker.
#[inline(always)]
pub fn dsb_ishst() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { asm!("dsb ishst", options(nostack)) };
}

/// Data synchronization barrier, this core only: completes a local TLB
/// invalidation.
#[inline(always)]
pub fn dsb_nsh() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { asm!("dsb nsh", options(nostack)) };
}

/// Data synchronization barrier, full system.
#[inline(always)]
pub fn dsb_sy() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { asm!("dsb sy", options(nostack)) };
}

/// Waits for an interrupt (pending even while masked) or event.
#[inline(always)]
pub fn wait_for_interrupt() {
    // SAFETY: wfi only pauses the core.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Physical MPIDR affinity of this core (Aff3..Aff0, without flag bits).
pub fn mpidr() -> u64 {
    read_sysreg!("mpidr_el1") & 0xff_00ff_ffff
}

/// ID_AA64MMFR0_EL1.PARange: the physical address size field (0b101 = 48 bits).
pub fn pa_range_field() -> u32 {
    use aarch64_cpu::registers::{Readable, ID_AA64MMFR0_EL1};
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) as u32
}

/// Four words from the CPU's random number generator (FEAT_RNG's RNDR),
/// or none on a core without it or when it reports a failure.
pub fn random_words() -> Option<[u64; 4]> {
    // ID_AA64ISAR0_EL1.RNDR, bits [63:60]: non-zero when RNDR exists.
    if read_sysreg!("id_aa64isar0_el1") >> 60 == 0 {
        return None;
    }
    let mut words = [0u64; 4];
    for word in &mut words {
        let (value, failed): (u64, u64);
        // SAFETY: RNDR (s3_3_c2_c4_0) exists (checked above); it only
        // returns a value and sets NZCV (Z on failure).
        unsafe {
            core::arch::asm!(
                "mrs {value}, s3_3_c2_c4_0",
                "cset {failed}, eq",
                value = out(reg) value,
                failed = out(reg) failed,
                options(nomem, nostack),
            )
        };
        if failed != 0 {
            return None;
        }
        *word = value;
    }
    Some(words)
}

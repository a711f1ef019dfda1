//! EL1 exception vectors: IRQs go to `irq`; anything else is reported and powers the partition off.
//!
//! A guest that expects synchronous exceptions (its own aborts) installs a
//! [`SyncHook`] with [`set_sync_hook`]: it sees each one first and may
//! resume the guest somewhere instead.
//!
//! One more case is handled instead: `hvc`/`smc` that are UNDEFINED (no hypervisor
//! and no firmware, i.e. the guest runs bare on QEMU) return NOT_SUPPORTED, so
//! the same guest images can run without Bulkhead for comparison.

use core::arch::{asm, global_asm};

/// Registers saved by the vector stub: x0..x30, then CNTVCT_EL0 as read by
/// the stub's third instruction (the IRQ latency benchmark's end point).
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    pub entry_ticks: u64,
}

/// Vector table slot names, by index (offset / 0x80).
const KINDS: [&str; 16] = [
    "sync current-el sp0",
    "irq current-el sp0",
    "fiq current-el sp0",
    "serror current-el sp0",
    "sync current-el spx",
    "irq current-el spx",
    "fiq current-el spx",
    "serror current-el spx",
    "sync lower-el a64",
    "irq lower-el a64",
    "fiq lower-el a64",
    "serror lower-el a64",
    "sync lower-el a32",
    "irq lower-el a32",
    "fiq lower-el a32",
    "serror lower-el a32",
];

/// `hvc #0` and `smc #0` encodings.
const HVC_0: u32 = 0xd400_0002;
const SMC_0: u32 = 0xd400_0003;
/// ESR_EL1.EC for an unknown reason (UNDEFINED instruction).
const EC_UNKNOWN: u64 = 0;

global_asm!(
    r#"
.macro bulkhead_vector index
    .balign 0x80
    sub sp, sp, #256
    stp x0, x1, [sp, #0]
    mrs x1, cntvct_el0
    str x1, [sp, #248]
    mov x0, #\index
    b bulkhead_vector_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global bulkhead_vectors
bulkhead_vectors:
    bulkhead_vector 0
    bulkhead_vector 1
    bulkhead_vector 2
    bulkhead_vector 3
    bulkhead_vector 4
    bulkhead_vector 5
    bulkhead_vector 6
    bulkhead_vector 7
    bulkhead_vector 8
    bulkhead_vector 9
    bulkhead_vector 10
    bulkhead_vector 11
    bulkhead_vector 12
    bulkhead_vector 13
    bulkhead_vector 14
    bulkhead_vector 15

bulkhead_vector_common:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    // FP/SIMD too: an IRQ interrupts code at any point and the Rust handler
    // may use any caller-saved vector register.
    sub sp, sp, #528
    stp q0, q1, [sp, #16]
    stp q2, q3, [sp, #48]
    stp q4, q5, [sp, #80]
    stp q6, q7, [sp, #112]
    stp q8, q9, [sp, #144]
    stp q10, q11, [sp, #176]
    stp q12, q13, [sp, #208]
    stp q14, q15, [sp, #240]
    stp q16, q17, [sp, #272]
    stp q18, q19, [sp, #304]
    stp q20, q21, [sp, #336]
    stp q22, q23, [sp, #368]
    stp q24, q25, [sp, #400]
    stp q26, q27, [sp, #432]
    stp q28, q29, [sp, #464]
    stp q30, q31, [sp, #496]
    mrs x2, fpsr
    mrs x3, fpcr
    stp x2, x3, [sp, #0]
    add x1, sp, #528
    bl {handler}
    ldp x2, x3, [sp, #0]
    msr fpsr, x2
    msr fpcr, x3
    ldp q0, q1, [sp, #16]
    ldp q2, q3, [sp, #48]
    ldp q4, q5, [sp, #80]
    ldp q6, q7, [sp, #112]
    ldp q8, q9, [sp, #144]
    ldp q10, q11, [sp, #176]
    ldp q12, q13, [sp, #208]
    ldp q14, q15, [sp, #240]
    ldp q16, q17, [sp, #272]
    ldp q18, q19, [sp, #304]
    ldp q20, q21, [sp, #336]
    ldp q22, q23, [sp, #368]
    ldp q24, q25, [sp, #400]
    ldp q26, q27, [sp, #432]
    ldp q28, q29, [sp, #464]
    ldp q30, q31, [sp, #496]
    add sp, sp, #528
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    ldp x0, x1, [sp, #0]
    add sp, sp, #256
    eret
"#,
    handler = sym exception_handler,
);

/// A synchronous exception as a [`SyncHook`] sees it.
pub struct SyncException<'a> {
    /// Vector slot index (4: current EL on SP_EL1, 8: lower EL AArch64, ...).
    pub kind: u64,
    pub esr: u64,
    pub far: u64,
    pub elr: u64,
    /// The interrupted registers; the hook may change them.
    pub frame: &'a mut Frame,
}

/// Sees a synchronous exception first: returns the address to resume at
/// (written to ELR_EL1), or None to leave it to the default path (report
/// and power off).
pub type SyncHook = fn(&mut SyncException<'_>) -> Option<u64>;

static SYNC_HOOK: spin::Once<SyncHook> = spin::Once::new();

/// Installs the guest's synchronous-exception hook (the first call wins).
pub fn set_sync_hook(hook: SyncHook) {
    SYNC_HOOK.call_once(|| hook);
}

/// Vector slot of an IRQ taken from EL1 on SP_EL1, where guests run.
const KIND_IRQ_CURRENT_SPX: u64 = 5;

/// Called by the vector stub with the slot index and the saved registers;
/// returns for an IRQ (after dispatching it) and for an emulated call (after
/// stepping over it).
extern "C" fn exception_handler(kind: u64, frame: &mut Frame) {
    if kind == KIND_IRQ_CURRENT_SPX {
        crate::irq::dispatch(frame.entry_ticks);
        return;
    }
    let (esr, far, elr): (u64, u64, u64);
    // SAFETY: reading the exception syndrome registers has no side effects.
    unsafe {
        asm!(
            "mrs {esr}, esr_el1",
            "mrs {far}, far_el1",
            "mrs {elr}, elr_el1",
            esr = out(reg) esr,
            far = out(reg) far,
            elr = out(reg) elr,
            options(nomem, nostack),
        );
    }
    if let Some(hook) = SYNC_HOOK.get() {
        let is_sync = kind.is_multiple_of(4);
        let mut exception = SyncException {
            kind,
            esr,
            far,
            elr,
            frame,
        };
        if is_sync {
            if let Some(resume) = hook(&mut exception) {
                // SAFETY: the hook chose where its own code resumes; the
                // vector stub restores the (possibly changed) frame and erets.
                unsafe { asm!("msr elr_el1, {}", in(reg) resume, options(nomem, nostack)) };
                return;
            }
        }
    }
    if kind == 4 && esr >> 26 == EC_UNKNOWN && elr.is_multiple_of(4) {
        // SAFETY: ELR points at the instruction that raised a synchronous
        // exception at EL1, i.e. inside our own mapped, executable image.
        let instruction = unsafe { core::ptr::read_volatile(elr as *const u32) };
        if instruction == HVC_0 || instruction == SMC_0 {
            frame.x[0] = bulkhead_abi::ret::NOT_SUPPORTED as u64;
            // SAFETY: resuming after the 4-byte call instruction we emulated.
            unsafe { asm!("msr elr_el1, {}", in(reg) elr + 4, options(nomem, nostack)) };
            return;
        }
    }
    let name = KINDS.get(kind as usize).copied().unwrap_or("unknown");
    crate::console::emergency_line(format_args!(
        "guest exception: {name} esr={esr:#x} far={far:#x} elr={elr:#x}"
    ));
    crate::psci::system_off();
}

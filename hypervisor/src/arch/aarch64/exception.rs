//! EL2 exception vectors, the guest register frame, and guest entry/exit.
//!
//! While a guest runs, SP_EL2 sits just above a [`GuestFrame`] slot. A trap
//! from the guest saves x0..x30, ELR and SPSR there and calls
//! [`crate::trap::handle_guest_exception`]; it returns [`Resume`] (restore
//! the frame and `eret`) or [`Exit`] (unwind to the caller of
//! [`enter_guest`], which then decides what the core does next).
//!
//! [`Resume`]: crate::trap::TrapOutcome::Resume
//! [`Exit`]: crate::trap::TrapOutcome::Exit

use core::arch::global_asm;

/// Guest general-purpose registers and exception return state, as saved on a trap.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct GuestFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

/// Which vector a lower-EL exception came through.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionKind {
    Sync = 0,
    Irq = 1,
    Fiq = 2,
    SError = 3,
    /// Any exception from an AArch32 guest (not supported).
    Aarch32 = 4,
}

impl ExceptionKind {
    pub fn from_raw(raw: u64) -> ExceptionKind {
        match raw {
            0 => ExceptionKind::Sync,
            1 => ExceptionKind::Irq,
            2 => ExceptionKind::Fiq,
            3 => ExceptionKind::SError,
            _ => ExceptionKind::Aarch32,
        }
    }
}

const FRAME_SIZE: usize = 272;
const _: () = assert!(core::mem::size_of::<GuestFrame>() == FRAME_SIZE);
const _: () = assert!(core::mem::offset_of!(GuestFrame, elr) == 248);

extern "C" {
    /// Enters the guest with the registers in `frame` (ELR/SPSR included) and
    /// returns the exit reason once a trap handler asks to leave the guest.
    fn enter_guest_asm(frame: *const GuestFrame) -> u64;
}

/// Runs the current core's guest from `frame` until a handler exits; returns the handler's reason.
///
/// # Safety
/// Stage 2 (VTTBR_EL2/VTCR_EL2), HCR_EL2 and the guest's EL1 state must be
/// set up for the partition that owns this core, and `frame.spsr` must name
/// an EL1 or EL0 mode so that `eret` leaves EL2.
pub unsafe fn enter_guest(frame: &GuestFrame) -> u64 {
    // SAFETY: per this function's contract; the asm saves and restores every
    // callee-saved register and returns on the same stack.
    unsafe { enter_guest_asm(frame) }
}

global_asm!(
    r#"
    .section .text.vectors, "ax"

    .macro HYP_VECTOR kind
    .balign 0x80
    mov     x0, #\kind
    mrs     x1, esr_el2
    mrs     x2, elr_el2
    mrs     x3, far_el2
    b       hypervisor_exception
    .endm

    .macro GUEST_VECTOR kind
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       guest_trap_common
    .endm

    // The synchronous vector: an HVC (EC 0x16), a data abort (EC 0x24)
    // that is a write-permission fault (a checkpointed page's first write)
    // or an emulable load, or a trapped ICC_SGI1R_EL1 write (EC 0x18) first
    // try a fast path that saves only what a Rust call may clobber
    // (x0-x18, x30). The checks past the EC are outside the table (x1
    // holds ESR_EL2 there, x0 is free).
    .macro GUEST_SYNC_VECTOR
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    mrs     x1, esr_el2
    lsr     x0, x1, #26
    cmp     x0, #0x16
    b.eq    guest_hvc
    cmp     x0, #0x24
    b.eq    guest_data_abort
    cmp     x0, #0x18
    b.eq    guest_sysreg
    mov     x1, #0
    b       guest_trap_common
    .endm

    // An IRQ first tries its fast path (the kick, the partition's own PPIs).
    .macro GUEST_IRQ_VECTOR
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    b       guest_irq
    .endm

    // A fast path: x0/x1 are saved; save x2-x18 and x30, call \handler
    // with the frame; on Resume (0) restore them and return to the guest
    // (x19-x29 and SPSR were never touched, ELR only by the handler: an
    // HVC returns after itself, a tracked write runs again). On Exit the
    // handler did nothing the general path (exception kind \kind) would
    // redo: complete the frame and take the general path.
    .macro GUEST_FAST_PATH handler, kind
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    str     x18, [sp, #144]
    str     x30, [sp, #240]
    mov     x0, sp
    bl      \handler
    cbnz    x0, 1f
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldr     x18, [sp, #144]
    add     sp, sp, #272
    eret
1:  stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #248]
    mov     x0, sp
    mov     x1, #\kind
    bl      handle_guest_exception
    cbnz    x0, guest_exit
    b       guest_resume
    .endm

    .balign 0x800
    .global el2_vectors
el2_vectors:
    // Current EL with SP_EL0: never used.
    HYP_VECTOR 0
    HYP_VECTOR 1
    HYP_VECTOR 2
    HYP_VECTOR 3
    // Current EL with SP_EL2: a hypervisor bug or an unexpected interrupt.
    HYP_VECTOR 0
    HYP_VECTOR 1
    HYP_VECTOR 2
    HYP_VECTOR 3
    // Lower EL, AArch64: the guest.
    GUEST_SYNC_VECTOR
    GUEST_IRQ_VECTOR
    GUEST_VECTOR 2
    GUEST_VECTOR 3
    // Lower EL, AArch32: refused.
    GUEST_VECTOR 4
    GUEST_VECTOR 4
    GUEST_VECTOR 4
    GUEST_VECTOR 4
    .balign 0x80

    // A data abort (x1 = ESR): a write-permission fault with WnR or S1PTW
    // (DFSC 0b0011xx), or a translation fault (0b0001xx) of a load with a
    // valid syndrome (ISV, bit 24; not WnR, bit 6) into x0-x18 (SRT, bits
    // 20:16), which may be an emulated device's register.
guest_data_abort:
    and     x0, x1, #0x3c
    cmp     x0, #0x04
    b.eq    1f
    cmp     x0, #0x0c
    b.ne    guest_sync_general
    tst     x1, #0xc0
    b.ne    guest_write_fault
    b       guest_sync_general
1:  tbz     x1, #24, guest_sync_general
    tbnz    x1, #6, guest_sync_general
    ubfx    x0, x1, #16, #5
    cmp     x0, #19
    b.lo    guest_mmio_read
    b       guest_sync_general

    // A trapped MSR/MRS (x1 = ESR): a write (direction 0) of ICC_SGI1R_EL1
    // (op0 3, op2 5, op1 0, CRn 12, CRm 11: ISS 0x3A3016 but for Rt, bits
    // 9:5) from x0-x18.
guest_sysreg:
    mov     x0, #0xfc1f
    movk    x0, #0x3f, lsl #16
    and     x0, x1, x0
    sub     x0, x0, #0x3a3, lsl #12
    cmp     x0, #0x16
    b.ne    guest_sync_general
    ubfx    x0, x1, #5, #5
    cmp     x0, #19
    b.lo    guest_sgi
guest_sync_general:
    mov     x1, #0
    b       guest_trap_common

guest_hvc:
    GUEST_FAST_PATH handle_guest_hvc_fast, 0

guest_write_fault:
    GUEST_FAST_PATH handle_guest_write_fault_fast, 0

guest_mmio_read:
    GUEST_FAST_PATH handle_guest_mmio_read_fast, 0

guest_sgi:
    GUEST_FAST_PATH handle_guest_sgi_fast, 0

guest_irq:
    GUEST_FAST_PATH handle_guest_irq_fast, 1

guest_trap_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    str     x30, [sp, #240]
    stp     x2, x3, [sp, #248]
    mov     x0, sp
    bl      handle_guest_exception
    cbnz    x0, guest_exit
guest_resume:
    ldp     x2, x3, [sp, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #272
    eret

    // x0 = exit reason; unwind the frame and the host registers saved by
    // enter_guest_asm, and return to its caller.
guest_exit:
    add     sp, sp, #272
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     x19, x20, [sp], #96
    ret

    .global enter_guest_asm
enter_guest_asm:
    stp     x19, x20, [sp, #-96]!
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    sub     sp, sp, #272
    mov     x1, sp
    mov     x2, #17
1:  ldp     x3, x4, [x0], #16
    stp     x3, x4, [x1], #16
    subs    x2, x2, #1
    b.ne    1b
    b       guest_resume
"#
);

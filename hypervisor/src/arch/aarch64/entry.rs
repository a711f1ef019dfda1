//! Reset entry: the arm64 Image header, the boot and secondary CPU paths up to Rust.

use core::arch::global_asm;

// The Image header lets QEMU `-kernel` and U-Boot `booti` load us like a
// Linux kernel: they enter at offset 0 at EL2 with the DTB address in x0.
// Stack slots: 0..max_cpus for secondaries by logical id, the last for the
// boot CPU (whose logical id is unknown until the DTB is read).
global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       primary_entry               // code0
    .long   0                           // code1
    .quad   TEXT_OFFSET                 // text_offset (board.ld): load address - RAM base
    .quad   __image_end - _start        // image_size, including bss, stacks, heap
    .quad   0x2                         // flags: LE, 4 KiB pages, 2 MiB-aligned base near RAM start
    .quad   0, 0, 0                     // res2..res4
    .ascii  "ARM\x64"                   // magic
    .long   0                           // res5

primary_entry:
    mov     x19, x0                     // DTB physical address
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #2
    b.ne    wrong_exception_level
    // Exceptions before VBAR_EL2 is set hang silently: set it first.
    adr     x9, el2_vectors
    msr     vbar_el2, x9
    // Boot CPU stack: the last slot.
    ldr     x9, =__stacks_end
    mov     sp, x9
    // Zero .bss (the page tables and every static live there).
    ldr     x9, =__bss_start
    ldr     x10, =__bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:  mov     x0, x19
    bl      primary_main
3:  wfe
    b       3b

wrong_exception_level:
    ldr     x9, =__stacks_end
    mov     sp, x9
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    bl      refuse_exception_level
4:  wfe
    b       4b

    // PSCI CPU_ON target: x0 = logical CPU id (the context id we passed).
    .global secondary_entry
secondary_entry:
    adr     x9, el2_vectors
    msr     vbar_el2, x9
    mov     x19, x0
    // sp = __stacks_start + (id + 1) * STACK_SIZE
    ldr     x9, =__stacks_start
    add     x10, x19, #1
    mov     x11, #0x10000
    madd    x9, x10, x11, x9
    mov     sp, x9
    mov     x0, x19
    bl      secondary_main
5:  wfe
    b       5b
    .ltorg
"#
);

extern "C" {
    /// Where PSCI CPU_ON starts secondary CPUs (physical address; MMU off).
    pub fn secondary_entry();
}

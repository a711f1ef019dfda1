//! Boot paths: the image header, per-vCPU stacks, MMU on, then into Rust.
//!
//! The image starts with an arm64 Linux `Image` header whose first word is the
//! guest's first instruction (a CNTVCT_EL0 read, for the boot-time figure), so
//! the same raw image also boots bare on QEMU with `-kernel` at the RAM base.

use crate::dt::{self, DtInfo};
use crate::hypercall::{self, PartitionInfo};
use crate::{mmu, println, timer};
use core::arch::global_asm;

/// vCPUs a guest supports (one stack each).
pub const MAX_VCPUS: u64 = 4;
/// Stack bytes per vCPU.
pub const STACK_BYTES: u64 = 64 << 10;
/// Where the image is linked and entered.
pub const IMAGE_BASE: u64 = 0x4000_0000;
/// RAM assumed when neither a device tree nor Bulkhead says: the benchmarks'
/// bare-QEMU comparison runs boot the guest ELF (no DTB) with `-m 256M`.
pub const BARE_RAM_BYTES: u64 = 256 << 20;

global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    mrs x19, cntvct_el0             // code0: the first instruction, on purpose
    b 1f                            // code1
    .quad 0                         // text_offset: load at the RAM base
    .quad __image_size              // image_size, including .bss
    .quad 0x2                       // flags: little-endian, 4 KiB pages
    .quad 0, 0, 0                   // reserved
    .ascii "ARM\x64"                // magic
    .word 0                         // reserved
1:
    mov x20, x0                     // device tree IPA
    mrs x21, mpidr_el1
    and x21, x21, #0xff             // vCPU index (virtual MPIDR Aff0)
    cmp x21, #{max_vcpus}
    b.hs bulkhead_park

    // Zero .bss: only vCPU 0 runs here and the others are still off.
    adrp x1, __bss_start
    add x1, x1, :lo12:__bss_start
    adrp x2, __bss_end
    add x2, x2, :lo12:__bss_end
2:  cmp x1, x2
    b.hs 3f
    stp xzr, xzr, [x1], #16
    b 2b
3:
    bl bulkhead_cpu_setup
    mov x0, x20
    mov x1, x19
    bl {primary}
    b bulkhead_park

.section .text, "ax"
.global bulkhead_secondary_entry
bulkhead_secondary_entry:
    mov x20, x0                     // CPU_ON context
    mrs x21, mpidr_el1
    and x21, x21, #0xff
    cmp x21, #{max_vcpus}
    b.hs bulkhead_park
    bl bulkhead_cpu_setup
    mov x0, x21
    mov x1, x20
    bl {secondary}
    b bulkhead_park

// Stack for vCPU x21, FP/SIMD on, identity MMU on, vectors. Clobbers x0, x1, x9.
bulkhead_cpu_setup:
    adrp x0, bulkhead_stacks
    add x0, x0, :lo12:bulkhead_stacks
    add x1, x21, #1
    mov x9, #{stack_bytes}
    mul x1, x1, x9
    add x0, x0, x1
    mov sp, x0

    ldr x0, ={cpacr}
    msr cpacr_el1, x0
    ldr x0, ={mair}
    msr mair_el1, x0
    ldr x0, ={tcr}
    msr tcr_el1, x0
    adrp x0, {table}
    add x0, x0, :lo12:{table}
    msr ttbr0_el1, x0
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x0, ={sctlr}
    msr sctlr_el1, x0
    isb

    adrp x0, bulkhead_vectors
    add x0, x0, :lo12:bulkhead_vectors
    msr vbar_el1, x0
    isb
    ret

.global bulkhead_park
bulkhead_park:
    wfe
    b bulkhead_park

.section .bss.stacks, "aw", %nobits
.balign 16
bulkhead_stacks:
    .space {stacks_total}
"#,
    max_vcpus = const MAX_VCPUS,
    stack_bytes = const STACK_BYTES,
    stacks_total = const MAX_VCPUS * STACK_BYTES,
    cpacr = const mmu::CPACR,
    mair = const mmu::MAIR,
    tcr = const mmu::TCR,
    sctlr = const mmu::SCTLR,
    table = sym mmu::IDENTITY_MAP,
    primary = sym primary_start,
    secondary = sym secondary_start,
);

/// What vCPU 0 learned while booting, handed to the guest's `main`.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// x0 at entry: the IPA of the partition's device tree (0 if none).
    pub dtb: u64,
    /// CNTVCT_EL0 read by the very first instruction.
    pub first_instruction_ticks: u64,
    /// CNTFRQ_EL0.
    pub frequency: u64,
    pub dt: Option<DtInfo>,
    pub partition: Option<PartitionInfo>,
}

impl BootInfo {
    /// The first memory region (IPA, bytes): from the device tree, else the
    /// image base and PARTITION_INFO's memory size.
    pub fn first_region(&self) -> Option<(u64, u64)> {
        self.dt
            .and_then(|dt| dt.first_region)
            .or_else(|| self.partition.map(|p| (IMAGE_BASE, p.memory_bytes)))
            .or(Some((IMAGE_BASE, BARE_RAM_BYTES)))
    }

    /// The GIC the device tree describes, else QEMU virt's (its GICv2 when
    /// the CPU has no GIC system-register interface: a bare boot without a DT).
    pub fn gic(&self) -> crate::gic::Gic {
        self.dt
            .and_then(|dt| dt.gic)
            .unwrap_or_else(crate::gic::Gic::without_device_tree)
    }

    /// vCPUs of this partition (PARTITION_INFO, else the device tree, else
    /// the cores PSCI AFFINITY_INFO knows, which also works on bare QEMU).
    pub fn vcpus(&self) -> u64 {
        self.partition
            .map(|p| p.vcpus)
            .or(self.dt.map(|dt| dt.cpus))
            .unwrap_or_else(|| {
                (1..8)
                    .take_while(|&cpu| crate::psci::affinity_info(cpu) >= 0)
                    .count() as u64
                    + 1
            })
    }
}

/// Entry point of the secondary-vCPU path, for PSCI CPU_ON.
pub fn secondary_entry_address() -> u64 {
    extern "C" {
        fn bulkhead_secondary_entry();
    }
    bulkhead_secondary_entry as *const () as u64
}

extern "Rust" {
    /// Defined by [`guest_main!`] in each guest binary.
    fn bulkhead_guest_main(boot: &BootInfo) -> !;
    /// Defined by [`guest_main!`] in each guest binary.
    fn bulkhead_guest_secondary(vcpu: u64, context: u64) -> !;
}

extern "C" fn primary_start(dtb: u64, first_instruction_ticks: u64) -> ! {
    let dt = dt::parse(dtb);
    crate::console::init(dt.and_then(|dt| dt.stdout_uart));
    let frequency = timer::frequency();
    println!("boot first_instruction_ticks={first_instruction_ticks} cntfrq={frequency}");
    let partition = hypercall::partition_info();
    match partition {
        Some(p) => println!(
            "partition id={} vcpus={} memory={}",
            p.id, p.vcpus, p.memory_bytes
        ),
        None => println!("partition info unavailable"),
    }
    match dt {
        Some(dt) => println!("dt cpus={} memory={}", dt.cpus, dt.memory_bytes),
        None => println!("dt unavailable x0={dtb:#x}"),
    }
    let boot = BootInfo {
        dtb,
        first_instruction_ticks,
        frequency,
        dt,
        partition,
    };
    // SAFETY: every guest binary defines this symbol through `guest_main!`
    // with exactly this signature.
    unsafe { bulkhead_guest_main(&boot) }
}

extern "C" fn secondary_start(vcpu: u64, context: u64) -> ! {
    // SAFETY: as for `bulkhead_guest_main`.
    unsafe { bulkhead_guest_secondary(vcpu, context) }
}

/// Secondary entry for guests that start no vCPUs: report and switch off.
pub fn unexpected_secondary(vcpu: u64, context: u64) -> ! {
    println!("unexpected secondary vcpu={vcpu} context={context:#x}");
    let _ = crate::psci::cpu_off();
    crate::psci::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::console::emergency_line(format_args!("guest panic: {info}"));
    crate::psci::system_off()
}

/// Declares a guest binary's entry points: `guest_main!(main)` or
/// `guest_main!(main, secondary)` with `fn main(&BootInfo) -> !` and
/// `fn secondary(vcpu: u64, context: u64) -> !`.
#[macro_export]
macro_rules! guest_main {
    ($main:path) => {
        $crate::guest_main!($main, $crate::entry::unexpected_secondary);
    };
    ($main:path, $secondary:path) => {
        #[no_mangle]
        fn bulkhead_guest_main(boot: &$crate::BootInfo) -> ! {
            $main(boot)
        }
        #[no_mangle]
        fn bulkhead_guest_secondary(vcpu: u64, context: u64) -> ! {
            $secondary(vcpu, context)
        }
    };
}

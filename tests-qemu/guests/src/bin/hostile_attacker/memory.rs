//! Attack `memory`: one access to one address the attacker was never given; Bulkhead must stop it there.
//!
//! `target=<name>` picks the address from [`TARGETS`], `access=read|write|
//! exec|pair` the access (`pair`: an `ldp`, which gives the hypervisor no
//! syndrome to emulate). Addresses above the guest's 4 GiB identity map are
//! reached with the MMU off (VA = IPA). Prints `attack memory target=<name>
//! access=<a> ipa=<ipa> ticks=<t>` just before the access; every line after
//! it is a breach (`attack memory result=BREACH ...`).

use super::{Args, Done};
use bulkhead_guests::{println, psci, timer};
use core::arch::asm;

/// Names, IPAs and what lives there on QEMU virt with the hostile layouts
/// (attacker RAM: IPA 0x4000_0000 + 16 MiB; victim RAM: PA 0x6000_0000 + 32 MiB).
pub const TARGETS: &[(&str, u64)] = &[
    // The victim's checksummed block (its PA + 16 MiB) and its image.
    ("victim_ram", 0x6100_0000),
    ("victim_image", 0x6000_0000),
    // The first byte past the attacker's own RAM.
    ("own_end", 0x4100_0000),
    // Bulkhead's heap, the board DTB, the boot modules (its own and the victim's).
    ("bulkhead_heap", 0x4200_0000),
    ("board_dtb", 0x4800_0000),
    ("own_module", 0x4a00_0000),
    ("victim_module", 0x4b00_0000),
    // The victim's checkpoint store (layout hostile_memory_checkpoint_store).
    ("checkpoint_store", 0x7000_0000),
    // The distributor (emulated: only a load pair, which cannot be, faults),
    // the flash at 0, the distributor's frame end, the ITS, and
    // redistributor frames of the victim's cores (frames 2 and 3).
    ("gicd", 0x0800_0000),
    ("flash", 0x0000_0000),
    ("gicd_beyond_frame", 0x0801_0000),
    ("gic_its", 0x0808_0000),
    ("gicr_foreign_rd", 0x080e_0000),
    ("gicr_foreign_sgi", 0x0811_0000),
    // Board devices: Bulkhead's console (UART0), RTC, fw-cfg, GPIO, the
    // victim's UART, the SMMU, virtio-mmio, the platform bus.
    ("uart0", 0x0900_0000),
    ("rtc", 0x0901_0000),
    ("fw_cfg", 0x0902_0000),
    ("gpio", 0x0903_0000),
    ("victim_uart", 0x0904_0000),
    ("smmu", 0x0905_0000),
    ("virtio_mmio", 0x0a00_0000),
    ("platform_bus", 0x0c00_0000),
    // PCIe: 32-bit MMIO window, I/O window, the low ECAM slot, the ECAM
    // (above 4 GiB) and the 64-bit MMIO window.
    ("pcie_mmio", 0x1000_0000),
    ("pcie_pio", 0x3eff_0000),
    ("pcie_ecam_low", 0x3f00_0000),
    ("pcie_ecam", 0x40_1000_0000),
    ("pcie_mmio_high", 0x80_0000_0000),
    // The top of a 40-bit IPA space.
    ("ipa_top", 0xff_ffff_f000),
];

/// End of the guest's stage-1 identity map: above it the MMU goes off.
const MAPPED_END: u64 = 1 << 32;

/// The IPA of target `name`.
pub fn ipa_of(name: &str) -> Option<u64> {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, ipa)| *ipa)
}

pub fn run(args: &Args) -> Done {
    let target = args.get("target").unwrap_or("");
    let access = args.get("access").unwrap_or("read");
    let Some(ipa) = ipa_of(target) else {
        println!("hostile_attacker error: unknown memory target `{target}`");
        psci::system_off()
    };
    println!(
        "attack memory target={target} access={access} ipa={ipa:#x} ticks={}",
        timer::now()
    );
    let value = match (access, ipa < MAPPED_END) {
        ("read", true) => read(ipa),
        ("read", false) => read_mmu_off(ipa),
        ("write", true) => {
            write(ipa);
            0
        }
        ("write", false) => {
            write_mmu_off(ipa);
            0
        }
        ("exec", true) => execute(ipa),
        ("pair", true) => read_pair(ipa),
        _ => {
            println!("hostile_attacker error: access `{access}` not possible at {ipa:#x}");
            psci::system_off()
        }
    };
    println!(
        "attack memory result=BREACH target={target} access={access} ipa={ipa:#x} value={value:#x}"
    );
    Done("breaches", 1)
}

fn read(ipa: u64) -> u64 {
    let value: u64;
    // SAFETY: deliberately outside this partition's memory and devices:
    // Bulkhead must stop the partition at this load. No Rust object lives
    // there; a single `ldr` without writeback gives a valid syndrome.
    unsafe { asm!("ldr {0:w}, [{1}]", out(reg) value, in(reg) ipa, options(nostack)) };
    value
}

fn write(ipa: u64) {
    // SAFETY: as for `read`.
    unsafe { asm!("str {0:w}, [{1}]", in(reg) 0xdead_beef_u32, in(reg) ipa, options(nostack)) };
}

fn read_pair(ipa: u64) -> u64 {
    let (a, b): (u64, u64);
    // SAFETY: as for `read`; a load pair has no instruction syndrome, so the
    // hypervisor cannot emulate it even where it emulates single loads.
    unsafe { asm!("ldp {0}, {1}, [{2}]", out(reg) a, out(reg) b, in(reg) ipa, options(nostack)) };
    a ^ b
}

fn execute(ipa: u64) -> u64 {
    let result: u64;
    // SAFETY: branches to an address outside this partition's memory; the
    // stage-2 instruction abort stops the partition before any instruction
    // there runs. Should it run, x0 holds whatever it leaves on return.
    unsafe {
        asm!(
            "blr {target}",
            target = in(reg) ipa,
            out("x0") result,
            clobber_abi("C"),
        )
    };
    result
}

/// `ldr` with stage 1 off, for IPAs the identity map does not cover.
fn read_mmu_off(ipa: u64) -> u64 {
    let value: u64;
    // SAFETY: turns this vCPU's MMU off around one load (code and stack are
    // identity-mapped, so fetching goes on at the same addresses; nothing
    // else runs on this vCPU meanwhile) and back on; the load is meant to be
    // refused by stage 2.
    unsafe {
        asm!(
            "mrs {sctlr}, sctlr_el1",
            "bic {tmp}, {sctlr}, #1",
            "msr sctlr_el1, {tmp}",
            "isb",
            "ldr {value:w}, [{ipa}]",
            "msr sctlr_el1, {sctlr}",
            "isb",
            sctlr = out(reg) _,
            tmp = out(reg) _,
            value = out(reg) value,
            ipa = in(reg) ipa,
            options(nostack),
        )
    };
    value
}

/// `str` with stage 1 off.
fn write_mmu_off(ipa: u64) {
    // SAFETY: as for `read_mmu_off`.
    unsafe {
        asm!(
            "mrs {sctlr}, sctlr_el1",
            "bic {tmp}, {sctlr}, #1",
            "msr sctlr_el1, {tmp}",
            "isb",
            "str {value:w}, [{ipa}]",
            "msr sctlr_el1, {sctlr}",
            "isb",
            sctlr = out(reg) _,
            tmp = out(reg) _,
            value = in(reg) 0xdead_beef_u32,
            ipa = in(reg) ipa,
            options(nostack),
        )
    };
}

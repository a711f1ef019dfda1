//! Attack `memory`: one access to one address the attacker was never given; Bulkhead must stop it there.
//!
//! `target=<name>` picks the address from the workload crate's
//! `HOSTILE_MEMORY_TARGETS` (some move on a GICv2 board), `access=read|write|
//! exec|pair` the access (`pair`: an `ldp`, which gives the hypervisor no
//! syndrome to emulate). Addresses above the guest's 4 GiB identity map are
//! reached with the MMU off (VA = IPA). Prints `attack memory target=<name>
//! access=<a> ipa=<ipa> ticks=<t> gic=v2|v3` just before the access; every line after
//! it is a breach (`attack memory result=BREACH ...`).

use super::{Args, Done};
use bulkhead_guests::{println, psci, timer};
use core::arch::asm;

/// End of the guest's stage-1 identity map: above it the MMU goes off.
const MAPPED_END: u64 = 1 << 32;

/// Whether the device tree showed a GICv2 (some targets move with it).
fn gicv2() -> bool {
    bulkhead_guests::gic::configured().cpu_interface.is_some()
}

/// The IPA of target `name` on this board (shared with the scenario checks).
pub fn ipa_of(name: &str) -> Option<u64> {
    bulkhead_workload::hostile_memory_target(name, gicv2())
}

pub fn run(args: &Args) -> Done {
    let target = args.get("target").unwrap_or("");
    let access = args.get("access").unwrap_or("read");
    let Some(ipa) = ipa_of(target) else {
        println!("hostile_attacker error: unknown memory target `{target}`");
        psci::system_off()
    };
    println!(
        "attack memory target={target} access={access} ipa={ipa:#x} ticks={} gic={}",
        timer::now(),
        if gicv2() { "v2" } else { "v3" }
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

//! Per-core virtualization controls: HCR_EL2, stage 2, virtual IDs and a vCPU's reset state.

use aarch64_cpu::registers::{
    Readable, Writeable, CNTHCTL_EL2, CNTP_CTL_EL0, CNTVOFF_EL2, CNTV_CTL_EL0, CPTR_EL2, ELR_EL2,
    ESR_EL2, FAR_EL2, HCR_EL2, HPFAR_EL2, ID_AA64MMFR0_EL1, MDCR_EL2, MIDR_EL1, SCTLR_EL1,
    VMPIDR_EL2, VTCR_EL2, VTTBR_EL2,
};
use bulkhead_core::stage2::vtcr_el2;

use super::sysreg::{dsb_ish, dsb_ishst, dsb_nsh, isb, read_sysreg, write_sysreg};

/// HCR_EL2 for every guest: stage 2 on, IRQ/FIQ/SError to EL2, SMC trapped
/// (so both conduits reach the SMCCC dispatcher), implementation-defined
/// registers trapped, the ID registers trapped (guests see the features
/// Bulkhead virtualizes whole: `bulkhead_core::cpu_features`), EL1 is
/// AArch64, TLB/cache maintenance broadcast inner-shareable, pointer
/// authentication left to the guest.
const HCR_GUEST: u64 = (1 << 0) // VM
    | (1 << 1) // SWIO
    | (1 << 3) // FMO
    | (1 << 4) // IMO
    | (1 << 5) // AMO
    | (1 << 9) // FB
    | (0b01 << 10) // BSU: inner shareable
    | (1 << 18) // TID3
    | (1 << 19) // TSC
    | (1 << 20) // TIDCP
    | (1 << 31) // RW
    | (1 << 40) // APK
    | (1 << 41); // API

/// HCR_EL2.TERR: trap the RAS error-record registers (RES0 without FEAT_RAS).
const HCR_TERR: u64 = 1 << 36;

/// CPTR_EL2 RES1 bits; TFP (bit 10) and TZ (bit 8) clear so guests use
/// FP/SIMD and SVE untrapped; TSM (bit 12) set: SME is hidden and trapped.
const CPTR_GUEST: u64 = 0x32ff;
/// SCTLR_EL1 at vCPU reset: RES1 bits, MMU and caches off, little-endian.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
/// SPSR for entering a guest: EL1h with D, A, I, F masked.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// Programs this core to run a vCPU of the partition with `vmid` whose
/// stage-2 root table is at `stage2_root`.
pub fn enter_partition(stage2_root: u64, vmid: u16) {
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    VTCR_EL2.set(vtcr_el2(pa_range));
    VTTBR_EL2.set(stage2_root | (u64::from(vmid) << 48));
    // RAS error records are the machine's: a core with them traps a
    // guest's accesses (TERR), which then take UNDEFINED (RAS is hidden).
    let ras = bulkhead_core::cpu_features::has_ras(read_sysreg!("id_aa64pfr0_el1"));
    HCR_EL2.set(HCR_GUEST | if ras { HCR_TERR } else { 0 });
    CPTR_EL2.set(CPTR_GUEST);
    super::sve::allow_full_length();
    // Guests own their core's PMU and debug state; EL2 keeps none of it.
    let pmu_counters = (read_sysreg!("pmcr_el0") >> 11) & 0x1f;
    MDCR_EL2.set(pmu_counters);
    // EL1 may use the physical counter and timer of its own core.
    CNTHCTL_EL2.set(0b11);
    CNTVOFF_EL2.set(0);
    write_sysreg!("vpidr_el2", MIDR_EL1.get());
    isb();
    invalidate_guest_tlb();
}

/// Resets the EL1 state a freshly powered-on vCPU may rely on.
pub fn reset_vcpu(vcpu_index: usize) {
    // Aff0 = vCPU index; bit 31 is RES1.
    VMPIDR_EL2.set((1 << 31) | vcpu_index as u64);
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    CNTV_CTL_EL0.set(0);
    CNTP_CTL_EL0.set(0);
    isb();
}

/// Stops this core's EL1 timers when its vCPU leaves the guest for good, so
/// their level-triggered interrupts stop firing at a core with no guest.
pub fn stop_guest_timers() {
    CNTV_CTL_EL0.set(0);
    CNTP_CTL_EL0.set(0);
    isb();
}

/// Invalidates stage-1 and stage-2 TLB entries of the current VMID on all cores.
pub fn invalidate_guest_tlb() {
    dsb_ish();
    // SAFETY: TLB invalidation discards cached translations only.
    unsafe { core::arch::asm!("tlbi vmalls12e1is", options(nostack)) };
    dsb_ish();
    isb();
}

/// Invalidates the TLB entries of another (or this) partition's VMID:
/// TLB maintenance by VMID acts on the VMID in VTTBR_EL2, so switch to it
/// for the duration.
pub fn invalidate_partition_tlb(stage2_root: u64, vmid: u16) {
    let saved = VTTBR_EL2.get();
    VTTBR_EL2.set(stage2_root | (u64::from(vmid) << 48));
    isb();
    invalidate_guest_tlb();
    VTTBR_EL2.set(saved);
    isb();
}

/// Invalidates, on this core only, the stage-2 TLB entries of one page of
/// the current VMID after making it writable (a permission relaxation).
///
/// Local, as KVM does for a relaxation: another core of the partition that
/// still holds the read-only entry takes the permission fault again, finds
/// the page writable and invalidates its own TLB (`invalidate_guest_stage1_local`).
/// A broadcast here would cost every write fault a round of every core's
/// TLB, and under QEMU's single-threaded TCG it ends the faulting core's
/// time slice, starving it beside a busy neighbour.
pub fn invalidate_ipa_local(ipa: u64) {
    // The descriptor write must reach every core's table walker, not only
    // this one's: their next fault re-walks it.
    dsb_ishst();
    // SAFETY: TLB invalidation discards cached translations only.
    unsafe { core::arch::asm!("tlbi ipas2e1, {}", in(reg) ipa >> 12, options(nostack)) };
    dsb_nsh();
    isb();
}

/// Invalidates, on this core only, the current VMID's stage-1 entries,
/// which may combine a stale stage-2 permission (used when a write faults
/// again on a page that is already writable).
pub fn invalidate_guest_stage1_local() {
    dsb_ishst();
    // SAFETY: TLB invalidation discards cached translations only.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack)) };
    dsb_nsh();
    isb();
}

/// Syndrome of the exception being handled.
pub fn esr() -> u64 {
    ESR_EL2.get()
}

/// Steps the guest over the instruction that trapped (ELR_EL2 + 4), for
/// the fast paths, whose frame does not hold ELR.
pub fn step_over_trapped_instruction() {
    ELR_EL2.set(ELR_EL2.get().wrapping_add(4));
}

/// Faulting virtual address (guest VA for aborts).
pub fn far() -> u64 {
    FAR_EL2.get()
}

/// Faulting IPA of a stage-2 abort: HPFAR_EL2.FIPA page plus FAR's page offset.
pub fn fault_ipa() -> u64 {
    ((HPFAR_EL2.get() >> 4) << 12) | (FAR_EL2.get() & 0xfff)
}

//! Attack `psci`: PSCI calls on cores, entries and functions the attacker has no business with, through `hvc` and `smc`.
//!
//! Every case of [`CASES`] runs through both conduits and prints
//! `attack psci_<case>_<conduit> result=<x0>`. The control starts the
//! attacker's own vCPU 1 (must return 0 and run the secondary entry), waits
//! for it to switch itself off, and prints `attack psci_control_<conduit>
//! result=<x0> ran=<0|1>`. After `attacker done`, the last vCPU calls
//! CPU_OFF: that must end the partition (a line after it is a breach).

use super::calls::{call, Conduit};
use super::{Done, Own, SECONDARY_RAN};
use bulkhead_guests::abi::{arch, psci as ids};
use bulkhead_guests::{entry, irq, println, psci};
use core::sync::atomic::Ordering;

/// What one case passes: (function, x1, x2, x3). `ENTRY` in x2 stands for
/// the attacker's own secondary entry (a valid one).
pub const ENTRY: u64 = u64::MAX - 0xE;
/// The victim's memory (its PA) and Bulkhead's, as entry points.
const VICTIM_RAM: u64 = 0x6100_0000;
const BULKHEAD_RAM: u64 = 0x4200_0000;

/// (name, function, x1, x2, x3).
pub const CASES: &[(&str, u32, u64, u64, u64)] = &[
    ("version", ids::VERSION, 0, 0, 0),
    ("cpu_on_core2", ids::CPU_ON_64, 2, ENTRY, 0),
    ("cpu_on_core3", ids::CPU_ON_64, 3, ENTRY, 0),
    ("cpu_on_0xff", ids::CPU_ON_64, 0xff, ENTRY, 0),
    ("cpu_on_aff1", ids::CPU_ON_64, 0x100, ENTRY, 0),
    ("cpu_on_aff2", ids::CPU_ON_64, 0x1_0000, ENTRY, 0),
    ("cpu_on_aff3", ids::CPU_ON_64, 1 << 32, ENTRY, 0),
    ("cpu_on_all_ones", ids::CPU_ON_64, u64::MAX, ENTRY, 0),
    (
        "cpu_on_32_high_bits_core2",
        ids::CPU_ON_32,
        0xffff_ffff_0000_0002,
        ENTRY,
        0,
    ),
    ("cpu_on_self", ids::CPU_ON_64, 0, ENTRY, 0),
    ("cpu_on_entry_zero", ids::CPU_ON_64, 1, 0, 0),
    ("cpu_on_entry_own_end", ids::CPU_ON_64, 1, 0x4100_0000, 0),
    ("cpu_on_entry_victim", ids::CPU_ON_64, 1, VICTIM_RAM, 0),
    ("cpu_on_entry_bulkhead", ids::CPU_ON_64, 1, BULKHEAD_RAM, 0),
    ("cpu_on_entry_device", ids::CPU_ON_64, 1, 0x0904_0000, 0),
    ("cpu_on_entry_top", ids::CPU_ON_64, 1, u64::MAX - 3, 0),
    ("cpu_on_32_entry_victim", ids::CPU_ON_32, 1, VICTIM_RAM, 0),
    ("affinity_info_vcpu1", ids::AFFINITY_INFO_64, 1, 0, 0),
    ("affinity_info_self", ids::AFFINITY_INFO_64, 0, 0, 0),
    ("affinity_info_level1", ids::AFFINITY_INFO_64, 0, 1, 0),
    ("affinity_info_level2", ids::AFFINITY_INFO_64, 0, 2, 0),
    ("affinity_info_level3", ids::AFFINITY_INFO_64, 0, 3, 0),
    ("affinity_info_core2", ids::AFFINITY_INFO_64, 2, 0, 0),
    ("affinity_info_0xff", ids::AFFINITY_INFO_64, 0xff, 0, 0),
    ("affinity_info_aff3", ids::AFFINITY_INFO_64, 1 << 32, 0, 0),
    (
        "affinity_info_32_high_bits_self",
        ids::AFFINITY_INFO_32,
        0xffff_ffff_0000_0000,
        0,
        0,
    ),
    ("system_reset2_32", 0x8400_0012, 0, 0, 0),
    ("system_reset2_64", 0xC400_0012, 0, 0, 0),
    ("mem_protect", 0x8400_0013, 1, 0, 0),
    ("mem_protect_check_32", 0x8400_0014, VICTIM_RAM, 0x1000, 0),
    ("mem_protect_check_64", 0xC400_0014, VICTIM_RAM, 0x1000, 0),
    ("system_suspend_32", 0x8400_000E, ENTRY, 0, 0),
    ("system_suspend_64", 0xC400_000E, ENTRY, 0, 0),
    ("cpu_freeze", 0x8400_000B, 0, 0, 0),
    ("cpu_default_suspend_64", 0xC400_000C, ENTRY, 0, 0),
    ("node_hw_state_64", 0xC400_000D, 2, 0, 0),
    ("set_suspend_mode", 0x8400_000F, 1, 0, 0),
    ("stat_residency_64", 0xC400_0010, 2, 0, 0),
    ("stat_count_64", 0xC400_0011, 2, 0, 0),
    ("migrate_64", 0xC400_0005, 2, 0, 0),
    ("migrate_info_up_cpu_64", 0xC400_0007, 0, 0, 0),
    ("system_off2_64", 0xC400_0015, 0, 0, 0),
    ("cpu_off_64_form", 0xC400_0002, 0, 0, 0),
    ("system_off_64_form", 0xC400_0008, 0, 0, 0),
    ("system_reset_64_form", 0xC400_0009, 0, 0, 0),
    ("migrate_info_type", ids::MIGRATE_INFO_TYPE, 0, 0, 0),
    ("cpu_suspend_standby", ids::CPU_SUSPEND_64, 0, 0, 0),
    (
        "features_cpu_on",
        ids::FEATURES,
        ids::CPU_ON_64 as u64,
        0,
        0,
    ),
    ("features_system_reset2", ids::FEATURES, 0x8400_0012, 0, 0),
    ("features_cpu_off_64_form", ids::FEATURES, 0xC400_0002, 0, 0),
    (
        "features_smccc_version",
        ids::FEATURES,
        arch::SMCCC_VERSION as u64,
        0,
        0,
    ),
];

/// Longest wait for the control vCPU to come and go.
const CONTROL_MS: u64 = 200;

pub fn run(_own: &Own) -> Done {
    let entry = entry::secondary_entry_address();
    let mut calls = 0u64;
    for conduit in Conduit::BOTH {
        for &(name, function, x1, x2, x3) in CASES {
            let x2 = if x2 == ENTRY { entry } else { x2 };
            let result = call(conduit, function, x1, x2, x3);
            println!("attack psci_{name}_{} result={result}", conduit.name());
            calls += 1;
        }
        // The control: our own vCPU 1, with a context that says which conduit.
        let context = 0x1000 + calls;
        SECONDARY_RAN.store(0, Ordering::Release);
        let result = call(conduit, ids::CPU_ON_64, 1, entry, context);
        let ran = irq::wait_until(CONTROL_MS, || {
            SECONDARY_RAN.load(Ordering::Acquire) == context
        });
        let off = irq::wait_until(CONTROL_MS, || psci::affinity_info(1) == 1);
        println!(
            "attack psci_control_{} result={result} ran={} off={}",
            conduit.name(),
            u8::from(ran),
            u8::from(off)
        );
        calls += 1;
    }
    Done("calls", calls)
}

/// How the attacker ends after `attacker done`: the PSCI attack switches
/// its last vCPU off (which must end the partition), the others SYSTEM_OFF.
pub fn finish(attack: &str) -> ! {
    if attack == "psci" {
        let result = psci::cpu_off();
        println!("attack psci_cpu_off_last result=BREACH returned {result}");
    }
    psci::system_off()
}

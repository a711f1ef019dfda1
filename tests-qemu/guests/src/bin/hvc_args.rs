//! Guest `hvc_args`: makes hypercalls with bad arguments and prints every return value.
//!
//! Each call prints `result <name>=<value>`; the partition must survive all
//! of them and say so.
#![no_std]
#![no_main]

use bulkhead_guests::abi::{arch, psci as psci_ids, vendor};
use bulkhead_guests::hypercall::{self, call, console_write_raw};
use bulkhead_guests::{guest_main, println, psci, BootInfo};

/// Text of the valid CONSOLE_WRITE (appears on UART0 after the label).
pub const VALID_TEXT: &str = "hvc_args valid console write\n";
/// A vendor-range ID Bulkhead does not implement.
pub const UNKNOWN_VENDOR: u32 = 0xC600_00FF;
/// An ID of an owner Bulkhead does not serve (OEM service, owner 3).
pub const UNKNOWN_OWNER: u32 = 0xC300_0001;
/// A PSCI-range ID that PSCI does not define.
pub const UNKNOWN_PSCI: u32 = 0x8400_00FF;

fn result(name: &str, value: i64) {
    println!("result {name}={value}");
}

fn main(boot: &BootInfo) -> ! {
    let (base, size) = boot.first_region().unwrap_or((0x4000_0000, 0x100_0000));
    let end = base + size;
    let buffer = VALID_TEXT.as_bytes();
    let buffer_ipa = buffer.as_ptr() as u64;

    result(
        "console_write_outside",
        console_write_raw(end + 0x1000_0000, 16),
    );
    result(
        "console_write_overflow",
        console_write_raw(buffer_ipa, u64::MAX),
    );
    result(
        "console_write_huge",
        console_write_raw(end - 16, 0x1000_0000),
    );
    result("unknown_vendor", call(UNKNOWN_VENDOR, 0, 0, 0));
    result("unknown_owner", call(UNKNOWN_OWNER, 0, 0, 0));
    result("smccc_version_hvc", call(arch::SMCCC_VERSION, 0, 0, 0));
    result(
        "smccc_version_smc",
        hypercall::smc(arch::SMCCC_VERSION, [0; 6])[0] as i64,
    );
    result("psci_version", psci::version());
    result("psci_features_cpu_on", psci::features(psci_ids::CPU_ON_64));
    result("psci_features_unknown", psci::features(UNKNOWN_PSCI));
    result("vendor_version", call(vendor::VERSION, 0, 0, 0));
    result(
        "console_write_valid",
        console_write_raw(buffer_ipa, buffer.len() as u64),
    );
    println!("still running after bad calls");
    psci::system_off()
}

guest_main!(main);

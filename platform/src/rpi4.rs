//! Raspberry Pi 4 Model B (BCM2711): QEMU `raspi4b`, or the board itself.
//!
//! RAM starts at 0; the firmware (or QEMU) loads an arm64 Image at
//! 0x8_0000 and enters it at EL2; secondaries wait on a spin table (release
//! addresses 0xd8..0xf0, in the reserved area); there is no PSCI. UART0 is a
//! PL011 at 0xFE20_1000 (48 MHz clock). The GIC is a GIC-400 (GICv2).

use crate::Platform;

pub const PLATFORM: Platform = Platform {
    name: "rpi4",
    // RAM base 0 + the Image header's text_offset (0x80000).
    load_address: 0x0008_0000,
    // The first 256 MiB: the spin table, our image, heap and stacks (first
    // 64 MiB), the board DTB (QEMU puts it at 128 MiB) and boot modules.
    reserved_start: 0x0000_0000,
    reserved_size: 0x1000_0000,
    hypervisor_size: 0x0400_0000,
    early_console: 0xfe20_1000,
    firmware_psci: false,
    max_cpus: 8,
};

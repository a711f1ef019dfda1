//! QEMU `virt` (virtualization=on, GICv3, SMMUv3): the board every test boots.

use crate::Platform;

pub const PLATFORM: Platform = Platform {
    name: "qemu-virt",
    // RAM base + the Image header's text_offset (0x80000), where QEMU loads us.
    load_address: 0x4008_0000,
    reserved_start: 0x4000_0000,
    reserved_size: 0x1000_0000,
    hypervisor_size: 0x0400_0000,
    early_console: 0x0900_0000,
    // QEMU emulates PSCI for an EL2 payload (SMC conduit).
    firmware_psci: true,
    max_cpus: 8,
};

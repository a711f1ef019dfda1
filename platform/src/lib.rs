//! Board constants Bulkhead needs before it can read the device tree.
//!
//! Everything else about a board (cores and how to start them, RAM, devices,
//! GIC, the EL2 identity map) comes from its DTB. One board is compiled in:
//! the `rpi4` feature selects the Raspberry Pi 4, the default is QEMU `virt`
//! (`cargo xtask --board` sets the feature; `hypervisor/build.rs` generates
//! the linker constants from the same [`Platform`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod qemu_virt;
pub mod rpi4;

#[cfg(not(feature = "rpi4"))]
pub use qemu_virt as current;
#[cfg(feature = "rpi4")]
pub use rpi4 as current;

/// Every board description, for the host tools and the build script.
pub const ALL: [&Platform; 2] = [&qemu_virt::PLATFORM, &rpi4::PLATFORM];

/// The board called `name` (as `cargo xtask --board` spells it).
pub fn by_name(name: &str) -> Option<&'static Platform> {
    ALL.into_iter().find(|platform| platform.name == name)
}

/// What a board module provides.
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// Short name used by `cargo xtask --board`.
    pub name: &'static str,
    /// Physical address the hypervisor image is linked at and loaded to.
    pub load_address: u64,
    /// RAM kept by Bulkhead: its image, heap and stacks, the board DTB and
    /// the boot modules (guest images). No partition memory may overlap it.
    /// Before the DTB is read, the EL2 map holds only this (as normal
    /// memory) and the early console, so the DTB must lie in it too.
    pub reserved_start: u64,
    pub reserved_size: u64,
    /// The part of the reserved area the hypervisor's own image, heap and
    /// stacks occupy; boot modules must lie outside it.
    pub hypervisor_size: u64,
    /// PL011 used for messages before the DTB is parsed (and if it names none).
    pub early_console: u64,
    /// Whether the firmware implements PSCI (SMC conduit) before the DTB
    /// says so: without it, an early stop cannot power the machine off and
    /// halts the core instead (an SMC with no EL3 is an undefined instruction).
    pub firmware_psci: bool,
    /// Most physical cores Bulkhead supports (per-CPU stacks in linker.ld).
    pub max_cpus: usize,
}

impl Platform {
    /// The Image header's `text_offset`: where the loader puts us above the
    /// 2 MiB-aligned base of RAM.
    pub const fn text_offset(&self) -> u64 {
        self.load_address % (2 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU `-kernel` and U-Boot `booti` place an Image at a 2 MiB-aligned
    /// RAM base + text_offset; Bulkhead does not relocate itself.
    #[test]
    fn every_board_loads_at_text_offset_0x80000() {
        for platform in ALL {
            assert_eq!(platform.text_offset(), 0x8_0000, "{}", platform.name);
        }
    }

    #[test]
    fn image_lies_in_the_hypervisor_area() {
        for platform in ALL {
            let start = platform.reserved_start;
            assert!(platform.load_address >= start, "{}", platform.name);
            assert!(
                platform.load_address < start + platform.hypervisor_size,
                "{}",
                platform.name
            );
            assert!(platform.hypervisor_size <= platform.reserved_size);
        }
    }

    #[test]
    fn boards_are_found_by_name() {
        assert_eq!(by_name("rpi4").map(|p| p.load_address), Some(0x8_0000));
        assert_eq!(
            by_name("qemu-virt").map(|p| p.early_console),
            Some(0x0900_0000)
        );
        assert!(by_name("rpi5").is_none());
    }
}

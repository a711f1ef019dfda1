//! Board constants Bulkhead needs before it can read the device tree.
//!
//! Everything else about a board (cores, RAM, devices, GIC) comes from its DTB.
#![no_std]
#![forbid(unsafe_code)]

pub mod qemu_virt;

pub use qemu_virt as current;

/// What a board module provides.
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// Short name used by `cargo xtask --board`.
    pub name: &'static str,
    /// Physical address the hypervisor image is linked at and loaded to.
    pub load_address: u64,
    /// RAM kept by Bulkhead: its image, heap and stacks, the board DTB and
    /// the boot modules (guest images). No partition memory may overlap it.
    pub reserved_start: u64,
    pub reserved_size: u64,
    /// The part of the reserved area the hypervisor's own image, heap and
    /// stacks occupy; boot modules must lie outside it.
    pub hypervisor_size: u64,
    /// PL011 used for messages before the DTB is parsed (and if it names none).
    pub early_console: u64,
    /// Most physical cores Bulkhead supports (per-CPU stacks in linker.ld).
    pub max_cpus: usize,
}

//! Bulkhead's hardware-independent core: pure logic that also builds and is tested on the host.
//!
//! Data flows one way: a DTB goes into [`config`], which yields a validated
//! [`config::Layout`]; the hypervisor turns that into partitions and programs
//! the hardware. Nothing here touches a register.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod address;
pub mod boot_image;
pub mod bounded;
pub mod checkpoint;
pub mod config;
pub mod console_input;
pub mod console_ring;
pub mod cpu_features;
pub mod decode;
pub mod entropy;
pub mod external_abort;
pub mod guest_dt;
pub mod intid;
pub mod irq_owner;
pub mod level_irq;
pub mod pci;
pub mod pending_sgis;
pub mod protocol;
pub mod smmu;
pub mod stage2;
pub mod vgic;
pub mod virtual_uart;

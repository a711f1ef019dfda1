//! AArch64 at EL2: everything that touches a register, a page table in use, or an exception.

pub mod cache;
pub mod entry;
pub mod exception;
pub mod firmware;
pub mod gic;
pub mod id_registers;
pub mod inject;
pub mod mmu;
pub mod pm_watchdog;
pub mod simd;
pub mod smmu;
pub mod snapshot;
pub mod spin_table;
pub mod sve;
pub mod sysreg;
pub mod timer;
pub mod vgic_hw;
pub mod vm;

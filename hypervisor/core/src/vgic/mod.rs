//! Virtual GIC distributor and redistributors (GICv3, or a GICv2 distributor): write-through register model of a partition's GIC.
//!
//! Every guest access to its GICD and GICR frames traps (they are unmapped in
//! stage 2) and lands here. The physical GIC keeps the real state of the
//! INTIDs the partition owns; this model decides which bits of each access
//! reach it, and keeps the few registers that are purely virtual (GICD_CTLR,
//! GICR_WAKER, and the per-vCPU SGI enables and priorities, since virtual SGIs
//! are injected through list registers and never touch the physical GIC).
#![forbid(unsafe_code)]

mod distributor;
mod distributor_v2;
mod fixed;
mod ownership;
mod physical;
mod redistributor;
mod registers;
mod virtual_gic;
mod virtual_spis;

#[cfg(test)]
mod tests;

pub use distributor_v2::{sgi_pending_read, DistributorV2Effect, DISTRIBUTOR_V2_SIZE, GICD_SGIR};
pub use fixed::FixedRegisters;
pub use ownership::Ownership;
pub use physical::{PhysicalGic, Width};
pub use registers::{DISTRIBUTOR_SIZE, GUEST_PPIS, REDISTRIBUTOR_STRIDE};
pub use virtual_gic::VirtualGic;
pub use virtual_spis::{virtual_spi_bit, VIRTUAL_SPI_COUNT};

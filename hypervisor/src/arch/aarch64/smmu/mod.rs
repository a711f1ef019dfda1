//! IOMMUs Bulkhead drives to confine device DMA: the SMMUv3.

mod v3;

pub use v3::{SmmuError, SmmuV3};

//! Stage-2 translation tables (VMSAv8-64, 4 KiB granule, 39-bit IPA) built in memory.

mod descriptor;
mod tables;
mod vtcr;

#[cfg(test)]
mod tests;

pub use descriptor::{Access, MemoryKind};
pub use tables::{MapError, Stage2, Table, Translation};
pub use vtcr::{vtcr_el2, IPA_BITS};

//! PCI at boot: enumerate the host bridge, assign BARs, give each partition its functions.

mod bus;
mod ecam;

pub use bus::{enumerate, PciBus};
pub use ecam::Ecam;

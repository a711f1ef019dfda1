//! Emulated devices: each partition's registry of trapped IPA ranges and the devices behind them.

mod channel_registers;
mod control;
mod registry;
mod vgic;
mod virtual_pci;
mod virtual_uart;

pub use channel_registers::ChannelRegisters;
pub use control::ControlFunction;
pub use registry::{EmulatedDevice, Registry};
pub use vgic::{VgicDistributor, VgicDistributorV2, VgicRedistributors};
pub use virtual_pci::VirtualPciHost;
pub use virtual_uart::VirtualUart;

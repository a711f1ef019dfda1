//! Building a partition's virtual PCI bus at boot: its assigned physical functions, its channel endpoints and its control function.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use bulkhead_abi::{control, ivshmem};
use bulkhead_core::address::Ipa;
use bulkhead_core::config::virtual_pci::{
    channel_device, channel_intx_intid, channel_registers, CONTROL_DEVICE, CONTROL_INTID,
    CONTROL_REGISTERS,
};
use bulkhead_core::config::{self, VIRTUAL_ECAM};
use bulkhead_core::pci::emulated::{
    BarWindow, ControlRegisters, EmulatedFunction, IntxLine, IvshmemEndpoint, IvshmemRegisters,
    Label,
};
use bulkhead_core::pci::{VirtualBus, VirtualFunction};

use crate::emulated::{ChannelRegisters, ControlFunction, Registry, VirtualPciHost};
use crate::error::Error;
use crate::pci::{Ecam, PciBus};

/// Registry entry size of one register BAR: its page (the BAR may be smaller).
const REGISTER_PAGE: u64 = 4096;

/// A partition's virtual PCI bus as the rest of Bulkhead needs it.
pub struct VirtualPci {
    pub host: &'static VirtualPciHost,
    /// The INTx line of each channel endpoint, by slot: peers ring it.
    pub channel_lines: Vec<Arc<IntxLine>>,
}

/// Builds the bus a partition with a virtual bus sees and adds its ECAM and
/// register BARs to `emulated` (leaked: boot only).
pub fn build(
    config: &config::Partition,
    pci: Option<&PciBus>,
    emulated: &mut Registry,
) -> Result<Option<VirtualPci>, Error> {
    if !config.has_virtual_pci() {
        return Ok(None);
    }
    let (mut bus, ecam, physical) = match pci {
        Some(pci) if !config.pci_functions.is_empty() => physical_functions(config, pci),
        _ => (VirtualBus::new(Vec::new()), Ecam::absent(), Vec::new()),
    };
    let mut intx = Vec::new();
    let mut channel_lines = Vec::new();
    for (slot, channel) in config.channels.iter().enumerate() {
        let line = Arc::new(IntxLine::new());
        let registers = BarWindow {
            address: Ipa(channel_registers(slot)),
            size: ivshmem::REGISTERS_SIZE,
        };
        let memory = BarWindow {
            address: channel.ipa,
            size: channel.size,
        };
        let function = EmulatedFunction::ivshmem(registers, memory, line.clone())
            .map_err(|_| Error::VirtualPci("a channel's memory cannot be a PCI BAR"))?;
        bus.add_emulated(channel_device(slot), function)
            .map_err(|_| Error::VirtualPci("a channel endpoint's slot is taken"))?;
        let endpoint = IvshmemEndpoint {
            position: channel.index as u32,
            channel_id: channel.id,
            endpoints: channel.peers.len() as u32,
            read_only: channel.read_only,
            label: Label::new(&channel.label),
        };
        let device = Box::leak(Box::new(ChannelRegisters::new(
            IvshmemRegisters::new(endpoint, line.clone()),
            slot,
        )));
        emulated
            .add(registers.address.0, REGISTER_PAGE, device)
            .map_err(|_| Error::EmulatedOverlap)?;
        intx.push((channel_device(slot), channel_intx_intid(slot)));
        channel_lines.push(line);
    }
    let control = if config.manages.is_empty() {
        None
    } else {
        let line = Arc::new(IntxLine::new());
        let registers = BarWindow {
            address: Ipa(CONTROL_REGISTERS),
            size: control::REGISTERS_SIZE,
        };
        let function = EmulatedFunction::control(registers, line.clone())
            .map_err(|_| Error::VirtualPci("the control function's registers"))?;
        bus.add_emulated(CONTROL_DEVICE, function)
            .map_err(|_| Error::VirtualPci("the control function's slot is taken"))?;
        let version = ((bulkhead_abi::vendor::BULKHEAD_VERSION_MAJOR << 16)
            | bulkhead_abi::vendor::BULKHEAD_VERSION_MINOR) as u32;
        let device: &'static ControlFunction = Box::leak(Box::new(ControlFunction::new(
            ControlRegisters::new(version, line),
        )));
        emulated
            .add(CONTROL_REGISTERS, REGISTER_PAGE, device)
            .map_err(|_| Error::EmulatedOverlap)?;
        intx.push((CONTROL_DEVICE, CONTROL_INTID));
        Some(device)
    };
    let host: &'static VirtualPciHost = Box::leak(Box::new(VirtualPciHost::new(
        bus, ecam, physical, intx, control,
    )));
    emulated
        .add(VIRTUAL_ECAM.start.0, VIRTUAL_ECAM.size, host)
        .map_err(|_| Error::EmulatedOverlap)?;
    Ok(Some(VirtualPci {
        host,
        channel_lines,
    }))
}

/// The partition's assigned physical functions on a virtual bus.
fn physical_functions(
    config: &config::Partition,
    pci: &PciBus,
) -> (VirtualBus, Ecam, Vec<bulkhead_core::pci::FunctionAddress>) {
    let mut ecam = pci.ecam;
    let functions: Vec<VirtualFunction> = config
        .pci_functions
        .iter()
        .filter_map(|assigned| pci.functions.iter().find(|f| f.address == assigned.address))
        .map(|function| VirtualFunction::new(function, &mut ecam))
        .collect();
    let addresses = config.pci_functions.iter().map(|f| f.address).collect();
    let bus = VirtualBus::new(functions);
    for hidden in bus.without_function_zero() {
        log::warn!(
            "partition {}: PCI function {hidden} has no function 0 beside it: guests scanning the bus will not find it",
            config.label
        );
    }
    (bus, pci.ecam, addresses)
}

//! The board's PCI bus as Bulkhead found it at boot, and the enumeration that finds it.

use alloc::vec::Vec;

use bulkhead_core::config::{self, Board, LayoutError, PciSpace};
use bulkhead_core::pci::{self, Function, Window, WindowKind};

use super::Ecam;

/// What enumeration found behind the board's PCI host bridge.
pub struct PciBus {
    pub ecam: Ecam,
    pub functions: Vec<Function>,
}

/// Enumerates the board's first PCI host bridge (nothing else does under
/// `-kernel`, and most boards leave BARs unassigned), assigns every memory
/// BAR inside its identity-mapped windows, and fills in the layout's
/// `pci-functions` (BARs, pins, INTIDs, streams). Every function is left
/// with decoding and bus mastering off: only an owner turns them on.
pub fn enumerate(
    board: &Board,
    partitions: &mut [config::Partition],
) -> Result<Option<PciBus>, Vec<LayoutError>> {
    let Some(host) = board.pci_hosts.first() else {
        return Ok(None);
    };
    let ecam = Ecam::new(host.ecam, host.first_bus);
    let ipa_limit = 1u64 << bulkhead_core::stage2::IPA_BITS;
    let windows: Vec<Window> = host
        .identity_memory_windows()
        .filter(|w| w.cpu.end().is_some_and(|end| end <= ipa_limit))
        .map(|w| Window {
            start: w.cpu.start.0,
            size: w.cpu.size,
            kind: match w.space {
                PciSpace::Memory32 => WindowKind::Memory32,
                _ => WindowKind::Memory64,
            },
        })
        .collect();
    let mut config_space = ecam;
    let functions = pci::enumerate(&mut config_space, host.first_bus..=host.last_bus, &windows)
        .map_err(|error| {
            alloc::vec![LayoutError::new(
                host.path.as_str(),
                "ranges",
                alloc::format!("{error}")
            )]
        })?;
    for function in &functions {
        log::info!(
            "pci {}: {:04x}:{:04x} class {:06x}{}",
            function.address,
            function.vendor_id,
            function.device_id,
            function.class_code,
            function.bars.iter().filter(|bar| bar.address != 0).fold(
                alloc::string::String::new(),
                |mut text, bar| {
                    use core::fmt::Write;
                    let _ = write!(
                        text,
                        ", BAR{} {:#x}+{:#x}",
                        bar.index, bar.address, bar.size
                    );
                    text
                }
            )
        );
    }
    let errors = config::assign_pci_functions(partitions, host, &functions);
    if errors.is_empty() {
        Ok(Some(PciBus { ecam, functions }))
    } else {
        Err(errors)
    }
}

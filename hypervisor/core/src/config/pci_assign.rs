//! What only enumeration can tell about a layout's PCI functions: do they exist, their BARs, pins and streams.
//!
//! The validator checks `pci-functions` against the board DT; this runs at
//! boot once Bulkhead has enumerated the bus, and reports in the same
//! `layout error: <node>: <property>: <reason>` form.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::LayoutError;
use super::layout::Partition;
use super::pci_host::PciHost;
use crate::address::PhysRange;
use crate::pci::{BarKind, Function};

/// Fills in each assigned function's BARs (widened to their 4 KiB
/// footprint), INTx pin and INTID from enumeration; returns every problem.
/// Interrupt sharing between partitions is checked afterwards by the
/// interrupt-owner table, which now sees the real pins.
pub fn assign_pci_functions(
    partitions: &mut [Partition],
    host: &PciHost,
    found: &[Function],
) -> Vec<LayoutError> {
    let mut errors = Vec::new();
    for partition in partitions.iter_mut() {
        let node = partition.node.clone();
        for assigned in partition
            .pci_functions
            .iter_mut()
            .filter(|f| f.host == host.path)
        {
            let address = assigned.address;
            let Some(function) = found.iter().find(|f| f.address == address) else {
                let present: Vec<String> = found.iter().map(|f| format!("{}", f.address)).collect();
                errors.push(LayoutError::new(
                    node.as_str(),
                    "pci-functions",
                    format!(
                        "{address} is not present on {} (present: {})",
                        host.path,
                        if present.is_empty() {
                            String::from("none")
                        } else {
                            present.join(", ")
                        }
                    ),
                ));
                continue;
            };
            if function.header_type != 0 {
                errors.push(LayoutError::new(
                    node.as_str(),
                    "pci-functions",
                    format!("{address} is a bridge: only endpoints can be given to a partition"),
                ));
                continue;
            }
            assigned.bars.clear();
            for bar in function.bars.iter().filter(|bar| bar.kind != BarKind::Io) {
                let range = PhysRange::new(bar.address, bar.footprint());
                let reachable = range
                    .end()
                    .is_some_and(|end| end <= 1u64 << crate::stage2::IPA_BITS);
                if bar.address == 0 || !reachable {
                    errors.push(LayoutError::new(
                        node.as_str(),
                        "pci-functions",
                        format!(
                            "{address}: BAR {} ({:#x} bytes) is at {:#x}, outside the {}-bit IPA space a guest can map",
                            bar.index,
                            bar.size,
                            bar.address,
                            crate::stage2::IPA_BITS
                        ),
                    ));
                    continue;
                }
                assigned.bars.push(range);
            }
            assigned.pin = function.interrupt_pin;
            assigned.interrupt = match function.interrupt_pin {
                0 => None,
                pin => host.intx_intid(address, pin),
            };
            assigned.stream = host.stream(address).map(|(_, stream)| stream);
        }
    }
    errors
}

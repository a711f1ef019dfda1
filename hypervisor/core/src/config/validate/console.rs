//! Bulkhead's console UART (kept from partitions) and the virtual console's place (kept clear).

use alloc::format;
use alloc::string::String;

use super::{span, Draft, Validator};
use crate::address::ranges_overlap;
use crate::config::board::stdout_node;
use crate::config::dt::Node;
use crate::config::interrupts::device_interrupts;
use crate::config::regs::physical_regs;
use crate::config::virtual_console::{ConsoleUart, VIRTUAL_UART, VIRTUAL_UART_INTID};

/// Where Bulkhead's console UART came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConsoleSource {
    /// The board's `/chosen/stdout-path`.
    Board,
    /// `console` in `/chosen/bulkhead`.
    Layout,
}

impl Validator<'_, '_, '_> {
    /// Bulkhead's console UART: `console` in the layout root if set (a
    /// PL011 of the board), else the board's stdout-path.
    pub(super) fn console_uart(
        &mut self,
        root: &Node<'_, '_>,
    ) -> Option<(ConsoleUart, ConsoleSource)> {
        let root_path = root.path();
        let (node, source) = match root.property("console") {
            Some(property) => {
                let Some(path) = property.as_str() else {
                    self.error(&root_path, "console", "must be a string (a board DT path)");
                    return None;
                };
                let Some(node) = self.tree.resolve(path) else {
                    self.error(
                        &root_path,
                        "console",
                        format!("{path:?} is not in the board device tree"),
                    );
                    return None;
                };
                if !node.is_compatible("arm,pl011") {
                    self.error(
                        &root_path,
                        "console",
                        format!(
                            "{} is not a PL011 (arm,pl011), the only UART Bulkhead drives",
                            node.path()
                        ),
                    );
                    return None;
                }
                (node, ConsoleSource::Layout)
            }
            None => match stdout_node(self.tree) {
                Ok(Some(node)) if node.is_compatible("arm,pl011") => (node, ConsoleSource::Board),
                // The board parser reports a bad stdout-path; no console
                // then. A stdout that is no PL011 (the Raspberry Pi's mini
                // UART) leaves Bulkhead on its board's early console.
                Ok(Some(_) | None) | Err(_) => return None,
            },
        };
        let registers = match physical_regs(&node) {
            Ok(Some(regs)) => regs.first().copied(),
            Ok(None) => None,
            Err(issue) => {
                self.issue(issue);
                return None;
            }
        };
        let Some(registers) = registers else {
            self.error(&root_path, "console", format!("{} has no reg", node.path()));
            return None;
        };
        let intid = device_interrupts(self.tree, &node, self.gic.as_ref())
            .ok()
            .and_then(|intids| intids.first().copied());
        Some((
            ConsoleUart {
                path: node.path(),
                registers,
                intid,
            },
            source,
        ))
    }

    /// No partition owns Bulkhead's console UART; a partition with a
    /// virtual console keeps its memory, devices and interrupts off the
    /// virtual PL011's frame and SPI.
    pub(super) fn cross_check_console(
        &mut self,
        partitions: &[Draft],
        console: Option<&(ConsoleUart, ConsoleSource)>,
    ) {
        for partition in partitions {
            if let Some((uart, source)) = console {
                if partition.devices.iter().any(|d| d.path == uart.path) {
                    let reason = match source {
                        ConsoleSource::Board => format!(
                            "{} is Bulkhead's console UART (the board's /chosen/stdout-path): leave it out (the partition then gets a virtual console), or name another UART for Bulkhead with console = \"/pl011@...\"; in /chosen/bulkhead",
                            uart.path
                        ),
                        ConsoleSource::Layout => format!(
                            "{} is Bulkhead's console UART (console in /chosen/bulkhead)",
                            uart.path
                        ),
                    };
                    self.error(&partition.node, "devices", reason);
                }
            }
            if partition.owns_uart {
                continue;
            }
            self.virtual_console_clear(partition);
        }
    }

    fn virtual_console_clear(&mut self, partition: &Draft) {
        let window = span(VIRTUAL_UART.start.0, VIRTUAL_UART.size);
        for region in &partition.memory {
            if ranges_overlap(
                region.ipa.0,
                region.size,
                VIRTUAL_UART.start.0,
                VIRTUAL_UART.size,
            ) {
                self.error(
                    &partition.node,
                    "memory",
                    format!(
                        "IPA range {} overlaps the virtual console UART {window}, which a partition without a UART of its own sees there",
                        span(region.ipa.0, region.size)
                    ),
                );
            }
        }
        let mut clashes: alloc::vec::Vec<String> = alloc::vec::Vec::new();
        for device in &partition.devices {
            if device
                .regs
                .iter()
                .any(|r| ranges_overlap(r.start.0, r.size, VIRTUAL_UART.start.0, VIRTUAL_UART.size))
            {
                clashes.push(format!(
                    "{} overlaps the virtual console UART {window}",
                    device.path
                ));
            }
            if device.interrupts.contains(&VIRTUAL_UART_INTID) {
                clashes.push(format!(
                    "{} uses interrupt {VIRTUAL_UART_INTID}, the virtual console UART's",
                    device.path
                ));
            }
        }
        for clash in clashes {
            self.error(&partition.node, "devices", clash);
        }
    }
}

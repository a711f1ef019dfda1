//! Where a partition without a UART finds its virtual console, and which UART is Bulkhead's.
//!
//! Every partition that owns no UART sees a virtual PL011 at
//! [`VIRTUAL_UART`] raising virtual SPI [`VIRTUAL_UART_INTID`]; the layout
//! validator keeps its memory, devices and interrupts off both. The board's
//! console UART (`/chosen/stdout-path`), or the one `console` in
//! `/chosen/bulkhead` names, belongs to Bulkhead: it carries Bulkhead's log
//! and every virtual console, and takes the console input.

use alloc::string::String;

use super::virtual_pci::{channel_intx_intid, MAX_CHANNELS_PER_PARTITION};
use crate::address::PhysRange;

/// IPA of the virtual PL011 (one 4 KiB frame), right after the virtual
/// PCI functions' register window and below any RAM a board has there.
pub const VIRTUAL_UART: PhysRange = PhysRange::new(0x3f20_0000, 0x1000);

/// Its interrupt: the virtual SPI after the virtual PCI bus's.
pub const VIRTUAL_UART_INTID: u32 = channel_intx_intid(MAX_CHANNELS_PER_PARTITION - 1) + 1;

/// Compatibles of the UARTs a partition may own (owning one means no
/// virtual console).
pub const UART_COMPATIBLES: [&str; 4] =
    ["arm,pl011", "arm,sbsa-uart", "ns16550a", "snps,dw-apb-uart"];

/// Bulkhead's own console UART.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleUart {
    /// Its board DT path.
    pub path: String,
    /// Its register frame.
    pub registers: PhysRange,
    /// Its interrupt (an SPI Bulkhead owns), if the node has one.
    pub intid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::virtual_pci::{VIRTUAL_MMIO, VIRTUAL_SPI_END};

    #[test]
    fn clear_of_the_virtual_pci_bus() {
        assert_eq!(VIRTUAL_UART_INTID, 993);
        assert_eq!(VIRTUAL_SPI_END, VIRTUAL_UART_INTID + 1);
        const { assert!(VIRTUAL_UART.start.0 >= VIRTUAL_MMIO.start.0 + VIRTUAL_MMIO.size) };
        const {
            assert!(crate::config::virtual_pci::is_virtual_spi(
                VIRTUAL_UART_INTID
            ))
        };
    }
}

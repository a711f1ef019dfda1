//! The virtual PL011 node of a partition without a UART of its own, and the fixed clock it names.

use alloc::format;
use alloc::string::String;

use vm_fdt::FdtWriter;

use super::GuestDtError;
use crate::config::virtual_console::{VIRTUAL_UART, VIRTUAL_UART_INTID};

/// GIC `interrupts` flags: level-sensitive, active high.
const LEVEL_HIGH: u32 = 4;
/// The UART reference clock Linux's driver programs the baud rate against
/// (QEMU's PL011s use the same); the virtual UART ignores the divisors.
const CLOCK_HZ: u32 = 24_000_000;
/// PL011 r1p5, as the ID registers say (spares Linux the probe read).
const PERIPHERAL_ID: u32 = 0x0034_1011;

/// Path of the virtual PL011 node (the guest's `stdout-path`).
pub(super) fn path() -> String {
    format!("/pl011@{:x}", VIRTUAL_UART.start.0)
}

/// Writes the virtual PL011 and its clock (`clock_phandle`, unused in the board DT).
pub(super) fn write_virtual_uart(
    writer: &mut FdtWriter,
    clock_phandle: u32,
) -> Result<(), GuestDtError> {
    let clock = writer.begin_node("bulkhead-uart-clock")?;
    writer.property_string("compatible", "fixed-clock")?;
    writer.property_u32("#clock-cells", 0)?;
    writer.property_u32("clock-frequency", CLOCK_HZ)?;
    writer.property_string("clock-output-names", "bulkhead-uartclk")?;
    writer.property_u32("phandle", clock_phandle)?;
    writer.end_node(clock)?;

    let uart = writer.begin_node(&path()[1..])?;
    writer.property_string_list(
        "compatible",
        alloc::vec![String::from("arm,pl011"), String::from("arm,primecell")],
    )?;
    let start = VIRTUAL_UART.start.0;
    let size = VIRTUAL_UART.size;
    writer.property_array_u32(
        "reg",
        &[
            (start >> 32) as u32,
            start as u32,
            (size >> 32) as u32,
            size as u32,
        ],
    )?;
    // GIC SPI specifier: type 0 (SPI), number from INTID 32.
    writer.property_array_u32("interrupts", &[0, VIRTUAL_UART_INTID - 32, LEVEL_HIGH])?;
    writer.property_array_u32("clocks", &[clock_phandle, clock_phandle])?;
    writer.property_string_list(
        "clock-names",
        alloc::vec![String::from("uartclk"), String::from("apb_pclk")],
    )?;
    writer.property_u32("arm,primecell-periphid", PERIPHERAL_ID)?;
    writer.end_node(uart)?;
    Ok(())
}

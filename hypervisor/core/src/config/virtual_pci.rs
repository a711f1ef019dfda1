//! Where a partition finds Bulkhead's virtual PCI functions: slots, BAR addresses and virtual SPIs.
//!
//! One rule for every partition, so the layout validator, the guest DT and
//! the hypervisor's emulation derive the same places from the same inputs:
//! - the virtual host bridge's ECAM at [`super::VIRTUAL_ECAM`] (bus 0);
//! - the control function (a managing partition) at device [`CONTROL_DEVICE`];
//! - the endpoint of the partition's k-th channel (by channel id) at device
//!   [`channel_device`]`(k)`; its BAR2 is the channel memory at the
//!   endpoint's `endpoint-ipa`;
//! - their register BARs (BAR0) in [`VIRTUAL_MMIO`], one 4 KiB page each;
//! - their interrupts: purely virtual SPIs from [`FIRST_VIRTUAL_SPI`] on,
//!   above any SPI a board wires (the guest's GICD_TYPER grows to cover them).

use crate::address::PhysRange;

/// IPA window of the virtual functions' register BARs (non-prefetchable,
/// 32-bit), right after the virtual ECAM.
pub const VIRTUAL_MMIO: PhysRange = PhysRange::new(0x3f10_0000, 1 << 20);

/// Most channels one partition can be an endpoint of.
pub const MAX_CHANNELS_PER_PARTITION: usize = 16;

/// Device number of the control function on virtual bus 0.
pub const CONTROL_DEVICE: u8 = 31;

/// Device number of the endpoint of the partition's `k`-th channel.
pub const fn channel_device(k: usize) -> u8 {
    CONTROL_DEVICE - 1 - k as u8
}

/// Device numbers channel endpoints may take (a physical function assigned
/// to the same partition at one of these collides).
pub const CHANNEL_DEVICES: core::ops::RangeInclusive<u8> =
    channel_device(MAX_CHANNELS_PER_PARTITION - 1)..=channel_device(0);

/// IPA of the control function's BAR0 (4 KiB).
pub const CONTROL_REGISTERS: u64 = VIRTUAL_MMIO.start.0 + MAX_CHANNELS_PER_PARTITION as u64 * 4096;

/// IPA of the register BAR0 (one page) of the `k`-th channel's endpoint.
pub const fn channel_registers(k: usize) -> u64 {
    VIRTUAL_MMIO.start.0 + k as u64 * 4096
}

/// First virtual SPI; virtual SPIs never reach the physical GIC.
pub const FIRST_VIRTUAL_SPI: u32 = 960;

/// INTx (level) of the control function.
pub const CONTROL_INTID: u32 = FIRST_VIRTUAL_SPI;

/// Edge-triggered doorbell SPI of the `k`-th channel (bare-metal guests).
pub const fn channel_doorbell_intid(k: usize) -> u32 {
    FIRST_VIRTUAL_SPI + 1 + 2 * k as u32
}

/// INTx (level) of the `k`-th channel's PCI function (Linux guests).
pub const fn channel_intx_intid(k: usize) -> u32 {
    FIRST_VIRTUAL_SPI + 2 + 2 * k as u32
}

/// One past the last virtual SPI: the virtual console UART's is the last.
pub const VIRTUAL_SPI_END: u32 = super::virtual_console::VIRTUAL_UART_INTID + 1;

/// Whether `intid` is a virtual SPI (Bulkhead's, never a board's).
pub const fn is_virtual_spi(intid: u32) -> bool {
    intid >= FIRST_VIRTUAL_SPI && intid < VIRTUAL_SPI_END
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_do_not_collide() {
        assert_eq!(channel_device(0), 30);
        assert_eq!(*CHANNEL_DEVICES.start(), 15);
        const { assert!(channel_registers(MAX_CHANNELS_PER_PARTITION - 1) + 4096 <= CONTROL_REGISTERS) };
        const { assert!(CONTROL_REGISTERS + 4096 <= VIRTUAL_MMIO.start.0 + VIRTUAL_MMIO.size) };
        const { assert!(VIRTUAL_SPI_END <= 1020) };
        const { assert!(is_virtual_spi(CONTROL_INTID) && !is_virtual_spi(959)) };
    }
}

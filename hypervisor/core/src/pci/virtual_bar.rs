//! A guest's view of the six BAR dwords: fixed addresses, working size probes, no moves.

use super::function::{Bar, BarKind};
use super::registers::{BAR_COUNT, BAR_MEMORY_64, BAR_MEMORY_ADDRESS, BAR_PREFETCHABLE};

/// BAR dwords as a guest reads them; nothing here reaches the device.
///
/// Bulkhead placed the BARs and mapped their pages; a guest moving one would
/// either decode nothing or decode over another partition's page, so moves
/// are refused. Sizing still works, because guests size BARs before using them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct VirtualBars {
    /// What each dword reads normally: assigned address and type bits.
    value: [u32; BAR_COUNT as usize],
    /// What each dword reads after all-ones was written: size mask and type bits.
    mask: [u32; BAR_COUNT as usize],
    /// All-ones was the last value written to the dword.
    sizing: [bool; BAR_COUNT as usize],
}

impl VirtualBars {
    /// Memory BARs from `bars`; I/O BARs and unimplemented slots read 0.
    pub(super) fn new(bars: &[Bar]) -> VirtualBars {
        let mut virtual_bars = VirtualBars {
            value: [0; BAR_COUNT as usize],
            mask: [0; BAR_COUNT as usize],
            sizing: [false; BAR_COUNT as usize],
        };
        for bar in bars {
            let index = usize::from(bar.index);
            let size_mask = !bar.size.wrapping_sub(1);
            let prefetchable = if bar.prefetchable {
                BAR_PREFETCHABLE
            } else {
                0
            };
            match bar.kind {
                BarKind::Memory32 if index < BAR_COUNT as usize => {
                    virtual_bars.value[index] =
                        (bar.address as u32 & BAR_MEMORY_ADDRESS) | prefetchable;
                    virtual_bars.mask[index] =
                        (size_mask as u32 & BAR_MEMORY_ADDRESS) | prefetchable;
                }
                BarKind::Memory64 if index + 1 < BAR_COUNT as usize => {
                    let flags = BAR_MEMORY_64 | prefetchable;
                    virtual_bars.value[index] = (bar.address as u32 & BAR_MEMORY_ADDRESS) | flags;
                    virtual_bars.mask[index] = (size_mask as u32 & BAR_MEMORY_ADDRESS) | flags;
                    virtual_bars.value[index + 1] = (bar.address >> 32) as u32;
                    virtual_bars.mask[index + 1] = (size_mask >> 32) as u32;
                }
                _ => {}
            }
        }
        virtual_bars
    }

    /// BAR dword `index` (0..6) as the guest reads it.
    pub(super) fn read(&self, index: usize) -> u32 {
        match self.sizing.get(index) {
            Some(true) => self.mask[index],
            Some(false) => self.value[index],
            None => 0,
        }
    }

    /// A guest write to BAR dword `index`: a whole-dword all-ones starts a size
    /// probe, anything else ends it (and is otherwise ignored).
    pub(super) fn write(&mut self, index: usize, value: u32, whole_dword: bool) {
        if let Some(sizing) = self.sizing.get_mut(index) {
            *sizing = whole_dword && value == u32::MAX;
        }
    }
}

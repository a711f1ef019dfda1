//! The capability list as a guest sees it: MSI and MSI-X unlinked and blanked.
//!
//! MSI and MSI-X let a function write any doorbell (the GIC ITS) with any
//! payload, which would let a guest raise interrupts it does not own; so they
//! are hidden and a guest's driver falls back to INTx. Hiding MSI-X's
//! capability also keeps its enable bit off, which makes the MSI-X table in
//! the BAR inert whatever the guest writes there.

use alloc::vec::Vec;

use super::address::FunctionAddress;
use super::config_space::ConfigSpace;
use super::registers::{
    CAPABILITY_MSI, CAPABILITY_MSIX, CAPABILITY_POINTER, COMMAND, DEVICE_SPECIFIC, EXTENDED,
    MSIX_LENGTH, MSI_64_BIT, MSI_PER_VECTOR_MASK, STATUS_CAPABILITIES,
};

/// Dword slots a capability can start in (0x40..=0xFC): a bound on the walk.
const SLOTS: usize = (EXTENDED - DEVICE_SPECIFIC) as usize / 4;

/// A capability the guest sees, and the next pointer it sees in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Visible {
    offset: u16,
    next: u8,
}

/// The virtual capability chain of one function, learned once from the physical list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Capabilities {
    visible: Vec<Visible>,
    /// Hidden capabilities as dword-aligned `[start, end)` byte ranges.
    hidden: Vec<(u16, u16)>,
}

impl Capabilities {
    /// Walks the physical list defensively: pointers are masked to dword
    /// alignment, a pointer below 0x40 ends the list, and revisiting a
    /// capability (a cycle) ends it too, so the walk takes at most 48 steps.
    pub(super) fn read(config: &mut impl ConfigSpace, address: FunctionAddress) -> Capabilities {
        let mut chain = Vec::new();
        let status = (config.read32(address, COMMAND) >> 16) as u16;
        if status & STATUS_CAPABILITIES != 0 {
            let mut seen = [false; SLOTS];
            let mut pointer = u16::from(config.read32(address, CAPABILITY_POINTER) as u8 & 0xFC);
            while pointer >= DEVICE_SPECIFIC {
                let slot = usize::from((pointer - DEVICE_SPECIFIC) / 4);
                match seen.get_mut(slot) {
                    Some(visited) if !*visited => *visited = true,
                    _ => break,
                }
                let header = config.read32(address, pointer);
                chain.push((pointer, header));
                pointer = u16::from((header >> 8) as u8 & 0xFC);
            }
        }

        let hidden: Vec<(u16, u16)> = chain
            .iter()
            .filter_map(|&(offset, header)| {
                let length = hidden_length(header)?;
                Some((offset, (offset + length).min(EXTENDED)))
            })
            .collect();
        let covered = |offset: u16| {
            hidden
                .iter()
                .any(|&(start, end)| (start..end).contains(&offset))
        };
        let offsets: Vec<u16> = chain
            .iter()
            .map(|&(offset, _)| offset)
            .filter(|&offset| !covered(offset))
            .collect();
        let visible = offsets
            .iter()
            .enumerate()
            .map(|(position, &offset)| Visible {
                offset,
                next: offsets.get(position + 1).map_or(0, |&next| next as u8),
            })
            .collect();
        Capabilities { visible, hidden }
    }

    /// The capability pointer the guest reads: the first visible capability, or 0.
    pub(super) fn pointer(&self) -> u8 {
        self.visible.first().map_or(0, |first| first.offset as u8)
    }

    /// The dword at `offset` belongs to a hidden capability.
    pub(super) fn hidden(&self, offset: u16) -> bool {
        self.hidden
            .iter()
            .any(|&(start, end)| (start..end).contains(&offset))
    }

    /// The guest's view of the physical dword at `offset` (0x40..0x100).
    pub(super) fn view(&self, offset: u16, physical: u32) -> u32 {
        if self.hidden(offset) {
            return 0;
        }
        match self.visible.iter().find(|visible| visible.offset == offset) {
            Some(visible) => (physical & !0xFF00) | (u32::from(visible.next) << 8),
            None => physical,
        }
    }
}

/// Bytes to hide for a capability whose first dword is `header`, or None to show it.
fn hidden_length(header: u32) -> Option<u16> {
    let id = header as u8;
    let control = (header >> 16) as u16;
    match id {
        CAPABILITY_MSI => {
            // Header, address (two dwords if 64-bit), data, then mask and pending bits.
            let address = if control & MSI_64_BIT != 0 { 8 } else { 4 };
            let masking = if control & MSI_PER_VECTOR_MASK != 0 {
                8
            } else {
                0
            };
            Some(4 + address + 4 + masking)
        }
        CAPABILITY_MSIX => Some(MSIX_LENGTH),
        _ => None,
    }
}

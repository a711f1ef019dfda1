//! Host bridge windows and the allocator that places BARs in them.

use alloc::vec::Vec;

/// A host bridge window in which BARs are assigned. CPU address == PCI bus
/// address (an identity window, as QEMU virt's 32-bit MMIO window is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub size: u64,
    pub kind: WindowKind,
}

/// What a host bridge window may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowKind {
    /// Memory below 4 GiB: 32-bit BARs, and 64-bit ones while it has room.
    Memory32,
    /// Memory anywhere: 64-bit BARs only.
    Memory64,
    /// I/O space: unused, since I/O BARs are never assigned.
    Io,
}

/// First 4 GiB of the bus address space: where 32-bit BARs must live.
pub(super) const FOUR_GIB: u64 = 1 << 32;

/// Free ranges of one window, as `[start, end)` pairs sorted by address.
///
/// First fit over free ranges (rather than a bump pointer) reuses the holes
/// alignment leaves, whatever order BARs arrive in.
#[derive(Clone, Debug)]
pub(super) struct WindowAllocator {
    pub(super) kind: WindowKind,
    free: Vec<(u64, u64)>,
}

impl WindowAllocator {
    pub(super) fn new(window: &Window) -> WindowAllocator {
        // A window reaching past the top of the address space is cut at it.
        let end = window.start.saturating_add(window.size);
        let mut free = Vec::new();
        if end > window.start {
            free.push((window.start, end));
        }
        WindowAllocator {
            kind: window.kind,
            free,
        }
    }

    /// Lowest `size`-byte block aligned to `align` (a power of two) that ends
    /// at or below `limit`; taken from the free ranges.
    pub(super) fn allocate(&mut self, size: u64, align: u64, limit: u64) -> Option<u64> {
        for position in 0..self.free.len() {
            let (start, end) = self.free[position];
            let Some(base) = align_up(start, align) else {
                continue;
            };
            let Some(block_end) = base.checked_add(size) else {
                continue;
            };
            if block_end > end || block_end > limit {
                continue;
            }
            // Replace the range with what is left on either side of the block.
            self.free.remove(position);
            if block_end < end {
                self.free.insert(position, (block_end, end));
            }
            if start < base {
                self.free.insert(position, (start, base));
            }
            return Some(base);
        }
        None
    }
}

/// `value` rounded up to a multiple of `align` (a power of two); None on overflow.
fn align_up(value: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    value.checked_add(mask).map(|value| value & !mask)
}

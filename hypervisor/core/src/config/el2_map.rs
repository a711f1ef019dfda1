//! The EL2 identity map, planned from the board DT: RAM as normal memory, devices as device memory.
//!
//! The hypervisor reaches RAM (its own, the boot modules, partition memory
//! for copies) and the devices it drives at VA == PA. Nothing else is
//! mapped: a hole in the physical map stays a hole, so a stray access
//! faults instead of reaching (say) the Raspberry Pi's VideoCore memory, and
//! RAM is never mapped as device memory nor a device as cacheable memory.
//!
//! Granularity is 2 MiB: the arch code writes 1 GiB blocks where a whole
//! gigabyte is of one kind and a level-2 table of 2 MiB blocks elsewhere.
//! A 2 MiB block that would hold both RAM and a device is refused, naming
//! the device: the two need different memory types.

use alloc::format;
use alloc::vec::Vec;

use super::board::Board;
use super::error::{BoardError, Issue};
use crate::address::{PhysAddr, PhysRange};

/// Size of one block of the plan (a level-2 block with a 4 KiB granule).
pub const BLOCK_SIZE: u64 = 2 << 20;
/// Size of one level-1 entry.
pub const GIB: u64 = 1 << 30;
/// Blocks per level-1 entry.
pub const BLOCKS_PER_GIB: usize = (GIB / BLOCK_SIZE) as usize;
/// The identity map's reach (39-bit VA, one level-1 table): 512 GiB.
/// Beyond it (QEMU virt's 64-bit PCI window at 512 GiB) nothing is mapped;
/// the hypervisor never touches what is there.
pub const MAP_LIMIT: u64 = 512 * GIB;

/// What one block of the identity map holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Unmapped,
    /// Normal write-back cacheable memory (RAM).
    Normal,
    /// Device-nGnRnE memory, never executable.
    Device,
}

/// One gigabyte of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GibPlan {
    /// One 1 GiB block (or nothing).
    Uniform(BlockKind),
    /// A level-2 table of 2 MiB blocks.
    Split(Vec<BlockKind>),
}

/// The planned identity map: sorted, disjoint, 2 MiB-aligned ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct El2Map {
    regions: Vec<(PhysRange, BlockKind)>,
}

impl El2Map {
    /// The map from the board DT: every memory node's `reg` as normal
    /// memory, every device's `reg` (and PCI host bridge windows) as device
    /// memory, each rounded out to 2 MiB. `extra_normal` adds RAM the
    /// hypervisor must reach that the DT may not list (its own reserved area).
    pub fn from_board(board: &Board, extra_normal: &[PhysRange]) -> Result<Self, BoardError> {
        let mut map = El2Map {
            regions: Vec::new(),
        };
        for range in board.ram.iter().chain(extra_normal) {
            map.add(*range, BlockKind::Normal, "/memory")?;
        }
        for region in &board.mmio {
            map.add(region.range, BlockKind::Device, &region.node)?;
        }
        for host in &board.pci_hosts {
            map.add(host.ecam, BlockKind::Device, &host.path)?;
            for window in &host.windows {
                map.add(window.cpu, BlockKind::Device, &host.path)?;
            }
        }
        Ok(map)
    }

    /// The planned ranges, sorted by address.
    pub fn regions(&self) -> &[(PhysRange, BlockKind)] {
        &self.regions
    }

    /// Whether `range` lies wholly in blocks of `kind`.
    pub fn covers(&self, range: PhysRange, kind: BlockKind) -> bool {
        let Some(end) = range.end() else {
            return false;
        };
        let mut next = range.start.0;
        for (region, region_kind) in &self.regions {
            let Some(region_end) = region.end() else {
                continue;
            };
            if region.start.0 <= next && next < region_end && *region_kind == kind {
                next = region_end;
            }
            if next >= end {
                return true;
            }
        }
        next >= end
    }

    /// Level-1 entry `index` (the gigabyte at `index` GiB).
    pub fn gib(&self, index: usize) -> GibPlan {
        let base = index as u64 * GIB;
        let mut blocks = Vec::new();
        for block in 0..BLOCKS_PER_GIB {
            blocks.push(self.kind_at(base + block as u64 * BLOCK_SIZE));
        }
        match blocks.first() {
            Some(&first) if blocks.iter().all(|&kind| kind == first) => GibPlan::Uniform(first),
            _ => GibPlan::Split(blocks),
        }
    }

    /// The kind of the whole gigabyte at `index` GiB if it is one kind
    /// (one 1 GiB block, or nothing), `None` if it needs a level-2 table:
    /// from the ranges, without looking at its 512 blocks one by one.
    pub fn uniform_gib(&self, index: usize) -> Option<BlockKind> {
        let base = index as u64 * GIB;
        let gib = PhysRange::new(base, GIB);
        let mut overlapping = self
            .regions
            .iter()
            .filter(|(range, _)| range.overlaps(&gib));
        match (overlapping.next(), overlapping.next()) {
            (None, _) => Some(BlockKind::Unmapped),
            (Some((range, kind)), None)
                if range.start.0 <= base && range.end().is_none_or(|end| end >= base + GIB) =>
            {
                Some(*kind)
            }
            _ => None,
        }
    }

    /// How many level-2 tables the map needs (gigabytes not of one kind).
    pub fn tables_needed(&self) -> usize {
        (0..(MAP_LIMIT / GIB) as usize)
            .filter(|&index| self.uniform_gib(index).is_none())
            .count()
    }

    /// What the 2 MiB block at `address` holds.
    pub fn kind_at(&self, address: u64) -> BlockKind {
        self.regions
            .iter()
            .find(|(range, _)| {
                range.start.0 <= address && range.end().is_some_and(|end| address < end)
            })
            .map_or(BlockKind::Unmapped, |&(_, kind)| kind)
    }

    /// Adds `range` rounded out to 2 MiB (clipped at [`MAP_LIMIT`]); `node`
    /// names it if it collides with a range of the other kind.
    fn add(&mut self, range: PhysRange, kind: BlockKind, node: &str) -> Result<(), BoardError> {
        if range.size == 0 || range.start.0 >= MAP_LIMIT {
            return Ok(());
        }
        let Some(end) = range.end() else {
            return Err(Issue::new(
                node,
                "reg",
                format!(
                    "{:#x} + {:#x} overflows the address space",
                    range.start.0, range.size
                ),
            )
            .into());
        };
        let start = range.start.0 & !(BLOCK_SIZE - 1);
        let end = end.min(MAP_LIMIT).next_multiple_of(BLOCK_SIZE);
        let mut merged = PhysRange::new(start, end - start);
        for (other, other_kind) in &self.regions {
            if !other.overlaps(&merged) {
                continue;
            }
            if *other_kind != kind {
                return Err(Issue::new(
                    node,
                    "reg",
                    format!(
                        "{:#x}..{:#x} shares a 2 MiB block with {} at {:#x}..{:#x}: Bulkhead's EL2 map cannot give one block two memory types",
                        range.start.0,
                        range.start.0 + range.size,
                        if kind == BlockKind::Device { "RAM" } else { "a device" },
                        other.start.0,
                        other.start.0 + other.size,
                    ),
                )
                .into());
            }
        }
        // Merge with every overlapping or touching range of the same kind.
        let mut kept = Vec::with_capacity(self.regions.len() + 1);
        for (other, other_kind) in self.regions.drain(..) {
            let other_end = other.start.0 + other.size;
            let merged_end = merged.start.0 + merged.size;
            if other_kind == kind && other.start.0 <= merged_end && merged.start.0 <= other_end {
                let low = merged.start.0.min(other.start.0);
                let high = merged_end.max(other_end);
                merged = PhysRange::new(low, high - low);
            } else {
                kept.push((other, other_kind));
            }
        }
        kept.push((merged, kind));
        kept.sort_by_key(|(range, _)| range.start.0);
        self.regions = kept;
        Ok(())
    }
}

/// The map the hypervisor runs on before it has read the DT: its reserved
/// area (image, heap, stacks, boot modules), the 4 MiB from the 2 MiB block
/// the DTB starts in (a DTB Bulkhead accepts is at most 2 MiB; U-Boot may
/// have moved it out of the reserved area) as normal memory, and the early
/// console's 2 MiB block as device memory. Planned without allocating: it is
/// built before the heap exists, with the MMU off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyMap {
    pub reserved: PhysRange,
    pub early_console: PhysAddr,
    pub dtb: PhysAddr,
}

/// How much of the map from the DTB's block is normal memory.
pub const EARLY_DTB_WINDOW: u64 = 2 * BLOCK_SIZE;

impl EarlyMap {
    /// As [`El2Map::uniform_gib`]: a gigabyte none of the early ranges
    /// touches is unmapped whole; any other is split (always correct).
    pub fn uniform_gib(&self, index: usize) -> Option<BlockKind> {
        let base = index as u64 * GIB;
        let ranges = [
            (self.reserved.start.0, self.reserved.size.max(1)),
            (self.dtb.0 & !(BLOCK_SIZE - 1), EARLY_DTB_WINDOW),
            (self.early_console.0 & !(BLOCK_SIZE - 1), BLOCK_SIZE),
        ];
        let untouched = ranges.iter().all(|&(start, size)| {
            start.saturating_add(size) <= base || start >= base.saturating_add(GIB)
        });
        untouched.then_some(BlockKind::Unmapped)
    }

    /// What the 2 MiB block at `address` holds.
    pub fn kind_at(&self, address: u64) -> BlockKind {
        let block = address & !(BLOCK_SIZE - 1);
        let reserved_start = self.reserved.start.0 & !(BLOCK_SIZE - 1);
        let reserved_end = self.reserved.start.0.saturating_add(self.reserved.size);
        let dtb_start = self.dtb.0 & !(BLOCK_SIZE - 1);
        let dtb_end = dtb_start.saturating_add(EARLY_DTB_WINDOW);
        let console = self.early_console.0 & !(BLOCK_SIZE - 1);
        if (block >= reserved_start && block < reserved_end)
            || (block >= dtb_start && block < dtb_end)
        {
            BlockKind::Normal
        } else if block == console {
            BlockKind::Device
        } else {
            BlockKind::Unmapped
        }
    }
}

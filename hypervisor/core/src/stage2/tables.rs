//! The stage-2 table tree of one partition: map, translate, write-protect.
//!
//! The hypervisor runs identity-mapped, so a table's address in memory is its
//! physical address and goes straight into descriptors and VTTBR_EL2. On the
//! host the same pointer values stand in for physical addresses, which lets
//! the walker here be tested without hardware.
//!
//! Every method only edits memory. A caller changing the tables of a
//! partition that may be running must follow the architecture's
//! break-before-make rule and invalidate the TLBs (TLBI IPAS2E1IS / VMALLS12E1IS
//! plus DSB/ISB) after each mutation.

use alloc::vec::Vec;
use core::fmt;

use super::descriptor::{Descriptor, LeafAttributes, OUTPUT_ADDRESS_MASK};
use super::{Access, MemoryKind, IPA_BITS};
use crate::address::{is_aligned, Ipa, PhysAddr, PAGE_SIZE};

/// One 4 KiB translation table of 512 descriptors.
#[repr(C, align(4096))]
pub struct Table(pub [u64; ENTRIES]);

const ENTRIES: usize = 512;
const ROOT_LEVEL: u32 = 1;
const LAST_LEVEL: u32 = 3;
/// One past the highest IPA the tables can map.
const IPA_LIMIT: u64 = 1 << IPA_BITS;
/// One past the highest output address a descriptor can hold.
const PA_LIMIT: u64 = OUTPUT_ADDRESS_MASK + PAGE_SIZE;

/// Bytes one entry covers at `level` (1 GiB, 2 MiB, 4 KiB).
const fn entry_size(level: u32) -> u64 {
    1 << (12 + 9 * (LAST_LEVEL - level))
}

/// Index into the level-`level` table for `ipa`.
const fn entry_index(ipa: u64, level: u32) -> usize {
    ((ipa >> (12 + 9 * (LAST_LEVEL - level))) as usize) & (ENTRIES - 1)
}

/// Why a stage-2 operation was refused. Nothing is changed when one is returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapError {
    /// IPA, PA or size is not a multiple of 4 KiB.
    Misaligned { ipa: Ipa, pa: PhysAddr, size: u64 },
    /// A zero-sized range.
    Empty { ipa: Ipa },
    /// The IPA range reaches past 2^[`IPA_BITS`].
    IpaOutOfRange { ipa: Ipa, size: u64 },
    /// The PA range reaches past what a descriptor can hold (2^48).
    PaOutOfRange { pa: PhysAddr, size: u64 },
    /// Part of the range is already mapped; `ipa` is the first such address.
    AlreadyMapped { ipa: Ipa },
    /// Part of the range is not mapped; `ipa` is the first such address.
    NotMapped { ipa: Ipa },
    /// A freshly allocated table lies above 2^48 and cannot be pointed to.
    TableNotAddressable { address: u64 },
    /// The map needs more tables than it was sized for.
    OutOfTables { capacity: usize },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::Misaligned { ipa, pa, size } => write!(
                f,
                "stage-2: {ipa:?} -> {pa:?} size {size:#x} is not 4 KiB aligned"
            ),
            MapError::Empty { ipa } => write!(f, "stage-2: empty range at {ipa:?}"),
            MapError::IpaOutOfRange { ipa, size } => write!(
                f,
                "stage-2: {ipa:?} size {size:#x} reaches past the {IPA_BITS}-bit IPA space"
            ),
            MapError::PaOutOfRange { pa, size } => {
                write!(f, "stage-2: {pa:?} size {size:#x} reaches past 48 bits")
            }
            MapError::AlreadyMapped { ipa } => write!(f, "stage-2: {ipa:?} is already mapped"),
            MapError::NotMapped { ipa } => write!(f, "stage-2: {ipa:?} is not mapped"),
            MapError::TableNotAddressable { address } => {
                write!(f, "stage-2: table at {address:#x} is above 48 bits")
            }
            MapError::OutOfTables { capacity } => {
                write!(
                    f,
                    "stage-2: needs more than the {capacity} tables it was sized for"
                )
            }
        }
    }
}

/// Where an IPA leads, as [`Stage2::translate`] reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Translation {
    /// The physical address of the translated IPA itself (block offset included).
    pub pa: PhysAddr,
    pub kind: MemoryKind,
    pub access: Access,
    /// Size of the leaf that maps it: 1 GiB, 2 MiB or 4 KiB.
    pub block_size: u64,
}

/// What [`Stage2::find`] looks for inside a range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Looking {
    Mapped,
    Unmapped,
}

/// A partition's stage-2 tables: a level-1 root for a 39-bit IPA space and the
/// level-2/3 tables below it, all owned here.
///
/// The tables live in one arena sized at creation, so that following a
/// table descriptor is arithmetic (its address minus the arena's, over 4
/// KiB) rather than a search: write tracking walks a table on every first
/// write and at every checkpoint.
pub struct Stage2 {
    /// Every table; index 0 is the root. Never grown past `capacity`, so
    /// the arena never moves and table addresses stay valid.
    tables: Vec<Table>,
    capacity: usize,
    /// Last-level tables found per 2 MiB region (direct-mapped by region
    /// number; tag = region + 1, 0 empty), for a first write's walk. Never
    /// stale: a table descriptor, once written, is never replaced (`map`
    /// refuses mapped ranges, nothing unmaps, a split only adds tables).
    leaf_tables: [(u64, usize); LEAF_TABLE_CACHE],
}

/// Entries of [`Stage2::leaf_tables`]: a 128 MiB partition's every region.
const LEAF_TABLE_CACHE: usize = 64;

#[cfg(test)]
impl Default for Stage2 {
    fn default() -> Self {
        Self::new()
    }
}

impl Stage2 {
    /// An empty map with room for 2,048 tables (8 MiB: test maps of many
    /// GiB split to pages).
    #[cfg(test)]
    pub fn new() -> Self {
        Self::with_capacity(2048)
    }

    /// An empty map (a root table with every entry invalid) with room for
    /// `capacity` tables, the root included (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut tables = Vec::with_capacity(capacity);
        tables.push(Table([0; ENTRIES]));
        Stage2 {
            tables,
            capacity,
            leaf_tables: [(0, 0); LEAF_TABLE_CACHE],
        }
    }

    /// Root table address for VTTBR_EL2.BADDR.
    pub fn root_address(&self) -> u64 {
        table_address(&self.tables[0])
    }

    /// Number of tables, root included (each is 4 KiB).
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Maps `[ipa, ipa + size)` to `[pa, pa + size)`.
    ///
    /// Uses 1 GiB and 2 MiB blocks wherever IPA, PA and the remaining size
    /// allow, 4 KiB pages otherwise. Refuses, without changing anything, if
    /// any part of the range is already mapped.
    pub fn map(
        &mut self,
        ipa: Ipa,
        pa: PhysAddr,
        size: u64,
        kind: MemoryKind,
        access: Access,
    ) -> Result<(), MapError> {
        check_ipa_range(ipa, pa, size)?;
        if !is_aligned(pa.0, PAGE_SIZE) {
            return Err(MapError::Misaligned { ipa, pa, size });
        }
        if pa.0.checked_add(size).is_none_or(|end| end > PA_LIMIT) {
            return Err(MapError::PaOutOfRange { pa, size });
        }
        if let Some(first) = self.find(ipa.0, ipa.0 + size, Looking::Mapped) {
            return Err(MapError::AlreadyMapped { ipa: Ipa(first) });
        }

        let attributes = LeafAttributes::new(kind, access);
        let mut offset = 0;
        while offset < size {
            let (at_ipa, at_pa, remaining) = (ipa.0 + offset, pa.0 + offset, size - offset);
            let level = (ROOT_LEVEL..LAST_LEVEL)
                .find(|&level| {
                    let block = entry_size(level);
                    is_aligned(at_ipa, block) && is_aligned(at_pa, block) && remaining >= block
                })
                .unwrap_or(LAST_LEVEL);
            self.install_leaf(at_ipa, at_pa, level, attributes)?;
            offset += entry_size(level);
        }
        Ok(())
    }

    /// Where `ipa` leads, or `None` if it is not mapped.
    pub fn translate(&self, ipa: Ipa) -> Option<Translation> {
        if ipa.0 >= IPA_LIMIT {
            return None;
        }
        let mut table = 0;
        for level in ROOT_LEVEL..=LAST_LEVEL {
            let descriptor = self.entry(table, entry_index(ipa.0, level));
            if descriptor.is_leaf(level) {
                let block_size = entry_size(level);
                let attributes = descriptor.attributes();
                return Some(Translation {
                    pa: PhysAddr(descriptor.output_address() + (ipa.0 & (block_size - 1))),
                    kind: attributes.kind(),
                    access: attributes.access(),
                    block_size,
                });
            }
            if !descriptor.is_table(level) {
                return None;
            }
            table = self.table_index(descriptor.output_address())?;
        }
        None
    }

    /// The end of `[ipa, ipa + size)` if the range is valid and wholly mapped.
    fn mapped_end(&self, ipa: Ipa, size: u64) -> Result<u64, MapError> {
        check_ipa_range(ipa, PhysAddr(0), size)?;
        let end = ipa.0 + size;
        match self.find(ipa.0, end, Looking::Unmapped) {
            Some(first) => Err(MapError::NotMapped { ipa: Ipa(first) }),
            None => Ok(end),
        }
    }

    /// Makes every page of `[ipa, ipa + size)` read-only, first splitting the
    /// blocks that cover it into 4 KiB pages (so later write faults can be
    /// tracked and re-enabled page by page). Mappings stay otherwise identical.
    ///
    /// Refuses, without changing anything, if part of the range is unmapped.
    pub fn write_protect(&mut self, ipa: Ipa, size: u64) -> Result<(), MapError> {
        let end = self.mapped_end(ipa, size)?;
        let mut at = ipa.0;
        while at < end {
            let (table, first_index) = self.split_to_page(at)?;
            // Protect the rest of this level-3 table in one go.
            let mut index = first_index;
            while index < ENTRIES && at < end {
                let descriptor = self.entry(table, index);
                let protected = descriptor.attributes().with_access(Access::ReadOnly);
                let updated = Descriptor::leaf(LAST_LEVEL, descriptor.output_address(), protected);
                self.set_entry(table, index, updated);
                index += 1;
                at += PAGE_SIZE;
            }
        }
        Ok(())
    }

    /// Splits every block covering `[ipa, ipa + size)` into 4 KiB pages,
    /// leaving access and attributes as they are. Done at boot for a
    /// partition that will be checkpointed, so that write tracking never
    /// allocates a table while guests run.
    ///
    /// Refuses, without changing anything, if part of the range is unmapped.
    pub fn split_to_pages(&mut self, ipa: Ipa, size: u64) -> Result<(), MapError> {
        let end = self.mapped_end(ipa, size)?;
        let mut at = ipa.0;
        while at < end {
            self.split_to_page(at)?;
            // One level-3 table covers the rest of this 2 MiB.
            let table_span = entry_size(LAST_LEVEL - 1);
            at = (at & !(table_span - 1)) + table_span;
        }
        Ok(())
    }

    /// Gives write access back to the one 4 KiB page at `ipa` (splitting a
    /// read-only block if one covers it). Returns whether the page was
    /// writable already (a write fault on it came from a stale TLB entry).
    pub fn make_writable_page(&mut self, ipa: Ipa) -> Result<bool, MapError> {
        self.set_page_access(ipa, Access::ReadWrite)
    }

    /// Makes the one 4 KiB page at `ipa` read-only (splitting a block if
    /// one covers it): the per-page form of [`Self::write_protect`], one
    /// table walk. Returns whether it was read-only already.
    pub fn write_protect_page(&mut self, ipa: Ipa) -> Result<bool, MapError> {
        self.set_page_access(ipa, Access::ReadOnly)
    }

    /// Makes each 4 KiB page of `pages` read-only, as
    /// [`Self::write_protect_page`] does one: a run of pages under one
    /// last-level table walks down to it once (a checkpoint re-protects
    /// the pages written since the last one, mostly in runs).
    pub fn write_protect_pages(
        &mut self,
        pages: impl IntoIterator<Item = Ipa>,
    ) -> Result<(), MapError> {
        // The last-level table found for one 2 MiB region stays valid for
        // the whole batch: only leaf entries change under it, and a split
        // elsewhere adds a table without moving this one.
        let mut last: Option<(u64, usize)> = None;
        for ipa in pages {
            check_ipa_range(ipa, PhysAddr(0), PAGE_SIZE)?;
            let region = ipa.0 / entry_size(LAST_LEVEL - 1);
            let table = match last {
                Some((cached, table)) if cached == region => Some(table),
                _ => {
                    let table = self.last_level_table(ipa, Access::ReadOnly)?;
                    last = table.map(|table| (region, table));
                    table
                }
            };
            if let Some(table) = table {
                self.set_leaf_access(table, ipa, Access::ReadOnly)?;
            }
        }
        Ok(())
    }

    /// Sets the access of the page at `ipa`, keeping everything else;
    /// returns whether it had that access already.
    /// A block that has `access` already is left whole (no table is
    /// allocated); one that has not is split down to the page.
    #[inline(always)]
    fn set_page_access(&mut self, ipa: Ipa, access: Access) -> Result<bool, MapError> {
        check_ipa_range(ipa, PhysAddr(0), PAGE_SIZE)?;
        let region = ipa.0 / entry_size(LAST_LEVEL - 1);
        let slot = (region % LEAF_TABLE_CACHE as u64) as usize;
        match self.leaf_tables[slot] {
            (tag, table) if tag == region + 1 => self.set_leaf_access(table, ipa, access),
            _ => self.set_page_access_walking(ipa, access, slot, region),
        }
    }

    /// [`Self::set_page_access`] for a page whose 2 MiB region's table is
    /// not cached: out of line, so that the cached case (every write fault
    /// but a region's first) does not pay for the walk's registers.
    #[cold]
    #[inline(never)]
    fn set_page_access_walking(
        &mut self,
        ipa: Ipa,
        access: Access,
        slot: usize,
        region: u64,
    ) -> Result<bool, MapError> {
        match self.last_level_table(ipa, access)? {
            Some(table) => {
                self.leaf_tables[slot] = (region + 1, table);
                self.set_leaf_access(table, ipa, access)
            }
            None => Ok(true),
        }
    }

    /// The last-level table holding `ipa`'s page descriptor, splitting a
    /// block on the way whose access is not `access`; None when a block
    /// that has `access` already covers `ipa`.
    #[inline(always)]
    fn last_level_table(&mut self, ipa: Ipa, access: Access) -> Result<Option<usize>, MapError> {
        let not_mapped = MapError::NotMapped { ipa };
        let mut table = 0;
        for level in ROOT_LEVEL..LAST_LEVEL {
            let index = entry_index(ipa.0, level);
            let descriptor = self.entry(table, index);
            if descriptor.is_leaf(level) {
                if descriptor.attributes().access() == access {
                    return Ok(None);
                }
                self.split_block(table, index, level)?;
            }
            let descriptor = self.entry(table, index);
            if !descriptor.is_table(level) {
                return Err(not_mapped);
            }
            table = self
                .table_index(descriptor.output_address())
                .ok_or(not_mapped)?;
        }
        Ok(Some(table))
    }

    /// Sets the access of `ipa`'s page descriptor in last-level `table`;
    /// returns whether it had that access already.
    #[inline(always)]
    fn set_leaf_access(
        &mut self,
        table: usize,
        ipa: Ipa,
        access: Access,
    ) -> Result<bool, MapError> {
        let index = entry_index(ipa.0, LAST_LEVEL);
        let descriptor = self.entry(table, index);
        if !descriptor.is_leaf(LAST_LEVEL) {
            return Err(MapError::NotMapped { ipa });
        }
        let attributes = descriptor.attributes();
        if attributes.access() == access {
            return Ok(true);
        }
        let updated = Descriptor::leaf(
            LAST_LEVEL,
            descriptor.output_address(),
            attributes.with_access(access),
        );
        self.set_entry(table, index, updated);
        Ok(false)
    }

    /// The raw descriptor at `index` of the table at `address`, for tests.
    #[cfg(test)]
    pub(super) fn raw_entry(&self, address: u64, index: usize) -> Option<u64> {
        let table = self.table_index(address)?;
        Some(self.tables[table].0[index])
    }

    fn entry(&self, table: usize, index: usize) -> Descriptor {
        Descriptor(self.tables[table].0[index])
    }

    fn set_entry(&mut self, table: usize, index: usize, descriptor: Descriptor) {
        self.tables[table].0[index] = descriptor.0;
    }

    fn table_index(&self, address: u64) -> Option<usize> {
        let offset = address.checked_sub(table_address(&self.tables[0]))?;
        let index = usize::try_from(offset / PAGE_SIZE).ok()?;
        (offset % PAGE_SIZE == 0 && index < self.tables.len()).then_some(index)
    }

    /// Allocates a table filled with `entries`, returning its index.
    fn allocate(&mut self, entries: [u64; ENTRIES]) -> Result<usize, MapError> {
        if self.tables.len() >= self.capacity {
            return Err(MapError::OutOfTables {
                capacity: self.capacity,
            });
        }
        let index = self.tables.len();
        // Within the capacity reserved at creation: the arena does not move.
        self.tables.push(Table(entries));
        let address = table_address(&self.tables[index]);
        if address & !OUTPUT_ADDRESS_MASK != 0 {
            self.tables.pop();
            return Err(MapError::TableNotAddressable { address });
        }
        Ok(index)
    }

    /// Writes a leaf for `ipa` at `level`, creating intermediate tables.
    fn install_leaf(
        &mut self,
        ipa: u64,
        pa: u64,
        level: u32,
        attributes: LeafAttributes,
    ) -> Result<(), MapError> {
        let mut table = 0;
        for walk_level in ROOT_LEVEL..level {
            let index = entry_index(ipa, walk_level);
            let descriptor = self.entry(table, index);
            table = if !descriptor.is_valid() {
                let child = self.allocate([0; ENTRIES])?;
                let address = table_address(&self.tables[child]);
                self.set_entry(table, index, Descriptor::table(address));
                child
            } else if descriptor.is_table(walk_level) {
                self.table_index(descriptor.output_address())
                    .ok_or(MapError::AlreadyMapped { ipa: Ipa(ipa) })?
            } else {
                return Err(MapError::AlreadyMapped { ipa: Ipa(ipa) });
            };
        }
        let index = entry_index(ipa, level);
        if self.entry(table, index).is_valid() {
            return Err(MapError::AlreadyMapped { ipa: Ipa(ipa) });
        }
        self.set_entry(table, index, Descriptor::leaf(level, pa, attributes));
        Ok(())
    }

    /// Splits any block covering `ipa` down to level 3 and returns the
    /// level-3 table and index of its page.
    fn split_to_page(&mut self, ipa: u64) -> Result<(usize, usize), MapError> {
        let mut table = 0;
        for level in ROOT_LEVEL..LAST_LEVEL {
            let index = entry_index(ipa, level);
            let descriptor = self.entry(table, index);
            if descriptor.is_leaf(level) {
                self.split_block(table, index, level)?;
            }
            let descriptor = self.entry(table, index);
            if !descriptor.is_table(level) {
                return Err(MapError::NotMapped { ipa: Ipa(ipa) });
            }
            table = self
                .table_index(descriptor.output_address())
                .ok_or(MapError::NotMapped { ipa: Ipa(ipa) })?;
        }
        let index = entry_index(ipa, LAST_LEVEL);
        if !self.entry(table, index).is_leaf(LAST_LEVEL) {
            return Err(MapError::NotMapped { ipa: Ipa(ipa) });
        }
        Ok((table, index))
    }

    /// Replaces the block at `(table, index)` of `level` with a next-level
    /// table whose 512 entries map the same range with the same attributes.
    fn split_block(&mut self, table: usize, index: usize, level: u32) -> Result<(), MapError> {
        let block = self.entry(table, index);
        let child_level = level + 1;
        let child_size = entry_size(child_level);
        let mut entries = [0; ENTRIES];
        for (position, entry) in (0u64..).zip(entries.iter_mut()) {
            let output = block.output_address() + position * child_size;
            *entry = Descriptor::leaf(child_level, output, block.attributes()).0;
        }
        let child = self.allocate(entries)?;
        let address = table_address(&self.tables[child]);
        self.set_entry(table, index, Descriptor::table(address));
        Ok(())
    }

    /// The first address in `[start, end)` that is mapped (or unmapped).
    fn find(&self, start: u64, end: u64, looking: Looking) -> Option<u64> {
        self.find_in(0, ROOT_LEVEL, 0, start, end, looking)
    }

    /// [`Self::find`] within one table covering IPAs from `base`; `[start, end)`
    /// lies inside that table's span.
    fn find_in(
        &self,
        table: usize,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        looking: Looking,
    ) -> Option<u64> {
        let size = entry_size(level);
        let first = ((start - base) / size) as usize;
        let last = ((end - 1 - base) / size) as usize;
        for index in first..=last.min(ENTRIES - 1) {
            let entry_base = base + index as u64 * size;
            let (from, to) = (start.max(entry_base), end.min(entry_base + size));
            let descriptor = self.entry(table, index);
            let found = if descriptor.is_leaf(level) {
                (looking == Looking::Mapped).then_some(from)
            } else if let Some(child) = descriptor
                .is_table(level)
                .then(|| self.table_index(descriptor.output_address()))
                .flatten()
            {
                self.find_in(child, level + 1, entry_base, from, to, looking)
            } else {
                (looking == Looking::Unmapped).then_some(from)
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// The address of a table: its physical address under the identity map.
fn table_address(table: &Table) -> u64 {
    core::ptr::from_ref(table) as u64
}

/// Checks alignment, emptiness and the IPA bound of `[ipa, ipa + size)`.
fn check_ipa_range(ipa: Ipa, pa: PhysAddr, size: u64) -> Result<(), MapError> {
    if size == 0 {
        return Err(MapError::Empty { ipa });
    }
    if !is_aligned(ipa.0, PAGE_SIZE) || !is_aligned(size, PAGE_SIZE) {
        return Err(MapError::Misaligned { ipa, pa, size });
    }
    if ipa.0.checked_add(size).is_none_or(|end| end > IPA_LIMIT) {
        return Err(MapError::IpaOutOfRange { ipa, size });
    }
    Ok(())
}

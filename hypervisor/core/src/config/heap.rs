//! How much of Bulkhead's own heap a partition needs for its life: checked at boot, before anything is built.
//!
//! Everything a partition uses at run time is allocated at boot (nothing a
//! guest does allocates afterwards), so a layout either fits the heap from
//! the start or is refused with a `layout error:` line naming the
//! partition. The figure is an upper bound: every allocation is rounded up
//! to a power of two, as the buddy allocator does, and growth buffers
//! (vectors doubling while they are filled) are counted twice.

use crate::address::PAGE_SIZE;
use crate::config::Partition;

const GIB: u64 = 1 << 30;
const TWO_MIB: u64 = 2 << 20;
/// vCPUs, the vGIC model and its checkpoint copy, the registry, queues.
const FIXED_BYTES: u64 = 64 << 10;

fn rounded(bytes: u64) -> u64 {
    bytes.checked_next_power_of_two().unwrap_or(u64::MAX)
}

/// How many `span`-aligned blocks `[start, start + size)` touches.
fn blocks(start: u64, size: u64, span: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let end = start.saturating_add(size - 1);
    end / span - start / span + 1
}

/// On a GICv2 board Bulkhead maps the GIC's virtual CPU interface (8 KiB)
/// at the guest's GICC address, which the layout does not list: a level-2
/// and a level-3 table at most.
pub const GIC_WINDOW_TABLES: u64 = 2;

/// Upper bound of the stage-2 tables of `partition`: its CPU map and, if it
/// has DMA-capable devices, the SMMU's.
pub fn stage2_tables(partition: &Partition) -> u64 {
    cpu_stage2_tables(partition).saturating_add(dma_stage2_tables(partition))
}

/// Upper bound of the tables of the CPU's stage 2 of `partition`: the root,
/// one level-2 table per GiB touched, and one level-3 table per 2 MiB
/// touched by a range that may need pages (device windows, channel memory,
/// unaligned RAM, and all RAM of a checkpointed partition, which is split
/// to pages at boot), plus [`GIC_WINDOW_TABLES`]. The map is created with
/// room for exactly this many.
pub fn cpu_stage2_tables(partition: &Partition) -> u64 {
    let mut tables = 1 + GIC_WINDOW_TABLES;
    let ram = partition
        .memory
        .iter()
        .map(|region| (region.ipa.0, region.size));
    let devices: alloc::vec::Vec<(u64, u64)> = partition
        .mmio_ranges()
        .map(|range| (range.start.0, range.size))
        .chain(
            partition
                .channels
                .iter()
                .map(|channel| (channel.ipa.0, channel.size)),
        )
        .collect();
    for (start, size) in ram.clone().chain(devices.iter().copied()) {
        tables = tables.saturating_add(blocks(start, size, GIB));
    }
    let split = partition.checkpoint.is_some();
    for (start, size) in ram {
        let aligned = start % TWO_MIB == 0 && size % TWO_MIB == 0;
        if split || !aligned {
            tables = tables.saturating_add(blocks(start, size, TWO_MIB));
        }
    }
    for (start, size) in devices {
        tables = tables.saturating_add(blocks(start, size, TWO_MIB));
    }
    tables
}

/// Upper bound of the tables of the SMMU's stage 2 for `partition` (its
/// RAM, never split); 0 without DMA-capable devices.
pub fn dma_stage2_tables(partition: &Partition) -> u64 {
    if !partition.dma_capable() {
        return 0;
    }
    let mut tables = 1u64;
    for region in &partition.memory {
        let (start, size) = (region.ipa.0, region.size);
        tables = tables.saturating_add(blocks(start, size, GIB));
        if start % TWO_MIB != 0 || size % TWO_MIB != 0 {
            tables = tables.saturating_add(blocks(start, size, TWO_MIB));
        }
    }
    tables
}

/// Bytes of heap `partition` needs; `guest_dt_bytes` bounds its guest DT
/// (the board DTB's size plus what Bulkhead adds is safe).
pub fn partition_heap_required(partition: &Partition, guest_dt_bytes: u64) -> u64 {
    // Each stage-2 map is one arena of its bound's tables, allocated whole
    // (and rounded up to a power of two, as every allocation).
    let arena = |tables: u64| match tables {
        0 => 0,
        tables => rounded(tables.saturating_mul(PAGE_SIZE)),
    };
    let mut total =
        arena(cpu_stage2_tables(partition)).saturating_add(arena(dma_stage2_tables(partition)));
    // The guest DT, built once (its builder's buffer grows by doubling).
    total = total.saturating_add(rounded(guest_dt_bytes).saturating_mul(3));
    if partition.checkpoint.is_some() {
        let pages = partition.memory_bytes() / PAGE_SIZE;
        let bitmap = rounded(pages.div_ceil(64).saturating_mul(8));
        // Two dirty bitmaps, the store's written-page bitmap, the list of
        // pages made writable since the last checkpoint (8 bytes each).
        total = total
            .saturating_add(bitmap.saturating_mul(3))
            .saturating_add(rounded(pages.saturating_mul(8)));
    }
    total.saturating_add(FIXED_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Ipa, PhysAddr};
    use crate::stage2::{Access, MemoryKind, Stage2};

    #[test]
    fn blocks_touched() {
        assert_eq!(blocks(0, 0, TWO_MIB), 0);
        assert_eq!(blocks(0, TWO_MIB, TWO_MIB), 1);
        assert_eq!(blocks(TWO_MIB - 1, 2, TWO_MIB), 2);
        assert_eq!(blocks(GIB, GIB + 1, GIB), 2);
        assert_eq!(blocks(u64::MAX - 1, 2, GIB), 1);
    }

    fn partition(regions: &[(u64, u64, u64)], checkpointed: bool) -> Partition {
        use crate::address::PhysRange;
        use crate::config::{CheckpointPolicy, MemoryRegion, Module, OnFault};
        Partition {
            id: 0,
            label: "p".into(),
            node: "/chosen/bulkhead/partition@0".into(),
            cpus: alloc::vec![0],
            memory: regions
                .iter()
                .map(|&(pa, ipa, size)| MemoryRegion {
                    pa: PhysAddr(pa),
                    ipa: Ipa(ipa),
                    size,
                })
                .collect(),
            devices: alloc::vec::Vec::new(),
            kernel: Module {
                pa: PhysAddr(0),
                size: 0,
            },
            load_address: Ipa(0),
            initrd: None,
            bootargs: None,
            checkpoint: checkpointed.then_some(CheckpointPolicy {
                store: PhysRange::new(0x9000_0000, 0x1000_0000),
                interval_ms: None,
                on_fault: OnFault::Stop,
            }),
            manages: alloc::vec::Vec::new(),
            pci_functions: alloc::vec::Vec::new(),
            on_dma_fault: Default::default(),
            stage2_fault: Default::default(),
            channels: alloc::vec::Vec::new(),
            virtual_console: false,
        }
    }

    /// Maps `size` bytes at `ipa` to `pa` as read-write Normal memory, as
    /// boot maps a partition's RAM and its channels.
    fn map_read_write(stage2: &mut Stage2, ipa: Ipa, pa: PhysAddr, size: u64) {
        stage2
            .map(ipa, pa, size, MemoryKind::Normal, Access::ReadWrite)
            .unwrap();
    }

    /// The bound holds for the tables the stage-2 builder really makes.
    #[test]
    fn stage2_bound_covers_the_built_tables() {
        let cases = [
            (alloc::vec![(0x5000_0000, 0x4000_0000, 0x1000_0000)], false),
            (alloc::vec![(0x5000_0000, 0x4000_0000, 0x1000_0000)], true),
            (
                alloc::vec![
                    (0x5000_0000, 0x8000_0000, 0x4000_0000),
                    (0x9000_0000, 0x1_0000_0000, 0x20_3000)
                ],
                true,
            ),
            (alloc::vec![(0x5000_1000, 0x4000_1000, 0x5000)], false),
        ];
        for (regions, checkpointed) in cases {
            let config = partition(&regions, checkpointed);
            let mut stage2 = Stage2::new();
            for region in &config.memory {
                map_read_write(&mut stage2, region.ipa, region.pa, region.size);
                if checkpointed {
                    stage2.split_to_pages(region.ipa, region.size).unwrap();
                }
            }
            let built = stage2.table_count() as u64;
            let bound = stage2_tables(&config);
            assert!(
                built <= bound,
                "{regions:x?}: built {built} > bound {bound}"
            );
            assert!(
                bound <= built + 4,
                "{regions:x?}: bound {bound} is loose ({built})"
            );
        }
    }

    /// Channel memory, mapped at its own IPA in another GiB, is counted.
    #[test]
    fn stage2_bound_covers_channel_memory() {
        use crate::config::PartitionChannel;
        let mut config = partition(&[(0x5000_0000, 0x4000_0000, 0x1000_0000)], false);
        let without = stage2_tables(&config);
        config.channels = alloc::vec![PartitionChannel {
            id: 0,
            label: "c".into(),
            slot: 0,
            index: 0,
            pa: PhysAddr(0x9000_0000),
            ipa: Ipa(0x1_0000_0000),
            size: 0x1_0000,
            read_only: false,
            peers: alloc::vec![0, 1],
        }];
        let mut stage2 = Stage2::new();
        for region in &config.memory {
            map_read_write(&mut stage2, region.ipa, region.pa, region.size);
        }
        for channel in &config.channels {
            map_read_write(&mut stage2, channel.ipa, channel.pa, channel.size);
        }
        let (built, bound) = (stage2.table_count() as u64, stage2_tables(&config));
        assert!(built <= bound, "built {built} > bound {bound}");
        assert!(bound > without);
    }

    #[test]
    fn a_checkpointed_gib_needs_its_tracking_lists() {
        let plain = partition_heap_required(
            &partition(&[(0x5000_0000, 0x4000_0000, GIB)], false),
            0x10000,
        );
        let tracked = partition_heap_required(
            &partition(&[(0x5000_0000, 0x4000_0000, GIB)], true),
            0x10000,
        );
        // 512 level-3 tables (2 MiB) and the 2 MiB list of writable pages.
        assert!(
            tracked - plain >= (2 << 20) + 512 * PAGE_SIZE,
            "{plain} {tracked}"
        );
        assert!(tracked < 8 << 20, "{tracked}");
    }

    #[test]
    fn rounding_saturates() {
        assert_eq!(rounded(3000), 4096);
        assert_eq!(rounded(u64::MAX), u64::MAX);
    }
}

//! Host tests: bitmaps against a set model, store round trips, atomicity, corruption, sizes.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::address::{Ipa, PAGE_SIZE};

/// Two regions listed out of IPA order, with a page count not a multiple of 64.
fn regions() -> Vec<(Ipa, u64)> {
    vec![
        (Ipa(0x8000_0000), 70 * PAGE_SIZE),
        (Ipa(0x4000_0000), 9 * PAGE_SIZE),
    ]
}

const VCPUS: usize = 2;

/// A simulated partition: memory in page-index order and its vCPU states.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Partition {
    map: PageMap,
    memory: Vec<u8>,
    vcpus: Vec<Vec<u8>>,
}

impl Partition {
    fn new() -> Partition {
        let map = PageMap::new(&regions()).unwrap();
        let mut memory = vec![0u8; (map.page_count() * PAGE_SIZE) as usize];
        for (i, byte) in memory.iter_mut().enumerate() {
            *byte = (i * 7 + i / 4096) as u8;
        }
        Partition {
            map,
            memory,
            vcpus: vec![vec![0xAA; 600], vec![0x55; 900]],
        }
    }

    fn offset(&self, ipa: Ipa) -> usize {
        (self.map.index_of(ipa).unwrap() * PAGE_SIZE) as usize
    }

    fn page(&self, ipa: Ipa) -> &[u8; 4096] {
        let offset = self.offset(ipa);
        self.memory[offset..offset + 4096].try_into().unwrap()
    }

    fn page_mut(&mut self, ipa: Ipa) -> &mut [u8] {
        let offset = self.offset(ipa);
        &mut self.memory[offset..offset + 4096]
    }

    /// A guest write of `value` at byte `offset` of page `index`, seen by tracking.
    fn write(&mut self, tracker: &mut DirtyTracker, index: u64, offset: u16, value: u8) {
        let ipa = self.map.ipa_of(index % self.map.page_count()).unwrap();
        let offset = u64::from(offset) % PAGE_SIZE;
        self.page_mut(ipa)[offset as usize] = value;
        tracker.mark(Ipa(ipa.0 + offset));
    }
}

fn store_bytes() -> Vec<u8> {
    let memory: u64 = regions().iter().map(|r| r.1).sum();
    vec![0xEE; store_size(memory, VCPUS as u64).unwrap() as usize]
}

/// Takes a checkpoint the way the hypervisor does; returns the pages copied.
fn checkpoint(
    partition: &Partition,
    store: &mut CheckpointStore<'_>,
    tracker: &mut DirtyTracker,
    generation: u64,
) -> Result<u64, StoreError> {
    let mut writer = store.begin(Generation(generation), generation * 1000)?;
    let slot = writer.slot();
    if writer.needs_every_page() {
        tracker.invalidate(slot);
    }
    for (i, state) in partition.vcpus.iter().enumerate() {
        writer.write_vcpu_state(i, state)?;
    }
    let mut copied = 0;
    for ipa in tracker.since(slot).iter_dirty() {
        // Copy once: a page unchanged since the current checkpoint is
        // inherited from it (the hypervisor's rule, without DMA).
        if writer.can_inherit() && !tracker.since(slot.other()).is_dirty(ipa) {
            writer.inherit_page(ipa)?;
        } else {
            writer.write_page(ipa, partition.page(ipa))?;
            copied += 1;
        }
    }
    assert_eq!(writer.finish()?, Generation(generation));
    tracker.committed(slot);
    Ok(copied)
}

/// Restores the way the hypervisor does: verify what will be read, then copy.
fn restore(
    partition: &mut Partition,
    store: &CheckpointStore<'_>,
    tracker: &mut DirtyTracker,
) -> Result<u64, StoreError> {
    let info = store.current().ok_or(StoreError::NoCheckpoint)?;
    let dirty = tracker.since(info.slot);
    store.verify_pages(info.slot, store.pages_to_restore(dirty))?;
    let mut copied = 0;
    for ipa in store.pages_to_restore(dirty) {
        partition
            .page_mut(ipa)
            .copy_from_slice(store.page(info.slot, ipa).unwrap());
        copied += 1;
    }
    for (i, state) in partition.vcpus.iter_mut().enumerate() {
        *state = store.vcpu_state(info.slot, i)?.to_vec();
    }
    tracker.restored(info.slot);
    Ok(copied)
}

#[test]
fn bitmap_basics() {
    let mut bitmap = DirtyBitmap::new(&regions()).unwrap();
    assert_eq!(bitmap.page_count(), 79);
    assert!(bitmap.mark(Ipa(0x4000_0123)));
    assert!(!bitmap.mark(Ipa(0x4000_0FFF)));
    assert!(bitmap.mark(Ipa(0x8000_0000)));
    assert!(!bitmap.mark(Ipa(0x3FFF_F000)), "outside the regions");
    assert!(!bitmap.mark(Ipa(0x4000_9000)), "one past the last page");
    assert!(bitmap.is_dirty(Ipa(0x4000_0000)));
    assert!(!bitmap.is_dirty(Ipa(0x4000_1000)));
    assert_eq!(bitmap.count(), 2);
    // Page order: the first region listed comes first.
    let dirty: Vec<Ipa> = bitmap.iter_dirty().collect();
    assert_eq!(dirty, vec![Ipa(0x8000_0000), Ipa(0x4000_0000)]);
    bitmap.set_all();
    assert_eq!(bitmap.count(), 79);
    assert_eq!(bitmap.iter_dirty().count(), 79);
    assert_eq!(bitmap.iter_dirty().last(), Some(Ipa(0x4000_8000)));
    bitmap.clear();
    assert_eq!(bitmap.count(), 0);
    assert_eq!(bitmap.iter_dirty().next(), None);
}

#[test]
fn page_runs_agree_with_page_by_page_lookup() {
    let map = PageMap::new(&[(Ipa(0x8000_0000), 0x3000), (Ipa(0x4000_0000), 0x2000)]).unwrap();
    for index in 0..map.page_count() {
        let run = map.run_of(index).unwrap();
        let offset = run.offset_of(index).unwrap();
        assert_eq!(Some(Ipa(run.start.0 + offset)), map.ipa_of(index));
    }
    let second = map.run_of(3).unwrap();
    assert_eq!(
        (second.first_index, second.pages, second.bytes()),
        (3, 2, 0x2000)
    );
    assert_eq!(second.offset_of(2), None);
    assert_eq!(second.offset_of(5), None);
    assert_eq!(map.run_of(5), None);
}

#[test]
fn page_map_refuses_bad_regions() {
    let err = |regions: &[(Ipa, u64)]| PageMap::new(regions).unwrap_err();
    assert_eq!(
        err(&[(Ipa(0x1000), 0)]),
        StoreError::RegionEmpty { ipa: Ipa(0x1000) }
    );
    assert!(matches!(
        err(&[(Ipa(0x1800), 0x1000)]),
        StoreError::RegionMisaligned { .. }
    ));
    assert!(matches!(
        err(&[(Ipa(0x1000), 0x1800)]),
        StoreError::RegionMisaligned { .. }
    ));
    assert!(matches!(
        err(&[(Ipa(u64::MAX - 0xFFF), 0x2000)]),
        StoreError::RegionWraps { .. }
    ));
    assert_eq!(
        err(&[(Ipa(0x1000), 0x2000), (Ipa(0x2000), 0x1000)]),
        StoreError::RegionsOverlap {
            first: Ipa(0x1000),
            second: Ipa(0x2000)
        }
    );
    let many: Vec<(Ipa, u64)> = (0..MAX_REGIONS as u64 + 1)
        .map(|i| (Ipa(i * 0x10_0000), 0x1000))
        .collect();
    assert!(matches!(err(&many), StoreError::TooManyRegions { .. }));
}

#[test]
fn store_size_matches_the_validator_arithmetic() {
    // 256 MiB, 2 vCPUs: header + 2 vCPU areas of 16 KiB + 1 MiB of records + the pages, twice.
    let pages = (256u64 << 20) / 4096;
    let slot = 4096 + 2 * 16384 + pages * 16 + pages * 4096;
    assert_eq!(store_size(256 << 20, 2), Some(2 * slot));
    // Records round up to a whole page: 3 pages need 48 bytes -> 4 KiB.
    assert_eq!(
        store_size(3 * 4096, 1),
        Some(2 * (4096 + 16384 + 4096 + 3 * 4096))
    );
    assert_eq!(store_size(u64::MAX, 1), None);

    // The store needs exactly that much, no more.
    let mut bytes = store_bytes();
    let needed = bytes.len() as u64;
    assert!(CheckpointStore::format(&mut bytes, &regions(), VCPUS).is_ok());
    let mut short = vec![0u8; needed as usize - 1];
    assert_eq!(
        CheckpointStore::format(&mut short, &regions(), VCPUS).err(),
        Some(StoreError::TooSmall {
            needed,
            have: needed - 1
        })
    );
    assert!(matches!(
        CheckpointStore::format(&mut bytes, &regions(), MAX_VCPUS + 1).err(),
        Some(StoreError::TooManyVcpus { .. })
    ));
}

#[test]
fn store_size_equals_the_layout_validators_number() {
    for memory in [
        0,
        4096,
        5000,
        3 << 20,
        64 << 20,
        256 << 20,
        (1 << 40) + 4096,
    ] {
        for vcpus in [0usize, 1, 2, 4, MAX_VCPUS] {
            assert_eq!(
                store_size(memory, vcpus as u64),
                Some(crate::config::checkpoint_store_required(memory, vcpus)),
                "{memory:#x} bytes, {vcpus} vCPUs"
            );
        }
    }
}

#[test]
fn full_checkpoint_round_trip() {
    let mut partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    assert_eq!(store.current(), None);
    assert_eq!(store.slot_state(Slot::A), Some(SlotState::Empty));

    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 1), Ok(79));
    let info = store.current().unwrap();
    assert_eq!(
        info,
        CheckpointInfo {
            slot: Slot::A,
            generation: Generation(1),
            vcpu_count: 2,
            page_count: 79,
            taken_at: 1000,
        }
    );
    store.verify(Slot::A).unwrap();
    let saved = partition.clone();

    partition.write(&mut tracker, 3, 10, 0x11);
    partition.write(&mut tracker, 75, 4095, 0x22);
    partition.vcpus[1][0] = 0;
    assert_ne!(partition, saved);
    assert_eq!(restore(&mut partition, &store, &mut tracker), Ok(2));
    assert_eq!(partition, saved);
    assert_eq!(store.vcpu_state(Slot::A, 0).unwrap().len(), 600);
    assert_eq!(store.page(Slot::A, Ipa(0x4000_0800)), None, "misaligned");
    assert_eq!(store.page(Slot::A, Ipa(0x1000)), None, "outside memory");
}

#[test]
fn each_page_is_copied_once_per_interval_it_was_written_in() {
    let mut partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 1), Ok(79));
    partition.write(&mut tracker, 5, 0, 1);
    // Slot B has never held an image: page 5 is copied, the other 78 are
    // inherited from slot A's image.
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 2), Ok(1));
    partition.write(&mut tracker, 6, 0, 1);
    // Slot A: pages 5 and 6 changed since it was written, but only page 6
    // since the current checkpoint (page 5 is inherited from B).
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 3), Ok(1));
    partition.write(&mut tracker, 7, 0, 1);
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 4), Ok(1));
    assert_eq!(store.current().unwrap().slot, Slot::B);
    store.verify(Slot::A).unwrap();
    store.verify(Slot::B).unwrap();
}

/// The current checkpoint may name pages in the other slot's frames (it
/// inherited them); a checkpoint abandoned half-way never writes those.
#[test]
fn an_abandoned_checkpoint_spares_the_frames_the_current_one_inherited() {
    let mut partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    checkpoint(&partition, &mut store, &mut tracker, 1).unwrap();
    partition.write(&mut tracker, 5, 0, 1);
    checkpoint(&partition, &mut store, &mut tracker, 2).unwrap();
    partition.write(&mut tracker, 6, 0, 2);
    // Generation 3 in slot A: page 6 copied into the frame generation 2
    // does not use for it, page 5 inherited from generation 2 (its record
    // names slot B's frame).
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 3), Ok(1));
    let saved = partition.clone();
    store.verify(Slot::A).unwrap();
    // Generation 4 into slot B rewrites pages 5 and 6, then is abandoned.
    partition.write(&mut tracker, 5, 1, 3);
    partition.write(&mut tracker, 6, 1, 4);
    {
        let mut writer = store.begin(Generation(4), 0).unwrap();
        for index in [5, 6] {
            let ipa = partition.map.ipa_of(index).unwrap();
            writer.write_page(ipa, partition.page(ipa)).unwrap();
        }
    }
    assert_eq!(store.current().unwrap().generation, Generation(3));
    store.verify(Slot::A).unwrap();
    assert_eq!(restore(&mut partition, &store, &mut tracker), Ok(2));
    assert_eq!(partition, saved);
}

#[test]
fn generations_increase() {
    let partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    checkpoint(&partition, &mut store, &mut tracker, 5).unwrap();
    assert_eq!(
        store.begin(Generation(5), 0).err(),
        Some(StoreError::GenerationNotNewer {
            requested: 5,
            current: 5
        })
    );
    assert!(store.begin(Generation(4), 0).is_err());
    checkpoint(&partition, &mut store, &mut tracker, 9).unwrap();
    assert_eq!(store.current().unwrap().generation, Generation(9));
    assert_eq!(store.info(Slot::A).unwrap().generation, Generation(5));
    checkpoint(&partition, &mut store, &mut tracker, 10).unwrap();
    assert_eq!(store.current().unwrap().slot, Slot::A);
}

#[test]
fn abandoned_checkpoint_leaves_the_previous_one_current() {
    let mut partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    checkpoint(&partition, &mut store, &mut tracker, 1).unwrap();
    checkpoint(&partition, &mut store, &mut tracker, 2).unwrap();
    let saved = partition.clone();
    partition.write(&mut tracker, 1, 1, 9);

    // Generation 3 goes to slot A; stop half-way.
    {
        let mut writer = store.begin(Generation(3), 0).unwrap();
        assert_eq!(writer.slot(), Slot::A);
        assert!(!writer.needs_every_page());
        writer.write_vcpu_state(0, &[1, 2, 3]).unwrap();
        writer
            .write_page(Ipa(0x8000_1000), partition.page(Ipa(0x8000_1000)))
            .unwrap();
    }
    assert_eq!(store.slot_state(Slot::A), Some(SlotState::Writing));
    assert_eq!(store.current().unwrap().generation, Generation(2));
    store.verify(Slot::B).unwrap();
    assert_eq!(
        store.verify(Slot::A),
        Err(StoreError::SlotNotComplete { slot: Slot::A })
    );

    // The abandoned slot is no base: finishing it without every page fails.
    {
        let mut writer = store.begin(Generation(3), 0).unwrap();
        assert!(writer.needs_every_page());
        writer.write_vcpu_state(0, &[1]).unwrap();
        assert_eq!(
            writer.finish(),
            Err(StoreError::MissingVcpuState {
                slot: Slot::A,
                index: 1
            })
        );
    }
    {
        let mut writer = store.begin(Generation(3), 0).unwrap();
        writer.write_vcpu_state(0, &[1]).unwrap();
        writer.write_vcpu_state(1, &[1]).unwrap();
        assert_eq!(
            writer.finish(),
            Err(StoreError::MissingPages {
                slot: Slot::A,
                written: 0,
                needed: 79
            })
        );
    }
    assert_eq!(store.current().unwrap().generation, Generation(2));
    restore(&mut partition, &store, &mut tracker).unwrap();
    assert_eq!(partition, saved);

    // The normal path recovers: every record of the abandoned slot is
    // rewritten, all inherited from the restored checkpoint (memory equals
    // it, so nothing is copied).
    assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 3), Ok(0));
    store.verify(Slot::A).unwrap();
}

#[test]
fn corrupted_page_is_detected_with_its_ipa() {
    let mut partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    checkpoint(&partition, &mut store, &mut tracker, 1).unwrap();
    let victim = Ipa(0x4000_3000);
    store.corrupt_page_for_test(Slot::A, victim).unwrap();
    let expected = StoreError::PageCorrupt {
        slot: Slot::A,
        ipa: victim,
    };
    assert_eq!(store.verify(Slot::A), Err(expected));
    assert!(format!("{expected}").contains("0x40003000"));

    // Restore refuses before copying anything when it would read the page...
    partition.write(&mut tracker, 73, 0, 0x77); // page index 73 = 0x4000_3000
    let before = partition.clone();
    assert_eq!(restore(&mut partition, &store, &mut tracker), Err(expected));
    assert_eq!(partition, before, "nothing half-restored");
    // ...and the corruption does not matter to a restore that does not.
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    tracker.committed(Slot::A);
    partition.write(&mut tracker, 0, 0, 0x77);
    assert_eq!(restore(&mut partition, &store, &mut tracker), Ok(1));
}

#[test]
fn corrupted_header_record_and_vcpu_state_are_detected() {
    let partition = Partition::new();
    let regions = regions();
    let mut tracker = DirtyTracker::new(&regions).unwrap();
    let mut bytes = store_bytes();
    {
        let mut store = CheckpointStore::format(&mut bytes, &regions, VCPUS).unwrap();
        checkpoint(&partition, &mut store, &mut tracker, 1).unwrap();
    }
    let check = |bytes: &mut Vec<u8>, offset: usize, expected: StoreError| {
        let mut copy = bytes.clone();
        copy[offset] ^= 0x10;
        let store = CheckpointStore::open(&mut copy, &regions, VCPUS).unwrap();
        assert_eq!(store.verify(Slot::A), Err(expected));
    };
    // Generation (covered by the header checksum).
    check(&mut bytes, 16, StoreError::HeaderCorrupt { slot: Slot::A });
    // The last vCPU's state checksum, the last byte the header checksum covers.
    check(
        &mut bytes,
        512 + VCPUS * 16 - 1,
        StoreError::HeaderCorrupt { slot: Slot::A },
    );
    // Past the vCPU table nothing is read, and nothing is checked.
    let mut copy = bytes.clone();
    copy[512 + VCPUS * 16] ^= 0x10;
    copy[4095] ^= 0x10;
    let store = CheckpointStore::open(&mut copy, &regions, VCPUS).unwrap();
    assert_eq!(store.verify(Slot::A), Ok(()));
    // vCPU 1's state.
    check(
        &mut bytes,
        4096 + 16384 + 5,
        StoreError::VcpuStateCorrupt {
            slot: Slot::A,
            index: 1,
        },
    );
    // Record of page 2 (0x8000_2000): its IPA field.
    check(
        &mut bytes,
        4096 + 16384 * 2 + 2 * 16 + 1,
        StoreError::RecordCorrupt {
            slot: Slot::A,
            ipa: Ipa(0x8000_2000),
        },
    );
    // A state word that is no state: the slot stops being current.
    let mut copy = bytes.clone();
    copy[12] = 7;
    let store = CheckpointStore::open(&mut copy, &regions, VCPUS).unwrap();
    assert_eq!(store.current(), None);
    assert_eq!(store.slot_state(Slot::A), None);
}

#[test]
fn open_keeps_checkpoints_of_the_same_partition_only() {
    let partition = Partition::new();
    let mut tracker = DirtyTracker::new(&regions()).unwrap();
    let mut bytes = store_bytes();
    {
        let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
        checkpoint(&partition, &mut store, &mut tracker, 1).unwrap();
    }
    {
        let store = CheckpointStore::open(&mut bytes, &regions(), VCPUS).unwrap();
        assert_eq!(store.current().unwrap().generation, Generation(1));
        store.verify(Slot::A).unwrap();
    }
    let fewer = [(Ipa(0x8000_0000), 70 * PAGE_SIZE)];
    let store = CheckpointStore::open(&mut bytes, &fewer, VCPUS).unwrap();
    assert_eq!(store.current(), None);
}

#[test]
fn writer_refuses_bad_arguments() {
    let mut bytes = store_bytes();
    let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
    let mut writer = store.begin(Generation(1), 0).unwrap();
    let page = [0u8; 4096];
    assert_eq!(
        writer.write_page(Ipa(0x8000_0010), &page),
        Err(StoreError::PageMisaligned {
            ipa: Ipa(0x8000_0010)
        })
    );
    assert_eq!(
        writer.write_page(Ipa(0x9000_0000), &page),
        Err(StoreError::NotInMemory {
            ipa: Ipa(0x9000_0000)
        })
    );
    assert!(matches!(
        writer.write_vcpu_state(2, &[0]),
        Err(StoreError::VcpuOutOfRange { index: 2, count: 2 })
    ));
    assert!(matches!(
        writer.write_vcpu_state(0, &[0; VCPU_STATE_MAX + 1]),
        Err(StoreError::VcpuStateTooLarge { .. })
    ));
    writer.write_vcpu_state(0, &[0; VCPU_STATE_MAX]).unwrap();
}

#[test]
fn checksum_sees_single_word_changes_and_swaps() {
    let mut page = [0u8; 4096];
    let base = checksum(&page);
    assert_ne!(base, 0);
    page[4000] = 1;
    assert_ne!(checksum(&page), base);
    let mut swapped = [0u8; 4096];
    swapped[0] = 1;
    assert_ne!(checksum(&swapped), checksum(&page));
    assert_ne!(checksum(&[0u8; 8]), checksum(&[0u8; 16]));
}

/// One step of the incremental test: guest writes, maybe an abandoned
/// checkpoint, then a checkpoint, maybe followed by writes and a rollback.
#[derive(Debug, Clone)]
struct Step {
    writes: Vec<(u64, u16, u8)>,
    abandon: Option<usize>,
    rollback: Option<Vec<(u64, u16, u8)>>,
}

fn step() -> impl Strategy<Value = Step> {
    let writes = || proptest::collection::vec((0u64..79, any::<u16>(), any::<u8>()), 0..12);
    (
        writes(),
        proptest::option::weighted(0.1, 0usize..79),
        proptest::option::weighted(0.1, writes()),
    )
        .prop_map(|(writes, abandon, rollback)| Step {
            writes,
            abandon,
            rollback,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A full checkpoint, then 100 incremental ones interleaved with random
    /// writes (and the odd abandoned checkpoint or rollback): restoring the
    /// last one gives exactly the memory and vCPU state of that moment.
    #[test]
    fn incremental_checkpoints_restore_exactly(
        steps in proptest::collection::vec(step(), 100),
        tail in proptest::collection::vec((0u64..79, any::<u16>(), any::<u8>()), 0..40),
    ) {
        let mut partition = Partition::new();
        let mut tracker = DirtyTracker::new(&regions()).unwrap();
        let mut bytes = store_bytes();
        let mut store = CheckpointStore::format(&mut bytes, &regions(), VCPUS).unwrap();
        prop_assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 1), Ok(79));
        let mut generation = 1;
        for (n, step) in steps.iter().enumerate() {
            for &(page, offset, value) in &step.writes {
                partition.write(&mut tracker, page, offset, value);
            }
            partition.vcpus[n % VCPUS] = vec![n as u8; 100 + n];
            if let Some(pages) = step.abandon {
                {
                    let mut writer = store.begin(Generation(generation + 1), 0).unwrap();
                    for ipa in tracker.since(writer.slot()).iter_dirty().take(pages) {
                        writer.write_page(ipa, partition.page(ipa)).unwrap();
                    }
                }
                // Abandoned half-way: the current checkpoint is whole,
                // frames it inherited from the other slot included.
                let current = store.current().unwrap().slot;
                prop_assert_eq!(store.verify(current), Ok(()));
            }
            generation += 1;
            checkpoint(&partition, &mut store, &mut tracker, generation).unwrap();
            if let Some(writes) = &step.rollback {
                let saved = partition.clone();
                for &(page, offset, value) in writes {
                    partition.write(&mut tracker, page, offset, value);
                }
                prop_assert_eq!(restore(&mut partition, &store, &mut tracker), Ok(writes.iter().map(|w| w.0).collect::<BTreeSet<_>>().len() as u64));
                prop_assert_eq!(&partition, &saved);
            }
        }
        let full_copy = partition.clone();
        for &(page, offset, value) in &tail {
            partition.write(&mut tracker, page, offset, value);
        }
        partition.vcpus[0].push(1);
        let current = store.current().unwrap();
        prop_assert_eq!(current.generation, Generation(generation));
        store.verify(current.slot).unwrap();
        restore(&mut partition, &store, &mut tracker).unwrap();
        for index in 0..79 {
            let ipa = full_copy.map.ipa_of(index).unwrap();
            prop_assert_eq!(partition.page(ipa), full_copy.page(ipa), "page {:?}", ipa);
        }
        prop_assert_eq!(&partition.vcpus, &full_copy.vcpus);
    }

    /// The bitmap agrees with a set of page indices.
    #[test]
    fn bitmap_matches_a_set(marks in proptest::collection::vec(0u64..90, 0..200)) {
        let map = PageMap::new(&regions()).unwrap();
        let mut bitmap = DirtyBitmap::over(map.clone());
        let mut model = BTreeSet::new();
        for index in marks {
            let Some(ipa) = map.ipa_of(index) else {
                prop_assert_eq!(index >= 79, true);
                continue;
            };
            prop_assert_eq!(bitmap.mark(ipa), model.insert(index));
        }
        prop_assert_eq!(bitmap.count(), model.len() as u64);
        let listed: Vec<u64> = bitmap.iter_dirty().map(|ipa| map.index_of(ipa).unwrap()).collect();
        prop_assert_eq!(listed, model.into_iter().collect::<Vec<_>>());
    }

    /// A store full of garbage gives answers or errors, never a panic.
    #[test]
    fn garbage_store_never_panics(seed in any::<u64>(), flips in proptest::collection::vec(any::<(usize, u8)>(), 0..64)) {
        let mut bytes = store_bytes();
        let mut state = seed;
        for byte in bytes.iter_mut() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *byte = (state >> 56) as u8;
        }
        // Plausible headers too, so the checks past the magic run.
        for slot_base in [0usize, bytes.len() / 2] {
            bytes[slot_base..slot_base + 8].copy_from_slice(b"BHCKPT\0\x01");
            bytes[slot_base + 8..slot_base + 16].copy_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
            bytes[slot_base + 32..slot_base + 36].copy_from_slice(&[2, 0, 0, 0]);
            bytes[slot_base + 40..slot_base + 48].copy_from_slice(&79u64.to_le_bytes());
        }
        let length = bytes.len();
        for (at, value) in flips {
            bytes[at % length] = value;
        }
        let store = CheckpointStore::open(&mut bytes, &regions(), VCPUS).unwrap();
        let _ = store.current();
        for slot in Slot::ALL {
            let _ = store.verify(slot);
            let _ = store.verify_pages(slot, [Ipa(0x8000_0000)]);
            let _ = store.vcpu_state(slot, 1);
            let _ = store.page(slot, Ipa(0x4000_0000));
        }
    }
}

/// Records and header words are read and written as aligned words where
/// they can be (the target forbids unaligned loads); a store placed at an
/// odd address takes the byte path and must hold exactly the same bytes.
#[test]
fn a_misaligned_store_holds_the_same_bytes_as_an_aligned_one() {
    let size = store_bytes().len();
    let mut aligned = store_bytes();
    let mut shifted = vec![0xEE; size + 1];
    let mut images = Vec::new();
    for bytes in [&mut aligned[..], &mut shifted[1..]] {
        let mut partition = Partition::new();
        let mut tracker = DirtyTracker::new(&regions()).unwrap();
        let mut store = CheckpointStore::format(bytes, &regions(), VCPUS).unwrap();
        assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 1), Ok(79));
        partition.write(&mut tracker, 5, 7, 0x5A);
        assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 2), Ok(1));
        partition.write(&mut tracker, 6, 9, 0xA5);
        assert_eq!(checkpoint(&partition, &mut store, &mut tracker, 3), Ok(1));
        store.verify(Slot::A).unwrap();
        store.verify(Slot::B).unwrap();
        let saved = partition.clone();
        partition.write(&mut tracker, 6, 9, 0);
        assert_eq!(restore(&mut partition, &store, &mut tracker), Ok(1));
        assert_eq!(partition, saved);
        images.push(bytes.to_vec());
    }
    assert!(
        images[0] == images[1],
        "the byte path wrote a different store"
    );
}

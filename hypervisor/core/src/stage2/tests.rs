//! Host tests for the stage-2 builder: block choice, translation, protection.

use proptest::prelude::*;

use super::*;
use crate::address::{Ipa, PhysAddr, PAGE_SIZE};

const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;

fn normal_rw(stage2: &mut Stage2, ipa: u64, pa: u64, size: u64) -> Result<(), MapError> {
    stage2.map(
        Ipa(ipa),
        PhysAddr(pa),
        size,
        MemoryKind::Normal,
        Access::ReadWrite,
    )
}

#[test]
fn vtcr_matches_hand_computed_value() {
    // T0SZ 25 (0x19) | SL0 1 (0x40) | IRGN0 1 (0x100) | ORGN0 1 (0x400)
    // | SH0 3 (0x3000) | TG0 0 | PS 0b101 (0x5_0000) | RES1 bit 31.
    assert_eq!(vtcr_el2(0b101), 0x8005_3559);
    // 44-bit PA range (cortex-a72): PS = 0b100.
    assert_eq!(vtcr_el2(0b100), 0x8004_3559);
    // 52 bits is capped to 48.
    assert_eq!(vtcr_el2(0b110), 0x8005_3559);
}

#[test]
fn root_is_page_aligned_and_counted() {
    let stage2 = Stage2::new();
    assert_eq!(stage2.root_address() % PAGE_SIZE, 0);
    assert_eq!(stage2.table_count(), 1);
    assert_eq!(stage2.translate(Ipa(0)), None);
}

#[test]
fn two_gib_at_odd_alignment_uses_largest_blocks() {
    let mut stage2 = Stage2::new();
    // IPA and PA both start 4 KiB past a 2 MiB boundary, 1 GiB boundary
    // reached after 1 GiB - 2 MiB + ... : pages, then 2 MiB blocks, then a
    // 1 GiB block, then 2 MiB blocks and pages again.
    let ipa = GIB - MIB2 - 3 * PAGE_SIZE;
    let pa = 0x4000_0000 + GIB - MIB2 - 3 * PAGE_SIZE;
    let size = 2 * GIB;
    normal_rw(&mut stage2, ipa, pa, size).unwrap();

    let at = |offset: u64| stage2.translate(Ipa(ipa + offset)).unwrap();
    assert_eq!(at(0).block_size, PAGE_SIZE);
    assert_eq!(at(3 * PAGE_SIZE).block_size, MIB2);
    assert_eq!(at(3 * PAGE_SIZE + MIB2).block_size, GIB);
    assert_eq!(at(3 * PAGE_SIZE + MIB2 + GIB).block_size, MIB2);
    assert_eq!(at(size - PAGE_SIZE).block_size, PAGE_SIZE);
    for offset in (0..size).step_by(0x1_2345 * 8) {
        let translation = at(offset);
        assert_eq!(translation.pa, PhysAddr(pa + offset));
        assert_eq!(translation.kind, MemoryKind::Normal);
        assert_eq!(translation.access, Access::ReadWrite);
    }
    assert_eq!(stage2.translate(Ipa(ipa - 1)), None);
    assert_eq!(stage2.translate(Ipa(ipa + size)), None);
}

#[test]
fn ipa_and_pa_disagreeing_on_alignment_falls_back_to_pages() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, PAGE_SIZE, 4 * MIB2).unwrap();
    assert_eq!(stage2.translate(Ipa(MIB2)).unwrap().block_size, PAGE_SIZE);
    assert_eq!(
        stage2.translate(Ipa(MIB2)).unwrap().pa,
        PhysAddr(MIB2 + PAGE_SIZE)
    );
}

#[test]
fn descriptors_encode_the_architected_bits() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, 0x4000_0000, GIB).unwrap();
    stage2
        .map(
            Ipa(GIB),
            PhysAddr(0x0900_0000),
            PAGE_SIZE,
            MemoryKind::Device,
            Access::ReadWrite,
        )
        .unwrap();
    let entry = |table: u64, index: usize| stage2.raw_entry(table, index).unwrap();
    let root = stage2.root_address();
    // Level-1 block: valid, block, MemAttr 0b1111, S2AP 0b11, SH 0b11, AF.
    assert_eq!(
        entry(root, 0),
        0x4000_0000 | 0b01 | 0b1111 << 2 | 0b11 << 6 | 0b11 << 8 | 1 << 10
    );
    // Level-1 and level-2 table descriptors lead to the device page.
    let level1 = entry(root, 1);
    assert_eq!(level1 & 0b11, 0b11);
    let level2 = entry(level1 & 0xFFFF_FFFF_F000, 0);
    assert_eq!(level2 & 0b11, 0b11);
    // Level-3 page: bits[1:0] 0b11, Device-nGnRE, S2AP RW, SH 0, AF, XN 0b10.
    assert_eq!(
        entry(level2 & 0xFFFF_FFFF_F000, 0),
        0x0900_0000 | 0b11 | 0b0001 << 2 | 0b11 << 6 | 1 << 10 | 0b10 << 53
    );
    let device = stage2.translate(Ipa(GIB + 0x18)).unwrap();
    assert_eq!(device.pa, PhysAddr(0x0900_0018));
    assert_eq!(device.kind, MemoryKind::Device);
    assert_eq!(device.block_size, PAGE_SIZE);
}

#[test]
fn overlapping_map_is_refused_without_side_effects() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0x20_0000, 0x4000_0000, MIB2).unwrap();
    let tables = stage2.table_count();
    let overlap = normal_rw(&mut stage2, 0x10_0000, 0x8000_0000, MIB2);
    assert_eq!(
        overlap,
        Err(MapError::AlreadyMapped {
            ipa: Ipa(0x20_0000)
        })
    );
    assert_eq!(stage2.translate(Ipa(0x10_0000)), None);
    assert_eq!(stage2.table_count(), tables);
    // A block over an existing page is refused as well.
    normal_rw(&mut stage2, 5 * GIB + 0x3000, 0x4000_0000, PAGE_SIZE).unwrap();
    let over_page = normal_rw(&mut stage2, 5 * GIB, 0x4000_0000, GIB);
    assert_eq!(
        over_page,
        Err(MapError::AlreadyMapped {
            ipa: Ipa(5 * GIB + 0x3000)
        })
    );
    // Adjacent is fine.
    normal_rw(&mut stage2, 0x40_0000, 0x8000_0000, PAGE_SIZE).unwrap();
}

#[test]
fn bad_arguments_are_refused() {
    let mut stage2 = Stage2::new();
    assert!(matches!(
        normal_rw(&mut stage2, 0x800, 0, PAGE_SIZE),
        Err(MapError::Misaligned { .. })
    ));
    assert!(matches!(
        normal_rw(&mut stage2, 0, 0x800, PAGE_SIZE),
        Err(MapError::Misaligned { .. })
    ));
    assert!(matches!(
        normal_rw(&mut stage2, 0, 0, 0x800),
        Err(MapError::Misaligned { .. })
    ));
    assert!(matches!(
        normal_rw(&mut stage2, 0, 0, 0),
        Err(MapError::Empty { .. })
    ));
    assert!(matches!(
        normal_rw(&mut stage2, (1 << 39) - PAGE_SIZE, 0, 2 * PAGE_SIZE),
        Err(MapError::IpaOutOfRange { .. })
    ));
    assert!(matches!(
        normal_rw(&mut stage2, 0, u64::MAX - 0xFFF, PAGE_SIZE),
        Err(MapError::PaOutOfRange { .. })
    ));
    normal_rw(
        &mut stage2,
        (1 << 39) - PAGE_SIZE,
        (1 << 48) - PAGE_SIZE,
        PAGE_SIZE,
    )
    .unwrap();
    assert_eq!(stage2.translate(Ipa(1 << 39)), None);
    assert_eq!(stage2.table_count(), 3);
}

#[test]
fn write_protect_splits_a_gib_block_keeping_the_mapping() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, GIB, 0x4000_0000, GIB).unwrap();
    stage2
        .map(
            Ipa(0),
            PhysAddr(0x0900_0000),
            PAGE_SIZE,
            MemoryKind::Device,
            Access::ReadWrite,
        )
        .unwrap();
    stage2.write_protect(Ipa(GIB), GIB).unwrap();
    // Root + L2/L3 for the device page + one L2 and 512 L3 for the split block.
    assert_eq!(stage2.table_count(), 3 + 1 + 512);
    for offset in (0..GIB).step_by(0x3_1000) {
        let translation = stage2.translate(Ipa(GIB + offset)).unwrap();
        assert_eq!(translation.pa, PhysAddr(0x4000_0000 + offset));
        assert_eq!(translation.block_size, PAGE_SIZE);
        assert_eq!(translation.kind, MemoryKind::Normal);
        assert_eq!(translation.access, Access::ReadOnly);
    }
    // Untouched mapping stays writable.
    assert_eq!(stage2.translate(Ipa(0)).unwrap().access, Access::ReadWrite);
    // Protecting an unmapped range is refused.
    assert_eq!(
        stage2.write_protect(Ipa(GIB - PAGE_SIZE), 2 * PAGE_SIZE),
        Err(MapError::NotMapped {
            ipa: Ipa(GIB - PAGE_SIZE)
        })
    );
}

#[test]
fn write_protect_part_of_a_block() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, 0x4000_0000, 2 * MIB2).unwrap();
    stage2
        .write_protect(Ipa(MIB2 - PAGE_SIZE), 2 * PAGE_SIZE)
        .unwrap();
    let access = |ipa: u64| stage2.translate(Ipa(ipa)).unwrap().access;
    assert_eq!(access(MIB2 - 2 * PAGE_SIZE), Access::ReadWrite);
    assert_eq!(access(MIB2 - PAGE_SIZE), Access::ReadOnly);
    assert_eq!(access(MIB2), Access::ReadOnly);
    assert_eq!(access(MIB2 + PAGE_SIZE), Access::ReadWrite);
    assert_eq!(
        stage2.translate(Ipa(MIB2 + PAGE_SIZE)).unwrap().pa,
        PhysAddr(0x4020_1000)
    );
}

#[test]
fn make_writable_page_affects_one_page() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, 0x4000_0000, GIB).unwrap();
    stage2.write_protect(Ipa(0), GIB).unwrap();
    let tables = stage2.table_count();
    let target = 0x1234_5000;
    stage2.make_writable_page(Ipa(target)).unwrap();
    assert_eq!(stage2.table_count(), tables);
    for ipa in [target - PAGE_SIZE, target + PAGE_SIZE, 0, GIB - PAGE_SIZE] {
        assert_eq!(stage2.translate(Ipa(ipa)).unwrap().access, Access::ReadOnly);
    }
    let page = stage2.translate(Ipa(target + 8)).unwrap();
    assert_eq!(page.access, Access::ReadWrite);
    assert_eq!(page.pa, PhysAddr(0x4000_0000 + target + 8));
    assert_eq!(page.kind, MemoryKind::Normal);
    assert_eq!(
        stage2.make_writable_page(Ipa(GIB)),
        Err(MapError::NotMapped { ipa: Ipa(GIB) })
    );
}

#[test]
fn make_writable_page_splits_a_read_only_block() {
    let mut stage2 = Stage2::new();
    stage2
        .map(
            Ipa(0),
            PhysAddr(0x4000_0000),
            MIB2,
            MemoryKind::Normal,
            Access::ReadOnly,
        )
        .unwrap();
    stage2.make_writable_page(Ipa(0x5000)).unwrap();
    assert_eq!(
        stage2.translate(Ipa(0x5000)).unwrap().access,
        Access::ReadWrite
    );
    assert_eq!(
        stage2.translate(Ipa(0x6000)).unwrap().access,
        Access::ReadOnly
    );
    assert_eq!(
        stage2.translate(Ipa(0x4000)).unwrap().access,
        Access::ReadOnly
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random page-aligned ranges: every sampled address inside translates to
    /// the right PA, addresses just outside do not translate.
    #[test]
    fn random_ranges_translate(
        ipa_page in 0u64..(1 << 20),
        pa_shift in 0u64..(1 << 20),
        pages in 1u64..(1 << 19),
        samples in proptest::collection::vec(0u64..(1 << 40), 32),
    ) {
        let ipa = ipa_page * PAGE_SIZE * 7;
        // Bias PA towards sharing IPA's alignment so blocks are exercised.
        let pa = if pa_shift % 2 == 0 { ipa + GIB } else { (pa_shift + ipa_page) * PAGE_SIZE };
        let size = pages * PAGE_SIZE;
        let mut stage2 = Stage2::new();
        normal_rw(&mut stage2, ipa, pa, size).unwrap();
        for sample in samples {
            let offset = sample % size;
            let translation = stage2.translate(Ipa(ipa + offset)).unwrap();
            prop_assert_eq!(translation.pa, PhysAddr(pa + offset));
            prop_assert!(translation.block_size >= PAGE_SIZE);
            let outside = ipa + size + sample % GIB;
            prop_assert_eq!(stage2.translate(Ipa(outside)), None);
            if ipa > 0 {
                prop_assert_eq!(stage2.translate(Ipa(sample % ipa)), None);
            }
        }
        // Mapping the same range again is refused and changes nothing.
        let again = normal_rw(&mut stage2, ipa, pa, size);
        prop_assert_eq!(again, Err(MapError::AlreadyMapped { ipa: Ipa(ipa) }));
    }
}

#[test]
fn split_to_pages_keeps_mappings_and_makes_tracking_allocation_free() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, GIB, 0x5000_0000, GIB + 4 * MIB2).unwrap();
    let before: Vec<_> = (0..(GIB + 4 * MIB2) / PAGE_SIZE)
        .step_by(97)
        .map(|page| stage2.translate(Ipa(GIB + page * PAGE_SIZE)).unwrap().pa)
        .collect();
    stage2.split_to_pages(Ipa(GIB), GIB + 4 * MIB2).unwrap();
    // 1 GiB block -> 1 L2 table + 512 L3 tables; 2 MiB blocks in the
    // existing second L2 table -> 4 more L3 tables.
    let tables = stage2.table_count();
    let after: Vec<_> = (0..(GIB + 4 * MIB2) / PAGE_SIZE)
        .step_by(97)
        .map(|page| {
            let translation = stage2.translate(Ipa(GIB + page * PAGE_SIZE)).unwrap();
            assert_eq!(translation.block_size, PAGE_SIZE);
            assert_eq!(translation.access, Access::ReadWrite);
            translation.pa
        })
        .collect();
    assert_eq!(before, after);
    stage2.write_protect(Ipa(GIB), GIB + 4 * MIB2).unwrap();
    stage2.make_writable_page(Ipa(GIB + 5 * PAGE_SIZE)).unwrap();
    assert_eq!(stage2.table_count(), tables, "tracking allocated a table");
    assert!(matches!(
        stage2.split_to_pages(Ipa(4 * GIB), PAGE_SIZE),
        Err(MapError::NotMapped { .. })
    ));
}

#[test]
fn page_access_changes_report_what_was_there() {
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, 0x4000_0000, 4 * MIB2).unwrap();
    let tables = stage2.table_count();
    // Writable already (a whole block): nothing split, nothing allocated.
    assert_eq!(stage2.make_writable_page(Ipa(0x3000)), Ok(true));
    assert_eq!(stage2.table_count(), tables);
    // Protecting one page splits its block; the others keep their access.
    assert_eq!(stage2.write_protect_page(Ipa(0x3000)), Ok(false));
    assert_eq!(stage2.table_count(), tables + 1);
    assert_eq!(
        stage2.translate(Ipa(0x3000)).unwrap().access,
        Access::ReadOnly
    );
    assert_eq!(
        stage2.translate(Ipa(0x4000)).unwrap().access,
        Access::ReadWrite
    );
    assert_eq!(stage2.write_protect_page(Ipa(0x3000)), Ok(true));
    assert_eq!(stage2.make_writable_page(Ipa(0x3000)), Ok(false));
    assert_eq!(stage2.make_writable_page(Ipa(0x3000)), Ok(true));
    let page = stage2.translate(Ipa(0x3008)).unwrap();
    assert_eq!(
        (page.access, page.pa),
        (Access::ReadWrite, PhysAddr(0x4000_3008))
    );
    for outside in [Ipa(4 * MIB2), Ipa(GIB)] {
        assert_eq!(
            stage2.write_protect_page(outside),
            Err(MapError::NotMapped { ipa: outside })
        );
    }
    assert!(
        stage2.make_writable_page(Ipa(0x3001)).is_err(),
        "misaligned"
    );
}

#[test]
fn remembered_last_level_tables_follow_every_region() {
    // 130 regions of 2 MiB: more than the 64 the walk remembers, so regions
    // 0, 64 and 128 share an entry; each is split only when first
    // protected, after others were remembered.
    let mut stage2 = Stage2::new();
    normal_rw(&mut stage2, 0, 0x4000_0000, 130 * MIB2).unwrap();
    let pages = [
        0x3000,
        64 * MIB2 + 0x5000,
        128 * MIB2 + 0x7000,
        MIB2 + 0x1000,
    ];
    for _ in 0..3 {
        for &page in &pages {
            assert_eq!(stage2.write_protect_page(Ipa(page)), Ok(false));
            assert_eq!(stage2.make_writable_page(Ipa(page)), Ok(false));
            stage2.write_protect_page(Ipa(page)).unwrap();
        }
        for &page in &pages {
            let translation = stage2.translate(Ipa(page)).unwrap();
            assert_eq!(
                (translation.access, translation.pa),
                (Access::ReadOnly, PhysAddr(0x4000_0000 + page))
            );
            assert_eq!(stage2.make_writable_page(Ipa(page)), Ok(false));
            assert_eq!(
                stage2.translate(Ipa(page)).unwrap().access,
                Access::ReadWrite
            );
            // Its neighbour keeps its own access.
            assert_eq!(
                stage2.translate(Ipa(page + PAGE_SIZE)).unwrap().access,
                Access::ReadWrite
            );
        }
    }
}

#[test]
fn batched_protection_matches_page_by_page() {
    let mut batched = Stage2::new();
    let mut single = Stage2::new();
    for stage2 in [&mut batched, &mut single] {
        normal_rw(stage2, 0, 0x4000_0000, 4 * MIB2).unwrap();
    }
    // A run across the first 2 MiB boundary (the cached table changes), a
    // page back in the first region, and one in a block still whole.
    let pages: Vec<Ipa> = (0x1f_d000..0x20_3000)
        .step_by(PAGE_SIZE as usize)
        .chain([0x5000, 3 * MIB2 + 0x7000])
        .map(Ipa)
        .collect();
    batched.write_protect_pages(pages.iter().copied()).unwrap();
    for &page in &pages {
        single.write_protect_page(page).unwrap();
    }
    assert_eq!(batched.table_count(), single.table_count());
    for ipa in (0..4 * MIB2).step_by(PAGE_SIZE as usize).map(Ipa) {
        let (expected, got) = (single.translate(ipa), batched.translate(ipa));
        assert_eq!(
            got.map(|page| page.access),
            expected.map(|page| page.access),
            "{ipa:?}"
        );
        assert_eq!(
            got.unwrap().access == Access::ReadOnly,
            pages.contains(&ipa),
            "{ipa:?}"
        );
    }
    // Refused as the single form refuses: unaligned, and outside the map.
    assert!(batched.write_protect_pages([Ipa(0x3001)]).is_err());
    assert_eq!(
        batched.write_protect_pages([Ipa(GIB)]),
        Err(MapError::NotMapped { ipa: Ipa(GIB) })
    );
}

//! Deterministic workloads shared by the bare-metal test guests and the host checks.
//!
//! A guest fills memory with [`pattern`] words and sums them with [`checksum`];
//! the host recomputes the same figure with [`expected_checksum`] without
//! touching memory, so a scenario can assert the exact value a guest printed.
//! The checksum of a range is the wrapping sum of per-word terms that depend on
//! the word's global index, so the checksums of disjoint parts add up
//! ([`combine`]) to the checksum of the whole, whichever vCPU computed them.
#![no_std]
#![forbid(unsafe_code)]

use core::ops::Range;

pub mod dma;

/// Seed of every pattern; changing it changes every expected checksum.
pub const SEED: u64 = 0x6275_6c6b_6865_6164;

/// Bytes of one pattern word.
pub const WORD_BYTES: u64 = 8;

/// Offset of the work area from the start of a partition's first memory region:
/// leaves the guest image, its stacks and page tables alone.
pub const WORK_AREA_OFFSET: u64 = 16 << 20;

/// Bytes at the end of the first memory region where the hypervisor puts the
/// guest's device tree; guests must not write there.
pub const DT_RESERVE: u64 = 2 << 20;

/// Words the isolation victim pre-fills and keeps checksumming (1 MiB).
pub const VICTIM_WORDS: u64 = (1 << 20) / WORD_BYTES;

/// The splitmix64 finaliser: a cheap bijective mixer with good avalanche.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The word stored at global word index `index`.
pub const fn pattern(index: u64) -> u64 {
    mix64(SEED ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// One word's contribution to a checksum: position-dependent, so swapped or
/// misplaced words change the sum.
const fn term(index: u64, word: u64) -> u64 {
    (word ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93)).rotate_left((index & 63) as u32)
}

/// Fills `words` with the pattern for global indices `first_index..`.
pub fn fill(words: &mut [u64], first_index: u64) {
    let mut index = first_index;
    for word in words.iter_mut() {
        *word = pattern(index);
        index = index.wrapping_add(1);
    }
}

/// Checksum of `words`, the first of which has global index `first_index`.
pub fn checksum(words: &[u64], first_index: u64) -> u64 {
    let mut sum = 0u64;
    let mut index = first_index;
    for &word in words {
        sum = sum.wrapping_add(term(index, word));
        index = index.wrapping_add(1);
    }
    sum
}

/// The checksum [`checksum`] returns over memory [`fill`]ed for `indices`.
pub fn expected_checksum(indices: Range<u64>) -> u64 {
    indices.fold(0u64, |sum, index| {
        sum.wrapping_add(term(index, pattern(index)))
    })
}

/// Checksum of the union of two disjoint parts.
pub const fn combine(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Byte offsets (from the region start) of the work area of a first memory
/// region of `region_bytes`, or `None` if the region is too small to hold one.
pub fn work_area(region_bytes: u64) -> Option<Range<u64>> {
    let end = region_bytes.checked_sub(DT_RESERVE)?;
    (end > WORK_AREA_OFFSET).then_some(WORK_AREA_OFFSET..end)
}

/// Word indices part `part` of `parts` works on when `words` are split as
/// evenly as possible (earlier parts take the remainder).
pub fn split(words: u64, parts: u64, part: u64) -> Range<u64> {
    if parts == 0 || part >= parts {
        return 0..0;
    }
    let base = words / parts;
    let extra = words % parts;
    let start = part * base + part.min(extra);
    let len = base + u64::from(part < extra);
    start..start + len
}

/// The combined checksum the `compute` guest prints for a first memory region
/// of `region_bytes` (`None` if it has no work area).
pub fn compute_checksum(region_bytes: u64) -> Option<u64> {
    let area = work_area(region_bytes)?;
    let words = (area.end - area.start) / WORD_BYTES;
    Some(expected_checksum(0..words))
}

/// Words in a 4 KiB page.
pub const PAGE_WORDS: u64 = 4096 / WORD_BYTES;

/// Knuth's MMIX linear congruential generator step.
pub const fn lcg(state: u64) -> u64 {
    state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
}

/// One step of the checkpoint rollback workload: rewrites every word of
/// `words` (global word indices `first_index..`) from its old value, the
/// index and `step`, and folds one value per page into the FP accumulator
/// `acc`, which it returns. Plain `f64` adds and multiplies (Rust never fuses
/// them), so the host and an AArch64 guest get the same bits.
pub fn rollback_step(words: &mut [u64], first_index: u64, step: u64, mut acc: f64) -> f64 {
    let mut index = first_index;
    for word in words.iter_mut() {
        let next = lcg(*word ^ index ^ (step << 40));
        *word = next;
        if index.is_multiple_of(PAGE_WORDS) {
            // 53 random bits as a fraction in [0, 1).
            let fraction = (next >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            acc = acc * 0.75 + fraction;
        }
        index = index.wrapping_add(1);
    }
    acc
}

/// `count` seeded random single-word writes across `words` (one random page
/// each, in effect); returns the generator state to continue from.
pub fn random_writes(words: &mut [u64], mut state: u64, count: u64) -> u64 {
    let len = words.len() as u64;
    if len == 0 {
        return state;
    }
    for _ in 0..count {
        state = lcg(state);
        let target = mix64(state);
        if let Some(word) = words.get_mut((target % len) as usize) {
            *word = mix64(target ^ SEED);
        }
    }
    state
}

/// What guest `hostile_attacker` (`attack=memory`) aims at, by name: the IPA
/// it touches, and so the IPA Bulkhead's stop report must name. Names, IPAs
/// and what lives there on QEMU virt with the hostile layouts
/// (attacker RAM: IPA 0x4000_0000 + 16 MiB; victim RAM: PA 0x6000_0000 + 32 MiB).
pub const HOSTILE_MEMORY_TARGETS: &[(&str, u64)] = &[
    // The victim's checksummed block (its PA + 16 MiB) and its image.
    ("victim_ram", 0x6100_0000),
    ("victim_image", 0x6000_0000),
    // The first byte past the attacker's own RAM.
    ("own_end", 0x4100_0000),
    // Bulkhead's heap, the board DTB, the boot modules (its own and the victim's).
    ("bulkhead_heap", 0x4200_0000),
    ("board_dtb", 0x4800_0000),
    ("own_module", 0x4a00_0000),
    ("victim_module", 0x4b00_0000),
    // The victim's checkpoint store (layout hostile_memory_checkpoint_store).
    ("checkpoint_store", 0x7000_0000),
    // The distributor (emulated: only a load pair, which cannot be, faults),
    // the flash at 0, the distributor's frame end, the ITS, and
    // redistributor frames of the victim's cores (frames 2 and 3).
    ("gicd", 0x0800_0000),
    ("flash", 0x0000_0000),
    // GICv3: the distributor's end. GICv2 aims past its 8 KiB GICC window
    // instead ([`HOSTILE_MEMORY_TARGETS_GICV2`]): 0x0801_0000 is that window.
    ("gicd_beyond_frame", 0x0801_0000),
    // GICv2 only, nothing on a GICv3 board: the virtual interface control
    // (GICH: whoever writes it injects interrupts at will) and the GICV
    // frame at its own address (Bulkhead maps it at the guest's GICC only).
    ("gich", 0x0803_0000),
    ("gicv", 0x0804_0000),
    ("gic_its", 0x0808_0000),
    ("gicr_foreign_rd", 0x080e_0000),
    ("gicr_foreign_sgi", 0x0811_0000),
    // Board devices: Bulkhead's console (UART0), RTC, fw-cfg, GPIO, the
    // victim's UART, the SMMU, virtio-mmio, the platform bus.
    ("uart0", 0x0900_0000),
    ("rtc", 0x0901_0000),
    ("fw_cfg", 0x0902_0000),
    ("gpio", 0x0903_0000),
    ("victim_uart", 0x0904_0000),
    ("smmu", 0x0905_0000),
    ("virtio_mmio", 0x0a00_0000),
    ("platform_bus", 0x0c00_0000),
    // PCIe: 32-bit MMIO window, I/O window, the low ECAM slot, the ECAM
    // (above 4 GiB) and the 64-bit MMIO window.
    ("pcie_mmio", 0x1000_0000),
    ("pcie_pio", 0x3eff_0000),
    ("pcie_ecam_low", 0x3f00_0000),
    ("pcie_ecam", 0x40_1000_0000),
    ("pcie_mmio_high", 0x80_0000_0000),
    // The top of a 40-bit IPA space.
    ("ipa_top", 0xff_ffff_f000),
];

/// The targets whose IPA differs on a GICv2 board (QEMU virt's
/// `gic-version=2`: GICD 0x0800_0000, GICC 0x0801_0000, GICH 0x0803_0000,
/// GICV 0x0804_0000), where the guest's DT shows a GICv2.
pub const HOSTILE_MEMORY_TARGETS_GICV2: &[(&str, u64)] = &[("gicd_beyond_frame", 0x0801_2000)];

/// The IPA of memory target `name` on a board with a GICv2 (`gicv2`) or a GICv3.
pub fn hostile_memory_target(name: &str, gicv2: bool) -> Option<u64> {
    let find = |table: &[(&str, u64)]| {
        table
            .iter()
            .find(|(listed, _)| *listed == name)
            .map(|&(_, ipa)| ipa)
    };
    gicv2
        .then(|| find(HOSTILE_MEMORY_TARGETS_GICV2))
        .flatten()
        .or_else(|| find(HOSTILE_MEMORY_TARGETS))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn checksum_of_filled_memory_matches_expected() {
        let mut words = vec![0u64; 1000];
        fill(&mut words, 77);
        assert_eq!(checksum(&words, 77), expected_checksum(77..1077));
    }

    #[test]
    fn parts_combine_to_whole() {
        let total = 1001;
        let mut sum = 0;
        for part in 0..2 {
            let range = split(total, 2, part);
            let mut words = vec![0u64; (range.end - range.start) as usize];
            fill(&mut words, range.start);
            sum = combine(sum, checksum(&words, range.start));
        }
        assert_eq!(sum, expected_checksum(0..total));
    }

    #[test]
    fn split_covers_everything_once() {
        for (words, parts) in [(10, 3), (7, 2), (1, 4), (0, 2), (100, 1)] {
            let mut next = 0;
            for part in 0..parts {
                let range = split(words, parts, part);
                assert_eq!(range.start, next);
                next = range.end;
            }
            assert_eq!(next, words);
        }
        assert_eq!(split(10, 0, 0), 0..0);
        assert_eq!(split(10, 2, 2), 0..0);
    }

    #[test]
    fn corruption_and_swaps_change_checksum() {
        let mut words = vec![0u64; 64];
        fill(&mut words, 0);
        let good = checksum(&words, 0);
        words.swap(3, 4);
        assert_ne!(checksum(&words, 0), good);
        words.swap(3, 4);
        words[10] ^= 1;
        assert_ne!(checksum(&words, 0), good);
    }

    #[test]
    fn work_area_leaves_image_and_dt_alone() {
        assert_eq!(work_area(256 << 20), Some((16 << 20)..(254 << 20)));
        assert_eq!(work_area(16 << 20), None);
        assert_eq!(work_area(1 << 20), None);
        assert!(compute_checksum(32 << 20).is_some());
    }

    #[test]
    fn pattern_is_stable() {
        // Pinned so an accidental change to the pattern shows up here, not
        // as a mysterious scenario failure.
        assert_eq!(pattern(0), mix64(SEED));
        assert_ne!(pattern(0), pattern(1));
    }

    #[test]
    fn rollback_steps_and_random_writes_are_deterministic() {
        let mut a = vec![0u64; 2048];
        let mut b = vec![0u64; 2048];
        fill(&mut a, 0);
        fill(&mut b, 0);
        let acc_a = rollback_step(&mut a, 0, 1, 0.0);
        let acc_b = rollback_step(&mut b, 0, 1, 0.0);
        assert_eq!(acc_a.to_bits(), acc_b.to_bits());
        assert!(acc_a > 0.0);
        assert_eq!(a, b);
        let state = random_writes(&mut a, 7, 10);
        assert_ne!(a, b);
        assert_eq!(random_writes(&mut b, 7, 10), state);
        assert_eq!(a, b);
        assert_eq!(random_writes(&mut [], 7, 10), 7);
    }
}

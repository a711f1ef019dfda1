//! The store's checksum: a 4-lane Fletcher-style sum over 64-bit words, then a 64-bit mixer.

use crate::address::Ipa;

/// Independent lanes let the compiler keep them in SIMD registers.
const LANES: usize = 4;

/// Checksum of `bytes`. Any single changed 64-bit word changes the first-order
/// sums; the second-order sums make it depend on word positions too. Not a
/// cryptographic hash: it guards against bugs scribbling on the store.
pub fn checksum(bytes: &[u8]) -> u64 {
    if let Some(words) = aligned_words(bytes) {
        let mut lanes = Lanes::default();
        let (groups, rest) = words.as_chunks::<LANES>();
        for group in groups {
            lanes.add_words(group);
        }
        let rest = as_bytes(rest);
        return lanes.finish(&rest.0[..rest.1], &[], bytes.len());
    }
    let mut lanes = Lanes::default();
    let (words, tail) = bytes.as_chunks::<8>();
    let (groups, rest) = words.as_chunks::<LANES>();
    for group in groups {
        lanes.add_group(group);
    }
    lanes.finish(rest, tail, bytes.len())
}

/// The fewer-than-a-group trailing words as byte arrays, on the stack
/// (checksums run while guests are paused: no allocation).
fn as_bytes(rest: &[u64]) -> ([[u8; 8]; LANES], usize) {
    let mut bytes = [[0u8; 8]; LANES];
    for (slot, word) in bytes.iter_mut().zip(rest) {
        *slot = word.to_le_bytes();
    }
    (bytes, rest.len().min(LANES))
}

/// Copies `source` into `destination` (same length, else only the common
/// prefix) and returns [`checksum`] of what was copied, in one pass: a
/// checkpoint reads each page once.
pub fn copy_with_checksum(destination: &mut [u8], source: &[u8]) -> u64 {
    let len = destination.len().min(source.len());
    let (destination, source) = (&mut destination[..len], &source[..len]);
    if let (Some(out), Some(words)) = (aligned_words_mut(destination), aligned_words(source)) {
        // Whole 64-bit loads and stores: the hypervisor's target forbids
        // unaligned accesses, so byte arrays would be moved a byte at a time.
        let mut lanes = Lanes::default();
        let (groups, rest) = words.as_chunks::<LANES>();
        let (out_groups, out_rest) = out.as_chunks_mut::<LANES>();
        for (group, target) in groups.iter().zip(out_groups.iter_mut()) {
            lanes.add_words(group);
            *target = *group;
        }
        for (word, target) in rest.iter().zip(out_rest.iter_mut()) {
            *target = *word;
        }
        let rest = as_bytes(rest);
        return lanes.finish(&rest.0[..rest.1], &[], len);
    }
    let mut lanes = Lanes::default();
    let (words, tail) = source.as_chunks::<8>();
    let (groups, rest) = words.as_chunks::<LANES>();
    let (out_words, _) = destination.as_chunks_mut::<8>();
    let (out_groups, _) = out_words.as_chunks_mut::<LANES>();
    for (group, out) in groups.iter().zip(out_groups.iter_mut()) {
        lanes.add_group(group);
        // A fixed-size copy: plain loads and stores, no call to memcpy.
        *out = *group;
    }
    let copied = groups.len() * 8 * LANES;
    destination[copied..].copy_from_slice(&source[copied..]);
    lanes.finish(rest, tail, len)
}

/// `bytes` as 64-bit words, if it is 8-byte aligned and a whole number of words.
#[allow(unsafe_code)]
fn aligned_words(bytes: &[u8]) -> Option<&[u64]> {
    // SAFETY: every bit pattern is a valid u64, and `align_to` only yields
    // the correctly aligned middle part of the slice.
    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
    (head.is_empty() && tail.is_empty()).then_some(words)
}

/// The same for a mutable slice.
#[allow(unsafe_code)]
fn aligned_words_mut(bytes: &mut [u8]) -> Option<&mut [u64]> {
    // SAFETY: as for `aligned_words`; u64 has no invalid bit patterns, so
    // writes through the word view leave valid bytes.
    let (head, words, tail) = unsafe { bytes.align_to_mut::<u64>() };
    (head.is_empty() && tail.is_empty()).then_some(words)
}

/// The running first- and second-order sums, one pair per lane.
#[derive(Default)]
struct Lanes {
    sum: [u64; LANES],
    weighted: [u64; LANES],
}

#[allow(clippy::needless_range_loop)] // lanes index two arrays in step
impl Lanes {
    #[inline(always)]
    fn add_words(&mut self, group: &[u64; LANES]) {
        for lane in 0..LANES {
            self.sum[lane] = self.sum[lane].wrapping_add(u64::from_le(group[lane]));
            self.weighted[lane] = self.weighted[lane].wrapping_add(self.sum[lane]);
        }
    }

    #[inline(always)]
    fn add_group(&mut self, group: &[[u8; 8]; LANES]) {
        for lane in 0..LANES {
            self.sum[lane] = self.sum[lane].wrapping_add(u64::from_le_bytes(group[lane]));
            self.weighted[lane] = self.weighted[lane].wrapping_add(self.sum[lane]);
        }
    }

    fn finish(mut self, rest: &[[u8; 8]], tail: &[u8], len: usize) -> u64 {
        for word in rest {
            self.sum[0] = self.sum[0].wrapping_add(u64::from_le_bytes(*word));
            self.weighted[0] = self.weighted[0].wrapping_add(self.sum[0]);
        }
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            self.sum[0] = self.sum[0].wrapping_add(u64::from_le_bytes(last));
            self.weighted[0] = self.weighted[0].wrapping_add(self.sum[0]);
        }
        // The length goes in so that runs of zeros of different lengths
        // differ, and an all-zero page does not check to zero.
        let mut hash = mix(len as u64);
        for lane in 0..LANES {
            hash = mix(hash ^ self.sum[lane]);
            hash = mix(hash ^ self.weighted[lane]);
        }
        hash
    }
}

/// A page's contribution to a slot's page sum: binds its checksum to its IPA
/// so that a record moved to another place does not add up the same.
pub(super) fn page_term(ipa: Ipa, page_checksum: u64) -> u64 {
    mix(page_checksum ^ mix(ipa.0))
}

/// The splitmix64 finaliser: every input bit affects every output bit.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn copy_with_checksum_copies_and_agrees_with_checksum() {
        for len in [0usize, 7, 8, 31, 32, 33, 4096, 4099] {
            let source: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut destination = alloc::vec![0u8; len];
            assert_eq!(
                copy_with_checksum(&mut destination, &source),
                checksum(&source)
            );
            assert_eq!(destination, source);
        }
    }
}

//! The store's checksum: a 4-lane Fletcher-style sum over 64-bit words, then a 64-bit mixer.
//!
//! Word `i` goes into lane `i % 4`. The first-order sums take every word;
//! the second-order sums take the first-order ones once per block of 32
//! words (256 bytes, one iteration of the hypervisor's SIMD kernel: its
//! four 64-byte loads are folded into two vectors by a tree of adds, which
//! two adds take in and two weigh), then once per word of a shorter tail.
//! A changed word always changes the result; so does a reordering of
//! blocks or of words across lanes (two words swapped inside one lane of
//! one block are not seen: the checksum guards against bugs scribbling on
//! the store, not against an adversary). The block is as long as it is
//! because the weighing is the sum's cost: per 64 bytes, 4.5 vector adds
//! rather than 6 with a 64-byte block.

/// Independent lanes let the compiler keep them in SIMD registers.
pub const LANES: usize = 4;

/// Checksum of `bytes`. Any single changed 64-bit word changes the first-order
/// sums; the second-order sums make it depend on word positions too. Not a
/// cryptographic hash: it guards against bugs scribbling on the store.
pub fn checksum(bytes: &[u8]) -> u64 {
    // Whole words as words when they are aligned, whatever the length (a
    // vCPU state's is not a multiple of 8): byte arrays would be read a
    // byte at a time on the hypervisor's strict-alignment target.
    let (body, tail) = bytes.split_at(bytes.len() & !7);
    if let Some(words) = aligned_words(body) {
        let mut lanes = Lanes::default();
        let (blocks, rest) = words.as_chunks::<BLOCK>();
        for block in blocks {
            lanes.add_block(block);
        }
        return lanes.finish(
            rest.iter().map(|&word| u64::from_le(word)),
            tail,
            bytes.len(),
        );
    }
    let mut lanes = Lanes::default();
    let (words, tail) = bytes.as_chunks::<8>();
    let (blocks, rest) = words.as_chunks::<BLOCK>();
    for block in blocks {
        lanes.add_block(&block.map(u64::from_le_bytes).map(u64::to_le));
    }
    lanes.finish(
        rest.iter().map(|&word| u64::from_le_bytes(word)),
        tail,
        bytes.len(),
    )
}

/// Words per block of the second-order sum.
const BLOCK: usize = 8 * LANES;

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
        let (blocks, rest) = words.as_chunks::<BLOCK>();
        let (out_blocks, out_rest) = out.as_chunks_mut::<BLOCK>();
        for (block, target) in blocks.iter().zip(out_blocks.iter_mut()) {
            lanes.add_block(block);
            *target = *block;
        }
        for (word, target) in rest.iter().zip(out_rest.iter_mut()) {
            *target = *word;
        }
        return lanes.finish(rest.iter().map(|&word| u64::from_le(word)), &[], len);
    }
    let mut lanes = Lanes::default();
    let (words, tail) = source.as_chunks::<8>();
    let (blocks, rest) = words.as_chunks::<BLOCK>();
    let (out_words, _) = destination.as_chunks_mut::<8>();
    let (out_blocks, _) = out_words.as_chunks_mut::<BLOCK>();
    for (block, out) in blocks.iter().zip(out_blocks.iter_mut()) {
        lanes.add_block(&block.map(u64::from_le_bytes).map(u64::to_le));
        // A fixed-size copy: plain loads and stores, no call to memcpy.
        *out = *block;
    }
    let copied = blocks.len() * 8 * BLOCK;
    destination[copied..].copy_from_slice(&source[copied..]);
    lanes.finish(rest.iter().map(|&word| u64::from_le_bytes(word)), tail, len)
}

/// Bytes in the pages a [`PageKernel`] moves.
pub const PAGE_BYTES: usize = 4096;

/// Moves and checksums whole pages for the store. [`PortableKernel`] is the
/// definition; a faster one at the architecture's edge (the hypervisor's
/// SIMD kernel) must return exactly what [`checksum`] returns.
pub trait PageKernel {
    /// Copies `source` into `destination`; returns [`checksum`] of it.
    fn copy_with_checksum(
        &mut self,
        destination: &mut [u8; PAGE_BYTES],
        source: &[u8; PAGE_BYTES],
    ) -> u64;
    /// [`checksum`] of `page`.
    fn checksum(&mut self, page: &[u8; PAGE_BYTES]) -> u64;
    /// Copies `source` into `destination`.
    fn copy(&mut self, destination: &mut [u8; PAGE_BYTES], source: &[u8; PAGE_BYTES]);
}

/// The portable loops above.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortableKernel;

impl PageKernel for PortableKernel {
    fn copy_with_checksum(
        &mut self,
        destination: &mut [u8; PAGE_BYTES],
        source: &[u8; PAGE_BYTES],
    ) -> u64 {
        copy_with_checksum(destination, source)
    }

    fn checksum(&mut self, page: &[u8; PAGE_BYTES]) -> u64 {
        checksum(page)
    }

    fn copy(&mut self, destination: &mut [u8; PAGE_BYTES], source: &[u8; PAGE_BYTES]) {
        destination.copy_from_slice(source);
    }
}

/// [`checksum`] of `len` bytes (a whole number of 256-byte blocks) from
/// the lane sums a vector kernel accumulated: word `i` (little-endian) goes
/// into lane `i % 4`; per block of 32 words, `sum[lane] += word[lane] +
/// word[lane + 4] + ... + word[lane + 28]` then `weighted[lane] +=
/// sum[lane]`. Lanes never mix, so a kernel may advance them in any
/// interleaving (two 2-lane vectors, 0-1 and 2-3) and fold a block's words
/// in any order.
#[inline]
pub fn checksum_from_lanes(sum: [u64; LANES], weighted: [u64; LANES], len: usize) -> u64 {
    Lanes { sum, weighted }.hash(len)
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
    /// One block of 32 words (native-endian values of little-endian words).
    #[inline(always)]
    fn add_block(&mut self, block: &[u64; BLOCK]) {
        let mut folded = [0u64; LANES];
        for group in block.as_chunks::<LANES>().0 {
            for lane in 0..LANES {
                folded[lane] = folded[lane].wrapping_add(u64::from_le(group[lane]));
            }
        }
        for lane in 0..LANES {
            self.sum[lane] = self.sum[lane].wrapping_add(folded[lane]);
            self.weighted[lane] = self.weighted[lane].wrapping_add(self.sum[lane]);
        }
    }

    /// Adds the fewer-than-a-block trailing words (`rest`, as values) and
    /// the bytes after them, then hashes.
    fn finish(mut self, rest: impl Iterator<Item = u64>, tail: &[u8], len: usize) -> u64 {
        for word in rest {
            self.sum[0] = self.sum[0].wrapping_add(word);
            self.weighted[0] = self.weighted[0].wrapping_add(self.sum[0]);
        }
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            self.sum[0] = self.sum[0].wrapping_add(u64::from_le_bytes(last));
            self.weighted[0] = self.weighted[0].wrapping_add(self.sum[0]);
        }
        self.hash(len)
    }

    /// The lanes mixed into the checksum of `len` bytes.
    #[inline(always)]
    fn hash(&self, len: usize) -> u64 {
        // The length goes in so that runs of zeros of different lengths
        // differ, and an all-zero page does not check to zero. Each step
        // (xor, multiply by an odd constant, rotate) is a bijection of the
        // value taken in, so every lane matters; one mix at the end spreads it.
        let mut hash = mix(len as u64);
        for lane in 0..LANES {
            for value in [self.sum[lane], self.weighted[lane]] {
                hash = (hash ^ value)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(31);
            }
        }
        mix(hash)
    }
}

/// A page's contribution to a slot's page sum: binds its checksum to its
/// record's first word (IPA and frame) so that a record moved to another
/// place, or pointed at the other frame, does not add up the same.
#[inline(always)]
pub(super) fn page_term(record_word: u64, page_checksum: u64) -> u64 {
    mix(page_checksum ^ record_word.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// The splitmix64 finaliser: every input bit affects every output bit.
#[inline(always)]
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

    #[test]
    fn where_the_bytes_lie_does_not_change_the_checksum() {
        // Placed in u64 words: offsets 0 and 8 take the word path for the
        // whole words of any length, 1 and 4 the byte path.
        let buffer: alloc::vec::Vec<u8> = (0..1280).map(|i| (i * 131 + 17) as u8).collect();
        for len in [0usize, 5, 8, 12, 63, 64, 65, 100, 1155, 1160] {
            let reference = checksum(&buffer[3..3 + len]);
            for offset in [0usize, 1, 4, 8] {
                let mut placed = alloc::vec![0u64; 160];
                let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut placed);
                bytes[offset..offset + len].copy_from_slice(&buffer[3..3 + len]);
                assert_eq!(
                    checksum(&bytes[offset..offset + len]),
                    reference,
                    "len {len} offset {offset}"
                );
            }
        }
    }

    /// The hypervisor's SIMD kernel, step for step in portable code: 256
    /// bytes per iteration as four 64-byte loads of four 128-bit vectors
    /// (words 0-1, 2-3, 4-5, 6-7 of each), each folded into two and those
    /// into the first load's pair; two sum vectors (lanes 0-1, 2-3) and two
    /// weighted vectors, stored at the end as [sum 0-1, sum 2-3, weighted
    /// 0-1, weighted 2-3].
    fn vector_kernel_model(destination: &mut [u8; PAGE_BYTES], source: &[u8; PAGE_BYTES]) -> u64 {
        type Vector = [u64; 2];
        let add = |a: Vector, b: Vector| [a[0].wrapping_add(b[0]), a[1].wrapping_add(b[1])];
        let load = |bytes: &[u8]| -> Vector {
            let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            [word(0), word(8)]
        };
        let (mut sum01, mut sum23, mut weighted01, mut weighted23) =
            ([0; 2], [0; 2], [0; 2], [0; 2]);
        for (iteration, target) in source
            .chunks_exact(256)
            .zip(destination.chunks_exact_mut(256))
        {
            target.copy_from_slice(iteration);
            let (mut fold01, mut fold23) = ([0; 2], [0; 2]);
            for (step, block) in iteration.chunks_exact(64).enumerate() {
                let v = [
                    load(&block[0..]),
                    load(&block[16..]),
                    load(&block[32..]),
                    load(&block[48..]),
                ];
                let (step01, step23) = (add(v[0], v[2]), add(v[1], v[3]));
                (fold01, fold23) = if step == 0 {
                    (step01, step23)
                } else {
                    (add(fold01, step01), add(fold23, step23))
                };
            }
            sum01 = add(sum01, fold01);
            sum23 = add(sum23, fold23);
            weighted01 = add(weighted01, sum01);
            weighted23 = add(weighted23, sum23);
        }
        let stored = [sum01, sum23, weighted01, weighted23];
        checksum_from_lanes(
            [stored[0][0], stored[0][1], stored[1][0], stored[1][1]],
            [stored[2][0], stored[2][1], stored[3][0], stored[3][1]],
            PAGE_BYTES,
        )
    }

    #[test]
    fn vector_lane_order_computes_the_same_checksum() {
        let mut state = 0x0123_4567_89ab_cdefu64;
        for round in 0..64 {
            let mut source = [0u8; PAGE_BYTES];
            for word in source.chunks_exact_mut(8) {
                // xorshift: every bit pattern, including carries out of each lane.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            if round == 0 {
                source = [0xff; PAGE_BYTES];
            }
            let mut destination = [0u8; PAGE_BYTES];
            assert_eq!(
                vector_kernel_model(&mut destination, &source),
                checksum(&source)
            );
            assert_eq!(destination, source);
            let mut portable = [0u8; PAGE_BYTES];
            assert_eq!(
                PortableKernel.copy_with_checksum(&mut portable, &source),
                checksum(&source)
            );
            assert_eq!(PortableKernel.checksum(&source), checksum(&source));
        }
    }
}

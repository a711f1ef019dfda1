//! DMA patterns and the byte checksum of the PCI (`edu`) guests, recomputed by the host checks.
//!
//! A DMA buffer of pattern `seed` holds, as little-endian 64-bit words,
//! `word(seed, i)` at word index `i` (from the buffer start). Seeds are
//! [`seed`]`(partition, round)`: distinct per partition and per round, so a
//! buffer that arrives in the wrong partition or a stale round shows. The
//! checksum is FNV-1a 64 over the buffer's bytes in address order.

/// FNV-1a 64 offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Bytes of one edu DMA transfer (its whole internal buffer).
pub const DMA_BYTES: u64 = 4096;
/// Words of one DMA transfer.
pub const DMA_WORDS: u64 = DMA_BYTES / crate::WORD_BYTES;
/// The byte the DMA attacker fills its 4 KiB with.
pub const ATTACK_BYTE: u8 = 0xaa;

/// An FNV-1a 64 checksum being computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(FNV_OFFSET)
    }
}

impl Fnv {
    pub const fn new() -> Self {
        Fnv(FNV_OFFSET)
    }

    /// Adds one byte.
    pub const fn byte(self, byte: u8) -> Self {
        Fnv((self.0 ^ byte as u64).wrapping_mul(FNV_PRIME))
    }

    /// Adds a word's 8 bytes, least significant first (its bytes in memory).
    pub const fn word(self, word: u64) -> Self {
        let mut fnv = self;
        let mut shift = 0;
        while shift < 64 {
            fnv = fnv.byte((word >> shift) as u8);
            shift += 8;
        }
        fnv
    }

    pub const fn finish(self) -> u64 {
        self.0
    }
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(Fnv::new(), |fnv, &b| fnv.byte(b))
        .finish()
}

/// FNV-1a 64 of words as they lie in memory (little-endian).
pub fn fnv1a64_words(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(Fnv::new(), |fnv, &w| fnv.word(w))
        .finish()
}

/// The pattern seed of `round` in partition `partition` (round 0: the
/// guests' first single transfer; rounds 1..=n: the loop).
pub const fn seed(partition: u64, round: u64) -> u64 {
    crate::mix64(crate::SEED ^ (partition << 48) ^ round.wrapping_mul(0xa076_1d64_78bd_642f))
}

/// Word `index` of pattern `seed`.
pub const fn word(seed: u64, index: u64) -> u64 {
    crate::mix64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// FNV-1a 64 of `words` words of pattern `seed`.
pub fn pattern_sum(seed: u64, words: u64) -> u64 {
    (0..words)
        .fold(Fnv::new(), |fnv, index| fnv.word(word(seed, index)))
        .finish()
}

/// FNV-1a 64 of `bytes` bytes all equal to `byte`.
pub fn constant_sum(byte: u8, bytes: u64) -> u64 {
    (0..bytes)
        .fold(Fnv::new(), |fnv, _| fnv.byte(byte))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn words_hash_as_their_bytes() {
        let words = [0x0807_0605_0403_0201u64, 0x1122_3344_5566_7788];
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        assert_eq!(fnv1a64_words(&words), fnv1a64(&bytes));
        let pattern: [u64; 4] = core::array::from_fn(|i| word(7, i as u64));
        assert_eq!(pattern_sum(7, 4), fnv1a64_words(&pattern));
        assert_eq!(constant_sum(0xaa, 3), fnv1a64(&[0xaa, 0xaa, 0xaa]));
    }

    #[test]
    fn seeds_differ_by_partition_and_round() {
        assert_ne!(seed(0, 1), seed(1, 1));
        assert_ne!(seed(0, 1), seed(0, 2));
        assert_ne!(
            pattern_sum(seed(0, 0), DMA_WORDS),
            pattern_sum(seed(1, 0), DMA_WORDS)
        );
    }
}

//! Seeds for the guests' random number generators, drawn from the board's.
//!
//! Firmware hands a kernel entropy in `/chosen/rng-seed` and
//! `/chosen/kaslr-seed` (QEMU's `virt` does, and U-Boot with an RNG
//! driver). Bulkhead keeps the board's seed to itself and gives every
//! partition, at every start, seeds derived from it with SipHash-2-4 (a
//! keyed PRF): a partition learns nothing of the board's seed or of another
//! partition's seeds, and a restart does not replay the previous boot's.
//! Without them Linux boots with an uninitialised CRNG (no KASLR, and
//! whatever first waits for random bytes spins on jitter entropy).

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

use crate::config::dt::DeviceTree;

/// Bytes of a guest's `/chosen/rng-seed` (what Linux credits in full).
pub const RNG_SEED_BYTES: usize = 64;

/// The secret every guest seed is derived from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SeedKey {
    key: (u64, u64),
}

impl core::fmt::Debug for SeedKey {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never printed: it is the board's entropy.
        formatter.write_str("SeedKey(..)")
    }
}

/// What a derived word is for (a domain separator).
#[derive(Clone, Copy)]
enum Purpose {
    RngSeed = 1,
    KaslrSeed = 2,
}

impl SeedKey {
    /// The key compressed from the board DT's `/chosen/rng-seed` and
    /// `/chosen/kaslr-seed` (either may be absent; both all-zero or absent
    /// gives none: Linux zeroes a seed it consumed).
    pub fn from_board(dtb: &[u8]) -> Option<SeedKey> {
        let tree = DeviceTree::parse(dtb).ok()?;
        let chosen = tree.find("/chosen")?;
        let mut material: [&[u8]; 2] = [&[], &[]];
        for (slot, name) in material.iter_mut().zip(["rng-seed", "kaslr-seed"]) {
            if let Some(property) = chosen.property(name) {
                *slot = property.value;
            }
        }
        if material
            .iter()
            .all(|bytes| bytes.iter().all(|&byte| byte == 0))
        {
            return None;
        }
        Some(SeedKey::compress(&material))
    }

    /// The key compressed from raw entropy words (a CPU's RNDR, say);
    /// none if they are all zero.
    pub fn from_words(words: &[u64]) -> Option<SeedKey> {
        if words.iter().all(|&word| word == 0) {
            return None;
        }
        let mut bytes = [0u8; 64];
        let mut used = 0;
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
            used += 8;
        }
        Some(SeedKey::compress(&[&bytes[..used]]))
    }

    /// Two 64-bit SipHash outputs (under fixed, distinct keys) over the
    /// length-prefixed inputs: a 128-bit key that depends on every byte.
    fn compress(material: &[&[u8]]) -> SeedKey {
        let half = |k0: u64| {
            let mut hasher = SipHasher24::new_with_keys(k0, !k0);
            for bytes in material {
                hasher.write_u64(bytes.len() as u64);
                hasher.write(bytes);
            }
            hasher.finish()
        };
        SeedKey {
            key: (half(0x6275_6c6b_6865_6164), half(0x7365_6564_6b65_7931)),
        }
    }

    /// The `index`th word for `purpose` of `partition`'s `start`th boot.
    fn word(&self, partition: u32, start: u32, purpose: Purpose, index: u32) -> u64 {
        let mut hasher = SipHasher24::new_with_keys(self.key.0, self.key.1);
        hasher.write_u32(partition);
        hasher.write_u32(start);
        hasher.write_u32(purpose as u32);
        hasher.write_u32(index);
        hasher.finish()
    }

    /// `/chosen/rng-seed` for `partition`'s `start`th boot.
    pub fn rng_seed(&self, partition: u32, start: u32) -> [u8; RNG_SEED_BYTES] {
        let mut seed = [0u8; RNG_SEED_BYTES];
        for (index, chunk) in (0u32..).zip(seed.chunks_exact_mut(8)) {
            let word = self.word(partition, start, Purpose::RngSeed, index);
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        seed
    }

    /// `/chosen/kaslr-seed` for `partition`'s `start`th boot (big-endian,
    /// as a DT u64 property).
    pub fn kaslr_seed(&self, partition: u32, start: u32) -> [u8; 8] {
        self.word(partition, start, Purpose::KaslrSeed, 0)
            .to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_fdt::FdtWriter;

    fn board(rng: Option<&[u8]>, kaslr: Option<u64>) -> alloc::vec::Vec<u8> {
        let mut writer = FdtWriter::new().unwrap();
        let root = writer.begin_node("").unwrap();
        let chosen = writer.begin_node("chosen").unwrap();
        if let Some(rng) = rng {
            writer.property("rng-seed", rng).unwrap();
        }
        if let Some(kaslr) = kaslr {
            writer.property_u64("kaslr-seed", kaslr).unwrap();
        }
        writer.end_node(chosen).unwrap();
        writer.end_node(root).unwrap();
        writer.finish().unwrap()
    }

    #[test]
    fn no_seed_without_board_entropy() {
        assert_eq!(SeedKey::from_board(&board(None, None)), None);
        // A consumed (zeroed) seed is no seed.
        assert_eq!(SeedKey::from_board(&board(Some(&[0; 32]), Some(0))), None);
        assert_eq!(SeedKey::from_words(&[0, 0]), None);
        assert_eq!(SeedKey::from_board(b"not a dtb"), None);
    }

    #[test]
    fn seeds_differ_per_partition_start_and_board() {
        let key = SeedKey::from_board(&board(Some(&[7; 32]), Some(42))).unwrap();
        let other_board = SeedKey::from_board(&board(Some(&[8; 32]), Some(42))).unwrap();
        let kaslr_only = SeedKey::from_board(&board(None, Some(42))).unwrap();
        let seeds = [
            key.rng_seed(0, 1),
            key.rng_seed(1, 1),
            key.rng_seed(0, 2),
            other_board.rng_seed(0, 1),
            kaslr_only.rng_seed(0, 1),
        ];
        for (i, a) in seeds.iter().enumerate() {
            assert!(a.iter().any(|&byte| byte != 0));
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(key.kaslr_seed(0, 1), key.kaslr_seed(1, 1));
        assert_ne!(key.kaslr_seed(0, 1)[..], key.rng_seed(0, 1)[..8]);
        // Deterministic: a checkpointed partition's next start is reproducible
        // only from the key, which no guest holds.
        assert_eq!(key.rng_seed(3, 9), key.rng_seed(3, 9));
    }

    #[test]
    fn the_key_is_not_printed() {
        let key = SeedKey::from_words(&[1, 2]).unwrap();
        assert_eq!(alloc::format!("{key:?}"), "SeedKey(..)");
    }
}

//! The store's checksum: a 4-lane Fletcher-style sum over 64-bit words, then a 64-bit mixer.

use crate::address::Ipa;

/// Independent lanes let the compiler keep them in SIMD registers.
const LANES: usize = 4;

/// Checksum of `bytes`. Any single changed 64-bit word changes the first-order
/// sums; the second-order sums make it depend on word positions too. Not a
/// cryptographic hash: it guards against bugs scribbling on the store.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut sum = [0u64; LANES];
    let mut weighted = [0u64; LANES];
    let (words, tail) = bytes.as_chunks::<8>();
    let (groups, rest) = words.as_chunks::<LANES>();
    for group in groups {
        for lane in 0..LANES {
            sum[lane] = sum[lane].wrapping_add(u64::from_le_bytes(group[lane]));
            weighted[lane] = weighted[lane].wrapping_add(sum[lane]);
        }
    }
    for word in rest {
        sum[0] = sum[0].wrapping_add(u64::from_le_bytes(*word));
        weighted[0] = weighted[0].wrapping_add(sum[0]);
    }
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        sum[0] = sum[0].wrapping_add(u64::from_le_bytes(last));
        weighted[0] = weighted[0].wrapping_add(sum[0]);
    }
    // The length goes in so that runs of zeros of different lengths differ,
    // and an all-zero page does not check to zero.
    let mut hash = mix(bytes.len() as u64);
    for lane in 0..LANES {
        hash = mix(hash ^ sum[lane]);
        hash = mix(hash ^ weighted[lane]);
    }
    hash
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

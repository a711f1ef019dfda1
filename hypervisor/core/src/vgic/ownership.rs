//! Which SPIs a partition owns: a 1024-bit map built from its devices' interrupts.

use super::registers::{FIRST_SPI, INTID_COUNT, LAST_SPI};

const WORDS: usize = (INTID_COUNT / 32) as usize;

/// INTIDs (SPIs 32..=1019) a partition owns, from its devices' interrupts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Bit `intid % 32` of word `intid / 32`: the same layout as the GICD bit banks.
    words: [u32; WORDS],
}

impl Ownership {
    /// Ownership of the given SPIs; anything outside 32..=1019 (SGIs, PPIs,
    /// special INTIDs) cannot be owned this way and is left out.
    pub fn new(spis: impl IntoIterator<Item = u32>) -> Self {
        let mut words = [0; WORDS];
        for intid in spis {
            if (FIRST_SPI..=LAST_SPI).contains(&intid) {
                words[(intid / 32) as usize] |= 1 << (intid % 32);
            }
        }
        Ownership { words }
    }

    /// The partition owns SPI `intid`.
    pub fn owns_spi(&self, intid: u32) -> bool {
        intid < INTID_COUNT && self.words[(intid / 32) as usize] & (1 << (intid % 32)) != 0
    }

    /// The owned SPIs, in increasing order.
    pub fn spis(&self) -> impl Iterator<Item = u32> + '_ {
        (FIRST_SPI..=LAST_SPI).filter(|&intid| self.owns_spi(intid))
    }

    /// Owned bits of the bank register covering INTIDs 32n..32n+31 (0 past the end).
    pub(super) fn bank_mask(&self, register: usize) -> u32 {
        self.words.get(register).copied().unwrap_or(0)
    }
}

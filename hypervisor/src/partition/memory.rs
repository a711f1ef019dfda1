//! Guest buffers: an (IPA, length) pair a guest passed, unusable until checked against its map.

use bulkhead_core::address::Ipa;
use bulkhead_core::config;

/// A buffer a guest *claims* to own. Like Hubris' `USlice`, it has no
/// accessor until [`GuestBuffer::check`] validates it against the caller's memory.
#[derive(Clone, Copy, Debug)]
pub struct GuestBuffer {
    ipa: Ipa,
    len: u64,
}

impl GuestBuffer {
    pub fn new(ipa: u64, len: u64) -> GuestBuffer {
        GuestBuffer { ipa: Ipa(ipa), len }
    }

    /// The bytes, if `[ipa, ipa + len)` lies wholly inside one RAM region of
    /// `partition` (overflow counts as outside).
    pub fn check<'a>(&self, partition: &'a config::Partition) -> Option<&'a [u8]> {
        self.ipa.0.checked_add(self.len)?;
        if self.len == 0 {
            return Some(&[]);
        }
        let pa = partition.ipa_to_pa(self.ipa, self.len)?;
        let len = usize::try_from(self.len).ok()?;
        // SAFETY: [pa, pa + len) is inside the partition's RAM (checked by
        // `ipa_to_pa`), which EL2 maps as normal memory for the life of the
        // hypervisor. The guest may change it concurrently; bytes are plain
        // data, so a torn read only yields other bytes.
        Some(unsafe { core::slice::from_raw_parts(pa.0 as *const u8, len) })
    }
}

//! Access widths and the hardware side of the model: the physical GIC as a trait.

/// Width of one MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Byte,
    Half,
    Word,
    Double,
}

impl Width {
    /// Number of bytes the access covers.
    pub const fn bytes(self) -> usize {
        match self {
            Width::Byte => 1,
            Width::Half => 2,
            Width::Word => 4,
            Width::Double => 8,
        }
    }

    /// The width of an access of `bytes` bytes (1, 2, 4 or 8), e.g. from an ESR's SAS field.
    pub const fn from_bytes(bytes: usize) -> Option<Width> {
        match bytes {
            1 => Some(Width::Byte),
            2 => Some(Width::Half),
            4 => Some(Width::Word),
            8 => Some(Width::Double),
            _ => None,
        }
    }

    /// All bits an access of this width can carry.
    pub(super) const fn mask(self) -> u64 {
        match self {
            Width::Byte => 0xFF,
            Width::Half => 0xFFFF,
            Width::Word => 0xFFFF_FFFF,
            Width::Double => u64::MAX,
        }
    }

    /// `offset` is naturally aligned for this width.
    pub(super) const fn aligned(self, offset: u64) -> bool {
        offset.is_multiple_of(self.bytes() as u64)
    }
}

/// The hardware side, implemented by the hypervisor with MMIO (and by a fake in the tests).
///
/// The model only issues accesses the architecture allows: naturally aligned,
/// 32-bit everywhere, 8-bit only to priority registers, 64-bit only to
/// GICD_IROUTER<n>, inside the 64 KiB distributor or the 128 KiB redistributor.
pub trait PhysicalGic {
    /// Physical distributor register at `offset` (GICD_* offsets).
    fn read_distributor(&mut self, offset: u64, width: Width) -> u64;
    /// Writes the physical distributor register at `offset`.
    fn write_distributor(&mut self, offset: u64, width: Width, value: u64);
    /// Physical redistributor of the core running `vcpu`; `offset` from its RD_base (SGI_base registers at 0x1_0000 + ...).
    fn read_redistributor(&mut self, vcpu: usize, offset: u64, width: Width) -> u64;
    /// Writes the physical redistributor register of the core running `vcpu`.
    fn write_redistributor(&mut self, vcpu: usize, offset: u64, width: Width, value: u64);
}

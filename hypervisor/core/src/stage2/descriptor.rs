//! Stage-2 descriptor encoding: valid/type bits, output address, and leaf attributes.

/// What kind of memory a stage-2 leaf maps; the combination with the guest's
/// stage-1 attributes decides the effective type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MemoryKind {
    /// Normal memory, inner and outer write-back, inner shareable.
    Normal,
    /// Device-nGnRE, never executable: MMIO passed through to the guest.
    Device,
}

/// The guest's data access permission through a leaf (S2AP).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

const VALID: u64 = 1 << 0;
/// Bit 1: table (levels 1-2) or page (level 3) when set, block when clear.
const TABLE_OR_PAGE: u64 = 1 << 1;
const TYPE_MASK: u64 = VALID | TABLE_OR_PAGE;

/// Output address (or next-level table address) bits [47:12].
pub(super) const OUTPUT_ADDRESS_MASK: u64 = 0x0000_FFFF_FFFF_F000;

const MEM_ATTR_SHIFT: u32 = 2;
const MEM_ATTR_MASK: u64 = 0b1111 << MEM_ATTR_SHIFT;
/// MemAttr[3:2] = 0b11 outer write-back, [1:0] = 0b11 inner write-back.
const MEM_ATTR_NORMAL_WRITE_BACK: u64 = 0b1111 << MEM_ATTR_SHIFT;
const MEM_ATTR_DEVICE_NGNRE: u64 = 0b0001 << MEM_ATTR_SHIFT;

const S2AP_SHIFT: u32 = 6;
const S2AP_MASK: u64 = 0b11 << S2AP_SHIFT;
const S2AP_READ_WRITE: u64 = 0b11 << S2AP_SHIFT;
const S2AP_READ_ONLY: u64 = 0b01 << S2AP_SHIFT;

const SH_INNER_SHAREABLE: u64 = 0b11 << 8;
/// Access flag: set up front, so the guest never takes an access-flag fault.
const ACCESS_FLAG: u64 = 1 << 10;
/// XN[1:0] (bits [54:53]) = 0b10: not executable at EL1 or EL0.
const EXECUTE_NEVER: u64 = 0b10 << 53;

/// Attribute bits of a leaf (everything but the type bits and output address).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct LeafAttributes(u64);

impl LeafAttributes {
    pub(super) fn new(kind: MemoryKind, access: Access) -> Self {
        let kind_bits = match kind {
            MemoryKind::Normal => MEM_ATTR_NORMAL_WRITE_BACK | SH_INNER_SHAREABLE,
            MemoryKind::Device => MEM_ATTR_DEVICE_NGNRE | EXECUTE_NEVER,
        };
        LeafAttributes(kind_bits | ACCESS_FLAG).with_access(access)
    }

    pub(super) fn kind(self) -> MemoryKind {
        // Only the two encodings above are ever written; anything else is
        // reported as the more restrictive kind.
        if self.0 & MEM_ATTR_MASK == MEM_ATTR_NORMAL_WRITE_BACK {
            MemoryKind::Normal
        } else {
            MemoryKind::Device
        }
    }

    pub(super) fn access(self) -> Access {
        if self.0 & S2AP_MASK == S2AP_READ_WRITE {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        }
    }

    pub(super) fn with_access(self, access: Access) -> Self {
        let s2ap = match access {
            Access::ReadWrite => S2AP_READ_WRITE,
            Access::ReadOnly => S2AP_READ_ONLY,
        };
        LeafAttributes((self.0 & !S2AP_MASK) | s2ap)
    }
}

/// One 64-bit entry of a stage-2 table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Descriptor(pub(super) u64);

impl Descriptor {
    /// A pointer to the next-level table at `address` (4 KiB aligned, < 2^48).
    pub(super) fn table(address: u64) -> Self {
        Descriptor((address & OUTPUT_ADDRESS_MASK) | VALID | TABLE_OR_PAGE)
    }

    /// A block (levels 1-2) or page (level 3) mapping `output_address`.
    pub(super) fn leaf(level: u32, output_address: u64, attributes: LeafAttributes) -> Self {
        let type_bits = if level == 3 {
            VALID | TABLE_OR_PAGE
        } else {
            VALID
        };
        Descriptor((output_address & OUTPUT_ADDRESS_MASK) | attributes.0 | type_bits)
    }

    pub(super) fn is_valid(self) -> bool {
        self.0 & VALID != 0
    }

    /// Whether this is a next-level table pointer (only meaningful below level 3).
    pub(super) fn is_table(self, level: u32) -> bool {
        level < 3 && self.0 & TYPE_MASK == VALID | TABLE_OR_PAGE
    }

    /// Whether this maps memory: a block at levels 1-2, a page at level 3.
    pub(super) fn is_leaf(self, level: u32) -> bool {
        let expected = if level == 3 {
            VALID | TABLE_OR_PAGE
        } else {
            VALID
        };
        self.0 & TYPE_MASK == expected
    }

    pub(super) fn output_address(self) -> u64 {
        self.0 & OUTPUT_ADDRESS_MASK
    }

    pub(super) fn attributes(self) -> LeafAttributes {
        LeafAttributes(self.0 & !(OUTPUT_ADDRESS_MASK | TYPE_MASK))
    }
}

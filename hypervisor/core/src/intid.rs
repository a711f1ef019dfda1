//! `IntId`: a GIC interrupt ID, with its kind (SGI, PPI, SPI or special) named rather than recomputed from ranges.
//!
//! GICv3 and GICv2 number interrupts the same way below 1020 (GICv2 stops
//! there; GICv3's LPIs from 8192 are not used by Bulkhead), so one type
//! serves both controllers.
#![forbid(unsafe_code)]

use core::fmt;

/// An interrupt ID as the GIC numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct IntId(u32);

/// What kind of interrupt an [`IntId`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntIdKind {
    /// 0..=15: software-generated, per core.
    Sgi,
    /// 16..=31: private to one core (timers, PMU, the maintenance interrupt).
    Ppi,
    /// 32..=1019: shared peripheral, routed to one core.
    Spi,
    /// 1020..=1023: acknowledge results that are no interrupt.
    Special,
    /// 1024 and up: GICv3's extended and LPI ranges, which Bulkhead does not use.
    Other,
}

impl IntId {
    /// The first PPI.
    pub const PPI_FIRST: u32 = 16;
    /// The first SPI.
    pub const SPI_FIRST: u32 = 32;
    /// The first special (spurious) INTID.
    pub const SPECIAL_FIRST: u32 = 1020;
    /// What an acknowledge returns when nothing is pending.
    pub const SPURIOUS: IntId = IntId(1023);

    pub const fn new(raw: u32) -> IntId {
        IntId(raw)
    }

    /// SGI `number` (0..=15); `None` above.
    pub const fn sgi(number: u32) -> Option<IntId> {
        if number < Self::PPI_FIRST {
            Some(IntId(number))
        } else {
            None
        }
    }

    /// PPI `number` (0..=15, INTID 16 + `number`); `None` above.
    pub const fn ppi(number: u32) -> Option<IntId> {
        if number < Self::SPI_FIRST - Self::PPI_FIRST {
            Some(IntId(Self::PPI_FIRST + number))
        } else {
            None
        }
    }

    /// SPI `number` (INTID 32 + `number`, below 1020); `None` otherwise.
    pub const fn spi(number: u32) -> Option<IntId> {
        match Self::SPI_FIRST.checked_add(number) {
            Some(raw) if raw < Self::SPECIAL_FIRST => Some(IntId(raw)),
            _ => None,
        }
    }

    pub const fn raw(self) -> u32 {
        self.0
    }

    pub const fn kind(self) -> IntIdKind {
        match self.0 {
            0..=15 => IntIdKind::Sgi,
            16..=31 => IntIdKind::Ppi,
            32..=1019 => IntIdKind::Spi,
            1020..=1023 => IntIdKind::Special,
            _ => IntIdKind::Other,
        }
    }

    /// SGIs and PPIs: banked per core.
    pub const fn is_private(self) -> bool {
        self.0 < Self::SPI_FIRST
    }

    /// Whether an acknowledge returning this means "nothing to handle".
    pub const fn is_special(self) -> bool {
        matches!(self.kind(), IntIdKind::Special)
    }
}

impl fmt::Display for IntId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_architected_ranges() {
        assert_eq!(IntId::new(0).kind(), IntIdKind::Sgi);
        assert_eq!(IntId::new(15).kind(), IntIdKind::Sgi);
        assert_eq!(IntId::new(16).kind(), IntIdKind::Ppi);
        assert_eq!(IntId::new(31).kind(), IntIdKind::Ppi);
        assert_eq!(IntId::new(32).kind(), IntIdKind::Spi);
        assert_eq!(IntId::new(1019).kind(), IntIdKind::Spi);
        assert!(IntId::new(1020).is_special());
        assert!(IntId::SPURIOUS.is_special());
        assert_eq!(IntId::new(8192).kind(), IntIdKind::Other);
        assert!(IntId::new(31).is_private() && !IntId::new(32).is_private());
    }

    #[test]
    fn constructors_refuse_out_of_range_numbers() {
        assert_eq!(IntId::sgi(8), Some(IntId::new(8)));
        assert_eq!(IntId::sgi(16), None);
        assert_eq!(IntId::ppi(9), Some(IntId::new(25)));
        assert_eq!(IntId::ppi(16), None);
        assert_eq!(IntId::spi(1), Some(IntId::new(33)));
        assert_eq!(IntId::spi(988), None);
        assert_eq!(IntId::spi(u32::MAX), None);
    }
}

//! ICH_LR<n>_EL2 values: one virtual interrupt as the GICv3 virtual CPU interface holds it.

const STATE_SHIFT: u32 = 62;
const HW: u64 = 1 << 61;
const GROUP1: u64 = 1 << 60;
const PRIORITY_SHIFT: u32 = 48;
const PHYSICAL_INTID_SHIFT: u32 = 32;
/// pINTID (bits 44:32) when HW = 1.
const PHYSICAL_INTID_MASK: u64 = 0x1fff;
/// EOI (bit 41) when HW = 0.
const EOI_MAINTENANCE: u64 = 1 << 41;
const VIRTUAL_INTID_MASK: u64 = 0xffff_ffff;

/// The state of a list register's interrupt (bits 63:62).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRegisterState {
    /// 0b00: the list register is free.
    Invalid,
    /// 0b01
    Pending,
    /// 0b10
    Active,
    /// 0b11
    PendingActive,
}

impl ListRegisterState {
    /// Nothing to deliver or complete: the register can be reused.
    pub const fn is_invalid(self) -> bool {
        matches!(self, ListRegisterState::Invalid)
    }

    const fn from_bits(bits: u64) -> ListRegisterState {
        match bits & 0b11 {
            0b00 => ListRegisterState::Invalid,
            0b01 => ListRegisterState::Pending,
            0b10 => ListRegisterState::Active,
            _ => ListRegisterState::PendingActive,
        }
    }

    const fn bits(self) -> u64 {
        match self {
            ListRegisterState::Invalid => 0b00,
            ListRegisterState::Pending => 0b01,
            ListRegisterState::Active => 0b10,
            ListRegisterState::PendingActive => 0b11,
        }
    }
}

/// What the guest's deactivation of the virtual interrupt also does (HW, bit 61).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deactivation {
    /// HW = 0: only the virtual interrupt is affected; `eoi_maintenance`
    /// (EOI, bit 41) asks for a maintenance interrupt when the guest deactivates it.
    Virtual { eoi_maintenance: bool },
    /// HW = 1: deactivating it deactivates the physical interrupt
    /// `physical_intid` (pINTID, bits 44:32) too.
    Hardware { physical_intid: u16 },
}

/// One decoded list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegister {
    pub state: ListRegisterState,
    pub deactivation: Deactivation,
    /// Group (bit 60): a Group 1 interrupt (Bulkhead only injects those).
    pub group1: bool,
    /// Priority (bits 55:48).
    pub priority: u8,
    /// vINTID (bits 31:0): the INTID the guest acknowledges.
    pub virtual_intid: u32,
}

impl ListRegister {
    /// A pending Group 1 interrupt as Bulkhead injects it; `hardware` ties it
    /// to the physical interrupt with the same INTID (pINTID = vINTID), so
    /// the guest's deactivation reaches the physical GIC.
    pub const fn pending(intid: u32, priority: u8, hardware: bool) -> ListRegister {
        ListRegister {
            state: ListRegisterState::Pending,
            deactivation: if hardware {
                Deactivation::Hardware {
                    physical_intid: (intid as u64 & PHYSICAL_INTID_MASK) as u16,
                }
            } else {
                Deactivation::Virtual {
                    eoi_maintenance: false,
                }
            },
            group1: true,
            priority,
            virtual_intid: intid,
        }
    }

    /// Decodes a list register value; RES0 bits are ignored.
    pub const fn decode(value: u64) -> ListRegister {
        ListRegister {
            state: ListRegisterState::from_bits(value >> STATE_SHIFT),
            deactivation: if value & HW != 0 {
                Deactivation::Hardware {
                    physical_intid: ((value >> PHYSICAL_INTID_SHIFT) & PHYSICAL_INTID_MASK) as u16,
                }
            } else {
                Deactivation::Virtual {
                    eoi_maintenance: value & EOI_MAINTENANCE != 0,
                }
            },
            group1: value & GROUP1 != 0,
            priority: (value >> PRIORITY_SHIFT) as u8,
            virtual_intid: (value & VIRTUAL_INTID_MASK) as u32,
        }
    }

    /// The value to write to ICH_LR<n>_EL2; a pINTID wider than 13 bits is cut to 13.
    pub const fn encode(&self) -> u64 {
        let deactivation = match self.deactivation {
            Deactivation::Virtual { eoi_maintenance } => {
                if eoi_maintenance {
                    EOI_MAINTENANCE
                } else {
                    0
                }
            }
            Deactivation::Hardware { physical_intid } => {
                HW | (physical_intid as u64 & PHYSICAL_INTID_MASK) << PHYSICAL_INTID_SHIFT
            }
        };
        let group = if self.group1 { GROUP1 } else { 0 };
        self.state.bits() << STATE_SHIFT
            | deactivation
            | group
            | (self.priority as u64) << PRIORITY_SHIFT
            | self.virtual_intid as u64
    }

    /// The physical INTID this register still holds in flight (hardware
    /// backed, pending or active): the one to deactivate when it is discarded.
    pub const fn hardware_intid_in_flight(&self) -> Option<u32> {
        match self.deactivation {
            Deactivation::Hardware { physical_intid } if !self.state.is_invalid() => {
                Some(physical_intid as u32)
            }
            _ => None,
        }
    }

    /// A pending Group 1 interrupt for the physical PPI or SPI `intid` whose
    /// deactivation Bulkhead does itself: not tied by HW, it asks for an
    /// EOI maintenance interrupt instead, on which Bulkhead deactivates the
    /// physical interrupt (see [`ListRegister::physical_intid_in_flight`]).
    pub const fn pending_deactivated_by_maintenance(intid: u32, priority: u8) -> ListRegister {
        let mut register = ListRegister::pending(intid, priority, false);
        register.deactivation = Deactivation::Virtual {
            eoi_maintenance: true,
        };
        register
    }

    /// The physical PPI or SPI Bulkhead deactivates on this register's EOI
    /// maintenance (an EOI-maintenance register above the SGIs, which are
    /// always virtual, and below the purely virtual SPIs), whatever its state.
    pub const fn deactivated_by_maintenance(&self) -> Option<u32> {
        match self.deactivation {
            Deactivation::Virtual {
                eoi_maintenance: true,
            } if self.virtual_intid >= crate::intid::IntId::PPI_FIRST
                && self.virtual_intid < crate::config::virtual_pci::FIRST_VIRTUAL_SPI =>
            {
                Some(self.virtual_intid)
            }
            _ => None,
        }
    }

    /// The physical INTID still active behind this register (pending or
    /// active in it): hardware-backed, or [`Self::deactivated_by_maintenance`].
    /// The one to deactivate when the register is discarded.
    pub const fn physical_intid_in_flight(&self) -> Option<u32> {
        match self.deactivated_by_maintenance() {
            Some(intid) if !self.state.is_invalid() => Some(intid),
            Some(_) => None,
            None => self.hardware_intid_in_flight(),
        }
    }

    /// Already holds `intid` pending (not active): injecting it again would change nothing.
    pub const fn is_pending(&self, intid: u32) -> bool {
        self.virtual_intid == intid && matches!(self.state, ListRegisterState::Pending)
    }

    /// How a virtual SGI is made pending when this valid, purely virtual
    /// register already holds the same vINTID (`same_source`: from the same
    /// sender, always so on a GICv3). Two valid list registers with one
    /// vINTID are UNPREDICTABLE: QEMU's GICv2 then acknowledges one and
    /// completes the other, and the guest takes the SGI twice.
    pub const fn merge_sgi(&self, same_source: bool) -> SgiMerge {
        let mut register = *self;
        match (same_source, self.state, self.deactivation) {
            (true, ListRegisterState::Active, Deactivation::Virtual { .. }) => {
                register.state = ListRegisterState::PendingActive;
                SgiMerge::Pending(Some(register))
            }
            (true, ListRegisterState::Pending | ListRegisterState::PendingActive, _) => {
                SgiMerge::Pending(None)
            }
            (
                _,
                _,
                Deactivation::Virtual {
                    eoi_maintenance: false,
                },
            ) => {
                register.deactivation = Deactivation::Virtual {
                    eoi_maintenance: true,
                };
                SgiMerge::Waits(Some(register))
            }
            _ => SgiMerge::Waits(None),
        }
    }
}

/// What [`ListRegister::merge_sgi`] decided; `Some` is the register to write back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiMerge {
    /// The SGI is pending in that list register (now, or already).
    Pending(Option<ListRegister>),
    /// Another sender's SGI holds the register: this one stays queued until
    /// the guest deactivates that one, which raises an EOI maintenance interrupt.
    Waits(Option<ListRegister>),
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Reference: `vgic_hw.rs`'s `VirtualInterrupt::encode` before the move.
    fn reference_encode(intid: u32, priority: u8, hardware: bool) -> u64 {
        let mut value = 0b01 << 62 | 1 << 60 | u64::from(priority) << 48 | u64::from(intid);
        if hardware {
            value |= 1 << 61 | u64::from(intid) << 32;
        }
        value
    }

    /// Reference: `vgic_hw.rs`'s `hardware_intid` before the move.
    fn reference_hardware_intid(lr: u64) -> Option<u32> {
        (lr & 1 << 61 != 0 && lr & 0b11 << 62 != 0).then_some(((lr >> 32) & 0x1fff) as u32)
    }

    /// The bits a decode keeps, for a value with or without HW.
    fn defined_bits(value: u64) -> u64 {
        let common = 0b1111 << 60 | 0xff << 48 | 0xffff_ffff;
        if value & HW != 0 {
            common | 0x1fff << 32
        } else {
            common | EOI_MAINTENANCE
        }
    }

    #[test]
    fn an_sgi_sent_again_while_active_becomes_pending_and_active_in_its_register() {
        let mut active = ListRegister::pending(1, 0xa0, false);
        active.state = ListRegisterState::Active;
        let expected = ListRegister {
            state: ListRegisterState::PendingActive,
            ..active
        };
        assert_eq!(active.merge_sgi(true), SgiMerge::Pending(Some(expected)));
        for state in [ListRegisterState::Pending, ListRegisterState::PendingActive] {
            let held = ListRegister { state, ..active };
            assert_eq!(held.merge_sgi(true), SgiMerge::Pending(None));
        }
    }

    #[test]
    fn another_senders_sgi_waits_for_an_eoi_maintenance() {
        for state in [
            ListRegisterState::Pending,
            ListRegisterState::Active,
            ListRegisterState::PendingActive,
        ] {
            let held = ListRegister {
                state,
                ..ListRegister::pending(3, 0xa0, false)
            };
            let SgiMerge::Waits(Some(asked)) = held.merge_sgi(false) else {
                panic!("{state:?}: no EOI maintenance asked for");
            };
            assert_eq!(
                asked.deactivation,
                Deactivation::Virtual {
                    eoi_maintenance: true
                }
            );
            assert_eq!((asked.state, asked.virtual_intid), (state, 3));
            assert_eq!(asked.merge_sgi(false), SgiMerge::Waits(None));
        }
    }

    #[test]
    fn pending_software_interrupt() {
        let lr = ListRegister::pending(27, 0xa0, false);
        assert_eq!(lr.encode(), 0x50a0_0000_0000_001b);
        assert_eq!(lr.encode(), reference_encode(27, 0xa0, false));
        assert_eq!(ListRegister::decode(lr.encode()), lr);
        assert_eq!(lr.hardware_intid_in_flight(), None);
    }

    #[test]
    fn physical_interrupt_deactivated_by_maintenance_is_in_flight_until_free() {
        // A PPI (the virtual timer's) as well as an SPI.
        let ppi = ListRegister::pending_deactivated_by_maintenance(27, 0xa0);
        assert_eq!(ppi.physical_intid_in_flight(), Some(27));
        let lr = ListRegister::pending_deactivated_by_maintenance(40, 0xa0);
        assert_eq!(lr.hardware_intid_in_flight(), None);
        assert_eq!(lr.physical_intid_in_flight(), Some(40));
        assert_eq!(ListRegister::decode(lr.encode()), lr);
        let free = ListRegister {
            state: ListRegisterState::Invalid,
            ..lr
        };
        assert_eq!(free.physical_intid_in_flight(), None);
        assert_eq!(free.deactivated_by_maintenance(), Some(40));
        // Purely virtual SPIs and SGIs with an EOI maintenance have no physical side.
        for virtual_only in [5, 15, crate::config::virtual_pci::FIRST_VIRTUAL_SPI] {
            let lr = ListRegister::pending_deactivated_by_maintenance(virtual_only, 0xa0);
            assert_eq!(lr.physical_intid_in_flight(), None);
        }
        let hardware = ListRegister::pending(48, 0x80, true);
        assert_eq!(hardware.physical_intid_in_flight(), Some(48));
    }

    #[test]
    fn pending_hardware_interrupt() {
        let lr = ListRegister::pending(48, 0x80, true);
        assert_eq!(lr.encode(), 0x7080_0030_0000_0030);
        assert_eq!(lr.encode(), reference_encode(48, 0x80, true));
        assert_eq!(
            lr.deactivation,
            Deactivation::Hardware { physical_intid: 48 }
        );
        assert_eq!(lr.hardware_intid_in_flight(), Some(48));
    }

    #[test]
    fn states() {
        for (bits, state) in [
            (0b00u64, ListRegisterState::Invalid),
            (0b01, ListRegisterState::Pending),
            (0b10, ListRegisterState::Active),
            (0b11, ListRegisterState::PendingActive),
        ] {
            let lr = ListRegister::decode(bits << 62 | 1 << 61 | 33 << 32 | 33);
            assert_eq!(lr.state, state);
            assert_eq!(lr.encode() >> 62, bits);
            assert_eq!(
                lr.hardware_intid_in_flight(),
                (bits != 0).then_some(33),
                "state {bits:#b}"
            );
        }
    }

    #[test]
    fn fields() {
        let lr = ListRegister::decode(0x90c5_0000_0000_1234);
        assert_eq!(lr.state, ListRegisterState::Active);
        assert!(lr.group1);
        assert_eq!(lr.priority, 0xc5);
        assert_eq!(lr.virtual_intid, 0x1234);
        assert_eq!(
            lr.deactivation,
            Deactivation::Virtual {
                eoi_maintenance: false
            }
        );
        let eoi = ListRegister::decode(1 << 62 | 1 << 41 | 5);
        assert!(!eoi.group1);
        assert_eq!(
            eoi.deactivation,
            Deactivation::Virtual {
                eoi_maintenance: true
            }
        );
        assert_eq!(eoi.encode(), 1 << 62 | 1 << 41 | 5);
        // pINTID is all of bits 44:32.
        let wide = ListRegister::decode(1 << 62 | 1 << 61 | 0x1fff << 32);
        assert_eq!(
            wide.deactivation,
            Deactivation::Hardware {
                physical_intid: 0x1fff
            }
        );
    }

    #[test]
    fn pending_match_ignores_active_copies() {
        assert!(ListRegister::pending(40, 0, false).is_pending(40));
        assert!(!ListRegister::pending(40, 0, false).is_pending(41));
        for state in [0b00u64, 0b10, 0b11] {
            assert!(!ListRegister::decode(state << 62 | 40).is_pending(40));
        }
    }

    #[test]
    fn empty_register() {
        let lr = ListRegister::decode(0);
        assert!(lr.state.is_invalid());
        assert_eq!(lr.hardware_intid_in_flight(), None);
        assert_eq!(lr.encode(), 0);
    }

    proptest! {
        #[test]
        fn any_value_decodes_and_reencodes_its_defined_bits(value in any::<u64>()) {
            let lr = ListRegister::decode(value);
            prop_assert_eq!(lr.encode(), value & defined_bits(value));
            prop_assert_eq!(lr.hardware_intid_in_flight(), reference_hardware_intid(value));
            prop_assert_eq!(ListRegister::decode(lr.encode()), lr);
        }

        #[test]
        fn injections_match_the_old_encoding(
            intid in 0u32..8192,
            priority in any::<u8>(),
            hardware in any::<bool>(),
        ) {
            let lr = ListRegister::pending(intid, priority, hardware);
            prop_assert_eq!(lr.encode(), reference_encode(intid, priority, hardware));
            prop_assert_eq!(ListRegister::decode(lr.encode()), lr);
        }

        #[test]
        fn any_fields_encode_without_panicking(
            intid in any::<u32>(),
            priority in any::<u8>(),
            hardware in any::<bool>(),
            physical_intid in any::<u16>(),
        ) {
            let mut lr = ListRegister::pending(intid, priority, hardware);
            let _ = lr.encode();
            lr.deactivation = Deactivation::Hardware { physical_intid };
            let decoded = ListRegister::decode(lr.encode());
            prop_assert_eq!(
                decoded.deactivation,
                Deactivation::Hardware { physical_intid: physical_intid & 0x1fff }
            );
        }
    }
}

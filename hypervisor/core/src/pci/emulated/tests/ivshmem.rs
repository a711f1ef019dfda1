//! ivshmem BAR0: mask and status, doorbell decoding, channel facts, refusals.

use alloc::sync::Arc;

use bulkhead_abi::ivshmem::{
    CHANNEL_ID, DOORBELL, ENDPOINTS, INTR_MASK, INTR_STATUS, IV_POSITION, LABEL, READ_ONLY,
};

use super::super::{Effects, IntxLine, IvshmemEndpoint, IvshmemRegisters, Label, Ring};
use super::{endpoint, ivshmem};
use crate::vgic::Width;

fn read(registers: &IvshmemRegisters, offset: u64) -> u64 {
    registers.read(offset, Width::Word)
}

fn doorbell(registers: &IvshmemRegisters, value: u32) -> Effects {
    registers.write(DOORBELL, Width::Word, u64::from(value))
}

#[test]
fn channel_facts_read_as_given() {
    let (_, registers) = ivshmem();
    assert_eq!(read(&registers, IV_POSITION), 1);
    assert_eq!(read(&registers, CHANNEL_ID), 7);
    assert_eq!(read(&registers, ENDPOINTS), 3);
    assert_eq!(read(&registers, READ_ONLY), 0);
    assert_eq!(read(&registers, DOORBELL), 0, "write-only");
    assert_eq!(
        read(&registers, LABEL),
        u64::from(u32::from_le_bytes(*b"tele"))
    );
    assert_eq!(
        read(&registers, LABEL + 4),
        u64::from(u32::from_le_bytes(*b"metr"))
    );
    assert_eq!(read(&registers, LABEL + 8), u64::from(b'y'));
    for offset in (LABEL + 12..LABEL + 32).step_by(4) {
        assert_eq!(read(&registers, offset), 0, "NUL padding at {offset:#x}");
    }
    let read_only = IvshmemRegisters::new(
        IvshmemEndpoint {
            read_only: true,
            ..endpoint()
        },
        Arc::new(IntxLine::new()),
    );
    assert_eq!(read(&read_only, READ_ONLY), 1);
}

#[test]
fn labels_are_cut_at_a_character_and_padded() {
    let long = Label::new("a label that is much longer than thirty-two bytes");
    assert_eq!(&long.bytes()[..], b"a label that is much longer than");
    // 31 ASCII bytes and a two-byte character: the character does not fit.
    let cut = Label::new("0123456789012345678901234567890é");
    assert_eq!(cut.bytes()[30..], [b'0', 0]);
    assert_eq!(Label::new("").word(0), 0);
    assert_eq!(Label::new("x").word(8), 0);
    assert_eq!(Label::new("x").word(usize::MAX), 0);
}

#[test]
fn status_read_clears() {
    let (_, registers) = ivshmem();
    assert!(!registers.ring());
    assert!(!registers.ring());
    assert_eq!(read(&registers, INTR_STATUS), 1);
    assert_eq!(read(&registers, INTR_STATUS), 0);
}

#[test]
fn mask_write_raises_with_status_pending_and_masking_lowers() {
    let (_, registers) = ivshmem();
    assert_eq!(
        registers.write(INTR_MASK, Width::Word, 0xFFFF_FFFF),
        Effects::NONE
    );
    assert_eq!(read(&registers, INTR_MASK), 0xFFFF_FFFF);
    assert_eq!(registers.write(INTR_MASK, Width::Word, 0), Effects::NONE);
    assert!(!registers.ring());
    assert_eq!(
        registers.write(INTR_MASK, Width::Word, 1),
        Effects {
            raise: true,
            ring: None
        }
    );
    assert!(registers.line().asserted());
    assert_eq!(registers.write(INTR_MASK, Width::Word, 0), Effects::NONE);
    assert!(!registers.line().asserted());
    assert!(registers.write(INTR_MASK, Width::Word, 1).raise);
    assert_eq!(read(&registers, INTR_STATUS), 1);
    assert!(!registers.line().asserted());
    assert!(
        registers.ring(),
        "unmasked: each ring after a status read raises"
    );
}

#[test]
fn doorbell_decodes_peers() {
    let (_, registers) = ivshmem();
    let rings = |peer| Effects {
        raise: false,
        ring: Some(Ring { peer }),
    };
    assert_eq!(doorbell(&registers, 0x0000_0000), rings(Some(0)));
    assert_eq!(doorbell(&registers, 0x0002_0000), rings(Some(2)));
    assert_eq!(doorbell(&registers, 0xFFFF_0000), rings(None), "all peers");
    // Another vector, the endpoint itself, or no such endpoint: nothing.
    assert_eq!(doorbell(&registers, 0x0000_0001), Effects::NONE);
    assert_eq!(doorbell(&registers, 0xFFFF_0003), Effects::NONE);
    assert_eq!(doorbell(&registers, 0x0001_0000), Effects::NONE);
    assert_eq!(doorbell(&registers, 0x0003_0000), Effects::NONE);
    assert_eq!(doorbell(&registers, 0xFFFE_0000), Effects::NONE);
    // Upper bits of a 64-bit value are not part of a 32-bit write.
    assert_eq!(
        registers.write(DOORBELL, Width::Word, 0xDEAD_0000_0002_0000),
        rings(Some(2))
    );
    // Ringing is for the hypervisor to deliver: the ringer's own status is untouched.
    assert_eq!(read(&registers, INTR_STATUS), 0);
}

#[test]
fn other_widths_and_offsets_are_raz_wi() {
    let (_, registers) = ivshmem();
    assert!(!registers.ring());
    assert_eq!(registers.read(INTR_STATUS, Width::Byte), 0);
    assert_eq!(registers.read(INTR_STATUS, Width::Half), 0);
    assert_eq!(registers.read(INTR_MASK, Width::Double), 0);
    assert_eq!(registers.read(INTR_STATUS + 2, Width::Word), 0);
    assert_eq!(read(&registers, INTR_STATUS), 1, "none of those cleared it");
    for (offset, width) in [
        (INTR_MASK, Width::Byte),
        (INTR_MASK, Width::Half),
        (INTR_MASK, Width::Double),
        (INTR_MASK + 1, Width::Word),
        (DOORBELL, Width::Half),
        (DOORBELL, Width::Double),
        (DOORBELL + 2, Width::Word),
        (IV_POSITION, Width::Word),
        (LABEL, Width::Word),
        (0x1C, Width::Word),
        (0xFC, Width::Word),
        (0x100, Width::Word),
        (0xFFC, Width::Word),
        (u64::MAX - 3, Width::Word),
    ] {
        assert_eq!(registers.write(offset, width, u64::MAX), Effects::NONE);
    }
    assert_eq!(read(&registers, INTR_MASK), 0);
    assert_eq!(read(&registers, IV_POSITION), 1);
    assert_eq!(
        read(&registers, LABEL),
        u64::from(u32::from_le_bytes(*b"tele"))
    );
    for offset in [0x1C, 0x40, 0xFC, 0x100, 0xFFC, u64::MAX - 3] {
        assert_eq!(read(&registers, offset), 0, "offset {offset:#x}");
    }
}

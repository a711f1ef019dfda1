//! Event queue records: which device faulted, where, and why (IHI 0070 chapter 7).
//!
//! Field positions match QEMU's EVT_SET_* macros: EventID dword 0 [7:0],
//! StreamID dword 0 [63:32], PnU/InD/RnW dword 1 bits 33/34/35, S2 bit 39,
//! CLASS [41:40], InputAddr dword 2, IPA dword 3 [51:3].

/// Bytes per event queue entry.
pub const EVENT_SIZE: usize = 32;

/// EventIDs Bulkhead tells apart.
const C_BAD_STREAMID: u8 = 0x02;
const C_BAD_STE: u8 = 0x04;
const F_TRANSLATION: u8 = 0x10;
const F_ADDR_SIZE: u8 = 0x11;
const F_ACCESS: u8 = 0x12;
const F_PERMISSION: u8 = 0x13;

const PRIVILEGED: u64 = 1 << 33;
const INSTRUCTION: u64 = 1 << 34;
const READ: u64 = 1 << 35;
const STAGE2: u64 = 1 << 39;
const CLASS_SHIFT: u32 = 40;
const IPA_MASK: u64 = 0x000F_FFFF_FFFF_FFF8;

/// What an event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A device sent a stream ID beyond the stream table (needs CR2.RECINVSID).
    BadStreamId,
    /// The stream table entry is invalid (V = 0) or ILLEGAL.
    BadSte,
    Translation,
    AddressSize,
    Access,
    Permission,
    Other(u8),
}

impl EventKind {
    pub fn from_id(id: u8) -> EventKind {
        match id {
            C_BAD_STREAMID => EventKind::BadStreamId,
            C_BAD_STE => EventKind::BadSte,
            F_TRANSLATION => EventKind::Translation,
            F_ADDR_SIZE => EventKind::AddressSize,
            F_ACCESS => EventKind::Access,
            F_PERMISSION => EventKind::Permission,
            other => EventKind::Other(other),
        }
    }

    /// The EventID.
    pub fn id(&self) -> u8 {
        match self {
            EventKind::BadStreamId => C_BAD_STREAMID,
            EventKind::BadSte => C_BAD_STE,
            EventKind::Translation => F_TRANSLATION,
            EventKind::AddressSize => F_ADDR_SIZE,
            EventKind::Access => F_ACCESS,
            EventKind::Permission => F_PERMISSION,
            EventKind::Other(id) => *id,
        }
    }

    /// A short description for the console.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::BadStreamId => "bad stream ID",
            EventKind::BadSte => "bad stream table entry",
            EventKind::Translation => "translation fault",
            EventKind::AddressSize => "address size fault",
            EventKind::Access => "access flag fault",
            EventKind::Permission => "permission fault",
            EventKind::Other(_) => "other event",
        }
    }

    /// A DMA that its partition's stage 2 refused: the records that carry
    /// an address, a direction and the S2/CLASS fields.
    pub fn is_translation_fault(&self) -> bool {
        matches!(
            self,
            EventKind::Translation
                | EventKind::AddressSize
                | EventKind::Access
                | EventKind::Permission
        )
    }
}

/// Direction of the faulting transaction (RnW).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One decoded event record.
///
/// The address, access, stage, IPA and class fields are meaningful only when
/// [`EventKind::is_translation_fault`]; for other kinds they read as zero
/// (address 0, [`Access::Read`], not stage 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub stream_id: u32,
    /// The address the device used (its IPA, with stage 1 bypassed).
    pub input_address: u64,
    pub access: Access,
    /// S2: the fault came from the stage-2 walk.
    pub stage2: bool,
    /// The faulting IPA (dword 3) when `stage2`, else 0.
    pub ipa: u64,
    /// CLASS: 0b00 context descriptor fetch, 0b01 table walk, 0b10 the input address.
    pub class: u8,
    /// InD: an instruction fetch.
    pub instruction: bool,
    /// PnU: a privileged access.
    pub privileged: bool,
}

impl Event {
    pub fn decode(record: &[u64; 4]) -> Event {
        let [dword0, dword1, dword2, dword3] = *record;
        let kind = EventKind::from_id((dword0 & 0xFF) as u8);
        let stream_id = (dword0 >> 32) as u32;
        if !kind.is_translation_fault() {
            return Event {
                kind,
                stream_id,
                input_address: 0,
                access: Access::Read,
                stage2: false,
                ipa: 0,
                class: 0,
                instruction: false,
                privileged: false,
            };
        }
        let stage2 = dword1 & STAGE2 != 0;
        Event {
            kind,
            stream_id,
            input_address: dword2,
            access: if dword1 & READ != 0 {
                Access::Read
            } else {
                Access::Write
            },
            stage2,
            ipa: if stage2 { dword3 & IPA_MASK } else { 0 },
            class: ((dword1 >> CLASS_SHIFT) & 0b11) as u8,
            instruction: dword1 & INSTRUCTION != 0,
            privileged: dword1 & PRIVILEGED != 0,
        }
    }
}

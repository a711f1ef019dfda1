//! The control function's BAR0: the partition table read live, and commands run synchronously.

use alloc::sync::Arc;

use bulkhead_abi::control::{
    commands, entry, COMMAND, ENTRY_SIZE, INTR_MASK, INTR_STATUS, MAGIC, MAGIC_VALUE, MAX_ENTRIES,
    OWN_ID, PARTITION_COUNT, RESULT, RESULT_VALUE, SEQUENCE, TABLE, TARGET, VERSION,
};
use bulkhead_abi::ret;

use super::effects::Effects;
use super::intx::IntxLine;
use super::label::Label;
use crate::vgic::Width;

/// A command written to COMMAND (`abi::control::commands`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlCommand {
    Checkpoint,
    Restore,
    /// Reboot from the pristine image.
    Restart,
    Stop,
    /// Boot a stopped or powered-off partition from its image.
    Start,
}

impl ControlCommand {
    /// The command a COMMAND value names, if any.
    pub const fn from_register(value: u32) -> Option<ControlCommand> {
        match value {
            commands::CHECKPOINT => Some(ControlCommand::Checkpoint),
            commands::RESTORE => Some(ControlCommand::Restore),
            commands::RESTART => Some(ControlCommand::Restart),
            commands::STOP => Some(ControlCommand::Stop),
            commands::START => Some(ControlCommand::Start),
            _ => None,
        }
    }

    /// Its COMMAND value.
    pub const fn register(self) -> u32 {
        match self {
            ControlCommand::Checkpoint => commands::CHECKPOINT,
            ControlCommand::Restore => commands::RESTORE,
            ControlCommand::Restart => commands::RESTART,
            ControlCommand::Stop => commands::STOP,
            ControlCommand::Start => commands::START,
        }
    }
}

/// What a command came to: RESULT and RESULT_VALUE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandResult {
    /// An SMCCC code (`abi::ret`), 0 for success.
    pub result: i64,
    /// The checkpoint generation a take produced; 0 otherwise.
    pub value: u64,
}

/// Traps to Bulkhead by reason (`abi::control::entry::TRAPS_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traps {
    pub hypercall: u64,
    pub mmio: u64,
    pub sysreg: u64,
    pub irq: u64,
    pub other: u64,
}

/// One row of the partition table (`abi::control::entry`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionEntry {
    /// Layout id.
    pub id: u32,
    /// An `abi::control::states` value.
    pub state: u32,
    pub vcpus: u32,
    /// Starts so far (first boot and every restart).
    pub boot_count: u32,
    /// RAM bytes.
    pub memory: u64,
    /// Faults reported.
    pub faults: u64,
    /// Current checkpoint generation (0: none).
    pub checkpoint_generation: u64,
    /// Checkpoints taken.
    pub checkpoints: u64,
    /// Pause of the last checkpoint, counter ticks.
    pub checkpoint_pause: u64,
    pub traps: Traps,
    pub label: Label,
}

impl PartitionEntry {
    /// The u32 field at `offset` inside the entry (4-aligned), 0 where there is none.
    fn word(&self, offset: u64) -> u32 {
        match offset {
            entry::ID => self.id,
            entry::STATE => self.state,
            entry::VCPUS => self.vcpus,
            entry::BOOT_COUNT => self.boot_count,
            entry::LABEL..LABEL_END => self.label.word(((offset - entry::LABEL) / 4) as usize),
            _ => match self.double(offset & !7) {
                Some(value) if offset & 4 == 0 => value as u32,
                Some(value) => (value >> 32) as u32,
                None => 0,
            },
        }
    }

    /// The u64 field starting at `offset` inside the entry, if one does.
    fn double(&self, offset: u64) -> Option<u64> {
        Some(match offset {
            entry::MEMORY => self.memory,
            entry::FAULTS => self.faults,
            entry::CHECKPOINT_GENERATION => self.checkpoint_generation,
            entry::CHECKPOINTS => self.checkpoints,
            entry::CHECKPOINT_PAUSE => self.checkpoint_pause,
            entry::TRAPS_HYPERCALL => self.traps.hypercall,
            entry::TRAPS_MMIO => self.traps.mmio,
            entry::TRAPS_SYSREG => self.traps.sysreg,
            entry::TRAPS_IRQ => self.traps.irq,
            entry::TRAPS_OTHER => self.traps.other,
            _ => return None,
        })
    }
}

/// One past an entry's label.
const LABEL_END: u64 = entry::LABEL + entry::LABEL_SIZE;
/// One past the table.
const TABLE_END: u64 = TABLE + MAX_ENTRIES * ENTRY_SIZE;

const _: () = assert!(entry::LABEL_SIZE as usize == Label::SIZE);
const _: () = assert!(LABEL_END <= ENTRY_SIZE);

/// What the control function shows and does, from the hypervisor.
pub trait ControlBackend {
    /// Partitions in the table (the registers show at most `MAX_ENTRIES`).
    fn partition_count(&self) -> usize;

    /// Row `index` (0-based, below [`ControlBackend::partition_count`]), read now.
    fn entry(&self, index: usize) -> Option<PartitionEntry>;

    /// The layout id of the partition that owns this control function.
    fn own_id(&self) -> u32;

    /// Runs `command` on partition `target` (a layout id) for the owner, as
    /// the matching hypercall would (DENIED on a partition it does not manage).
    fn command(&mut self, command: ControlCommand, target: u32) -> CommandResult;
}

/// BAR0 of the control function (`abi::control`), little-endian.
///
/// Reads: aligned u32 registers and table fields; the u64 ones (RESULT_VALUE,
/// table counters) also as one aligned u64 or either u32 half; labels as u32
/// words. Writes: aligned u32 to TARGET, INTR_MASK and COMMAND. Any other
/// access reads 0 and is ignored. INTR_STATUS clears as it is read.
///
/// A COMMAND write runs the command through the backend before it returns,
/// then stores RESULT and RESULT_VALUE, increments SEQUENCE and sets
/// INTR_STATUS bit 0, which raises INTx if unmasked (same line rules as
/// ivshmem: [`IntxLine`]). An unknown command completes the same way with
/// RESULT = NOT_SUPPORTED, without reaching the backend.
///
/// Not shared across cores: the hypervisor keeps it behind the owner's lock.
#[derive(Clone, Debug)]
pub struct ControlRegisters {
    version: u32,
    target: u32,
    result: i64,
    value: u64,
    sequence: u32,
    line: Arc<IntxLine>,
}

impl ControlRegisters {
    /// Registers reporting `version` (major << 16 | minor), interrupting
    /// through `line` (the one its [`super::EmulatedFunction::control`] was given).
    pub fn new(version: u32, line: Arc<IntxLine>) -> ControlRegisters {
        ControlRegisters {
            version,
            target: 0,
            result: 0,
            value: 0,
            sequence: 0,
            line,
        }
    }

    /// The function's interrupt state.
    pub fn line(&self) -> &Arc<IntxLine> {
        &self.line
    }

    /// Partition restart: TARGET, RESULT, RESULT_VALUE, SEQUENCE 0, interrupt state reset.
    pub fn reset(&mut self) {
        self.target = 0;
        self.result = 0;
        self.value = 0;
        self.sequence = 0;
        self.line.reset();
    }

    /// A guest read of `width` at `offset` in BAR0.
    pub fn read(&self, backend: &impl ControlBackend, offset: u64, width: Width) -> u64 {
        match width {
            Width::Word if offset.is_multiple_of(4) => u64::from(self.read_word(backend, offset)),
            Width::Double if offset.is_multiple_of(8) => self.read_double(backend, offset),
            _ => 0,
        }
    }

    /// A guest write of the low `width` bytes of `value` at `offset` in BAR0.
    pub fn write(
        &mut self,
        backend: &mut impl ControlBackend,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Effects {
        if width != Width::Word {
            return Effects::NONE;
        }
        let value = value as u32;
        match offset {
            TARGET => {
                self.target = value;
                Effects::NONE
            }
            INTR_MASK => Effects::raise_if(self.line.set_mask(value)),
            COMMAND => Effects::raise_if(self.run(backend, value)),
            _ => Effects::NONE,
        }
    }

    /// Runs COMMAND `value` on TARGET and completes it; returns whether INTx rose.
    fn run(&mut self, backend: &mut impl ControlBackend, value: u32) -> bool {
        let outcome = match ControlCommand::from_register(value) {
            Some(command) => backend.command(command, self.target),
            None => CommandResult {
                result: ret::NOT_SUPPORTED,
                value: 0,
            },
        };
        self.result = outcome.result;
        self.value = outcome.value;
        self.sequence = self.sequence.wrapping_add(1);
        self.line.signal()
    }

    /// Partitions the table shows.
    fn visible(backend: &impl ControlBackend) -> usize {
        backend.partition_count().min(MAX_ENTRIES as usize)
    }

    /// Row `index` if the table shows it.
    fn entry(backend: &impl ControlBackend, index: u64) -> Option<PartitionEntry> {
        let index = usize::try_from(index).ok()?;
        if index < Self::visible(backend) {
            backend.entry(index)
        } else {
            None
        }
    }

    /// The u32 at `offset` (4-aligned).
    fn read_word(&self, backend: &impl ControlBackend, offset: u64) -> u32 {
        match offset {
            MAGIC => MAGIC_VALUE,
            VERSION => self.version,
            PARTITION_COUNT => Self::visible(backend) as u32,
            OWN_ID => backend.own_id(),
            TARGET => self.target,
            RESULT => self.result as i32 as u32,
            SEQUENCE => self.sequence,
            INTR_STATUS => self.line.take_status(),
            INTR_MASK => self.line.mask(),
            RESULT_VALUE => self.value as u32,
            RESULT_VALUE_HIGH => (self.value >> 32) as u32,
            TABLE..TABLE_END => {
                let (index, field) = ((offset - TABLE) / ENTRY_SIZE, (offset - TABLE) % ENTRY_SIZE);
                Self::entry(backend, index).map_or(0, |entry| entry.word(field))
            }
            _ => 0,
        }
    }

    /// The u64 at `offset` (8-aligned).
    fn read_double(&self, backend: &impl ControlBackend, offset: u64) -> u64 {
        match offset {
            RESULT_VALUE => self.value,
            TABLE..TABLE_END => {
                let (index, field) = ((offset - TABLE) / ENTRY_SIZE, (offset - TABLE) % ENTRY_SIZE);
                Self::entry(backend, index)
                    .and_then(|entry| entry.double(field))
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// RESULT_VALUE's high half.
const RESULT_VALUE_HIGH: u64 = RESULT_VALUE + 4;

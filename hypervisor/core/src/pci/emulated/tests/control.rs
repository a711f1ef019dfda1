//! Control BAR0: the table rendered from a fake backend, commands, sequence and interrupt, refusals.

use alloc::sync::Arc;
use alloc::vec::Vec;

use bulkhead_abi::control::{
    commands, entry, states, COMMAND, ENTRY_SIZE, INTR_MASK, INTR_STATUS, MAGIC, MAGIC_VALUE,
    MAX_ENTRIES, OWN_ID, PARTITION_COUNT, RESULT, RESULT_VALUE, SEQUENCE, TABLE, TARGET, VERSION,
};
use bulkhead_abi::ret;

use super::super::{
    CommandResult, ControlBackend, ControlCommand, ControlRegisters, Effects, IntxLine, Label,
    PartitionEntry, Traps,
};
use crate::vgic::Width;

/// A hypervisor stand-in: `count` partitions with recognisable values, and
/// a log of the commands it ran.
struct FakeBackend {
    count: usize,
    ran: Vec<(ControlCommand, u32)>,
    answer: CommandResult,
}

impl FakeBackend {
    fn new(count: usize) -> FakeBackend {
        FakeBackend {
            count,
            ran: Vec::new(),
            answer: CommandResult {
                result: ret::SUCCESS,
                value: 0x1_0000_0002,
            },
        }
    }
}

/// Partition `index`: every field derived from it, so a wrong row or field shows.
fn row(index: usize) -> PartitionEntry {
    let n = index as u64;
    PartitionEntry {
        id: 100 + index as u32,
        state: states::STOPPED,
        vcpus: 2,
        boot_count: 5 + index as u32,
        memory: 0x1_0000_0000 + n,
        faults: 0x2_0000_0000 + n,
        checkpoint_generation: 0x3_0000_0000 + n,
        checkpoints: 0x4_0000_0000 + n,
        checkpoint_pause: 0x5_0000_0000 + n,
        traps: Traps {
            hypercall: 0x6_0000_0000 + n,
            mmio: 0x7_0000_0000 + n,
            sysreg: 0x8_0000_0000 + n,
            irq: 0x9_0000_0000 + n,
            other: 0xA_0000_0000 + n,
        },
        label: Label::new(if index == 0 { "manager" } else { "worker" }),
    }
}

impl ControlBackend for FakeBackend {
    fn partition_count(&self) -> usize {
        self.count
    }

    fn entry(&self, index: usize) -> Option<PartitionEntry> {
        (index < self.count).then(|| row(index))
    }

    fn own_id(&self) -> u32 {
        100
    }

    fn command(&mut self, command: ControlCommand, target: u32) -> CommandResult {
        self.ran.push((command, target));
        self.answer
    }
}

/// BAR0 and the backend behind it, as the function's guest and the hypervisor see them.
struct Bar {
    registers: ControlRegisters,
    backend: FakeBackend,
}

impl Bar {
    /// Fresh registers (version 1.0) over `count` partitions.
    fn new(count: usize) -> Bar {
        Bar {
            registers: ControlRegisters::new(0x0001_0000, Arc::new(IntxLine::new())),
            backend: FakeBackend::new(count),
        }
    }

    fn read(&self, offset: u64, width: Width) -> u64 {
        self.registers.read(&self.backend, offset, width)
    }

    fn word(&self, offset: u64) -> u64 {
        self.read(offset, Width::Word)
    }

    fn write(&mut self, offset: u64, value: u32) -> Effects {
        self.registers
            .write(&mut self.backend, offset, Width::Word, u64::from(value))
    }

    /// Asserts that every register holding state reads 0, as at power-on and after reset.
    fn assert_state_cleared(&self) {
        for offset in [
            TARGET,
            RESULT,
            SEQUENCE,
            INTR_STATUS,
            INTR_MASK,
            RESULT_VALUE,
        ] {
            assert_eq!(self.word(offset), 0, "offset {offset:#x}");
        }
    }
}

#[test]
fn header_reads() {
    let bar = Bar::new(3);
    assert_eq!(bar.word(MAGIC), u64::from(MAGIC_VALUE));
    assert_eq!(bar.word(VERSION), 0x0001_0000);
    assert_eq!(bar.word(PARTITION_COUNT), 3);
    assert_eq!(bar.word(OWN_ID), 100);
    assert_eq!(bar.word(COMMAND), 0);
    bar.assert_state_cleared();
}

#[test]
fn table_renders_every_field_live() {
    let mut bar = Bar::new(2);
    for index in 0..2u64 {
        let base = TABLE + index * ENTRY_SIZE;
        let expected = row(index as usize);
        let at = |field| bar.word(base + field);
        assert_eq!(at(entry::ID), u64::from(expected.id));
        assert_eq!(at(entry::STATE), u64::from(states::STOPPED));
        assert_eq!(at(entry::VCPUS), 2);
        assert_eq!(at(entry::BOOT_COUNT), u64::from(expected.boot_count));
        let doubles = [
            (entry::MEMORY, expected.memory),
            (entry::FAULTS, expected.faults),
            (entry::CHECKPOINT_GENERATION, expected.checkpoint_generation),
            (entry::CHECKPOINTS, expected.checkpoints),
            (entry::CHECKPOINT_PAUSE, expected.checkpoint_pause),
            (entry::TRAPS_HYPERCALL, expected.traps.hypercall),
            (entry::TRAPS_MMIO, expected.traps.mmio),
            (entry::TRAPS_SYSREG, expected.traps.sysreg),
            (entry::TRAPS_IRQ, expected.traps.irq),
            (entry::TRAPS_OTHER, expected.traps.other),
        ];
        for (field, value) in doubles {
            assert_eq!(bar.read(base + field, Width::Double), value);
            assert_eq!(at(field), value & 0xFFFF_FFFF);
            assert_eq!(at(field + 4), value >> 32);
        }
        let label: Vec<u8> = (0..8)
            .flat_map(|i| (at(entry::LABEL + 4 * i) as u32).to_le_bytes())
            .collect();
        assert_eq!(&label[..], &expected.label.bytes()[..]);
        // No u64 field at a u32 one, nothing past the label.
        assert_eq!(bar.read(base + entry::ID, Width::Double), 0);
        assert_eq!(bar.read(base + entry::LABEL, Width::Double), 0);
    }
    // Past the last partition: zeros.
    assert_eq!(bar.word(TABLE + 2 * ENTRY_SIZE), 0);
    // Live: the table follows the backend.
    bar.backend.count = 3;
    assert_eq!(bar.word(PARTITION_COUNT), 3);
    assert_eq!(bar.word(TABLE + 2 * ENTRY_SIZE), 102);
}

#[test]
fn table_shows_at_most_max_entries() {
    let bar = Bar::new(100);
    assert_eq!(bar.word(PARTITION_COUNT), MAX_ENTRIES);
    let last = TABLE + (MAX_ENTRIES - 1) * ENTRY_SIZE;
    assert_eq!(bar.word(last), 100 + MAX_ENTRIES - 1);
    assert_eq!(bar.word(last + ENTRY_SIZE), 0, "BAR0 ends");
    assert_eq!(bar.word(0x1000), 0);
}

#[test]
fn command_runs_on_target_and_completes() {
    let mut bar = Bar::new(3);
    assert_eq!(bar.write(TARGET, 102), Effects::NONE);
    assert_eq!(bar.word(TARGET), 102);
    let effects = bar.write(COMMAND, commands::CHECKPOINT);
    assert_eq!(effects, Effects::NONE, "completion is masked by default");
    assert_eq!(bar.backend.ran, [(ControlCommand::Checkpoint, 102)]);
    assert_eq!(bar.word(RESULT), 0);
    assert_eq!(bar.word(SEQUENCE), 1);
    assert_eq!(bar.word(RESULT_VALUE), 2);
    assert_eq!(bar.word(RESULT_VALUE + 4), 1);
    assert_eq!(bar.read(RESULT_VALUE, Width::Double), 0x1_0000_0002);
    assert_eq!(bar.word(INTR_STATUS), 1);
    assert_eq!(bar.word(INTR_STATUS), 0, "read clears");

    bar.backend.answer = CommandResult {
        result: ret::DENIED,
        value: 0,
    };
    for (value, command) in [
        (commands::RESTORE, ControlCommand::Restore),
        (commands::RESTART, ControlCommand::Restart),
        (commands::STOP, ControlCommand::Stop),
        (commands::START, ControlCommand::Start),
    ] {
        let _ = bar.write(COMMAND, value);
        assert_eq!(bar.backend.ran.last(), Some(&(command, 102)));
        assert_eq!(ControlCommand::from_register(value), Some(command));
        assert_eq!(command.register(), value);
    }
    assert_eq!(bar.word(SEQUENCE), 5);
    assert_eq!(bar.word(RESULT), u64::from(ret::DENIED as u32));
    assert_eq!(bar.read(RESULT_VALUE, Width::Double), 0);
}

#[test]
fn unknown_commands_fail_without_reaching_the_backend() {
    let mut bar = Bar::new(3);
    for value in [0, 6, 0xFFFF_FFFF] {
        let _ = bar.write(COMMAND, value);
        assert_eq!(bar.word(RESULT), 0xFFFF_FFFF, "NOT_SUPPORTED");
    }
    assert!(bar.backend.ran.is_empty());
    assert_eq!(bar.word(SEQUENCE), 3, "they still complete");
    assert_eq!(bar.word(INTR_STATUS), 1);
}

#[test]
fn completion_raises_when_unmasked_and_intx_enabled() {
    let mut bar = Bar::new(1);
    assert_eq!(bar.write(INTR_MASK, 1), Effects::NONE);
    assert_eq!(bar.word(INTR_MASK), 1);
    let raise = Effects {
        raise: true,
        ring: None,
    };
    assert_eq!(bar.write(COMMAND, commands::STOP), raise);
    assert_eq!(
        bar.write(COMMAND, commands::STOP),
        Effects::NONE,
        "status still set: the line is already up"
    );
    assert_eq!(bar.word(INTR_STATUS), 1);
    assert_eq!(bar.write(COMMAND, commands::STOP), raise);
    // Masking lowers; unmasking with the completion pending raises.
    assert_eq!(bar.write(INTR_MASK, 0), Effects::NONE);
    assert_eq!(bar.write(INTR_MASK, 1), raise);
    // INTx Disable (Command bit 10 on the function) masks too.
    let _ = bar.word(INTR_STATUS);
    assert!(!bar.registers.line().set_intx_disabled(true));
    assert_eq!(bar.write(COMMAND, commands::STOP), Effects::NONE);
    assert!(bar.registers.line().pending());
    assert!(bar.registers.line().set_intx_disabled(false));
}

#[test]
fn other_widths_and_offsets_are_raz_wi() {
    let mut bar = Bar::new(2);
    let _ = bar.write(COMMAND, commands::START);
    let ran = bar.backend.ran.len();
    for (offset, width) in [
        (COMMAND, Width::Byte),
        (COMMAND, Width::Half),
        (COMMAND, Width::Double),
        (COMMAND + 1, Width::Word),
        (TARGET, Width::Half),
        (INTR_MASK, Width::Double),
        (MAGIC, Width::Word),
        (SEQUENCE, Width::Word),
        (RESULT, Width::Word),
        (RESULT_VALUE, Width::Word),
        (RESULT_VALUE, Width::Double),
        (TABLE, Width::Word),
        (TABLE + entry::MEMORY, Width::Double),
        (0x1000, Width::Word),
        (u64::MAX - 3, Width::Word),
    ] {
        assert_eq!(
            bar.registers
                .write(&mut bar.backend, offset, width, u64::MAX),
            Effects::NONE,
            "offset {offset:#x}"
        );
    }
    assert_eq!(bar.backend.ran.len(), ran);
    assert_eq!(bar.word(TARGET), 0);
    assert_eq!(bar.word(INTR_MASK), 0);
    assert_eq!(bar.word(SEQUENCE), 1);
    assert_eq!(bar.word(MAGIC), u64::from(MAGIC_VALUE));
    assert_eq!(bar.word(TABLE), 100);
    // Narrow or misaligned reads: 0, and INTR_STATUS is not cleared by them.
    for (offset, width) in [
        (MAGIC, Width::Byte),
        (MAGIC, Width::Half),
        (MAGIC, Width::Double),
        (MAGIC + 2, Width::Word),
        (INTR_STATUS, Width::Half),
        (INTR_MASK - 4, Width::Double),
        (RESULT_VALUE + 4, Width::Double),
        (TABLE + entry::MEMORY + 4, Width::Double),
        (TABLE + 1, Width::Word),
        (0x30, Width::Word),
        (0xFC, Width::Word),
        (u64::MAX - 7, Width::Double),
    ] {
        assert_eq!(bar.read(offset, width), 0, "offset {offset:#x}");
    }
    assert_eq!(bar.word(INTR_STATUS), 1);
}

#[test]
fn reset_clears_registers_and_line() {
    let mut bar = Bar::new(2);
    let _ = bar.write(TARGET, 101);
    let _ = bar.write(INTR_MASK, 1);
    let _ = bar.write(COMMAND, commands::CHECKPOINT);
    assert!(bar.registers.line().asserted());
    bar.registers.reset();
    bar.assert_state_cleared();
    assert!(!bar.registers.line().asserted());
    assert_eq!(bar.word(VERSION), 0x0001_0000);
}

//! The control function's partition table and lifecycle commands (`ps`, `stats`, `checkpoint`...).
//!
//! Everything here goes through [`Registers`], so the table decoding and the
//! result mapping are tested on the host against a byte buffer.
#![forbid(unsafe_code)]

use std::fmt;

use bulkhead_abi::control::{self, entry, states};
use bulkhead_abi::ret;

use crate::args::Action;
use crate::registers::{read_label, Registers};

/// The table header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// major << 16 | minor.
    pub version: u32,
    /// Entries in the table (already capped at what fits in BAR0).
    pub partition_count: u32,
    /// The partition this tool runs in.
    pub own_id: u32,
}

/// One partition's entry, every field of [`entry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: u32,
    pub label: String,
    pub state: u32,
    pub vcpus: u32,
    pub boots: u32,
    pub memory: u64,
    pub faults: u64,
    pub checkpoint_generation: u64,
    pub checkpoints: u64,
    pub checkpoint_pause_ticks: u64,
    pub traps_hypercall: u64,
    pub traps_mmio: u64,
    pub traps_sysreg: u64,
    pub traps_irq: u64,
    pub traps_other: u64,
}

/// Why a control function cannot be used, or a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// MAGIC did not read "BKHD": not Bulkhead's control function.
    BadMagic(u32),
    /// DENIED: the target is not managed by this partition.
    Denied,
    /// BUSY: the target is in another lifecycle operation.
    Busy,
    /// INVALID_PARAMETERS: no such partition (or command).
    InvalidParameters,
    /// NOT_SUPPORTED: e.g. a checkpoint of a partition without a checkpoint policy.
    NotSupported,
    /// Any other SMCCC error code.
    Failed(i32),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ControlError::BadMagic(magic) => write!(
                f,
                "control function reads magic {magic:#010x}, not {:#010x}",
                control::MAGIC_VALUE
            ),
            ControlError::Denied => write!(f, "denied (not managed by this partition)"),
            ControlError::Busy => write!(f, "busy, try again"),
            ControlError::InvalidParameters => write!(f, "invalid parameters (no such partition?)"),
            ControlError::NotSupported => write!(f, "not supported"),
            ControlError::Failed(code) => write!(f, "failed (error {code})"),
        }
    }
}

/// Reads and checks the header.
pub fn read_header(registers: &impl Registers) -> Result<Header, ControlError> {
    let magic = registers.read_u32(control::MAGIC);
    if magic != control::MAGIC_VALUE {
        return Err(ControlError::BadMagic(magic));
    }
    let count = registers.read_u32(control::PARTITION_COUNT);
    Ok(Header {
        version: registers.read_u32(control::VERSION),
        partition_count: count.min(control::MAX_ENTRIES as u32),
        own_id: registers.read_u32(control::OWN_ID),
    })
}

/// Reads entry `index` of the table, each field with an access of its own width.
pub fn read_entry(registers: &impl Registers, index: u32) -> Entry {
    let base = control::TABLE + u64::from(index) * control::ENTRY_SIZE;
    let u32_at = |field: u64| registers.read_u32(base + field);
    let u64_at = |field: u64| registers.read_u64(base + field);
    Entry {
        id: u32_at(entry::ID),
        label: read_label(registers, base + entry::LABEL, entry::LABEL_SIZE),
        state: u32_at(entry::STATE),
        vcpus: u32_at(entry::VCPUS),
        boots: u32_at(entry::BOOT_COUNT),
        memory: u64_at(entry::MEMORY),
        faults: u64_at(entry::FAULTS),
        checkpoint_generation: u64_at(entry::CHECKPOINT_GENERATION),
        checkpoints: u64_at(entry::CHECKPOINTS),
        checkpoint_pause_ticks: u64_at(entry::CHECKPOINT_PAUSE),
        traps_hypercall: u64_at(entry::TRAPS_HYPERCALL),
        traps_mmio: u64_at(entry::TRAPS_MMIO),
        traps_sysreg: u64_at(entry::TRAPS_SYSREG),
        traps_irq: u64_at(entry::TRAPS_IRQ),
        traps_other: u64_at(entry::TRAPS_OTHER),
    }
}

/// The whole table.
pub fn read_table(registers: &impl Registers) -> Result<Vec<Entry>, ControlError> {
    let header = read_header(registers)?;
    Ok((0..header.partition_count)
        .map(|index| read_entry(registers, index))
        .collect())
}

/// The entry a NAME means: a label first, else a decimal id.
pub fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|entry| entry.label == name)
        .or_else(|| {
            let id = name.parse::<u32>().ok()?;
            entries.iter().find(|entry| entry.id == id)
        })
}

/// A state value as `ps` prints it (`running`, ..., or `unknown(N)`).
pub fn state_name(state: u32) -> String {
    match states::NAMES.get(state as usize) {
        Some(name) => (*name).to_string(),
        None => format!("unknown({state})"),
    }
}

/// Bytes in the largest unit that divides them exactly: `256M`, `1G`, `12K`, `100`.
pub fn format_memory(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, suffix) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// `ps` output: a header line, then one line per entry.
pub fn ps_lines(entries: &[Entry]) -> Vec<String> {
    let mut lines = vec!["ID LABEL STATE VCPUS MEMORY BOOTS CHECKPOINT".to_string()];
    for entry in entries {
        let label = if entry.label.is_empty() {
            "-"
        } else {
            &entry.label
        };
        lines.push(format!(
            "{} {label} {} {} {} {} {}",
            entry.id,
            state_name(entry.state),
            entry.vcpus,
            format_memory(entry.memory),
            entry.boots,
            entry.checkpoint_generation
        ));
    }
    lines
}

/// `stats` output: `key=value`, one line per field, memory in bytes.
pub fn stats_lines(entry: &Entry) -> Vec<String> {
    let fields: [(&str, String); 15] = [
        ("id", entry.id.to_string()),
        ("label", entry.label.clone()),
        ("state", state_name(entry.state)),
        ("vcpus", entry.vcpus.to_string()),
        ("memory", entry.memory.to_string()),
        ("boots", entry.boots.to_string()),
        ("faults", entry.faults.to_string()),
        (
            "checkpoint_generation",
            entry.checkpoint_generation.to_string(),
        ),
        ("checkpoints", entry.checkpoints.to_string()),
        (
            "checkpoint_pause_ticks",
            entry.checkpoint_pause_ticks.to_string(),
        ),
        ("traps_hypercall", entry.traps_hypercall.to_string()),
        ("traps_mmio", entry.traps_mmio.to_string()),
        ("traps_sysreg", entry.traps_sysreg.to_string()),
        ("traps_irq", entry.traps_irq.to_string()),
        ("traps_other", entry.traps_other.to_string()),
    ];
    fields
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// Runs `action` on partition `target`: TARGET, then COMMAND (done when the
/// write returns), then RESULT. Returns RESULT_VALUE on success.
pub fn run(registers: &impl Registers, action: Action, target: u32) -> Result<u64, ControlError> {
    registers.write_u32(control::TARGET, target);
    registers.write_u32(control::COMMAND, action.code());
    match i64::from(registers.read_u32(control::RESULT) as i32) {
        ret::SUCCESS => Ok(registers.read_u64(control::RESULT_VALUE)),
        ret::DENIED => Err(ControlError::Denied),
        ret::BUSY => Err(ControlError::Busy),
        ret::INVALID_PARAMETERS => Err(ControlError::InvalidParameters),
        ret::NOT_SUPPORTED => Err(ControlError::NotSupported),
        other => Err(ControlError::Failed(other as i32)),
    }
}

/// The success line of `action` on NAME: `checkpoint NAME: generation G`, `stop NAME: done`.
pub fn success_line(action: Action, name: &str, value: u64) -> String {
    match action {
        Action::Checkpoint => format!("checkpoint {name}: generation {value}"),
        other => format!("{} {name}: done", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::fake::ByteRegisters;

    fn table(entries: &[(u32, &str, u32, u64)]) -> ByteRegisters {
        let registers = ByteRegisters::new(control::REGISTERS_SIZE as usize);
        registers.set_u32(control::MAGIC, control::MAGIC_VALUE);
        registers.set_u32(control::VERSION, 0x0001_0000);
        registers.set_u32(control::PARTITION_COUNT, entries.len() as u32);
        registers.set_u32(control::OWN_ID, 1);
        for (index, &(id, label, state, memory)) in entries.iter().enumerate() {
            let base = control::TABLE + index as u64 * control::ENTRY_SIZE;
            registers.set_u32(base + entry::ID, id);
            registers.set_u32(base + entry::STATE, state);
            registers.set_u32(base + entry::VCPUS, 2);
            registers.set_u32(base + entry::BOOT_COUNT, 1);
            registers.set_u64(base + entry::MEMORY, memory);
            registers.set_bytes(base + entry::LABEL, label.as_bytes());
        }
        registers
    }

    #[test]
    fn header_and_table_decode() {
        let registers = table(&[
            (0, "linux", states::RUNNING, 256 << 20),
            (3, "ticker", states::STOPPED, 64 << 20),
        ]);
        let base = control::TABLE + control::ENTRY_SIZE;
        registers.set_u64(base + entry::FAULTS, 7);
        registers.set_u64(base + entry::CHECKPOINT_GENERATION, 0x1_0000_0002);
        registers.set_u64(base + entry::CHECKPOINTS, 4);
        registers.set_u64(base + entry::CHECKPOINT_PAUSE, 1234);
        registers.set_u64(base + entry::TRAPS_HYPERCALL, 11);
        registers.set_u64(base + entry::TRAPS_MMIO, 12);
        registers.set_u64(base + entry::TRAPS_SYSREG, 13);
        registers.set_u64(base + entry::TRAPS_IRQ, 14);
        registers.set_u64(base + entry::TRAPS_OTHER, 15);
        assert_eq!(
            read_header(&registers),
            Ok(Header {
                version: 0x0001_0000,
                partition_count: 2,
                own_id: 1
            })
        );
        let entries = read_table(&registers).expect("valid table");
        assert_eq!(
            entries[1],
            Entry {
                id: 3,
                label: "ticker".into(),
                state: states::STOPPED,
                vcpus: 2,
                boots: 1,
                memory: 64 << 20,
                faults: 7,
                checkpoint_generation: 0x1_0000_0002,
                checkpoints: 4,
                checkpoint_pause_ticks: 1234,
                traps_hypercall: 11,
                traps_mmio: 12,
                traps_sysreg: 13,
                traps_irq: 14,
                traps_other: 15,
            }
        );
        assert_eq!(
            ps_lines(&entries),
            [
                "ID LABEL STATE VCPUS MEMORY BOOTS CHECKPOINT",
                "0 linux running 2 256M 1 0",
                "3 ticker stopped 2 64M 1 4294967298",
            ]
        );
        assert_eq!(
            stats_lines(&entries[1]),
            [
                "id=3",
                "label=ticker",
                "state=stopped",
                "vcpus=2",
                "memory=67108864",
                "boots=1",
                "faults=7",
                "checkpoint_generation=4294967298",
                "checkpoints=4",
                "checkpoint_pause_ticks=1234",
                "traps_hypercall=11",
                "traps_mmio=12",
                "traps_sysreg=13",
                "traps_irq=14",
                "traps_other=15",
            ]
        );
    }

    #[test]
    fn bad_magic_and_oversized_count() {
        let registers = table(&[]);
        registers.set_u32(control::PARTITION_COUNT, 1000);
        assert_eq!(
            read_header(&registers).map(|header| header.partition_count),
            Ok(control::MAX_ENTRIES as u32)
        );
        registers.set_u32(control::MAGIC, 0xdead_beef);
        assert_eq!(
            read_table(&registers),
            Err(ControlError::BadMagic(0xdead_beef))
        );
        assert_eq!(
            ControlError::BadMagic(0xdead_beef).to_string(),
            "control function reads magic 0xdeadbeef, not 0x44484b42"
        );
    }

    #[test]
    fn names_resolve_by_label_then_id() {
        let registers = table(&[(0, "linux", 0, 0), (1, "2", 0, 0), (2, "ticker", 0, 0)]);
        let entries = read_table(&registers).expect("valid table");
        assert_eq!(find(&entries, "ticker").map(|e| e.id), Some(2));
        assert_eq!(find(&entries, "0").map(|e| e.id), Some(0));
        // A label that looks like an id wins over the id.
        assert_eq!(find(&entries, "2").map(|e| e.id), Some(1));
        assert_eq!(find(&entries, "nope"), None);
        assert_eq!(find(&entries, "9"), None);
    }

    #[test]
    fn states_and_memory_format() {
        assert_eq!(state_name(states::RUNNING), "running");
        assert_eq!(state_name(states::RESETTING), "resetting");
        assert_eq!(state_name(states::OFF), "off");
        assert_eq!(state_name(9), "unknown(9)");
        assert_eq!(format_memory(256 << 20), "256M");
        assert_eq!(format_memory(2 << 30), "2G");
        assert_eq!(format_memory(1536 << 20), "1536M");
        assert_eq!(format_memory(12 << 10), "12K");
        assert_eq!(format_memory(100), "100");
        assert_eq!(format_memory(0), "0");
    }

    #[test]
    fn commands_write_target_then_command_and_map_results() {
        let registers = table(&[(0, "linux", 0, 0)]);
        registers.set_u64(control::RESULT_VALUE, 3);
        assert_eq!(run(&registers, Action::Checkpoint, 5), Ok(3));
        assert_eq!(
            *registers.writes.borrow(),
            [
                (control::TARGET, 5),
                (control::COMMAND, control::commands::CHECKPOINT)
            ]
        );
        for (code, expected) in [
            (ret::DENIED, ControlError::Denied),
            (ret::BUSY, ControlError::Busy),
            (ret::INVALID_PARAMETERS, ControlError::InvalidParameters),
            (ret::NOT_SUPPORTED, ControlError::NotSupported),
            (ret::INTERNAL_FAILURE, ControlError::Failed(-6)),
        ] {
            registers.set_u32(control::RESULT, code as i32 as u32);
            assert_eq!(run(&registers, Action::Restore, 0), Err(expected));
        }
        assert_eq!(
            ControlError::Denied.to_string(),
            "denied (not managed by this partition)"
        );
        assert_eq!(ControlError::Busy.to_string(), "busy, try again");
        assert_eq!(
            success_line(Action::Checkpoint, "linux", 3),
            "checkpoint linux: generation 3"
        );
        assert_eq!(
            success_line(Action::Restore, "linux", 0),
            "restore linux: done"
        );
    }
}

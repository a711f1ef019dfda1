//! SMMUv3 driver: a linear stream table, the command and event queues, global errors.
//!
//! Bulkhead uses stage 2 only: every stream table entry either aborts or
//! translates through one partition's stage-2 table (the encodings live in
//! `bulkhead_core::smmu`, host-tested). Memory the SMMU reads (stream table,
//! queues) is allocated at boot and never freed. Every wait for the SMMU has
//! a deadline: a wedged SMMU costs a report, never a hung core.

use alloc::alloc::{alloc_zeroed, Layout};
use core::ptr::{read_volatile, write_volatile};

use bulkhead_core::smmu::command::{self, Command};
use bulkhead_core::smmu::queue::{event_queue_cons, event_queue_overflowed};
use bulkhead_core::smmu::registers::*;
use bulkhead_core::smmu::{
    CommandError, Event, Features, QueueIndex, StreamTableEntry, Unsupported,
};

use crate::arch::aarch64::sysreg::dsb_sy;
use crate::arch::aarch64::timer::Deadline;

/// log2 of the command queue's entries (256 × 16 bytes).
const COMMAND_QUEUE_LOG2: u32 = 8;
/// log2 of the event queue's entries (2,048 × 32 bytes): QEMU's SMMU
/// records many faults per failed DMA (1,024 for one 4 KiB edu write).
const EVENT_QUEUE_LOG2: u32 = 11;
/// Longest wait for the SMMU to acknowledge a control write or a CMD_SYNC.
const WAIT_MS: u64 = 100;

/// Why the SMMU cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmmuError {
    Unsupported(Unsupported),
    /// The board can produce more stream IDs than the SMMU has bits for.
    TooManyStreams {
        wanted_bits: u32,
        has_bits: u32,
    },
    /// A control register write was not acknowledged in time.
    NoAcknowledge(&'static str),
    /// A command was refused (CMDQ_CONS.ERR); the queue was recovered.
    Command(CommandError),
    /// A CMD_SYNC did not complete in time.
    SyncTimeout,
    OutOfMemory,
}

impl core::fmt::Display for SmmuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SmmuError::Unsupported(why) => write!(f, "{why}"),
            SmmuError::TooManyStreams {
                wanted_bits,
                has_bits,
            } => write!(
                f,
                "the board's stream IDs need {wanted_bits} bits, the SMMU has {has_bits}"
            ),
            SmmuError::NoAcknowledge(what) => write!(f, "the SMMU did not acknowledge {what}"),
            SmmuError::Command(error) => write!(f, "command error: {}", error.name()),
            SmmuError::SyncTimeout => write!(f, "a CMD_SYNC did not complete"),
            SmmuError::OutOfMemory => write!(f, "no memory for its tables and queues"),
        }
    }
}

/// One SMMUv3, programmed by Bulkhead alone.
pub struct SmmuV3 {
    base: u64,
    pub features: Features,
    stream_table: *mut StreamTableEntry,
    stream_table_log2: u32,
    command_queue: *mut Command,
    command_index: QueueIndex,
    /// Our copy of CMDQ_PROD (the SMMU only reads it).
    command_prod: u32,
    event_queue: *const [u64; 4],
    event_index: QueueIndex,
    /// Events taken since boot and the last overflow seen.
    pub events_taken: u64,
    pub overflows: u64,
}

// SAFETY: the raw pointers name boot-allocated memory owned by this driver;
// all access goes through `&mut self`, and the owner keeps it in a lock.
unsafe impl Send for SmmuV3 {}

/// Zeroed boot-time memory of `bytes`, aligned to `align`, never freed.
fn allocate(bytes: usize, align: usize) -> Result<*mut u8, SmmuError> {
    let layout = Layout::from_size_align(bytes, align).map_err(|_| SmmuError::OutOfMemory)?;
    // SAFETY: the layout has a non-zero size (callers pass at least one entry).
    let pointer = unsafe { alloc_zeroed(layout) };
    if pointer.is_null() {
        Err(SmmuError::OutOfMemory)
    } else {
        Ok(pointer)
    }
}

impl SmmuV3 {
    fn read32(&self, offset: u64) -> u32 {
        // SAFETY: `base` is the SMMU's register frame (checked by `probe`'s
        // caller), identity-mapped as device memory; offsets are the
        // architected registers.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write32(&self, offset: u64, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn write64(&self, offset: u64, value: u64) {
        // SAFETY: as in `read32`; the 64-bit registers are 8-byte aligned.
        unsafe { write_volatile((self.base + offset) as *mut u64, value) }
    }

    /// Reads the ID registers and refuses an SMMU Bulkhead cannot isolate DMA with.
    ///
    /// # Safety
    /// `base` must be an SMMUv3's register frames (page 0 and page 1),
    /// identity-mapped as device memory, and no one else may program it.
    pub unsafe fn probe(base: u64, stream_id_bits: u32) -> Result<SmmuV3, SmmuError> {
        // SAFETY: per this function's contract, `base` is the SMMU's page 0.
        let read = |offset: u64| unsafe { read_volatile((base + offset) as *const u32) };
        let features = Features::from_idr(read(IDR0), read(IDR1), read(IDR5))
            .map_err(SmmuError::Unsupported)?;
        if stream_id_bits > features.stream_id_bits {
            return Err(SmmuError::TooManyStreams {
                wanted_bits: stream_id_bits,
                has_bits: features.stream_id_bits,
            });
        }
        let queue =
            |log2: u32, most: u32| QueueIndex::new(log2.min(most)).ok_or(SmmuError::OutOfMemory);
        Ok(SmmuV3 {
            base,
            command_index: queue(COMMAND_QUEUE_LOG2, features.command_queue_log2_max)?,
            event_index: queue(EVENT_QUEUE_LOG2, features.event_queue_log2_max)?,
            features,
            stream_table: core::ptr::null_mut(),
            stream_table_log2: stream_id_bits,
            command_queue: core::ptr::null_mut(),
            command_prod: 0,
            event_queue: core::ptr::null(),
            events_taken: 0,
            overflows: 0,
        })
    }

    /// Disables the SMMU, makes every stream abort (GBPA and every STE),
    /// points it at fresh queues and a fresh stream table, and enables it.
    pub fn enable(&mut self) -> Result<(), SmmuError> {
        self.set_cr0(0, "disabling")?;
        // Until the stream table is live, incoming transactions abort.
        self.write32(GBPA, gbpa_abort());
        let deadline = Deadline::after_ms(WAIT_MS);
        while self.read32(GBPA) & GBPA_UPDATE != 0 {
            if deadline.passed() {
                return Err(SmmuError::NoAcknowledge("GBPA"));
            }
        }
        let entries = 1usize << self.stream_table_log2;
        let table_bytes = entries * core::mem::size_of::<StreamTableEntry>();
        self.stream_table = allocate(table_bytes, table_bytes.max(64))?.cast();
        for sid in 0..entries {
            // SAFETY: `sid` < entries, inside the table just allocated.
            unsafe {
                write_volatile(
                    self.stream_table.add(sid),
                    bulkhead_core::smmu::ste::abort(),
                )
            };
        }
        let command_bytes = (1usize << self.command_index.log2()) * 16;
        self.command_queue = allocate(command_bytes, command_bytes.max(32))?.cast();
        let event_bytes = (1usize << self.event_index.log2()) * 32;
        self.event_queue = allocate(event_bytes, event_bytes.max(32))?.cast::<[u64; 4]>();
        dsb_sy();

        self.write32(CR1, cr1_cacheable_inner_shareable());
        self.write32(CR2, CR2_RECINVSID);
        self.write64(STRTAB_BASE, strtab_base(self.stream_table as u64));
        self.write32(
            STRTAB_BASE_CFG,
            strtab_base_cfg_linear(self.stream_table_log2),
        );
        self.write64(
            CMDQ_BASE,
            queue_base(self.command_queue as u64, self.command_index.log2()),
        );
        self.write32(CMDQ_PROD, 0);
        self.write32(CMDQ_CONS, 0);
        self.command_prod = 0;
        self.write64(
            EVENTQ_BASE,
            queue_base(self.event_queue as u64, self.event_index.log2()),
        );
        self.write32(EVENTQ_PROD, 0);
        self.write32(EVENTQ_CONS, 0);
        self.write32(IRQ_CTRL, 0);
        self.set_cr0(CR0_CMDQEN, "the command queue")?;
        self.submit(&[command::cfgi_all(), command::tlbi_nsnh_all()])?;
        self.set_cr0(CR0_CMDQEN | CR0_EVENTQEN, "the event queue")?;
        self.write32(IRQ_CTRL, IRQ_CTRL_EVENTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN);
        let deadline = Deadline::after_ms(WAIT_MS);
        while self.read32(IRQ_CTRLACK) != IRQ_CTRL_EVENTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN {
            if deadline.passed() {
                return Err(SmmuError::NoAcknowledge("IRQ_CTRL"));
            }
        }
        self.set_cr0(CR0_CMDQEN | CR0_EVENTQEN | CR0_SMMUEN, "SMMUEN")
    }

    fn set_cr0(&self, value: u32, what: &'static str) -> Result<(), SmmuError> {
        self.write32(CR0, value);
        let deadline = Deadline::after_ms(WAIT_MS);
        while self.read32(CR0ACK) != value {
            if deadline.passed() {
                return Err(SmmuError::NoAcknowledge(what));
            }
        }
        Ok(())
    }

    /// Entries of the event queue.
    pub fn event_queue_entries(&self) -> usize {
        self.event_index.entries() as usize
    }

    /// Number of stream table entries.
    pub fn streams(&self) -> u32 {
        1 << self.stream_table_log2
    }

    /// Installs `entry` for `stream_id` and makes the SMMU forget the old one.
    /// Entries are written whole while the old one is invalidated after: the
    /// SMMU reads an STE only after CFGI_STE, so it never sees a torn one.
    pub fn set_stream(&mut self, stream_id: u32, entry: StreamTableEntry) -> Result<(), SmmuError> {
        if stream_id >= self.streams() {
            return Err(SmmuError::TooManyStreams {
                wanted_bits: 32 - stream_id.leading_zeros(),
                has_bits: self.stream_table_log2,
            });
        }
        // SAFETY: `stream_id` < entries of the table allocated in `enable`.
        let slot = unsafe { self.stream_table.add(stream_id as usize) };
        // Dword 0 (V, Config) last: a walk between the writes sees the old
        // entry's header or the whole new one.
        for (index, dword) in entry.iter().enumerate().skip(1) {
            // SAFETY: inside the entry `slot` points at.
            unsafe { write_volatile(slot.cast::<u64>().add(index), *dword) };
        }
        dsb_sy();
        // SAFETY: as above.
        unsafe { write_volatile(slot.cast::<u64>(), entry[0]) };
        dsb_sy();
        self.submit(&[command::cfgi_ste(stream_id, true)])
    }

    /// Forgets every cached translation of `vmid` (after its stage-2 table changed).
    pub fn invalidate_vmid(&mut self, vmid: u16) -> Result<(), SmmuError> {
        self.submit(&[command::tlbi_s12_vmall(vmid)])
    }

    /// Queues `commands` then a CMD_SYNC, and waits (bounded) until the SMMU
    /// has consumed them all. A refused command is skipped so the queue
    /// moves on, and reported.
    pub fn submit(&mut self, commands: &[Command]) -> Result<(), SmmuError> {
        let mut result = Ok(());
        for command in commands
            .iter()
            .chain(core::iter::once(&command::sync_none()))
        {
            let deadline = Deadline::after_ms(WAIT_MS);
            while self
                .command_index
                .is_full(self.command_prod, self.read32(CMDQ_CONS))
            {
                if let Some(error) = self.recover_command_error() {
                    result = Err(SmmuError::Command(error));
                }
                if deadline.passed() {
                    return Err(SmmuError::SyncTimeout);
                }
            }
            let slot = self.command_index.slot(self.command_prod);
            // SAFETY: `slot` < entries of the command queue allocated in `enable`.
            unsafe { write_volatile(self.command_queue.add(slot), *command) };
            self.command_prod = self.command_index.next(self.command_prod);
            dsb_sy();
            self.write32(CMDQ_PROD, self.command_prod);
        }
        let deadline = Deadline::after_ms(WAIT_MS);
        loop {
            if let Some(error) = self.recover_command_error() {
                result = Err(SmmuError::Command(error));
            }
            let cons = self.read32(CMDQ_CONS);
            if self.command_index.is_empty(self.command_prod, cons) {
                return result;
            }
            if deadline.passed() {
                return Err(SmmuError::SyncTimeout);
            }
        }
    }

    /// If the command queue stopped on an error, skips the bad command (it
    /// is overwritten with a CMD_SYNC, as the architecture suggests),
    /// acknowledges GERROR.CMDQ_ERR and returns what went wrong.
    fn recover_command_error(&mut self) -> Option<CommandError> {
        let gerror = self.read32(GERROR);
        let gerrorn = self.read32(GERRORN);
        if active_global_errors(gerror, gerrorn) & GERROR_CMDQ_ERR == 0 {
            return None;
        }
        let cons = self.read32(CMDQ_CONS);
        let error = CommandError::from_cons(cons);
        let slot = self.command_index.slot(cons);
        // SAFETY: `slot` < entries of the command queue.
        unsafe { write_volatile(self.command_queue.add(slot), command::sync_none()) };
        dsb_sy();
        self.write32(GERRORN, gerrorn ^ GERROR_CMDQ_ERR);
        Some(error)
    }

    /// Takes up to `most` event records the SMMU has queued, oldest first.
    pub fn drain_events_bounded(&mut self, most: usize, mut handle: impl FnMut(Event)) {
        for _ in 0..most {
            let prod = self.read32(EVENTQ_PROD);
            let cons = self.read32(EVENTQ_CONS);
            if event_queue_overflowed(prod, cons) {
                self.overflows += 1;
            }
            if self.event_index.is_empty(prod, cons) {
                // Acknowledge an overflow so the SMMU reports the next one.
                self.write32(EVENTQ_CONS, event_queue_cons(&self.event_index, cons, prod));
                return;
            }
            let slot = self.event_index.slot(cons);
            // SAFETY: `slot` < entries of the event queue allocated in `enable`.
            let record = unsafe { read_volatile(self.event_queue.add(slot)) };
            self.events_taken += 1;
            handle(Event::decode(&record));
            let next = self.event_index.next(cons);
            self.write32(EVENTQ_CONS, event_queue_cons(&self.event_index, next, prod));
        }
    }

    /// Acknowledges the global errors that are active and returns them
    /// (a command error is recovered here too).
    pub fn take_global_errors(&mut self) -> u32 {
        let active = active_global_errors(self.read32(GERROR), self.read32(GERRORN));
        if active & GERROR_CMDQ_ERR != 0 {
            self.recover_command_error();
        }
        let gerrorn = self.read32(GERRORN);
        let rest = active & !GERROR_CMDQ_ERR;
        if rest != 0 {
            self.write32(GERRORN, gerrorn ^ rest);
        }
        active
    }
}

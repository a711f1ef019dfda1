//! The hypervisor console: one line ring per writer, drained into a polled PL011 without ever waiting for it, and the `log` backend on it.
//!
//! Bulkhead's own messages and each partition's CONSOLE_WRITE bytes go into
//! their own [`LineRing`], already as they must reach the UART (guest bytes
//! filtered, `[label] ` at each line start, `\n` as `\r\n`). [`drain`] moves
//! whole lines from the rings to the PL011 while its FIFO has room, round
//! robin with Bulkhead's ring first, and returns at once if another core is
//! draining: no core holds a console lock while it waits for the UART, and a
//! partition that floods its ring only loses its own bytes, which are counted
//! and reported on one line (`[label] (console: N bytes dropped)`). The drain
//! policy itself lives, host-tested, in [`bulkhead_core::console_ring`].
//!
//! A core that writes to one ring and then to another (a guest line, then
//! Bulkhead's report about that guest) sees its lines leave in that order.
//!
//! Until [`init_logger`] runs (MMU off, or entered below EL2), on a re-entry
//! from a panic inside the console, and for a partition index beyond
//! [`MAX_PARTITION_CONSOLES`], output goes straight to the UART instead, with
//! a bounded wait for each FIFO slot; what a timeout cuts is counted and
//! reported with Bulkhead's next drop notice.

use core::fmt::{self, Write};
use core::hint::spin_loop;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bulkhead_core::console_ring::{DrainEnd, DrainMode, Drainer, GuestText, LineRing, Rings, Uart};
use bulkhead_platform::current::PLATFORM;
use spin::{Mutex, MutexGuard};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use bulkhead_core::console_input::{Focus, Input};

use crate::arch::aarch64::sysreg::read_sysreg;
use crate::partition::{system, Partition, System};
use crate::percpu;

register_structs! {
    /// PL011 registers used for polled output and interrupt-driven input
    /// (PrimeCell UART TRM, 3.2).
    Pl011Registers {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32>),
        (0x1c => _reserved1),
        (0x38 => imsc: ReadWrite<u32>),
        (0x3c => _reserved2),
        (0x44 => icr: WriteOnly<u32>),
        (0x48 => @END),
    }
}

/// FR: the receive FIFO is empty.
const FR_RXFE: u32 = 1 << 4;
/// IMSC/ICR: receive and receive-timeout interrupts.
const INT_RX_RT: u32 = (1 << 4) | (1 << 6);
/// FR: the transmitter is still sending.
const FR_BUSY: u32 = 1 << 3;
/// FR: the transmit FIFO is full.
const FR_TXFF: u32 = 1 << 5;

/// Partitions with a console ring of their own: one per core at most, so
/// every partition of a board Bulkhead accepts has one.
pub const MAX_PARTITION_CONSOLES: usize = PLATFORM.max_cpus;
/// Bytes of each partition's ring (about 0.36 s of output at 115200 baud).
pub const PARTITION_RING_BYTES: usize = 4096;
/// Bytes of Bulkhead's own ring: room for a boot log that outruns the UART.
pub const BULKHEAD_RING_BYTES: usize = 16384;
/// Longest label kept for a partition's drop notice (a longer one is cut there).
const NOTICE_LABEL_BYTES: usize = 64;
/// Most bytes one drain emits: it bounds a drain on a UART that never fills (QEMU's).
pub const DRAIN_BUDGET: usize = BULKHEAD_RING_BYTES + MAX_PARTITION_CONSOLES * PARTITION_RING_BYTES;
/// Times a drain goes round again for lines written while it ran.
const DRAIN_ROUNDS: usize = 16;
/// Times CONSOLE_WRITE drains to make room in its ring before it drops.
const REFILLS: usize = 8;
/// Longest wait for one FIFO slot on the direct path (a byte takes 87 us at 115200 baud).
const DIRECT_BYTE_WAIT_US: u64 = 1_000;
/// Longest wait for a console lock another core holds. Holders never wait
/// for the UART and never run a guest, so this only runs out if that core
/// stopped; a host that deschedules the holder's vCPU thread (an
/// oversubscribed QEMU host does, for tens of ms) must not make a writer
/// drop bytes or the drainer lose track of what it emitted.
const LOCK_WAIT_US: u64 = 5_000_000;
/// Longest wait of [`print`] for a core that is draining to hand over the
/// UART; past it, that core (or the next drain) emits the message.
const PRINT_WAIT_US: u64 = 1_000;
/// Longest wait of [`flush_bounded`].
const FLUSH_WAIT_US: u64 = 10_000;

/// A partition's line still being written leaves after it wrote nothing
/// for this long (at the next drain: any console output or input). Long
/// enough that a vCPU thread a loaded host deschedules mid-line (seen
/// past 1 s under QEMU) does not see its line cut; typed-at partitions
/// flush at once anyway.
pub const IDLE_FLUSH_MS: u64 = 3_000;
/// For this long after input was typed to a partition, its partial lines
/// leave at once (the echo of what is typed, a shell's prompt).
pub const TYPED_FLUSH_MS: u64 = 5_000;

/// Ring index of Bulkhead's own messages; partition `p` has ring `p + 1`.
const BULKHEAD_RING: usize = 0;

/// Base address of the console PL011 (identity-mapped device memory).
static BASE: AtomicU64 = AtomicU64::new(0);
/// Set by [`init_logger`]: the rings are in use (the MMU is on).
static BUFFERED: AtomicBool = AtomicBool::new(false);
/// Set after a write to a ring, cleared by the drainer before it looks: a
/// drainer that finds it set when it is done goes round again, so a line
/// written while another core drained is never left behind.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Bytes the direct path dropped, reported with Bulkhead's next drop notice.
static DIRECT_DROPPED: AtomicU64 = AtomicU64::new(0);

static BULKHEAD: Mutex<LineRing<[u8; BULKHEAD_RING_BYTES]>> = Mutex::new(LineRing::new());
static PARTITIONS: [Mutex<PartitionConsole>; MAX_PARTITION_CONSOLES] =
    [const { Mutex::new(PartitionConsole::new()) }; MAX_PARTITION_CONSOLES];
/// The UART's owner: whoever holds the drainer is the only one writing to it.
static UART: Mutex<Drainer> = Mutex::new(Drainer::new());
/// For each partition console: counter value of the last input typed to
/// it (0: never), for the writer's decision to drain after a partial line.
static LAST_INPUT: [AtomicU64; MAX_PARTITION_CONSOLES] =
    [const { AtomicU64::new(0) }; MAX_PARTITION_CONSOLES];

/// The counter now.
fn now() -> u64 {
    read_sysreg!("cntpct_el0")
}

/// Counter ticks in `ms` milliseconds.
fn ticks_ms(ms: u64) -> u64 {
    read_sysreg!("cntfrq_el0").saturating_mul(ms) / 1000
}

/// Whether input was typed to partition console `partition` lately.
fn recently_typed(partition: usize) -> bool {
    LAST_INPUT.get(partition).is_some_and(|last| {
        let last = last.load(Ordering::Relaxed);
        last != 0 && now().saturating_sub(last) < ticks_ms(TYPED_FLUSH_MS)
    })
}

/// For each core: 1 + the ring it last wrote to (0: none yet).
static LAST_RING: [AtomicUsize; PLATFORM.max_cpus] =
    [const { AtomicUsize::new(0) }; PLATFORM.max_cpus];
/// For each core: it is inside the console (a print there re-enters it).
static IN_CONSOLE: [AtomicBool; PLATFORM.max_cpus] =
    [const { AtomicBool::new(false) }; PLATFORM.max_cpus];

/// Sets (or moves) the console to the PL011 at `base`.
pub fn init(base: u64) {
    BASE.store(base, Ordering::Release);
}

/// The console PL011, if [`init`] named one.
fn registers() -> Option<&'static Pl011Registers> {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return None;
    }
    // SAFETY: `base` was set by `init` to a PL011 MMIO block that the
    // EL2 identity map (or, before the MMU is on, the flat physical map)
    // covers as device memory.
    Some(unsafe { &*(base as *const Pl011Registers) })
}

/// The console UART as the drainer sees it: a byte goes in only if the FIFO has room.
struct Pl011;

impl Uart for Pl011 {
    fn try_put(&mut self, byte: u8) -> bool {
        let Some(uart) = registers() else {
            // No console: the bytes have nowhere to go.
            return true;
        };
        if uart.fr.get() & FR_TXFF != 0 {
            return false;
        }
        uart.dr.set(u32::from(byte));
        true
    }
}

/// A point in time a bounded wait gives up at, measured with the counter.
struct Deadline {
    end: u64,
    /// Polls left: the bound if the counter does not run.
    polls: u64,
}

impl Deadline {
    fn after_us(microseconds: u64) -> Deadline {
        let frequency = read_sysreg!("cntfrq_el0");
        let end = if frequency == 0 {
            u64::MAX
        } else {
            let ticks = frequency.saturating_mul(microseconds) / 1_000_000;
            read_sysreg!("cntpct_el0").saturating_add(ticks)
        };
        Deadline {
            end,
            polls: microseconds.saturating_mul(256),
        }
    }

    fn passed(&mut self) -> bool {
        self.polls = self.polls.saturating_sub(1);
        self.polls == 0 || read_sysreg!("cntpct_el0") >= self.end
    }
}

/// Locks `mutex`, waiting at most `microseconds` for its holder.
fn lock_within<T>(mutex: &Mutex<T>, microseconds: u64) -> Option<MutexGuard<'_, T>> {
    if let Some(guard) = mutex.try_lock() {
        return Some(guard);
    }
    let mut deadline = Deadline::after_us(microseconds);
    loop {
        if let Some(guard) = mutex.try_lock() {
            return Some(guard);
        }
        if deadline.passed() {
            return None;
        }
        spin_loop();
    }
}

/// Marks this core as inside the console until dropped. With `panic =
/// "abort"` a panic never drops it, so the panic handler's print sees the
/// mark and takes the direct path instead of waiting for a lock this core
/// may hold.
struct Entered(Option<&'static AtomicBool>);

impl Entered {
    /// None if this core is already inside the console.
    fn new() -> Option<Entered> {
        let Some(flag) = IN_CONSOLE.get(percpu::current_cpu()) else {
            return Some(Entered(None));
        };
        if flag.load(Ordering::Relaxed) {
            return None;
        }
        flag.store(true, Ordering::Relaxed);
        Some(Entered(Some(flag)))
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(false, Ordering::Relaxed);
        }
    }
}

/// A partition's console: its ring, where its output stands in a line, and
/// its label for drop notices.
struct PartitionConsole {
    ring: LineRing<[u8; PARTITION_RING_BYTES]>,
    text: GuestText,
    label: [u8; NOTICE_LABEL_BYTES],
    label_len: usize,
}

impl PartitionConsole {
    const fn new() -> PartitionConsole {
        PartitionConsole {
            ring: LineRing::new(),
            text: GuestText::new(),
            label: [0; NOTICE_LABEL_BYTES],
            label_len: 0,
        }
    }

    fn set_label(&mut self, label: &str) {
        let mut len = label.len().min(NOTICE_LABEL_BYTES);
        while !label.is_char_boundary(len) {
            len -= 1;
        }
        let label = &label.as_bytes()[..len];
        if self.label.get(..self.label_len) != Some(label) {
            self.label[..len].copy_from_slice(label);
            self.label_len = len;
        }
    }

    fn label(&self) -> &str {
        core::str::from_utf8(&self.label[..self.label_len]).unwrap_or("?")
    }
}

/// Every ring, for the drainer: Bulkhead's first, then one per partition.
struct ConsoleRings;

impl Rings for ConsoleRings {
    fn count(&self) -> usize {
        1 + MAX_PARTITION_CONSOLES
    }

    fn with<T>(&self, ring: usize, f: impl FnOnce(&mut LineRing) -> T) -> Option<T> {
        if ring == BULKHEAD_RING {
            return Some(f(&mut lock_within(&BULKHEAD, LOCK_WAIT_US)?));
        }
        let console = PARTITIONS.get(ring.checked_sub(1)?)?;
        Some(f(&mut lock_within(console, LOCK_WAIT_US)?.ring))
    }

    fn drop_notice(&self, ring: usize, dropped: u64, out: &mut dyn fmt::Write) -> fmt::Result {
        if ring == BULKHEAD_RING {
            return write!(out, "bulkhead: console: {dropped} bytes dropped");
        }
        let console = PARTITIONS
            .get(ring.wrapping_sub(1))
            .and_then(|console| lock_within(console, LOCK_WAIT_US));
        let label = console.as_ref().map_or("?", |console| console.label());
        write!(out, "[{label}] (console: {dropped} bytes dropped)")
    }

    fn now(&self) -> u64 {
        now()
    }

    fn idle_ticks(&self) -> u64 {
        ticks_ms(IDLE_FLUSH_MS)
    }

    fn write_prefix(&self, ring: usize, out: &mut dyn fmt::Write) -> fmt::Result {
        let console = PARTITIONS
            .get(ring.wrapping_sub(1))
            .and_then(|console| lock_within(console, LOCK_WAIT_US));
        let label = console.as_ref().map_or("?", |console| console.label());
        write!(out, "[{label}] ")
    }
}

/// Records that this core now writes to `ring`. If it last wrote to another
/// ring that still holds whole lines, returns that ring and the position its
/// output must reach before this core's next line may leave.
fn switch_to(ring: usize) -> Option<(usize, u64)> {
    let slot = LAST_RING.get(percpu::current_cpu())?;
    let last = slot.swap(ring + 1, Ordering::Relaxed).checked_sub(1)?;
    if last == ring {
        return None;
    }
    let until = ConsoleRings
        .with(last, |r| {
            (r.completed_position() > r.position()).then(|| r.completed_position())
        })
        .flatten()?;
    Some((last, until))
}

/// Drains at most `budget` bytes, taking the UART only if it is free
/// (`wait` None) or after waiting at most `wait` microseconds for it.
fn drain_rings(wait: Option<u64>, budget: usize) {
    let mut budget = budget;
    for _ in 0..DRAIN_ROUNDS {
        let drainer = match wait {
            None => UART.try_lock(),
            Some(microseconds) => lock_within(&UART, microseconds),
        };
        let Some(mut drainer) = drainer else {
            // The core that has it drains our lines too (see PENDING).
            return;
        };
        PENDING.store(false, Ordering::SeqCst);
        let mut uart = Counted(0);
        let end = drainer.drain(&ConsoleRings, &mut uart, budget, DrainMode::Lines);
        drop(drainer);
        budget = budget.saturating_sub(uart.0);
        match end {
            DrainEnd::Idle if budget > 0 => {}
            // The next drain, whoever calls it, goes on from here.
            DrainEnd::UartFull => return,
            DrainEnd::Idle | DrainEnd::Budget => {
                PENDING.store(true, Ordering::SeqCst);
                return;
            }
        }
        if !PENDING.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// The PL011, counting the bytes it took.
struct Counted(usize);

impl Uart for Counted {
    fn try_put(&mut self, byte: u8) -> bool {
        let taken = Pl011.try_put(byte);
        self.0 += usize::from(taken);
        taken
    }
}

/// Moves whole lines from the rings to the UART while its FIFO has room;
/// returns at once if another core is draining. Never waits for the UART:
/// call it wherever output may be waiting (run loop, idle loop, IRQ exits).
/// On a UART that never fills (QEMU's) it emits up to [`DRAIN_BUDGET`]
/// bytes; see [`drain_up_to`] for a smaller share.
pub fn drain() {
    drain_up_to(DRAIN_BUDGET);
}

/// [`drain`], emitting at most about `max_bytes` (whole lines are finished
/// by a later drain): for a core that should not pay for much of the
/// others' output, such as one running a partition.
pub fn drain_up_to(max_bytes: usize) {
    if !BUFFERED.load(Ordering::Acquire) {
        return;
    }
    let Some(_entered) = Entered::new() else {
        return;
    };
    drain_rings(None, max_bytes);
}

/// Drains everything, lines still being written included, waiting for the
/// UART up to about 10 ms in all; for the last words before power-off and
/// in the panic handler.
pub fn flush_bounded() {
    if !BUFFERED.load(Ordering::Acquire) {
        return;
    }
    let Some(_entered) = Entered::new() else {
        return;
    };
    let mut deadline = Deadline::after_us(FLUSH_WAIT_US);
    let mut drainer = loop {
        if let Some(drainer) = UART.try_lock() {
            break drainer;
        }
        if deadline.passed() {
            return;
        }
        spin_loop();
    };
    while drainer.drain(
        &ConsoleRings,
        &mut Pl011,
        DRAIN_BUDGET,
        DrainMode::Everything,
    ) != DrainEnd::Idle
    {
        if deadline.passed() {
            return;
        }
        spin_loop();
    }
    // Let the FIFO empty onto the wire before the caller powers off.
    if let Some(uart) = registers() {
        while uart.fr.get() & FR_BUSY != 0 && !deadline.passed() {
            spin_loop();
        }
    }
}

/// Writes straight to the UART, waiting at most [`DIRECT_BYTE_WAIT_US`] for
/// each FIFO slot; after one timeout it drops the rest and counts it.
struct Direct {
    timed_out: bool,
    dropped: u64,
}

impl Direct {
    fn new() -> Direct {
        Direct {
            timed_out: false,
            dropped: 0,
        }
    }

    fn put(&mut self, byte: u8) {
        let Some(uart) = registers() else {
            return;
        };
        if !self.timed_out && uart.fr.get() & FR_TXFF != 0 {
            let mut deadline = Deadline::after_us(DIRECT_BYTE_WAIT_US);
            while uart.fr.get() & FR_TXFF != 0 {
                if deadline.passed() {
                    self.timed_out = true;
                    break;
                }
                spin_loop();
            }
        }
        if self.timed_out {
            self.dropped += 1;
            return;
        }
        uart.dr.set(u32::from(byte));
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.put(byte);
        }
    }

    fn finish(self) {
        if self.dropped == 0 {
            return;
        }
        if BUFFERED.load(Ordering::Acquire) {
            DIRECT_DROPPED.fetch_add(self.dropped, Ordering::Relaxed);
        } else {
            // One core, maybe with the MMU off (no exclusive accesses): a
            // plain read and write.
            let total = DIRECT_DROPPED.load(Ordering::Relaxed);
            DIRECT_DROPPED.store(total.saturating_add(self.dropped), Ordering::Relaxed);
        }
    }
}

impl Write for Direct {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

/// Runs `write` on the direct path. Once the rings are in use, it first
/// takes the UART from the drainer and lets the drainer finish a line it
/// started (each wait bounded), so the direct text does not land mid-line.
fn direct(write: impl FnOnce(&mut Direct)) {
    let mut out = Direct::new();
    let entered = if BUFFERED.load(Ordering::Acquire) {
        Entered::new()
    } else {
        None
    };
    if entered.is_some() {
        let drainer = lock_within(&UART, LOCK_WAIT_US);
        if let Some(mut drainer) = drainer {
            let mut deadline = Deadline::after_us(FLUSH_WAIT_US);
            while drainer.is_mid_line() && !deadline.passed() {
                drainer.drain(&ConsoleRings, &mut Pl011, 1, DrainMode::Lines);
                if drainer.end_open_line(&ConsoleRings, &mut Pl011) {
                    break;
                }
            }
            write(&mut out);
        } else {
            write(&mut out);
        }
    } else {
        write(&mut out);
    }
    out.finish();
}

/// Bulkhead's ring as a `fmt::Write` target (`\n` as `\r\n`).
struct RingWriter<'a>(&'a mut LineRing);

impl Write for RingWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.0.push(b'\r');
            }
            self.0.push(byte);
        }
        Ok(())
    }
}

/// Writes formatted text to the console as one uninterrupted message:
/// into Bulkhead's ring, then drained (waiting at most [`PRINT_WAIT_US`]
/// for a core that is draining to hand over the UART, never for the UART
/// itself).
pub fn print(args: fmt::Arguments) {
    if !BUFFERED.load(Ordering::Acquire) {
        direct(|out| {
            let _ = out.write_fmt(args);
        });
        return;
    }
    let Some(entered) = Entered::new() else {
        // Re-entered (a panic inside the console): it may hold any lock.
        let mut out = Direct::new();
        let _ = out.write_fmt(args);
        out.finish();
        return;
    };
    let after = switch_to(BULKHEAD_RING);
    let Some(mut ring) = lock_within(&BULKHEAD, LOCK_WAIT_US) else {
        drop(entered);
        direct(|out| {
            let _ = out.write_fmt(args);
        });
        return;
    };
    ring.note_dropped(DIRECT_DROPPED.swap(0, Ordering::Relaxed));
    if let Some((other, until)) = after {
        ring.order_after(other, until);
    }
    ring.touch(now());
    let _ = RingWriter(&mut ring).write_fmt(args);
    drop(ring);
    PENDING.store(true, Ordering::SeqCst);
    drain_rings(Some(PRINT_WAIT_US), DRAIN_BUDGET);
    drop(entered);
}

/// Writes CONSOLE_WRITE `bytes` of the partition at index `partition` (its
/// position in the system), labelled `label`: `[label] ` at each line start,
/// `\r` dropped, control bytes as `?`. The line state carries over from one
/// call to the next. Bytes that find no room in the partition's ring are
/// dropped and reported later (their count, as the ring counts them, is
/// returned); this never waits for the UART.
pub fn write_guest_bytes(partition: usize, label: &str, bytes: &[u8]) -> u64 {
    let console = PARTITIONS
        .get(partition)
        .filter(|_| BUFFERED.load(Ordering::Acquire));
    let Some(console) = console else {
        direct(|out| write_guest_direct(out, label, bytes));
        return 0;
    };
    let Some(entered) = Entered::new() else {
        direct(|out| write_guest_direct(out, label, bytes));
        return 0;
    };
    let mut dropped = 0u64;
    let after = switch_to(partition + 1);
    let mut rest = bytes;
    let mut refills = 0;
    let mut first = true;
    loop {
        let Some(mut locked) = lock_within(console, LOCK_WAIT_US) else {
            DIRECT_DROPPED.fetch_add(rest.len() as u64, Ordering::Relaxed);
            return dropped.saturating_add(rest.len() as u64);
        };
        if first {
            locked.set_label(label);
            if let Some((other, until)) = after {
                locked.ring.order_after(other, until);
            }
            first = false;
        }
        let PartitionConsole { ring, text, .. } = &mut *locked;
        let unreported = ring.dropped();
        ring.touch(now());
        let taken = text.fill(ring, label, rest, refills >= REFILLS);
        dropped = dropped.saturating_add(ring.dropped().saturating_sub(unreported));
        let free = locked.ring.free();
        drop(locked);
        rest = rest.get(taken..).unwrap_or(&[]);
        PENDING.store(true, Ordering::SeqCst);
        if rest.is_empty() {
            break;
        }
        // Its own ring is full: wait a little for a core that is draining
        // (lines another drain left behind would otherwise cost this
        // writer its line), never for the UART.
        drain_rings(Some(PRINT_WAIT_US), DRAIN_BUDGET);
        // Try again only if the drain made room; else drop what is left.
        let freed = lock_within(console, LOCK_WAIT_US).is_some_and(|c| c.ring.free() > free);
        refills = if freed { refills + 1 } else { REFILLS };
    }
    drop(entered);
    // Only a line end gives the drainer something new of ours: a byte in
    // mid-line (a virtual PL011 writes one per trap) skips the drain,
    // unless it echoes what is being typed.
    if bytes.contains(&b'\n') || refills > 0 || recently_typed(partition) {
        drain();
    }
    dropped
}

/// The direct path of [`write_guest_bytes`] (each call starts a line).
fn write_guest_direct(out: &mut Direct, label: &str, bytes: &[u8]) {
    let mut text = GuestText::new();
    for &byte in bytes {
        text.encode(label, byte, |output| out.put_slice(output));
    }
}

/// `print!` to the hypervisor console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// `println!` to the hypervisor console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `log` backend: `bulkhead: <message>` lines, with the level for warnings and errors.
struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        match record.level() {
            log::Level::Error => print(format_args!("bulkhead: error: {}\n", record.args())),
            log::Level::Warn => print(format_args!("bulkhead: warning: {}\n", record.args())),
            _ => print(format_args!("bulkhead: {}\n", record.args())),
        }
    }

    fn flush(&self) {
        flush_bounded();
    }
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the console as the `log` backend and switches it to its rings
/// (from here on output never waits for the UART). Call it once, on the
/// boot CPU, with the MMU on.
pub fn init_logger() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    BUFFERED.store(true, Ordering::Release);
}

/// INTID of the console UART's interrupt once input is on (0: off).
static INPUT_INTID: AtomicU64 = AtomicU64::new(0);
/// Who gets console input (indices into the virtual-console partitions).
static FOCUS: Mutex<Focus> = Mutex::new(Focus::new(0));
/// Most input bytes one interrupt takes (the FIFO holds 32; more wait).
const INPUT_BURST: usize = 64;

/// Turns console input on: the UART's receive interrupts (`intid`, which
/// the caller routed to a core) feed the virtual UARTs of the system's
/// partitions, the first one focused. Boot CPU, before partitions run.
pub fn enable_input(intid: u32, system: &System) {
    let targets = virtual_consoles(system).count();
    *FOCUS.lock() = Focus::new(targets);
    if let Some(uart) = registers() {
        uart.icr.set(INT_RX_RT);
        uart.imsc.set(uart.imsc.get() | INT_RX_RT);
    }
    INPUT_INTID.store(u64::from(intid), Ordering::Release);
    if let Some(first) = virtual_consoles(system).next() {
        log::info!(
            "console input goes to {} (Ctrl-a three times switches)",
            first.label()
        );
    }
}

/// The partitions with a virtual console, in system order.
fn virtual_consoles(system: &System) -> impl Iterator<Item = &Partition> {
    system
        .partitions
        .iter()
        .filter(|partition| partition.virtual_uart.is_some())
}

/// Takes the console UART's input if `intid` is its interrupt; false if not.
pub fn handle_input_interrupt(intid: u32) -> bool {
    if u64::from(intid) != INPUT_INTID.load(Ordering::Acquire) || intid == 0 {
        return false;
    }
    let (Some(uart), Some(system)) = (registers(), system()) else {
        return true;
    };
    for _ in 0..INPUT_BURST {
        if uart.fr.get() & FR_RXFE != 0 {
            break;
        }
        let byte = uart.dr.get() as u8;
        // Bounded: only this core's input path and boot take the lock.
        let input = FOCUS.lock().feed(byte);
        match input {
            Input::Held => {}
            Input::Deliver(target, bytes, len) => {
                let Some(partition) = virtual_consoles(system).nth(target) else {
                    continue;
                };
                if let Some(virtual_uart) = partition.virtual_uart {
                    for &byte in bytes.get(..len).unwrap_or(&[]) {
                        virtual_uart.receive(partition, byte);
                    }
                }
                let index = system
                    .partitions
                    .iter()
                    .position(|p| core::ptr::eq(p, partition));
                let typed_at = now();
                if let Some(last) = index.and_then(|index| LAST_INPUT.get(index)) {
                    last.store(typed_at, Ordering::Relaxed);
                }
                // Its echo and prompts leave at once for a while.
                let console = index.and_then(|index| PARTITIONS.get(index));
                if let Some(mut console) = console.and_then(|c| lock_within(c, LOCK_WAIT_US)) {
                    console
                        .ring
                        .flush_eagerly_until(typed_at.saturating_add(ticks_ms(TYPED_FLUSH_MS)));
                }
            }
            Input::Switched(target) => {
                if let Some(partition) = virtual_consoles(system).nth(target) {
                    log::info!("console input now goes to {}", partition.label());
                }
            }
        }
    }
    uart.icr.set(INT_RX_RT);
    // Lines left partial for a while (a prompt) go out now.
    drain();
    true
}

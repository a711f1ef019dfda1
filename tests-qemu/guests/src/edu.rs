//! A driver for QEMU's `edu` PCI device (1234:11e8): liveness, factorial with its interrupt, blocking DMA.
//!
//! BAR0 registers (1 MiB, 32-bit accesses below 0x80, 64-bit ones at the
//! DMA registers): 0x00 ident, 0x04 liveness (reads back the complement),
//! 0x08 factorial, 0x20 status (bit 0 computing, bit 7 interrupt on
//! completion), 0x24 interrupt status, 0x60 raise, 0x64 acknowledge, 0x80
//! source, 0x88 destination, 0x90 count, 0x98 command (bit 0 run, bit 1
//! device-to-RAM, bit 2 interrupt on completion). The device's buffer is at
//! device address [`DEVICE_BUFFER`], [`DMA_BYTES`] long; RAM addresses are
//! bus addresses, which Bulkhead's SMMU translates as the partition's IPAs.
//! QEMU completes a DMA 100 ms (virtual clock) after it is started.
//!
//! Interrupts (INTx, level): [`enable_interrupts`] registers [`handler`],
//! which acknowledges every raised bit at 0x64 before the EOI and counts
//! factorial and DMA completions; [`wait_event`] sleeps in `wfi` for one,
//! with the virtual timer as a watchdog so a lost interrupt ends in a
//! timeout instead of a hang.

use crate::pci::{dma_barrier, mmio_read32, mmio_read64, mmio_write32, mmio_write64};
use crate::{gic, irq, timer};
use bulkhead_workload::dma::{self as pattern, Fnv};
use core::sync::atomic::{AtomicU64, Ordering};

/// Vendor and device ID.
pub const VENDOR: u16 = 0x1234;
pub const DEVICE: u16 = 0x11e8;
/// What the ident register reads (version 1.0, 0xed).
pub const IDENT: u32 = 0x0100_00ed;
/// Device address of the DMA buffer.
pub const DEVICE_BUFFER: u64 = 0x4_0000;
/// Bytes of the DMA buffer.
pub const DMA_BYTES: u64 = pattern::DMA_BYTES;

/// Register offsets.
pub mod reg {
    pub const IDENT: u64 = 0x00;
    pub const LIVENESS: u64 = 0x04;
    pub const FACTORIAL: u64 = 0x08;
    pub const STATUS: u64 = 0x20;
    pub const IRQ_STATUS: u64 = 0x24;
    pub const IRQ_RAISE: u64 = 0x60;
    pub const IRQ_ACK: u64 = 0x64;
    pub const DMA_SOURCE: u64 = 0x80;
    pub const DMA_DESTINATION: u64 = 0x88;
    pub const DMA_COUNT: u64 = 0x90;
    pub const DMA_COMMAND: u64 = 0x98;
}

/// Status: a factorial is being computed.
pub const STATUS_COMPUTING: u32 = 1 << 0;
/// Status: raise [`IRQ_FACTORIAL`] when the factorial completes.
pub const STATUS_IRQ_FACTORIAL: u32 = 1 << 7;
/// Interrupt status bits.
pub const IRQ_FACTORIAL: u32 = 0x1;
pub const IRQ_DMA: u32 = 0x100;
/// DMA command bits.
pub const DMA_RUN: u64 = 1 << 0;
pub const DMA_TO_RAM: u64 = 1 << 1;
pub const DMA_IRQ: u64 = 1 << 2;

/// Longest wait for one factorial or DMA (QEMU's DMA takes 100 ms).
pub const TIMEOUT_MS: u64 = 2000;

/// Direction of a DMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// RAM at the bus address -> device buffer.
    ToDevice,
    /// Device buffer -> RAM at the bus address.
    ToRam,
}

/// How a wait ended without its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout;

/// One edu's BAR0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edu {
    pub base: u64,
}

impl Edu {
    pub fn read32(&self, offset: u64) -> u32 {
        mmio_read32(self.base + offset)
    }

    pub fn write32(&self, offset: u64, value: u32) {
        mmio_write32(self.base + offset, value)
    }

    pub fn read64(&self, offset: u64) -> u64 {
        mmio_read64(self.base + offset)
    }

    pub fn write64(&self, offset: u64, value: u64) {
        mmio_write64(self.base + offset, value)
    }

    pub fn ident(&self) -> u32 {
        self.read32(reg::IDENT)
    }

    /// Writes `value` to the liveness register and returns what reads back
    /// (its complement on a live device).
    pub fn liveness(&self, value: u32) -> u32 {
        self.write32(reg::LIVENESS, value);
        self.read32(reg::LIVENESS)
    }

    pub fn irq_status(&self) -> u32 {
        self.read32(reg::IRQ_STATUS)
    }

    /// Clears interrupt status bits (drops INTx once none is left).
    pub fn acknowledge(&self, bits: u32) {
        self.write32(reg::IRQ_ACK, bits)
    }

    /// Starts computing `n!`, with its interrupt if `interrupt`.
    pub fn start_factorial(&self, n: u32, interrupt: bool) {
        let status = if interrupt { STATUS_IRQ_FACTORIAL } else { 0 };
        self.write32(reg::STATUS, status);
        self.write32(reg::FACTORIAL, n);
    }

    pub fn factorial_busy(&self) -> bool {
        self.read32(reg::STATUS) & STATUS_COMPUTING != 0
    }

    pub fn factorial_value(&self) -> u32 {
        self.read32(reg::FACTORIAL)
    }

    /// Programs and starts one DMA of `bytes` between RAM at bus address
    /// `ram` and the device buffer (offset 0); returns at once.
    pub fn start_dma(&self, direction: Direction, ram: u64, bytes: u64, interrupt: bool) {
        let (source, destination, command) = match direction {
            Direction::ToDevice => (ram, DEVICE_BUFFER, DMA_RUN),
            Direction::ToRam => (DEVICE_BUFFER, ram, DMA_RUN | DMA_TO_RAM),
        };
        let command = if interrupt {
            command | DMA_IRQ
        } else {
            command
        };
        // RAM written before must be what the device reads.
        dma_barrier();
        self.write64(reg::DMA_SOURCE, source);
        self.write64(reg::DMA_DESTINATION, destination);
        self.write64(reg::DMA_COUNT, bytes.min(DMA_BYTES));
        self.write64(reg::DMA_COMMAND, command);
    }

    /// Whether the DMA engine is still running.
    pub fn dma_busy(&self) -> bool {
        self.read64(reg::DMA_COMMAND) & DMA_RUN != 0
    }

    /// Polls until the running DMA finished (at most [`TIMEOUT_MS`]).
    pub fn wait_dma_polling(&self) -> Result<(), Timeout> {
        let done = irq::wait_until(TIMEOUT_MS, || !self.dma_busy());
        dma_barrier();
        if done {
            Ok(())
        } else {
            Err(Timeout)
        }
    }

    /// One DMA, waited for through its completion interrupt (needs
    /// [`enable_interrupts`]), then the run bit checked clear.
    pub fn dma(&self, direction: Direction, ram: u64, bytes: u64) -> Result<(), Timeout> {
        let before = dma_interrupts();
        self.start_dma(direction, ram, bytes, true);
        wait_event(|| dma_interrupts() > before, TIMEOUT_MS)?;
        self.wait_dma_polling()
    }

    /// `n!` through the completion interrupt: (value, interrupts it took).
    pub fn factorial_with_irq(&self, n: u32) -> Result<(u32, u64), Timeout> {
        let before = factorial_interrupts();
        self.start_factorial(n, true);
        wait_event(|| factorial_interrupts() > before, TIMEOUT_MS)?;
        if !irq::wait_until(TIMEOUT_MS, || !self.factorial_busy()) {
            return Err(Timeout);
        }
        // Let a (wrong) second interrupt show up before counting.
        timer::delay_ms(10);
        self.write32(reg::STATUS, 0);
        Ok((
            self.factorial_value(),
            factorial_interrupts().saturating_sub(before),
        ))
    }
}

/// BAR0 of the edu the handler serves.
static HANDLER_EDU: AtomicU64 = AtomicU64::new(0);
/// Completions the handler saw, by kind.
static FACTORIAL_IRQS: AtomicU64 = AtomicU64::new(0);
static DMA_IRQS: AtomicU64 = AtomicU64::new(0);
/// Interrupts whose status register had no bit set.
static EMPTY_IRQS: AtomicU64 = AtomicU64::new(0);

/// Factorial completions seen by [`handler`].
pub fn factorial_interrupts() -> u64 {
    FACTORIAL_IRQS.load(Ordering::Acquire)
}

/// DMA completions seen by [`handler`].
pub fn dma_interrupts() -> u64 {
    DMA_IRQS.load(Ordering::Acquire)
}

/// Interrupts taken with nothing raised.
pub fn empty_interrupts() -> u64 {
    EMPTY_IRQS.load(Ordering::Acquire)
}

/// The edu's interrupt: acknowledges every raised bit (dropping INTx)
/// before the EOI, counts them.
pub fn handler(_irq: &irq::Irq) {
    let edu = Edu {
        base: HANDLER_EDU.load(Ordering::Acquire),
    };
    let status = edu.irq_status();
    edu.acknowledge(status);
    if status & IRQ_FACTORIAL != 0 {
        FACTORIAL_IRQS.fetch_add(1, Ordering::AcqRel);
    }
    if status & IRQ_DMA != 0 {
        DMA_IRQS.fetch_add(1, Ordering::AcqRel);
    }
    if status == 0 {
        EMPTY_IRQS.fetch_add(1, Ordering::AcqRel);
    }
}

/// The watchdog's interrupt: the timer stops itself (a wait checks the deadline).
fn watchdog(_irq: &irq::Irq) {
    timer::stop_virtual();
}

/// Brings the GIC up on this vCPU and routes `intid` (the edu's INTx) to
/// it with [`handler`]; the virtual timer is enabled as the waits' watchdog.
pub fn enable_interrupts(gic: gic::Gic, edu: Edu, intid: u32) {
    HANDLER_EDU.store(edu.base, Ordering::Release);
    enable_watchdog(gic);
    irq::set_handler(intid, handler);
    gic.enable_spi(intid, gic::own_affinity());
}

/// Brings the GIC up on this vCPU with the virtual timer as the watchdog of
/// [`wait_event`] and [`sleep_ms`], and unmasks IRQs.
pub fn enable_watchdog(gic: gic::Gic) {
    gic::configure(gic);
    gic.init_distributor();
    gic.init_cpu();
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, watchdog);
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
}

/// Sleeps `ms` milliseconds in `wfi` (after [`enable_watchdog`]): unlike a
/// spin, an idle vCPU lets QEMU's `-icount` clock jump ahead.
pub fn sleep_ms(ms: u64) {
    let _ = wait_event(|| false, ms);
}

/// Sleeps in `wfi` until `done` or `ms` milliseconds pass (the virtual
/// timer wakes the vCPU at the deadline).
pub fn wait_event(mut done: impl FnMut() -> bool, ms: u64) -> Result<(), Timeout> {
    let deadline = timer::now().saturating_add(timer::ticks_from_ms(ms));
    timer::arm_virtual(deadline);
    loop {
        irq::disable();
        if done() {
            irq::enable();
            timer::stop_virtual();
            return Ok(());
        }
        if timer::now() >= deadline {
            irq::enable();
            timer::stop_virtual();
            return Err(Timeout);
        }
        irq::wait();
        irq::enable();
    }
}

/// A page-aligned DMA buffer of [`DMA_BYTES`], accessed word by word
/// through atomics (so the compiler never assumes the device left it alone).
#[repr(C, align(4096))]
pub struct DmaPage(pub [AtomicU64; pattern::DMA_WORDS as usize]);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_WORD: AtomicU64 = AtomicU64::new(0);

impl DmaPage {
    pub const fn new() -> Self {
        DmaPage([ZERO_WORD; pattern::DMA_WORDS as usize])
    }

    /// Its bus address (IPA == VA under the identity map).
    pub fn address(&self) -> u64 {
        self as *const DmaPage as u64
    }

    /// Fills it with pattern `seed` (see `bulkhead_workload::dma`).
    pub fn fill_pattern(&self, seed: u64) {
        for (index, word) in self.0.iter().enumerate() {
            word.store(pattern::word(seed, index as u64), Ordering::Relaxed);
        }
        dma_barrier();
    }

    /// Fills every byte with `byte`.
    pub fn fill_byte(&self, byte: u8) {
        let value = u64::from_ne_bytes([byte; 8]);
        for word in self.0.iter() {
            word.store(value, Ordering::Relaxed);
        }
        dma_barrier();
    }

    /// FNV-1a 64 of its bytes.
    pub fn checksum(&self) -> u64 {
        dma_barrier();
        self.0
            .iter()
            .fold(Fnv::new(), |fnv, word| {
                fnv.word(word.load(Ordering::Relaxed))
            })
            .finish()
    }

    /// Whether it holds pattern `seed`.
    pub fn holds_pattern(&self, seed: u64) -> bool {
        dma_barrier();
        self.0
            .iter()
            .enumerate()
            .all(|(index, word)| word.load(Ordering::Relaxed) == pattern::word(seed, index as u64))
    }

    /// Whether both pages hold the same bytes.
    pub fn same_as(&self, other: &DmaPage) -> bool {
        dma_barrier();
        self.0
            .iter()
            .zip(other.0.iter())
            .all(|(a, b)| a.load(Ordering::Relaxed) == b.load(Ordering::Relaxed))
    }
}

impl Default for DmaPage {
    fn default() -> Self {
        Self::new()
    }
}

/// The PCI INTx INTID of QEMU virt for `device`'s pin A on bus 0: the four
/// lines start at SPI 3 (INTID 35), swizzled by slot.
pub fn virt_intx_intid(device: u8) -> u32 {
    35 + u32::from(device % 4)
}

/// Where [`bring_up`] puts an unassigned BAR0 (bare QEMU virt's PCI MMIO window).
pub const BARE_BAR0: u64 = 0x1000_0000;

/// The first edu of a [`crate::pci::Scan`], brought up: memory decoding
/// and bus mastering on, ident and liveness checked, its INTx (QEMU virt's
/// swizzle) routed here. Prints
/// `edu function=<bdf> ident=0x<i> live=<bool> intid=<n>`; `None` (after an
/// `edu error:` line) without one.
pub fn bring_up(
    scan: &crate::pci::Scan,
    gic: gic::Gic,
) -> Option<(crate::pci::Function, Edu, u32)> {
    let Some(function) = scan.find(VENDOR, DEVICE) else {
        crate::mark!("edu error: no edu function on the bus");
        return None;
    };
    // Bare QEMU (no Bulkhead, no firmware) leaves BAR0 unassigned: place
    // it at the start of virt's 32-bit PCI window. Bulkhead always assigns it.
    if function.bar0() == Some(0) {
        function.write(crate::pci::reg::BAR0, BARE_BAR0 as u32);
    }
    let Some(base) = function.bar0().filter(|&base| base != 0) else {
        crate::mark!("edu error: {function} has no memory BAR0");
        return None;
    };
    function.enable_memory_and_bus_master();
    let edu = Edu { base };
    let intid = virt_intx_intid(function.device);
    let live = edu.liveness(0x1234_5678) == !0x1234_5678;
    crate::mark!(
        "edu function={function} ident={:#x} live={live} intid={intid} command={:#x}",
        edu.ident(),
        function.command()
    );
    enable_interrupts(gic, edu, intid);
    Some((function, edu, intid))
}

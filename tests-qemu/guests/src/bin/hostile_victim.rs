//! Guest `hostile_victim`: checksums a block on both vCPUs and counts every interrupt it takes while attackers on other cores attack.
//!
//! Both vCPUs enable all 16 SGIs and their virtual timer (PPI 27), which
//! each re-arms at [`TIMER_HZ`] from its own handler; vCPU 0 also enables its
//! UART's receive interrupt (SPI 8, INTID 40, routed to itself) with the
//! PL011's receive interrupts unmasked. Nothing ever arrives on that UART
//! (QEMU's serial backend is a file), and the victim sends exactly one SGI
//! of its own ([`OWN_SGI`], vCPU 0 to vCPU 1, waiting for each), so every
//! other SGI, UART or unexpected interrupt came from outside.
//!
//! Both vCPUs keep checksumming the pre-filled 1 MiB block (16 MiB into the
//! first region) in 4 KiB chunks until the counter reaches `until_ms`
//! (bootargs, absolute counter milliseconds, default [`DEFAULT_UNTIL_MS`]).
//! Every [`PRINT_MS`] vCPU 0 prints on its own UART
//! `victim progress=<passes> checksum=<c> sgis=<s> timer=<t> uart_rx=<u> other=<o> ticks=<now>`
//! (both vCPUs' counts), then at the end:
//! - `victim done progress=<p0> vcpu1_progress=<p1> checksum=<c> bad=<b> ticks=<t>`
//!   (`bad`: passes of either vCPU whose checksum differed from vCPU 0's first),
//! - `victim irqs sgis=.. timer=.. armed=.. uart_rx=.. other=.. own_sgis=.. own_received=..`
//!   (after both timers stopped: `timer` must equal `armed`),
//! - `victim spi enabled=<0|1> priority=<p> route=<r>` (its UART's SPI as its
//!   distributor reads back),
//! - `victim loopback rx=<n> expected=<m>`: with PL011 loopback on, the
//!   receive interrupts of [`LOOPBACK`] (its SPI still works),
//! - with `windows=<b0>,<b1>,<s0>,<s1>` (absolute counter ms): `victim windows
//!   baseline=<chunks> storm=<chunks>`, the 4 KiB chunks both vCPUs
//!   checksummed in [b0, b1) and [s0, s1) (for the isolation benchmarks).
//! - if it is an endpoint of channel 0: `victim doorbells taken=<n> acks=<a>`.
//!   Its doorbell handler masks the doorbell (GICD_ICENABLER); vCPU 0
//!   unmasks it at each progress line (the acknowledgement), so however
//!   often a peer rings, it takes at most one doorbell per acknowledgement.
#![no_std]
#![no_main]

use bulkhead_guests::gic::{self, gicd};
use bulkhead_guests::pl011::{self, Pl011};
use bulkhead_guests::{channel, dt, guest_main, irq, println, psci, timer, BootInfo};
use bulkhead_workload as workload;
use core::sync::atomic::{AtomicU64, Ordering};

/// Counter time at which the victim stops, when bootargs do not say.
pub const DEFAULT_UNTIL_MS: u64 = 600;
/// Counter time between two progress lines.
pub const PRINT_MS: u64 = 50;
/// Virtual timer rate of each vCPU.
pub const TIMER_HZ: u64 = 1000;
/// The only SGI the victim sends (vCPU 0 to vCPU 1).
pub const OWN_SGI: u32 = 7;
/// UART1 and its INTID, when the device tree does not say.
const DEFAULT_UART: u64 = 0x0904_0000;
const DEFAULT_UART_INTID: u32 = 40;
/// Words per progress chunk (4 KiB).
const CHUNK_WORDS: usize = workload::PAGE_WORDS as usize;
/// What goes round the loopback at the end.
pub const LOOPBACK: &[u8] = b"rx-probe\n";
/// Longest wait for one interrupt the victim caused itself.
const WAIT_MS: u64 = 200;

/// Per-vCPU counters (index = vCPU).
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static ARMED: [AtomicU64; 2] = [ZERO; 2];
static PROGRESS: [AtomicU64; 2] = [ZERO; 2];
static BAD: [AtomicU64; 2] = [ZERO; 2];
static BASELINE_CHUNKS: [AtomicU64; 2] = [ZERO; 2];
static STORM_CHUNKS: [AtomicU64; 2] = [ZERO; 2];
/// Set by vCPU 0 when the run is over; vCPU 1 then stops.
static STOP: AtomicU64 = AtomicU64::new(0);
static SECONDARY_READY: AtomicU64 = AtomicU64::new(0);
static SECONDARY_DONE: AtomicU64 = AtomicU64::new(0);
/// Timer period in counter ticks, set before either timer is armed.
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);
/// UART receive: bytes drained by the handler.
static UART: AtomicU64 = AtomicU64::new(DEFAULT_UART);
static RECEIVED_BYTES: AtomicU64 = AtomicU64::new(0);
/// The block, the checksum every pass must give, and the windows (ticks).
static BLOCK: AtomicU64 = AtomicU64::new(0);
static EXPECTED: AtomicU64 = AtomicU64::new(0);
static WINDOWS: [AtomicU64; 4] = [ZERO; 4];

/// Virtual timer: count, and re-arm one period after the last deadline
/// (fixed rate) unless the run is over, in which case switch it off so
/// `armed` stays equal to what fired.
fn tick(irq: &irq::Irq) {
    let vcpu = irq.vcpu as usize;
    if STOP.load(Ordering::Acquire) != 0 {
        timer::stop_virtual();
        return;
    }
    let period = PERIOD_TICKS.load(Ordering::Acquire);
    timer::set_virtual_deadline(timer::virtual_deadline().wrapping_add(period));
    if let Some(armed) = ARMED.get(vcpu) {
        armed.fetch_add(1, Ordering::AcqRel);
    }
}

/// UART receive: drain the FIFO (drops the line) and clear the interrupt.
fn receive(_irq: &irq::Irq) {
    let uart = Pl011 {
        base: UART.load(Ordering::Acquire),
    };
    while uart.read_byte().is_some() {
        RECEIVED_BYTES.fetch_add(1, Ordering::AcqRel);
    }
    uart.clear_interrupts(pl011::INT_RX | pl011::INT_RT);
}

/// The doorbell of channel 0, if the victim is an endpoint (0: none).
static DOORBELL: AtomicU64 = AtomicU64::new(0);

/// A doorbell: masked until vCPU 0 acknowledges it at its next progress line.
fn doorbell(irq: &irq::Irq) {
    gic::configured().disable_spi(irq.intid);
}

/// Enables SGIs and the virtual timer on this vCPU, arms it, unmasks IRQs.
fn listen(vcpu: u64) {
    let gic = gic::configured();
    gic.init_cpu();
    for sgi in 0..16 {
        gic.enable_private(sgi);
    }
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    if let Some(armed) = ARMED.get(vcpu as usize) {
        armed.store(1, Ordering::Release);
    }
    timer::arm_virtual(timer::now() + PERIOD_TICKS.load(Ordering::Acquire));
    irq::enable();
}

/// The block both vCPUs checksum.
fn block() -> &'static [u64] {
    let base = BLOCK.load(Ordering::Acquire);
    // SAFETY: `main` filled VICTIM_WORDS words at `base` (inside our first
    // region, past the image and before the device tree) before any vCPU
    // reads them, and nothing writes them afterwards.
    unsafe { core::slice::from_raw_parts(base as *const u64, workload::VICTIM_WORDS as usize) }
}

/// One checksum pass in chunks, counting chunks that end inside a window.
/// Returns the pass's checksum.
fn pass(vcpu: usize) -> u64 {
    let [b0, b1, s0, s1] = WINDOWS.each_ref().map(|w| w.load(Ordering::Relaxed));
    let mut sum = 0u64;
    for (index, chunk) in block().chunks(CHUNK_WORDS).enumerate() {
        let first = (index * CHUNK_WORDS) as u64;
        sum = workload::combine(sum, workload::checksum(chunk, first));
        let now = timer::now();
        if (b0..b1).contains(&now) {
            BASELINE_CHUNKS[vcpu].fetch_add(1, Ordering::Relaxed);
        } else if (s0..s1).contains(&now) {
            STORM_CHUNKS[vcpu].fetch_add(1, Ordering::Relaxed);
        }
    }
    sum
}

/// Runs one pass and records its outcome; returns its checksum.
fn counted_pass(vcpu: usize) -> u64 {
    let sum = pass(vcpu);
    PROGRESS[vcpu].fetch_add(1, Ordering::AcqRel);
    if sum != EXPECTED.load(Ordering::Acquire) {
        BAD[vcpu].fetch_add(1, Ordering::AcqRel);
    }
    sum
}

/// Interrupt counts of both vCPUs by class.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    foreign_sgis: u64,
    own_received: u64,
    timer: u64,
    uart_rx: u64,
    other: u64,
}

fn counts(uart_intid: u32) -> Counts {
    let mut counts = Counts::default();
    for vcpu in 0..2u64 {
        let sgis = irq::count_range(vcpu, 0..16);
        let own = if vcpu == 1 { irq::count(1, OWN_SGI) } else { 0 };
        let timer = irq::count(vcpu, gic::VIRTUAL_TIMER_INTID);
        let uart = irq::count(vcpu, uart_intid);
        counts.own_received += own;
        counts.foreign_sgis += sgis - own;
        counts.timer += timer;
        counts.uart_rx += uart;
        let doorbell = match DOORBELL.load(Ordering::Acquire) {
            0 => 0,
            intid => irq::count(vcpu, intid as u32),
        };
        counts.other += irq::total(vcpu) - sgis - timer - uart - doorbell;
    }
    counts
}

/// The value of `key=` in the space-separated `/chosen/bootargs`, if any.
fn bootarg(boot: &BootInfo, key: &str) -> Option<&'static str> {
    let fdt = dt::blob(boot.dtb)?;
    let args = fdt.find_node("/chosen")?.property("bootargs")?.as_str()?;
    args.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

fn ms_to_ticks(ms: u64) -> u64 {
    ms.saturating_mul(timer::frequency()) / 1000
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("hostile_victim error: no memory region known");
        psci::system_off()
    };
    let block_bytes = workload::VICTIM_WORDS * workload::WORD_BYTES;
    if workload::work_area(size).is_none_or(|area| area.end - area.start < block_bytes) {
        println!("hostile_victim error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    let until_ms = bootarg(boot, "until_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_UNTIL_MS);
    let windows = bootarg(boot, "windows").and_then(|text| {
        let mut parts = text.split(',').map(|part| part.parse::<u64>().ok());
        let window: [Option<u64>; 4] = core::array::from_fn(|_| parts.next().flatten());
        match window {
            [Some(b0), Some(b1), Some(s0), Some(s1)] => Some([b0, b1, s0, s1]),
            _ => None,
        }
    });
    if let Some(window) = windows {
        for (slot, ms) in WINDOWS.iter().zip(window) {
            slot.store(ms_to_ticks(ms), Ordering::Release);
        }
    }

    // SAFETY: the block starts 16 MiB into our first region (past the image
    // and stacks) and ends before the device tree (checked above); nothing
    // else in this partition uses it, and vCPU 1 is not started yet.
    let words = unsafe {
        core::slice::from_raw_parts_mut(
            (base + workload::WORK_AREA_OFFSET) as *mut u64,
            workload::VICTIM_WORDS as usize,
        )
    };
    workload::fill(words, 0);
    BLOCK.store(words.as_ptr() as u64, Ordering::Release);
    EXPECTED.store(workload::checksum(words, 0), Ordering::Release);

    let uart_base = boot
        .dt
        .and_then(|dt| dt.stdout_uart)
        .unwrap_or(DEFAULT_UART);
    let uart_intid = boot
        .dt
        .and_then(|dt| dt.stdout_uart_intid)
        .unwrap_or(DEFAULT_UART_INTID);
    UART.store(uart_base, Ordering::Release);
    let uart = Pl011 { base: uart_base };
    PERIOD_TICKS.store((timer::frequency() / TIMER_HZ).max(1), Ordering::Release);

    let gic = boot.gic();
    gic::configure(gic);
    gic.init_distributor();
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, tick);
    irq::set_handler(uart_intid, receive);
    listen(0);
    gic.enable_spi(uart_intid, gic::own_affinity());
    uart.set_interrupt_mask(pl011::INT_RX | pl011::INT_RT);
    let channel = channel::info(0).ok();
    if let Some(channel) = &channel {
        irq::set_handler(channel.doorbell, doorbell);
        channel.enable_doorbell();
        DOORBELL.store(u64::from(channel.doorbell), Ordering::Release);
    }
    let mut acks = 0u64;

    let started = psci::cpu_on(1, 0);
    if started != 0 || !irq::wait_until(WAIT_MS, || SECONDARY_READY.load(Ordering::Acquire) != 0) {
        println!("hostile_victim error: vcpu 1 did not come up (cpu_on {started})");
        psci::system_off()
    }
    println!("victim ready uart={uart_base:#x} intid={uart_intid} until_ms={until_ms}");

    let until = ms_to_ticks(until_ms);
    let print_ticks = ms_to_ticks(PRINT_MS);
    let mut next_print = timer::now();
    let mut own_sent = 0u64;
    let mut last_sum = counted_pass(0);
    loop {
        let now = timer::now();
        if now >= next_print {
            // One SGI of our own per line, waited for, so none merge.
            own_sent += 1;
            gic::send_sgi(OWN_SGI, 1 << 1);
            irq::wait_until(WAIT_MS, || irq::count(1, OWN_SGI) >= own_sent);
            let c = counts(uart_intid);
            println!(
                "victim progress={} checksum={last_sum:#x} sgis={} timer={} uart_rx={} other={} ticks={now}",
                PROGRESS[0].load(Ordering::Acquire),
                c.foreign_sgis,
                c.timer,
                c.uart_rx,
                c.other,
            );
            next_print = now + print_ticks;
            if let Some(channel) = &channel {
                channel.enable_doorbell();
                acks += 1;
            }
        }
        if now >= until {
            break;
        }
        last_sum = counted_pass(0);
    }

    // Stop: both timers off once their last armed deadline fired.
    STOP.store(1, Ordering::Release);
    let stopped = irq::wait_until(WAIT_MS, || SECONDARY_DONE.load(Ordering::Acquire) != 0);
    irq::wait_until(WAIT_MS, || {
        irq::count(0, gic::VIRTUAL_TIMER_INTID) >= ARMED[0].load(Ordering::Acquire)
    });
    if !stopped {
        println!("hostile_victim error: vcpu 1 did not stop");
    }
    let c = counts(uart_intid);
    let armed = ARMED[0].load(Ordering::Acquire) + ARMED[1].load(Ordering::Acquire);
    let end = timer::now();
    println!(
        "victim done progress={} vcpu1_progress={} checksum={last_sum:#x} bad={} ticks={end}",
        PROGRESS[0].load(Ordering::Acquire),
        PROGRESS[1].load(Ordering::Acquire),
        BAD[0].load(Ordering::Acquire) + BAD[1].load(Ordering::Acquire),
    );
    println!(
        "victim irqs sgis={} timer={} armed={armed} uart_rx={} other={} own_sgis={own_sent} own_received={}",
        c.foreign_sgis, c.timer, c.uart_rx, c.other, c.own_received,
    );
    let enabled = gic.distributor_bit(gicd::ISENABLER, uart_intid);
    let priority = gic::read8(gic.gicd(gicd::IPRIORITYR + u64::from(uart_intid)));
    let route = gic.read_route(uart_intid);
    println!(
        "victim spi intid={uart_intid} enabled={} priority={priority} route={route:#x}",
        u8::from(enabled)
    );

    // Its own receive interrupt still works: loop a few bytes back.
    let before = irq::count(0, uart_intid);
    let bytes_before = RECEIVED_BYTES.load(Ordering::Acquire);
    uart.set_loopback(true);
    uart.set_interrupt_mask(pl011::INT_RX | pl011::INT_RT);
    for (index, &byte) in LOOPBACK.iter().enumerate() {
        uart.write_byte(byte);
        let expected = bytes_before + index as u64 + 1;
        if !irq::wait_until(WAIT_MS, || {
            RECEIVED_BYTES.load(Ordering::Acquire) >= expected
        }) {
            break;
        }
    }
    uart.set_interrupt_mask(0);
    uart.set_loopback(false);
    println!(
        "victim loopback rx={} bytes={} expected={}",
        irq::count(0, uart_intid) - before,
        RECEIVED_BYTES.load(Ordering::Acquire) - bytes_before,
        LOOPBACK.len()
    );
    if let Some(channel) = &channel {
        println!(
            "victim doorbells taken={} acks={acks}",
            irq::count(0, channel.doorbell)
        );
    }
    if windows.is_some() {
        println!(
            "victim windows baseline={} storm={} cntfrq={}",
            BASELINE_CHUNKS[0].load(Ordering::Acquire) + BASELINE_CHUNKS[1].load(Ordering::Acquire),
            STORM_CHUNKS[0].load(Ordering::Acquire) + STORM_CHUNKS[1].load(Ordering::Acquire),
            timer::frequency()
        );
    }
    psci::system_off()
}

fn secondary(vcpu: u64, _context: u64) -> ! {
    listen(vcpu);
    SECONDARY_READY.store(1, Ordering::Release);
    while STOP.load(Ordering::Acquire) == 0 {
        counted_pass(1);
    }
    irq::wait_until(WAIT_MS, || {
        irq::count(1, gic::VIRTUAL_TIMER_INTID) >= ARMED[1].load(Ordering::Acquire)
    });
    irq::disable();
    timer::stop_virtual();
    SECONDARY_DONE.store(1, Ordering::Release);
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);

//! Guest `ckpt_bench_periodic`: a fixed workload dirtying a share of memory per interval, timed with and without periodic checkpoints.
//!
//! Parameters come from `/chosen/bootargs`: `interval-ms=<n> dirty-percent=<p>
//! rounds=<r> wait-ms=<w>`. One round is about one interval of work under
//! icount (one instruction per ns): a word written to each of `p` % of the
//! partition's pages (moving on through the work area each round), then a
//! spin of the rest of the interval. The work is counted in instructions,
//! not time, so checkpoint pauses lengthen the run.
//!
//! A partition with a checkpoint policy (CHECKPOINT_STATUS answers) runs
//! first: it spins until the two full first checkpoints are behind it, then
//! times the rounds. A partition without one sleeps `wait-ms` in `wfi` (no
//! instructions, so it does not disturb the other's timing: icount time is
//! shared by all cores), then times the same rounds. Line:
//! `ckpt_bench periodic role=<checkpointed|plain> interval_ms=.. percent=.. pages=..
//! rounds=.. ticks=.. checkpoints=.. start=.. end=.. cntfrq=..`.
#![no_std]
#![no_main]

use bulkhead_guests::{checkpoint, gic, guest_main, irq, println, psci, timer, BootInfo};

/// Work area: past the image (first 2 MiB), before the device tree (last 2 MiB).
const AREA_OFFSET: u64 = 2 << 20;
const DT_RESERVE: u64 = 2 << 20;
const PAGE_BYTES: u64 = 4096;
/// Spin iterations between checks while waiting for the first checkpoints.
const WARM_UP_SPIN: u64 = 500_000;
/// Give up waiting for them after this many checks.
const WARM_UP_CHECKS: u64 = 10_000;

/// What the layout's bootargs ask for.
#[derive(Clone, Copy, Debug)]
struct Params {
    interval_ms: u64,
    percent: u64,
    rounds: u64,
    wait_ms: u64,
}

/// `key=<decimal>` among the whitespace-separated words of `args`.
fn arg(args: &str, key: &str) -> Option<u64> {
    args.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
}

/// `/chosen/bootargs` of the device tree at `dtb`, parsed.
fn params(dtb: u64) -> Option<Params> {
    let fdt = bulkhead_guests::dt::blob(dtb)?;
    let args = fdt.chosen().bootargs()?;
    Some(Params {
        interval_ms: arg(args, "interval-ms")?,
        percent: arg(args, "dirty-percent")?,
        rounds: arg(args, "rounds")?,
        wait_ms: arg(args, "wait-ms")?,
    })
}

/// `iterations` turns of a two-instruction loop.
#[inline(never)]
fn spin(iterations: u64) {
    if iterations == 0 {
        return;
    }
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!(
            "1: subs {n}, {n}, #1",
            "b.ne 1b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        )
    };
}

/// The timed rounds: returns (start, end) counter values.
fn run(params: &Params, area: u64, area_pages: u64, pages: u64) -> (u64, u64) {
    // One instruction per ns: the interval's instructions, two per turn.
    let turns = params.interval_ms * 1_000_000 / 2;
    let mut cursor = 0;
    let start = timer::now();
    for round in 0..params.rounds {
        for _ in 0..pages {
            // SAFETY: `cursor < area_pages`, and the area lies in the first
            // region between the image and the device tree.
            unsafe { core::ptr::write_volatile((area + cursor * PAGE_BYTES) as *mut u64, round) };
            cursor = (cursor + 1) % area_pages;
        }
        spin(turns);
    }
    (start, timer::now())
}

fn wake(_irq: &irq::Irq) {
    timer::stop_virtual();
}

/// Sleeps in `wfi` for `ms` milliseconds of counter time.
fn sleep_ms(boot: &BootInfo, ms: u64) {
    gic::configure(boot.gic());
    let _ = boot.gic().init_distributor();
    let gic = gic::configured();
    let _ = gic.init_cpu();
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, wake);
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
    let deadline = timer::now() + timer::ticks_from_ms(ms);
    timer::arm_virtual(deadline);
    irq::sleep_until(|| timer::now() >= deadline);
    timer::stop_virtual();
    irq::disable();
    gic.disable_private(gic::VIRTUAL_TIMER_INTID);
}

fn main(boot: &BootInfo) -> ! {
    let Some(params) = params(boot.dtb) else {
        println!(
            "ckpt_bench_periodic error: bootargs need interval-ms, dirty-percent, rounds, wait-ms"
        );
        psci::system_off()
    };
    let Some((base, size)) = boot.first_region() else {
        println!("ckpt_bench_periodic error: no memory region known");
        psci::system_off()
    };
    let memory = boot.partition.map_or(size, |p| p.memory_bytes);
    let area_pages = size.saturating_sub(AREA_OFFSET + DT_RESERVE) / PAGE_BYTES;
    let pages = (memory / PAGE_BYTES * params.percent).div_ceil(100);
    if area_pages == 0 || pages > area_pages {
        println!("ckpt_bench_periodic error: {pages} pages per round do not fit in {area_pages}");
        psci::system_off()
    }
    let area = base + AREA_OFFSET;

    let (role, before) = match checkpoint::status(checkpoint::SELF) {
        Ok(_) => {
            // Both slots start empty: the first two checkpoints copy all
            // memory. Time only the steady state after them.
            let mut checks = 0;
            let mut taken = 0;
            while taken < 2 && checks < WARM_UP_CHECKS {
                spin(WARM_UP_SPIN);
                taken = checkpoint::status(checkpoint::SELF).map_or(0, |s| s.taken);
                checks += 1;
            }
            ("checkpointed", taken)
        }
        Err(_) => {
            sleep_ms(boot, params.wait_ms);
            ("plain", 0)
        }
    };
    let (start, end) = run(&params, area, area_pages, pages);
    let after = checkpoint::status(checkpoint::SELF).map_or(0, |s| s.taken);
    println!(
        "ckpt_bench periodic role={role} interval_ms={} percent={} pages={pages} rounds={} ticks={} checkpoints={} start={start} end={end} cntfrq={}",
        params.interval_ms,
        params.percent,
        params.rounds,
        end - start,
        after - before,
        boot.frequency
    );
    psci::system_off()
}

guest_main!(main);

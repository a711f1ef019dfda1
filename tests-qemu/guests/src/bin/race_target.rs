//! Guest `race_target`: a partition that races its own lifecycle (reset, fault, power-off) against checkpoints of itself.
//!
//! The mode and figures come from `/chosen/bootargs` (`race=<mode>
//! boots=<n> reset-ms=<n> run-ms=<n> window-ms=<n> after-taken=<n>
//! offset-us=<n>`, the last delaying vCPU 1's side of a race, 0 by
//! default, to take the race apart when debugging); the boot number from
//! `/chosen/bulkhead,boot-count`. Every line goes through CONSOLE_WRITE
//! (`[label] race ...` on UART0). Every boot prints `race boot=<b> start
//! mode=<m>` first. Modes:
//!
//! - `take-reset` (2 vCPUs): vCPU 0 starts vCPU 1 (`race boot=<b> armed
//!   cpu_on=<code>`) and calls CHECKPOINT_TAKE(SELF) in a loop; vCPU 1
//!   waits `reset-ms`, prints `race boot=<b> reset vcpu=1 takes_ok=..
//!   takes_busy=.. takes_denied=.. takes_other=.. first_other=.. restored=..`
//!   and calls SYSTEM_RESET, or SYSTEM_OFF (`race boot=<b> off ...`) on
//!   boot `boots`.
//! - `fault-reset` (2 vCPUs): vCPU 0 checkpoints itself (retrying BUSY;
//!   `race boot=<b> restored generation=<g>` when it comes back there),
//!   starts vCPU 1 and both wait for the same deadline, `reset-ms` later:
//!   vCPU 1 calls SYSTEM_RESET while vCPU 0 reads an unmapped IPA (unless it
//!   was restored, or more than `window-ms` passed since the deadline, so
//!   repeated rollbacks cannot livelock it). Boot `boots` powers off at once.
//! - `periodic-reset` (2 vCPUs): as `take-reset`, but vCPU 0 dirties pages
//!   instead of checkpointing (the layout's `interval-ms` does); vCPU 1's
//!   line carries `taken=<n>` from CHECKPOINT_STATUS(SELF).
//! - `reset-both` (2 vCPUs): vCPU 1 reports ready, vCPU 0 raises a shared
//!   flag, and both call SYSTEM_RESET (after a few random spins each), or
//!   SYSTEM_OFF on boot `boots`.
//! - `take-cpu-on` (2 vCPUs, `rounds=<n>`): each round vCPU 0 calls
//!   CPU_ON(1), at once CHECKPOINT_TAKE(SELF) (vCPU 1 is most likely still
//!   on its way in) and CHECKPOINT_RESTORE(SELF); back in the TAKE, it
//!   waits for vCPU 1 to have run (a counter in memory, rolled back with
//!   it), lets it go and waits for it to be off. A vCPU that CPU_ON had
//!   started must run after the restore whether it had entered its guest
//!   at the checkpoint or not. `take_cpu_on rounds=<n> cpu_on_other=<n>
//!   first_cpu_on=<code> take_busy=<n> lost=<n> first_lost_round=<r>
//!   stuck=<n>`, then SYSTEM_OFF.
//! - `reset-loop` (1 vCPU): dirties pages for `reset-ms`, then
//!   `race boot=<b> reset vcpu=0` and SYSTEM_RESET; SYSTEM_OFF on boot `boots`.
//! - `fault-stop` (1 vCPU): dirties pages for `run-ms` and until
//!   `after-taken=<n>` checkpoints of it were taken (CHECKPOINT_STATUS: its
//!   manager got to it, however slow the host), prints `race boot=<b>
//!   faulting vcpu=0` and reads an unmapped IPA.
//! - `power-off` (1 vCPU): the same, then `race boot=<b> off vcpu=0` and
//!   SYSTEM_OFF.
//!
//! Anything the hypervisor must not do (CPU_ON(1) failing on a fresh boot,
//! an own CHECKPOINT_TAKE answered with anything but 0 or BUSY, SYSTEM_RESET
//! returning, no reset within [`GRACE_MS`]) prints a `race error: ...` line;
//! a vCPU that cannot go on then powers the partition off, so the scenario
//! ends with a report instead of a timeout.
#![no_std]
#![no_main]

#[path = "race/common.rs"]
mod common;

use bulkhead_guests::abi::{psci as psci_ids, ret};
use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::hypercall::hvc;
use bulkhead_guests::{guest_main, irq, println, psci, timer, BootInfo};
use common::{option, option_u64, Lcg, Tally};
use core::sync::atomic::{AtomicU64, Ordering};

/// An IPA outside every race layout's partition memory (Normal memory at
/// stage 1, unmapped at stage 2), as in `ckpt_fault`.
pub const FAULT_IPA: u64 = 0x7000_0000;
/// How long past its deadline a vCPU waits for the reset it raced for
/// before it reports a lost reset and powers the partition off.
pub const GRACE_MS: u64 = 5000;
/// Pages the dirtying loops write (one word each), 4 MiB into the first region.
const DIRTY_OFFSET: u64 = 4 << 20;
const DIRTY_PAGES: u64 = 64;
/// `reset-both`: each vCPU spins up to this many times after the go flag,
/// so either may call first, or both at once.
const JITTER_SPINS: u64 = 1000;
/// How long past `run-ms` a partition waits for its manager's checkpoints.
const TAKEN_WAIT_MS: u64 = 10_000;
/// Bound on CHECKPOINT_TAKE(SELF) retries while the answer is BUSY.
const TAKE_RETRIES: u64 = 100_000;

/// The modes, as stored for vCPU 1.
const TAKE_RESET: u8 = 1;
const FAULT_RESET: u8 = 2;
const PERIODIC_RESET: u8 = 3;
const RESET_BOTH: u8 = 4;
const TAKE_CPU_ON: u8 = 5;

/// What vCPU 0 hands vCPU 1 (this boot's statics; a reset zeroes them;
/// the mode goes in CPU_ON's context).
static BOOT: AtomicU64 = AtomicU64::new(0);
static LAST_BOOT: AtomicU64 = AtomicU64::new(0);
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Counter ticks vCPU 1 waits past its deadline (or the go flag).
static OFFSET: AtomicU64 = AtomicU64::new(0);
/// `reset-both`: vCPU 1 is up; vCPU 0 says go.
static READY: AtomicU64 = AtomicU64::new(0);
static GO: AtomicU64 = AtomicU64::new(0);
/// `take-cpu-on`: vCPU 1's runs, and the round vCPU 0 lets it switch off in.
static RUNS: AtomicU64 = AtomicU64::new(0);
static RELEASE: AtomicU64 = AtomicU64::new(0);
/// vCPU 0's own checkpoint results, for vCPU 1 to report.
static TAKES: Tally = Tally::new();
static RESTORED: AtomicU64 = AtomicU64::new(0);
/// Where the dirtying loops write.
static DIRTY_BASE: AtomicU64 = AtomicU64::new(0x4000_0000 + DIRTY_OFFSET);

fn main(boot: &BootInfo) -> ! {
    let args = common::bootargs(boot.dtb);
    let mode = option(args, "race").unwrap_or("");
    let boot_number = checkpoint::boot_count(boot.dtb).unwrap_or(0);
    let boots = option_u64(args, "boots", 5);
    let reset_ms = option_u64(args, "reset-ms", 100);
    let run_ms = option_u64(args, "run-ms", 300);
    let window_ms = option_u64(args, "window-ms", 5);
    let after_taken = option_u64(args, "after-taken", 0);
    let offset_us = option_u64(args, "offset-us", 0);
    if offset_us > 0 {
        OFFSET.store(common::ticks_from_us(offset_us), Ordering::Release);
    }
    if let Some((base, _)) = boot.first_region() {
        DIRTY_BASE.store(base + DIRTY_OFFSET, Ordering::Release);
    }
    BOOT.store(boot_number, Ordering::Release);
    LAST_BOOT.store(boots, Ordering::Release);
    println!("race boot={boot_number} start mode={mode}");
    match mode {
        "take-reset" => take_reset(reset_ms),
        "fault-reset" => fault_reset(reset_ms, window_ms),
        "periodic-reset" => periodic_reset(reset_ms),
        "reset-both" => reset_both(),
        "take-cpu-on" => take_cpu_on(option_u64(args, "rounds", 200)),
        "reset-loop" => reset_loop(reset_ms),
        "fault-stop" => {
            dirty_until_taken(run_ms, after_taken);
            println!("race boot={boot_number} faulting vcpu=0");
            fault()
        }
        "power-off" => {
            dirty_until_taken(run_ms, after_taken);
            println!("race boot={boot_number} off vcpu=0");
            psci::system_off()
        }
        _ => {
            println!("race error: unknown mode `{mode}` (bootargs `{args}`)");
            psci::system_off()
        }
    }
}

fn offset() -> u64 {
    OFFSET.load(Ordering::Acquire)
}

fn boot_number() -> u64 {
    BOOT.load(Ordering::Acquire)
}

/// Whether this boot is the last one (it powers off instead of resetting).
fn last_boot() -> bool {
    boot_number() >= LAST_BOOT.load(Ordering::Acquire)
}

/// Starts vCPU 1 for `mode`; prints the `armed` line. On failure (which a
/// correct hypervisor never gives on a fresh boot) returns false.
fn start_secondary(mode: u8, extra: &str) -> bool {
    let code = psci::cpu_on(1, u64::from(mode));
    println!("race boot={} armed cpu_on={code}{extra}", boot_number());
    if code != ret::SUCCESS {
        println!(
            "race error: boot={} CPU_ON(1) returned {code}, expected 0",
            boot_number()
        );
    }
    code == ret::SUCCESS
}

/// Resets the partition, or powers it off on the last boot; reports a call
/// that returns (SYSTEM_RESET and SYSTEM_OFF never do).
fn finish(vcpu: u64) -> ! {
    let function = if last_boot() {
        psci_ids::SYSTEM_OFF
    } else {
        psci_ids::SYSTEM_RESET
    };
    let code = hvc(function, [0; 6])[0] as i64;
    println!(
        "race error: boot={} vcpu={vcpu} {} returned {code}",
        boot_number(),
        if last_boot() {
            "SYSTEM_OFF"
        } else {
            "SYSTEM_RESET"
        }
    );
    psci::park()
}

/// Waits past `deadline` for a reset that never comes: reports and powers off.
fn lost_reset(deadline: u64) -> ! {
    while timer::now() < deadline.saturating_add(timer::ticks_from_ms(GRACE_MS)) {
        core::hint::spin_loop();
    }
    println!(
        "race error: boot={} not reset {GRACE_MS} ms after its deadline",
        boot_number()
    );
    psci::system_off()
}

/// The line vCPU 1 prints just before its reset (or power-off).
fn report_takes(vcpu: u64, taken: Option<u64>) {
    let [ok, busy, denied, other, first_other] = TAKES.values();
    let what = if last_boot() { "off" } else { "reset" };
    match taken {
        Some(taken) => println!(
            "race boot={} {what} vcpu={vcpu} taken={taken}",
            boot_number()
        ),
        None => println!(
            "race boot={} {what} vcpu={vcpu} takes_ok={ok} takes_busy={busy} takes_denied={denied} \
             takes_other={other} first_other={first_other} restored={}",
            boot_number(),
            RESTORED.load(Ordering::Acquire)
        ),
    }
}

/// Writes one word into each of the dirtying loop's pages.
fn dirty_once(round: u64) {
    let base = DIRTY_BASE.load(Ordering::Acquire);
    for page in 0..DIRTY_PAGES {
        // SAFETY: the pages lie 4 MiB into the partition's first region
        // (16 MiB in every race layout), past the image and its stacks and
        // below the device tree; nothing else uses them.
        unsafe { ((base + page * 4096) as *mut u64).write_volatile(round ^ page) };
    }
}

/// Dirties pages for `ms` of counter time.
fn dirty_for(ms: u64) {
    let end = timer::now().saturating_add(timer::ticks_from_ms(ms));
    let mut round = 0;
    while timer::now() < end {
        dirty_once(round);
        round += 1;
    }
}

/// Dirties pages for `ms`, then on until `taken` checkpoints of this
/// partition exist; reports if that takes [`TAKEN_WAIT_MS`] more.
fn dirty_until_taken(ms: u64, taken: u64) {
    dirty_for(ms);
    let start = timer::now();
    let mut round = 0;
    while self_taken() < taken {
        if timer::elapsed_ms(start) > TAKEN_WAIT_MS {
            println!(
                "race error: boot={} only {} of {taken} checkpoints taken after {TAKEN_WAIT_MS} ms more",
                boot_number(),
                self_taken()
            );
            return;
        }
        dirty_once(round);
        round += 1;
    }
}

/// Reads [`FAULT_IPA`]: a stage-2 data abort the hypervisor handles by the
/// layout's `on-fault`; reports if the read ever returns.
fn fault() -> ! {
    // SAFETY: deliberately reads outside the partition's memory: the
    // stage-2 fault is the point. Stage 1 maps the address as Normal
    // memory, so only stage 2 can refuse it.
    let value = unsafe { core::ptr::read_volatile(FAULT_IPA as *const u64) };
    println!(
        "race error: boot={} read of {FAULT_IPA:#x} returned {value:#x}",
        boot_number()
    );
    psci::system_off()
}

/// Spins until the counter reaches `deadline`.
fn wait_until(deadline: u64) {
    while timer::now() < deadline {
        core::hint::spin_loop();
    }
}

fn take_reset(reset_ms: u64) -> ! {
    let deadline = timer::now() + timer::ticks_from_ms(reset_ms);
    DEADLINE.store(deadline, Ordering::Release);
    let secondary = start_secondary(TAKE_RESET, "");
    let mut reported = false;
    loop {
        if !secondary && timer::now() >= deadline {
            // vCPU 1 is not there to do it.
            report_takes(0, None);
            finish(0);
        }
        if timer::now() > deadline.saturating_add(timer::ticks_from_ms(GRACE_MS)) {
            lost_reset(deadline);
        }
        match checkpoint::take(checkpoint::SELF) {
            Take::Taken { .. } => {
                TAKES.count(ret::SUCCESS);
            }
            Take::Restored { .. } => {
                RESTORED.fetch_add(1, Ordering::AcqRel);
            }
            Take::Failed(code) => {
                let class = TAKES.count(code);
                if class != common::Class::Busy && !reported {
                    reported = true;
                    println!(
                        "race error: boot={} own CHECKPOINT_TAKE returned {code}, expected 0 or BUSY",
                        boot_number()
                    );
                }
            }
        }
    }
}

/// CHECKPOINT_TAKE(SELF) until it is taken (false) or comes back after a
/// restore (true).
fn take_until_done() -> bool {
    for _ in 0..TAKE_RETRIES {
        match checkpoint::take(checkpoint::SELF) {
            Take::Taken { .. } => return false,
            Take::Restored { .. } => return true,
            Take::Failed(ret::BUSY) => core::hint::spin_loop(),
            Take::Failed(code) => {
                println!(
                    "race error: boot={} own CHECKPOINT_TAKE returned {code}, expected 0 or BUSY",
                    boot_number()
                );
                psci::system_off()
            }
        }
    }
    println!(
        "race error: boot={} own CHECKPOINT_TAKE still BUSY after {TAKE_RETRIES} tries",
        boot_number()
    );
    psci::system_off()
}

fn fault_reset(reset_ms: u64, window_ms: u64) -> ! {
    if last_boot() {
        println!("race boot={} off vcpu=0", boot_number());
        psci::system_off()
    }
    let restored = take_until_done();
    if restored {
        let generation = checkpoint::status(checkpoint::SELF).map_or(0, |s| s.generation);
        println!(
            "race boot={} restored generation={generation}",
            boot_number()
        );
    }
    let deadline = timer::now() + timer::ticks_from_ms(reset_ms);
    DEADLINE.store(deadline, Ordering::Release);
    let extra = if restored {
        " restored=1"
    } else {
        " restored=0"
    };
    let secondary = start_secondary(FAULT_RESET, extra);
    wait_until(deadline);
    if !secondary {
        finish(0);
    }
    let window = deadline.saturating_add(timer::ticks_from_ms(window_ms));
    if !restored && timer::now() < window {
        fault();
    }
    lost_reset(deadline)
}

fn periodic_reset(reset_ms: u64) -> ! {
    let deadline = timer::now() + timer::ticks_from_ms(reset_ms);
    DEADLINE.store(deadline, Ordering::Release);
    let secondary = start_secondary(PERIODIC_RESET, "");
    let mut round = 0;
    loop {
        let now = timer::now();
        if !secondary && now >= deadline {
            report_takes(0, Some(self_taken()));
            finish(0);
        }
        if now > deadline.saturating_add(timer::ticks_from_ms(GRACE_MS)) {
            lost_reset(deadline);
        }
        dirty_once(round);
        round += 1;
    }
}

/// Checkpoints Bulkhead took of this partition so far (0 if it cannot say).
fn self_taken() -> u64 {
    checkpoint::status(checkpoint::SELF).map_or(0, |s| s.taken)
}

fn reset_both() -> ! {
    let secondary = start_secondary(RESET_BOTH, "");
    let mut jitter = Lcg::new(boot_number().wrapping_mul(0x9e37_79b9_7f4a_7c15));
    if !secondary {
        finish(0);
    }
    let start = timer::now();
    while READY.load(Ordering::Acquire) == 0 {
        if timer::elapsed_ms(start) > GRACE_MS {
            println!("race error: boot={} vCPU 1 never got ready", boot_number());
            psci::system_off()
        }
        core::hint::spin_loop();
    }
    let spins = jitter.below(JITTER_SPINS);
    GO.store(1, Ordering::Release);
    common::spin(spins);
    finish(0)
}

/// Longest wait for vCPU 1 to run, or to be off, in a `take-cpu-on` round.
const ROUND_WAIT_MS: u64 = 1000;
/// `take-cpu-on` stops after this many lost vCPUs (each costs a wait).
const LOST_LIMIT: u64 = 5;

fn take_cpu_on(rounds: u64) -> ! {
    let (mut cpu_on_other, mut first_cpu_on, mut take_busy) = (0u64, 0i64, 0u64);
    let (mut lost, mut first_lost_round, mut stuck) = (0u64, 0u64, 0u64);
    let mut round = 0;
    while round < rounds && lost < LOST_LIMIT {
        round += 1;
        let code = psci::cpu_on(1, u64::from(TAKE_CPU_ON));
        if code != ret::SUCCESS {
            cpu_on_other += 1;
            if first_cpu_on == 0 {
                first_cpu_on = code;
            }
        }
        // The checkpoint right after CPU_ON, and a rollback to it.
        let mut restored = false;
        while !restored {
            match checkpoint::take(checkpoint::SELF) {
                Take::Taken { .. } => {
                    let error = checkpoint::restore(checkpoint::SELF);
                    println!(
                        "race error: boot={} round={round} RESTORE(SELF) returned {error}",
                        boot_number()
                    );
                    psci::system_off()
                }
                Take::Restored { .. } => restored = true,
                Take::Failed(ret::BUSY) => take_busy += 1,
                Take::Failed(code) => {
                    println!(
                        "race error: boot={} round={round} own CHECKPOINT_TAKE returned {code}",
                        boot_number()
                    );
                    psci::system_off()
                }
            }
        }
        let ran = irq::wait_until(ROUND_WAIT_MS, || RUNS.load(Ordering::Acquire) >= round);
        if !ran {
            lost += 1;
            if first_lost_round == 0 {
                first_lost_round = round;
            }
            // Count it as run, so later rounds wait for their own.
            RUNS.store(round, Ordering::Release);
        }
        RELEASE.store(round, Ordering::Release);
        let off = irq::wait_until(ROUND_WAIT_MS, || {
            psci::affinity_info(1) == psci_ids::AFFINITY_OFF as i64
        });
        stuck += u64::from(!off);
    }
    println!(
        "race boot={} take_cpu_on rounds={round} cpu_on_other={cpu_on_other} first_cpu_on={first_cpu_on} \
         take_busy={take_busy} lost={lost} first_lost_round={first_lost_round} stuck={stuck}",
        boot_number()
    );
    psci::system_off()
}

fn reset_loop(reset_ms: u64) -> ! {
    if last_boot() {
        println!("race boot={} off vcpu=0", boot_number());
        psci::system_off()
    }
    dirty_for(reset_ms);
    println!("race boot={} reset vcpu=0", boot_number());
    finish(0)
}

fn secondary(vcpu: u64, mode: u64) -> ! {
    let mode = mode as u8;
    match mode {
        TAKE_RESET | FAULT_RESET | PERIODIC_RESET => {
            wait_until(DEADLINE.load(Ordering::Acquire) + offset());
            match mode {
                TAKE_RESET => report_takes(vcpu, None),
                PERIODIC_RESET => report_takes(vcpu, Some(self_taken())),
                _ => {}
            }
            finish(vcpu)
        }
        RESET_BOTH => {
            let mut jitter = Lcg::new(boot_number() ^ 0x5555_5555);
            let spins = jitter.below(JITTER_SPINS);
            READY.store(1, Ordering::Release);
            while GO.load(Ordering::Acquire) == 0 {
                core::hint::spin_loop();
            }
            common::spin(spins);
            wait_until(timer::now() + offset());
            finish(vcpu)
        }
        TAKE_CPU_ON => {
            let round = RUNS.fetch_add(1, Ordering::AcqRel) + 1;
            while RELEASE.load(Ordering::Acquire) < round {
                core::hint::spin_loop();
            }
            let error = psci::cpu_off();
            println!(
                "race error: boot={} round={round} CPU_OFF returned {error}",
                boot_number()
            );
            psci::park()
        }
        _ => {
            println!("race error: vcpu {vcpu} started with mode {mode}");
            let _ = psci::cpu_off();
            psci::park()
        }
    }
}

guest_main!(main, secondary);

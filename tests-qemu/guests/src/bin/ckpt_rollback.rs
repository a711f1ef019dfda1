//! Guest `ckpt_rollback`: a two-vCPU deterministic workload checkpoints at step K, runs to M, rolls back and runs to M again.
//!
//! The work area (first region + [`WORK_OFFSET`], [`WORK_WORDS`] words) is
//! filled with the workload pattern; vCPU n then applies
//! `bulkhead_workload::rollback_step` to half n for steps 1..=M, folding an
//! `f64` accumulator. After step K vCPU 1 waits at a barrier holding its
//! accumulator in v8, vCPU 0 arms its virtual timer and takes a checkpoint of
//! itself holding its own accumulator in v8, then prints the hash of the whole
//! work area. Both run on to M; vCPU 0 prints the result and restores the
//! checkpoint. The second return of CHECKPOINT_TAKE prints the hash again
//! (it must be the checkpoint's), both vCPUs run to M again and the result
//! must be the first pass's, which the host recomputes. Lines (all through
//! CONSOLE_WRITE, so in one order on UART0):
//! `ckpt taken generation=<g> step=<K> hash=<h>`,
//! `ckpt restored generation=<g> take_x1=<x1> hash=<h>`,
//! `ckpt vcpu1 resumed step=<K> acc1=<bits>`, `ckpt vcpu1 done step=<M> acc1=<bits>`,
//! `ckpt timer pass=<p> fired=<n>`,
//! `ckpt result pass=<p> hash=<h> acc0=<bits> acc1=<bits>`, `ckpt restoring`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{gic, guest_main, irq, println, psci, timer, BootInfo};
use bulkhead_workload as workload;
use core::sync::atomic::{AtomicU64, Ordering};

/// Offset of the work area from the first region's start: past the image.
pub const WORK_OFFSET: u64 = 2 << 20;
/// Words in the work area (4 MiB).
pub const WORK_WORDS: u64 = (4 << 20) / workload::WORD_BYTES;
/// Step after which the checkpoint is taken.
pub const STEP_K: u64 = 3;
/// Last step.
pub const STEP_M: u64 = 6;
/// Virtual timer deadline, from just before the checkpoint.
const TIMER_MS: u64 = 20;
/// Longest wait for the other vCPU or the timer.
const WAIT_MS: u64 = 20_000;

/// IPA of the work area.
static AREA: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 1 once it finished step K and waits at the barrier.
static AT_BARRIER: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 0 after the checkpoint (and its hash) to let vCPU 1 go on.
static RELEASE: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 1 after step M, with its accumulator's bits.
static V1_DONE: AtomicU64 = AtomicU64::new(0);
static V1_ACC: AtomicU64 = AtomicU64::new(0);

/// Words `range` of the work area.
fn words(range: core::ops::Range<u64>) -> &'static mut [u64] {
    let len = range.end.saturating_sub(range.start).min(WORK_WORDS) as usize;
    let start = range.start.min(WORK_WORDS - len as u64);
    // SAFETY: the area lies in this partition's first region past the image
    // and stacks and before the device tree (checked in `main`), and `start +
    // len` stays inside it; each vCPU only writes its own half, and the whole
    // area is hashed only while the other vCPU waits or is done.
    unsafe {
        core::slice::from_raw_parts_mut(
            (AREA.load(Ordering::Acquire) + start * workload::WORD_BYTES) as *mut u64,
            len,
        )
    }
}

/// Hash of the whole work area.
fn area_hash() -> u64 {
    workload::checksum(words(0..WORK_WORDS), 0)
}

/// vCPU `part`'s half of the work area and its first global word index.
fn half(part: u64) -> (&'static mut [u64], u64) {
    let range = workload::split(WORK_WORDS, 2, part);
    let first = range.start;
    (words(range), first)
}

/// Runs steps `steps` on half `part`.
fn run_steps(part: u64, steps: core::ops::RangeInclusive<u64>, mut acc: f64) -> f64 {
    let (words, first) = half(part);
    for step in steps {
        acc = workload::rollback_step(words, first, step, acc);
    }
    acc
}

/// One-shot: the timer stops itself; the count is `irq::count`.
fn timer_fired(_irq: &irq::Irq) {
    timer::stop_virtual();
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    if !irq::wait_until(WAIT_MS, done) {
        println!("ckpt_rollback error: timed out waiting for {what}");
        psci::system_off()
    }
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("ckpt_rollback error: no memory region known");
        psci::system_off()
    };
    let end = WORK_OFFSET + WORK_WORDS * workload::WORD_BYTES;
    if size < end + workload::DT_RESERVE {
        println!("ckpt_rollback error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    AREA.store(base + WORK_OFFSET, Ordering::Release);
    workload::fill(words(0..WORK_WORDS), 0);

    gic::configure(boot.gic());
    let _ = boot.gic().init_distributor();
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, timer_fired);

    let on = psci::cpu_on(1, 0);
    if on != 0 {
        println!("ckpt_rollback error: cpu_on returned {on}");
        psci::system_off()
    }
    let acc = run_steps(0, 1..=STEP_K, 0.0);
    wait_for("vcpu 1 at the barrier", || {
        AT_BARRIER.load(Ordering::Acquire) != 0
    });

    let gic = gic::configured();
    let _ = gic.init_cpu();
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
    timer::arm_virtual(timer::now() + timer::ticks_from_ms(TIMER_MS));

    let (take, acc) = checkpoint::take_self_holding_fp(acc);
    let pass = match take {
        Take::Taken { generation } => {
            let hash = area_hash();
            println!("ckpt taken generation={generation} step={STEP_K} hash={hash:#x}");
            1
        }
        Take::Restored { x1 } => {
            let hash = area_hash();
            let generation = checkpoint::status(checkpoint::SELF).map_or(0, |s| s.generation);
            println!("ckpt restored generation={generation} take_x1={x1} hash={hash:#x}");
            2
        }
        Take::Failed(code) => {
            println!("ckpt_rollback error: take returned {code}");
            psci::system_off()
        }
    };
    RELEASE.store(1, Ordering::Release);

    let acc = run_steps(0, STEP_K + 1..=STEP_M, acc);
    wait_for("vcpu 1 to finish", || V1_DONE.load(Ordering::Acquire) != 0);
    // The deadline was programmed before the checkpoint: it must fire in
    // both passes (after a restore, as soon as the restored timer runs).
    let _ = irq::wait_until(WAIT_MS, || irq::count(0, gic::VIRTUAL_TIMER_INTID) != 0);
    println!(
        "ckpt timer pass={pass} fired={}",
        irq::count(0, gic::VIRTUAL_TIMER_INTID)
    );
    let hash = area_hash();
    println!(
        "ckpt result pass={pass} hash={hash:#x} acc0={:#x} acc1={:#x}",
        acc.to_bits(),
        V1_ACC.load(Ordering::Acquire)
    );
    if pass == 1 {
        println!("ckpt restoring");
        let code = checkpoint::restore(checkpoint::SELF);
        println!("ckpt_rollback error: restore returned {code}");
    }
    psci::system_off()
}

/// Waits for [`RELEASE`] with `acc` live in v8 the whole time.
fn barrier_holding_fp(acc: f64) -> f64 {
    let held: f64;
    // SAFETY: spins reading an atomic flag we own with acquire loads; v8 is
    // an explicit operand and the scratch register is declared.
    unsafe {
        core::arch::asm!(
            "2: ldar {flag_value}, [{flag}]",
            "cbz {flag_value}, 2b",
            flag = in(reg) RELEASE.as_ptr(),
            flag_value = out(reg) _,
            inout("v8") acc => held,
            options(nostack, readonly),
        );
    }
    held
}

fn secondary(_vcpu: u64, _context: u64) -> ! {
    let acc = run_steps(1, 1..=STEP_K, 0.0);
    AT_BARRIER.store(1, Ordering::Release);
    let acc = barrier_holding_fp(acc);
    println!("ckpt vcpu1 resumed step={STEP_K} acc1={:#x}", acc.to_bits());
    let acc = run_steps(1, STEP_K + 1..=STEP_M, acc);
    println!("ckpt vcpu1 done step={STEP_M} acc1={:#x}", acc.to_bits());
    V1_ACC.store(acc.to_bits(), Ordering::Release);
    V1_DONE.store(1, Ordering::Release);
    let code = psci::cpu_off();
    println!("ckpt_rollback error: cpu_off returned {code}");
    psci::park()
}

guest_main!(main, secondary);

//! Guest `race_cpu_on_off`: vCPU 0 calls CPU_ON(1) in a loop while vCPU 1 switches itself off as soon as it runs.
//!
//! Options (`/chosen/bootargs`): `starts=<n>` successful CPU_ONs to reach
//! (default 2000), `run-ms=<n>` the most counter time to try for (default
//! 5000). Each CPU_ON passes its attempt number as the context; vCPU 1
//! adds one to a shared run counter and its context to a shared sum, spins
//! a few random iterations and calls CPU_OFF. vCPU 0 waits a random few
//! spins between calls and now and then asks AFFINITY_INFO(1). At the end it
//! waits (up to a second) for vCPU 1 to be off and its runs to catch up,
//! then prints `cpu_on_off attempts=<n> ok=<a> already_on=<b> on_pending=<c>
//! other=<d> first_other=<code> runs=<r> context_sum=<s> run_context_sum=<t>
//! affinity=<a1> affinity_other=<n> cpu_off_returned=<n> cpu_off_error=<code>` and powers off:
//! every CPU_ON that returned 0 must have run vCPU 1 exactly once, with its
//! own context.
#![no_std]
#![no_main]

#[path = "race/common.rs"]
mod common;

use bulkhead_guests::abi::{psci as psci_ids, ret};
use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};
use common::{option_u64, Lcg};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// vCPU 1's runs and the sum of the contexts it started with.
static RUNS: AtomicU64 = AtomicU64::new(0);
static RUN_CONTEXT_SUM: AtomicU64 = AtomicU64::new(0);
/// CPU_OFF calls that returned (they never should), and the first's error.
static CPU_OFF_RETURNED: AtomicU64 = AtomicU64::new(0);
static CPU_OFF_ERROR: AtomicI64 = AtomicI64::new(0);
/// Longest wait for vCPU 1 to settle at the end.
const SETTLE_MS: u64 = 1000;

fn main(boot: &BootInfo) -> ! {
    let args = common::bootargs(boot.dtb);
    let starts = option_u64(args, "starts", 2000);
    let run_ms = option_u64(args, "run-ms", 5000);
    println!("cpu_on_off start starts={starts} run_ms={run_ms}");
    let mut jitter = Lcg::new(0x6370_755f_6f6e);
    let (mut attempts, mut ok, mut already_on, mut on_pending, mut other) = (0u64, 0, 0, 0, 0);
    let mut first_other = 0i64;
    let mut affinity_other = 0u64;
    let mut context_sum = 0u64;
    let begin = timer::now();
    while ok < starts && timer::elapsed_ms(begin) < run_ms {
        attempts += 1;
        match psci::cpu_on(1, attempts) {
            ret::SUCCESS => {
                ok += 1;
                context_sum = context_sum.wrapping_add(attempts);
            }
            ret::ALREADY_ON => already_on += 1,
            ret::ON_PENDING => on_pending += 1,
            code => {
                other += 1;
                if first_other == 0 {
                    first_other = code;
                }
            }
        }
        if jitter.below(8) == 0 {
            let state = psci::affinity_info(1);
            if !(0..=2).contains(&state) {
                affinity_other += 1;
            }
        }
        common::spin(jitter.below(200));
    }
    let settle = timer::now();
    let mut affinity = psci::affinity_info(1);
    while (RUNS.load(Ordering::Acquire) != ok || affinity != psci_ids::AFFINITY_OFF as i64)
        && timer::elapsed_ms(settle) < SETTLE_MS
    {
        affinity = psci::affinity_info(1);
    }
    println!(
        "cpu_on_off attempts={attempts} ok={ok} already_on={already_on} on_pending={on_pending} \
         other={other} first_other={first_other} runs={} context_sum={context_sum} \
         run_context_sum={} affinity={affinity} affinity_other={affinity_other} cpu_off_returned={} \
         cpu_off_error={}",
        RUNS.load(Ordering::Acquire),
        RUN_CONTEXT_SUM.load(Ordering::Acquire),
        CPU_OFF_RETURNED.load(Ordering::Acquire),
        CPU_OFF_ERROR.load(Ordering::Acquire)
    );
    psci::system_off()
}

fn secondary(_vcpu: u64, context: u64) -> ! {
    let run = RUNS.fetch_add(1, Ordering::AcqRel) + 1;
    RUN_CONTEXT_SUM.fetch_add(context, Ordering::AcqRel);
    common::spin(Lcg::new(run ^ context).below(64));
    let error = psci::cpu_off();
    CPU_OFF_RETURNED.fetch_add(1, Ordering::AcqRel);
    let _ = CPU_OFF_ERROR.compare_exchange(0, error, Ordering::AcqRel, Ordering::Acquire);
    psci::park()
}

guest_main!(main, secondary);

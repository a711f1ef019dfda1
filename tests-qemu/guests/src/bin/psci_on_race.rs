//! Guest `psci_on_race`: three vCPUs CPU_ON the same target at once, [`ROUNDS`] times.
//!
//! vCPUs 0, 1 and 2 are callers, vCPU 3 the target. Each round vCPU 0
//! opens a starting gate; the three call CPU_ON(3) with the round number as
//! context at once. The target adds one to its run count and, once the
//! three have their answers, switches itself off. vCPU 0 waits for the three answers, the target's run and its
//! AFFINITY_INFO OFF, and counts the round bad unless exactly one caller got
//! SUCCESS and the other two ALREADY_ON (what a synchronous PSCI
//! implementation answers). Prints
//! `psci race rounds=<n> success=<s> already_on=<a> other=<o> bad_rounds=<b> target_runs=<r> context_sum=<c>`
//! (`c`: the sum of the contexts the target started with, every round's
//! number once) and powers off.
#![no_std]
#![no_main]

use bulkhead_guests::abi::{psci as psci_ids, ret};
use bulkhead_guests::{guest_main, mark, psci, timer, BootInfo};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Rounds (the 1,000).
pub const ROUNDS: u64 = 1000;
/// The target vCPU and the callers besides vCPU 0.
const TARGET: u64 = 3;
const CALLERS: [u64; 2] = [1, 2];
/// Contexts at or above this start a caller, below it the target (a round).
const CALLER_CONTEXT: u64 = 1 << 30;
/// Longest wait for anything one round needs.
const ROUND_MS: u64 = 1000;

/// The round the gate is open for (0: none yet).
static GATE: AtomicU64 = AtomicU64::new(0);
/// Each caller's answer for the current round (by vCPU), and whether given.
static ANSWER: [AtomicI64; 3] = [const { AtomicI64::new(0) }; 3];
static ANSWERED: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static TARGET_RUNS: AtomicU64 = AtomicU64::new(0);
static CONTEXT_SUM: AtomicU64 = AtomicU64::new(0);

fn call(vcpu: usize, round: u64) {
    let answer = psci::cpu_on(TARGET, round);
    ANSWER[vcpu].store(answer, Ordering::Release);
    ANSWERED[vcpu].store(round, Ordering::Release);
}

fn wait_for(done: impl Fn() -> bool) -> bool {
    let start = timer::now();
    while !done() {
        if timer::elapsed_ms(start) >= ROUND_MS {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

fn main(_boot: &BootInfo) -> ! {
    for &caller in &CALLERS {
        if psci::cpu_on(caller, CALLER_CONTEXT | caller) != ret::SUCCESS {
            mark!("psci race error: caller {caller} did not start");
            psci::system_off()
        }
    }
    let (mut success, mut already_on, mut other, mut bad_rounds) = (0u64, 0u64, 0u64, 0u64);
    for round in 1..=ROUNDS {
        GATE.store(round, Ordering::Release);
        call(0, round);
        let answered = wait_for(|| ANSWERED.iter().all(|a| a.load(Ordering::Acquire) == round));
        let ran = wait_for(|| TARGET_RUNS.load(Ordering::Acquire) == round)
            && wait_for(|| psci::affinity_info(TARGET) == psci_ids::AFFINITY_OFF as i64);
        let (mut round_success, mut round_already) = (0, 0);
        for answer in &ANSWER {
            match answer.load(Ordering::Acquire) {
                ret::SUCCESS => round_success += 1,
                ret::ALREADY_ON => round_already += 1,
                _ => other += 1,
            }
        }
        success += round_success;
        already_on += round_already;
        if !answered || !ran || round_success != 1 || round_already != 2 {
            bad_rounds += 1;
        }
    }
    GATE.store(u64::MAX, Ordering::Release);
    mark!(
        "psci race rounds={ROUNDS} success={success} already_on={already_on} other={other} bad_rounds={bad_rounds} target_runs={} context_sum={}",
        TARGET_RUNS.load(Ordering::Acquire),
        CONTEXT_SUM.load(Ordering::Acquire)
    );
    psci::system_off()
}

fn secondary(vcpu: u64, context: u64) -> ! {
    if context < CALLER_CONTEXT {
        // The target: one run per successful CPU_ON. It stays on until every
        // caller of the round has its answer (off sooner, a later CPU_ON
        // would rightly succeed again).
        CONTEXT_SUM.fetch_add(context, Ordering::AcqRel);
        TARGET_RUNS.fetch_add(1, Ordering::AcqRel);
        wait_for(|| {
            ANSWERED
                .iter()
                .all(|a| a.load(Ordering::Acquire) == context)
        });
        let _ = psci::cpu_off();
        psci::park()
    }
    let mut round = 0;
    loop {
        while GATE.load(Ordering::Acquire) == round {
            core::hint::spin_loop();
        }
        round = GATE.load(Ordering::Acquire);
        if round == u64::MAX {
            break;
        }
        call(vcpu as usize, round);
    }
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);

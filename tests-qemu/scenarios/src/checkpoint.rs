//! The checkpoint scenarios: rollback of a two-vCPU workload, 100 incremental checkpoints, on-fault policies, permissions, corruption.
//!
//! The `ckpt_*` guests print through CONSOLE_WRITE, so every line lands on
//! UART0 as `[label] ...` in one order with Bulkhead's own log. Expected
//! values are recomputed here with `bulkhead-workload`, the code the guests run.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};
use bulkhead_workload as workload;

/// `ckpt_rollback`'s work area, checkpoint step and last step (mirror `ckpt_rollback.rs`).
pub const ROLLBACK_WORDS: u64 = (4 << 20) / workload::WORD_BYTES;
pub const ROLLBACK_K: u64 = 3;
pub const ROLLBACK_M: u64 = 6;
/// `ckpt_incremental`'s figures (mirror `ckpt_incremental.rs`).
pub const INCREMENTAL_WORDS: u64 = (4 << 20) / workload::WORD_BYTES;
pub const INCREMENTAL_ROUNDS: u64 = 100;
pub const INCREMENTAL_WRITES_PER_ROUND: u64 = 16;
pub const INCREMENTAL_WRITES_AFTER: u64 = 256;
pub const INCREMENTAL_SEED: u64 = 0x636b_7074_696e_6372;
pub const INCREMENTAL_SAMPLES: u64 = 16;
/// Pages of a 16 MiB partition: what a first (full) checkpoint copies.
pub const PARTITION_PAGES: u64 = (16 << 20) / 4096;
/// Pages an incremental checkpoint may copy beyond the random writes'
/// (stack, statics). It copies what changed since the slot it overwrites
/// was written, two checkpoints back (double buffering): two rounds' writes.
pub const INCREMENTAL_SLACK_PAGES: u64 = 16;
/// `ckpt_fault`'s steps (mirror `ckpt_fault.rs`).
pub const FAULT_STEPS: u64 = 10;
pub const FAULT_CHECKPOINT_AT: u64 = 5;
pub const FAULT_CRASH_AT: u64 = 8;
/// `ckpt_worker`'s last progress value (mirrors `ckpt_worker.rs`).
pub const WORKER_LAST: u64 = 100;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ckpt_rollback",
            description: "a two-vCPU FP/timer workload checkpointed at step K, run to M, rolled back and re-run ends with the uninterrupted result; memory hash after restore = at the checkpoint",
            layout: "tests-qemu/layouts/ckpt_rollback.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_rollback" }],
            timeout_secs: 60,
            icount: false,
            check: check_rollback,
        },
        Scenario {
            name: "ckpt_incremental",
            description: "100 checkpoints between random writes: the first copies everything, the others only dirty pages; restore matches a full copy page for page",
            layout: "tests-qemu/layouts/ckpt_incremental.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_incremental" }],
            timeout_secs: 60,
            icount: false,
            check: check_incremental,
        },
        Scenario {
            name: "ckpt_on_fault_restore",
            description: "a guest that crashes after a checkpoint is rolled back to it (on-fault = \"restore\") and completes",
            layout: "tests-qemu/layouts/ckpt_on_fault_restore.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_fault" }],
            timeout_secs: 60,
            icount: false,
            check: check_on_fault_restore,
        },
        Scenario {
            name: "ckpt_on_fault_restart",
            description: "a guest that crashes after a checkpoint boots its image again (on-fault = \"restart\") and completes on boot 2",
            layout: "tests-qemu/layouts/ckpt_on_fault_restart.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_fault" }],
            timeout_secs: 60,
            icount: false,
            check: check_on_fault_restart,
        },
        Scenario {
            name: "ckpt_permissions",
            description: "a partition without manages is DENIED checkpoint calls on others; a manager checkpoints and restores its worker, whose counter drops back once",
            layout: "tests-qemu/layouts/ckpt_permissions.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "ckpt_outsider" },
                Module { address: 0x4b00_0000, guest: "ckpt_manager" },
                Module { address: 0x4c00_0000, guest: "ckpt_worker" },
            ],
            timeout_secs: 60,
            icount: false,
            check: check_permissions,
        },
        Scenario {
            name: "ckpt_corrupt",
            description: "a corrupted stored page makes restore refuse with a clear error and leave the worker stopped; the manager runs on",
            layout: "tests-qemu/layouts/ckpt_corrupt.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "ckpt_corruptor" },
                Module { address: 0x4b00_0000, guest: "ckpt_worker" },
            ],
            timeout_secs: 60,
            icount: false,
            check: check_corrupt,
        },
        Scenario {
            name: "ckpt_periodic",
            description: "interval-ms = <10>: about one checkpoint per 10 ms over a 300 ms window, and an unchecked neighbour does not stall with the checkpoints",
            layout: "tests-qemu/layouts/ckpt_periodic.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "ckpt_periodic" },
                Module { address: 0x4b00_0000, guest: "ckpt_steady" },
            ],
            timeout_secs: 60,
            // icount: deterministic (5 stalls, from the round-robin's turns,
            // every run). Under wall time the host's scheduling alone gave 80
            // stalls on a loaded machine. A checkpoint that held the
            // neighbour's core would spend that core's turns in EL2: a stall
            // per checkpoint.
            icount: true,
            check: check_periodic,
        },
        Scenario {
            name: "ckpt_linux",
            description: "Linux checkpointed every 25 ms while userspace counts; a manager restores it mid-run; the counter resumes from the checkpoint, the shell answers, no kernel error",
            layout: "tests-qemu/layouts/ckpt_linux.dtso",
            modules: &[
                Module { address: 0x4400_0000, guest: "linux:kernel" },
                Module { address: 0x4900_0000, guest: "linux:initramfs" },
                Module { address: 0x4f00_0000, guest: "ckpt_linux_manager" },
            ],
            timeout_secs: 180,
            icount: false,
            check: check_linux,
        },
    ]
}

/// Linux's lines on UART0 that signal a kernel in trouble.
pub(crate) const KERNEL_ERRORS: [&str; 6] = [
    "Oops",
    "BUG:",
    "Kernel panic",
    "Call trace",
    "rcu_sched self-detected stall",
    "WARNING:",
];

fn check_linux(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    let text = &outcome.uart[0];
    if let Some(error) = KERNEL_ERRORS.iter().find(|error| text.contains(*error)) {
        return Err(format!("the kernel reported `{error}`"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let restores: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("partition linux restored to checkpoint"))
        .map(|(index, _)| index)
        .collect();
    if restores.is_empty() {
        return Err("no `partition linux restored to checkpoint` line".into());
    }
    let ticks: Vec<(usize, u64)> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let at = line.find("linux tick=")?;
            field_u64(&line[at..], "tick").map(|tick| (index, tick))
        })
        .collect();
    // At least one restore must land while the counter runs; around each
    // such restore the counter goes on from the checkpointed value.
    let mut mid_run = 0;
    for &restored_at in &restores {
        let last_before = ticks
            .iter()
            .filter(|(i, _)| *i < restored_at)
            .map(|(_, t)| *t)
            .next_back();
        let first_after = ticks
            .iter()
            .find(|(i, _)| *i > restored_at)
            .map(|(_, t)| *t);
        let (Some(last_before), Some(first_after)) = (last_before, first_after) else {
            continue;
        };
        mid_run += 1;
        // Rolled back to a checkpoint at most a few ticks old, then counting on.
        if first_after > last_before + 1 || first_after + 50 < last_before {
            return Err(format!(
                "after a restore the counter went from {last_before} to {first_after}"
            ));
        }
    }
    if mid_run == 0 {
        return Err(format!(
            "none of the {} restores happened while the counter ran",
            restores.len()
        ));
    }
    let last_restore = restores.last().copied().unwrap_or(0);
    let after: Vec<u64> = ticks
        .iter()
        .filter(|(i, _)| *i > last_restore)
        .map(|(_, t)| *t)
        .collect();
    if after.windows(2).any(|pair| pair[1] != pair[0] + 1) {
        return Err("the counter does not rise by one after the last restore".into());
    }
    if !text.contains("linux shell answers: OK aarch64") {
        return Err("no `linux shell answers: OK aarch64` line after the restore".into());
    }
    let results = text.matches("[manager] manager result restore=0").count();
    if results != restores.len() {
        return Err(format!(
            "{} restores, {results} returned 0 to the manager",
            restores.len()
        ));
    }
    if !text.contains("linux poweroff") || outcome.exit_code != Some(0) {
        return Err(format!(
            "Linux did not power off cleanly (exit {:?})",
            outcome.exit_code
        ));
    }
    Ok(())
}

/// Milliseconds `ckpt_periodic` runs for and its checkpoint interval (mirrors the guest and layout).
const PERIODIC_RUN_MS: u64 = 300;
const PERIODIC_INTERVAL_MS: u64 = 10;

fn check_periodic(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    let periodic = guest_lines(outcome, "periodic");
    let (_, line) = one("periodic", &periodic, "periodic run_ms=")?;
    let periodic_line = line;
    let taken = value("periodic", line, "in_window")?;
    // The timer is re-armed when a checkpoint ends, so one comes every
    // interval + pause: accept 70 % of that up to 110 % of run / interval.
    let pause_ticks = value("periodic", line, "pause_ticks")?;
    // QEMU's `max` counts at 1 GHz, the named cores at 62.5 MHz.
    let ticks_per_ms = value("periodic", line, "cntfrq")?.max(1000) / 1000;
    let pause_ms = pause_ticks as f64 / ticks_per_ms as f64;
    let lowest = 0.7 * PERIODIC_RUN_MS as f64 / (PERIODIC_INTERVAL_MS as f64 + pause_ms);
    let highest = 1.1 * (PERIODIC_RUN_MS / PERIODIC_INTERVAL_MS) as f64;
    if (taken as f64) < lowest || taken as f64 > highest {
        return Err(format!(
            "periodic: {taken} checkpoints in {PERIODIC_RUN_MS} ms, expected {lowest:.0}..{highest:.0}: `{line}`"
        ));
    }
    let (total, generation) = (
        value("periodic", line, "taken")?,
        value("periodic", line, "generation")?,
    );
    if generation != total {
        return Err(format!(
            "periodic: generation {generation} != checkpoints taken {total}: `{line}`"
        ));
    }
    let steady = guest_lines(outcome, "steady");
    let (_, line) = one("steady", &steady, "steady run_ms=")?;
    let stalls = value("steady", line, "stalls_over_1ms")?;
    let pause = value("periodic", periodic_line, "pause_ticks")?;
    // A pause must be long enough to show as a stall (over 1 ms) ...
    if pause <= ticks_per_ms {
        return Err(format!(
            "periodic: pauses of {pause} ticks are too short to tell a stall: `{periodic_line}`"
        ));
    }
    // ... and had the neighbour been paused with every checkpoint, it would
    // have stalled at least once per checkpoint; host scheduling causes a few.
    if stalls * 2 >= taken {
        return Err(format!(
            "steady: {stalls} stalls over 1 ms during {taken} checkpoints of the neighbour: `{line}`"
        ));
    }
    if outcome.exit_code != Some(0) {
        return Err(format!("QEMU exit code {:?}", outcome.exit_code));
    }
    Ok(())
}

/// Every line of `lines` starting with `prefix`.
fn all<'a>(lines: &[(usize, &'a str)], prefix: &str) -> Vec<(usize, &'a str)> {
    lines
        .iter()
        .filter(|(_, text)| text.starts_with(prefix))
        .copied()
        .collect()
}

/// The only line starting with `prefix`.
fn one<'a>(
    what: &str,
    lines: &[(usize, &'a str)],
    prefix: &str,
) -> Result<(usize, &'a str), String> {
    match all(lines, prefix).as_slice() {
        [line] => Ok(*line),
        [] => Err(format!("{what}: no `{prefix}` line")),
        many => Err(format!(
            "{what}: {} `{prefix}` lines, expected one: {:?}",
            many.len(),
            many.iter().map(|(_, t)| *t).collect::<Vec<_>>()
        )),
    }
}

/// `key=` of `line` as a number, or an error quoting the line.
fn value(what: &str, line: &str, key: &str) -> Result<u64, String> {
    field_u64(line, key).ok_or(format!("{what}: `{line}`: no number {key}="))
}

/// Fails unless `label` booted exactly `boots` times.
fn expect_boots(what: &str, lines: &[(usize, &str)], boots: usize) -> Result<(), String> {
    let seen = all(lines, "boot first_instruction_ticks=").len();
    if seen != boots {
        return Err(format!("{what}: booted {seen} times, expected {boots}"));
    }
    Ok(())
}

/// What an uninterrupted `ckpt_rollback` run computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollbackReference {
    pub hash_at_k: u64,
    pub acc1_at_k: u64,
    pub hash_at_m: u64,
    pub acc0_at_m: u64,
    pub acc1_at_m: u64,
}

/// Runs `ckpt_rollback`'s workload on the host, without interruption.
pub fn rollback_reference() -> RollbackReference {
    let mut words = vec![0u64; ROLLBACK_WORDS as usize];
    workload::fill(&mut words, 0);
    let mut acc = [0.0f64; 2];
    let mut run = |words: &mut [u64], steps: std::ops::RangeInclusive<u64>| {
        for step in steps {
            for (part, acc) in acc.iter_mut().enumerate() {
                let range = workload::split(ROLLBACK_WORDS, 2, part as u64);
                let half = &mut words[range.start as usize..range.end as usize];
                *acc = workload::rollback_step(half, range.start, step, *acc);
            }
        }
        acc
    };
    let at_k = run(&mut words, 1..=ROLLBACK_K);
    let hash_at_k = workload::checksum(&words, 0);
    let at_m = run(&mut words, ROLLBACK_K + 1..=ROLLBACK_M);
    RollbackReference {
        hash_at_k,
        acc1_at_k: at_k[1].to_bits(),
        hash_at_m: workload::checksum(&words, 0),
        acc0_at_m: at_m[0].to_bits(),
        acc1_at_m: at_m[1].to_bits(),
    }
}

pub(crate) fn check_rollback(outcome: &Outcome) -> Result<(), String> {
    check_rollback_against(outcome, &rollback_reference())
}

fn check_rollback_against(outcome: &Outcome, reference: &RollbackReference) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let what = "rollback";
    let lines = guest_lines(outcome, what);
    expect_boots(what, &lines, 1)?;
    let (taken_at, taken) = one(what, &lines, "ckpt taken ")?;
    expect_fields(
        what,
        taken,
        &[("step", ROLLBACK_K), ("hash", reference.hash_at_k)],
    )?;
    let generation = value(what, taken, "generation")?;
    if generation == 0 {
        return Err(format!("{what}: `{taken}`: generation 0"));
    }
    let (restored_at, restored) = one(what, &lines, "ckpt restored ")?;
    if restored_at < taken_at {
        return Err(format!("{what}: `{restored}` before `{taken}`"));
    }
    expect_fields(
        what,
        restored,
        &[("generation", generation), ("hash", reference.hash_at_k)],
    )?;
    let results = [
        ("ckpt result pass=1 ", false),
        ("ckpt result pass=2 ", true),
    ];
    for (prefix, after_restore) in results {
        let (at, line) = one(what, &lines, prefix)?;
        if (at > restored_at) != after_restore {
            return Err(format!(
                "{what}: `{line}` on the wrong side of `{restored}`"
            ));
        }
        expect_fields(
            what,
            line,
            &[
                ("hash", reference.hash_at_m),
                ("acc0", reference.acc0_at_m),
                ("acc1", reference.acc1_at_m),
            ],
        )?;
    }
    for pass in 1..=2 {
        let (_, line) = one(what, &lines, &format!("ckpt timer pass={pass} "))?;
        expect_fields(what, line, &[("fired", 1)])?;
    }
    // vCPU 1 was rolled back too: it leaves the barrier and finishes twice,
    // once in each pass, with the same values.
    for (prefix, key, expected) in [
        ("ckpt vcpu1 resumed ", "acc1", reference.acc1_at_k),
        ("ckpt vcpu1 done ", "acc1", reference.acc1_at_m),
    ] {
        let seen = all(&lines, prefix);
        let sides: Vec<bool> = seen.iter().map(|(at, _)| *at > restored_at).collect();
        if sides != [false, true] {
            return Err(format!(
                "{what}: expected one `{prefix}` line before and one after the restore, saw {seen:?}"
            ));
        }
        for (_, line) in seen {
            expect_fields(what, line, &[(key, expected)])?;
        }
    }
    Ok(())
}

/// What `ckpt_incremental`'s work area holds, recomputed on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementalReference {
    /// Hash of the area at the last checkpoint.
    pub hash_at_checkpoint: u64,
    /// (page index, hash) of the sampled pages at the last checkpoint.
    pub samples: Vec<(u64, u64)>,
    /// Hash after the writes that follow the last checkpoint.
    pub hash_written: u64,
    /// Pages those writes changed.
    pub differing_pages: u64,
}

pub fn incremental_reference() -> IncrementalReference {
    let mut words = vec![0u64; INCREMENTAL_WORDS as usize];
    workload::fill(&mut words, 0);
    let mut state = INCREMENTAL_SEED;
    for _ in 0..INCREMENTAL_ROUNDS {
        state = workload::random_writes(&mut words, state, INCREMENTAL_WRITES_PER_ROUND);
    }
    let pages = INCREMENTAL_WORDS / workload::PAGE_WORDS;
    let page = |words: &[u64], index: u64| {
        let first = index * workload::PAGE_WORDS;
        workload::checksum(
            &words[first as usize..(first + workload::PAGE_WORDS) as usize],
            first,
        )
    };
    let samples = (0..INCREMENTAL_SAMPLES)
        .map(|sample| sample * pages / INCREMENTAL_SAMPLES)
        .map(|index| (index, page(&words, index)))
        .collect();
    let at_checkpoint = words.clone();
    let _ = workload::random_writes(&mut words, state, INCREMENTAL_WRITES_AFTER);
    let differing_pages = words
        .chunks(workload::PAGE_WORDS as usize)
        .zip(at_checkpoint.chunks(workload::PAGE_WORDS as usize))
        .filter(|(a, b)| a != b)
        .count() as u64;
    IncrementalReference {
        hash_at_checkpoint: workload::checksum(&at_checkpoint, 0),
        samples,
        hash_written: workload::checksum(&words, 0),
        differing_pages,
    }
}

fn check_incremental(outcome: &Outcome) -> Result<(), String> {
    check_incremental_against(outcome, &incremental_reference())
}

fn check_incremental_against(
    outcome: &Outcome,
    reference: &IncrementalReference,
) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let what = "incremental";
    let lines = guest_lines(outcome, what);
    expect_boots(what, &lines, 1)?;

    let (_, first) = one(what, &lines, "ckpt first ")?;
    let full = value(what, first, "pages_copied")?;
    if full < PARTITION_PAGES {
        return Err(format!(
            "{what}: `{first}`: the first checkpoint must copy all {PARTITION_PAGES} pages"
        ));
    }
    let (_, incremental) = one(what, &lines, "ckpt incremental ")?;
    let most = value(what, incremental, "max_pages_copied")?;
    let limit = 2 * INCREMENTAL_WRITES_PER_ROUND + INCREMENTAL_SLACK_PAGES;
    if most == 0 || most > limit {
        return Err(format!(
            "{what}: `{incremental}`: incremental checkpoints must copy 1..={limit} pages"
        ));
    }
    let (_, last) = one(what, &lines, "ckpt last ")?;
    let generation = value(what, last, "generation")?;
    if !(INCREMENTAL_ROUNDS..=INCREMENTAL_ROUNDS + 1).contains(&generation) {
        return Err(format!(
            "{what}: `{last}`: expected generation {INCREMENTAL_ROUNDS} (or one more)"
        ));
    }
    expect_fields(what, last, &[("taken", INCREMENTAL_ROUNDS)])?;
    // Before the last checkpoint the guest copied the whole area to its
    // shadow: those pages and the rounds' writes, no more.
    let shadow = INCREMENTAL_WORDS / workload::PAGE_WORDS;
    let copied = value(what, last, "pages_copied")?;
    if !(shadow..=shadow + limit).contains(&copied) {
        return Err(format!(
            "{what}: `{last}`: expected {shadow}..={} pages copied",
            shadow + limit
        ));
    }
    let (_, second) = one(what, &lines, "ckpt second ")?;
    if value(what, second, "pages_copied")? > PARTITION_PAGES {
        return Err(format!(
            "{what}: `{second}`: more pages than the partition has"
        ));
    }

    let (_, hash) = one(what, &lines, "ckpt checkpoint hash=")?;
    expect_fields(what, hash, &[("hash", reference.hash_at_checkpoint)])?;
    let (_, written) = one(what, &lines, "ckpt written ")?;
    expect_fields(
        what,
        written,
        &[
            ("hash", reference.hash_written),
            ("differing_pages", reference.differing_pages),
        ],
    )?;
    let (restoring_at, _) = one(what, &lines, "ckpt restoring")?;
    let (restored_at, restored) = one(what, &lines, "ckpt restored ")?;
    if restored_at < restoring_at {
        return Err(format!("{what}: `{restored}` before `ckpt restoring`"));
    }
    expect_fields(
        what,
        restored,
        &[
            ("generation", generation),
            ("hash", reference.hash_at_checkpoint),
            ("differing_pages", 0),
            ("pages", INCREMENTAL_WORDS / workload::PAGE_WORDS),
        ],
    )?;
    for at in ["checkpoint", "restore"] {
        let seen = all(&lines, &format!("ckpt page at={at} "));
        if seen.len() != reference.samples.len() {
            return Err(format!(
                "{what}: {} sampled pages at {at}, expected {}",
                seen.len(),
                reference.samples.len()
            ));
        }
        for ((_, line), (index, hash)) in seen.iter().zip(&reference.samples) {
            expect_fields(what, line, &[("index", *index), ("hash", *hash)])?;
        }
    }
    Ok(())
}

/// The `ckpt progress=` values `lines` show, in order.
fn progress_values(what: &str, lines: &[(usize, &str)]) -> Result<Vec<u64>, String> {
    all(lines, "ckpt progress=")
        .iter()
        .map(|(_, line)| value(what, line, "progress"))
        .collect()
}

/// Some Bulkhead line about partition `label` between line indices `after` and `before`.
fn expect_report_between(
    outcome: &Outcome,
    label: &str,
    after: usize,
    before: usize,
) -> Result<(), String> {
    let needle = format!("partition {label} ");
    let found = lines(&outcome.uart[0]).enumerate().any(|(at, line)| {
        at > after && at < before && line.starts_with("bulkhead:") && line.contains(&needle)
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "no `bulkhead: ... partition {label} ...` report of the fault"
        ))
    }
}

pub(crate) fn check_on_fault_restore(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let what = "faulty";
    let lines = guest_lines(outcome, what);
    expect_boots(what, &lines, 1)?;
    let (_, taken) = one(what, &lines, "ckpt taken ")?;
    let generation = value(what, taken, "generation")?;
    let (crash_at, crash) = one(what, &lines, "ckpt crashing ")?;
    expect_fields(what, crash, &[("boot", 1)])?;
    let (restored_at, restored) = one(what, &lines, "ckpt restored ")?;
    if restored_at < crash_at {
        return Err(format!("{what}: `{restored}` before `{crash}`"));
    }
    expect_fields(what, restored, &[("generation", generation)])?;
    expect_report_between(outcome, what, crash_at, restored_at)?;
    let (_, completed) = one(what, &lines, "ckpt completed ")?;
    expect_fields(
        what,
        completed,
        &[("boot", 1), ("progress", FAULT_STEPS), ("restored", 1)],
    )?;
    let expected: Vec<u64> = (1..=FAULT_CRASH_AT)
        .chain(FAULT_CHECKPOINT_AT + 1..=FAULT_STEPS)
        .collect();
    let seen = progress_values(what, &lines)?;
    if seen != expected {
        return Err(format!("{what}: progress {seen:?}, expected {expected:?}"));
    }
    Ok(())
}

fn check_on_fault_restart(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let what = "faulty";
    let lines = guest_lines(outcome, what);
    expect_boots(what, &lines, 2)?;
    let counts: Vec<u64> = all(&lines, "ckpt boot count=")
        .iter()
        .map(|(_, line)| value(what, line, "count"))
        .collect::<Result<_, _>>()?;
    if counts != [1, 2] {
        return Err(format!("{what}: boot counts {counts:?}, expected [1, 2]"));
    }
    // Each start gets fresh seeds from Bulkhead (QEMU gives the board one).
    let seeds: Vec<(u64, u64)> = all(&lines, "ckpt seeds ")
        .iter()
        .map(|(_, line)| Ok((value(what, line, "rng")?, value(what, line, "kaslr")?)))
        .collect::<Result<_, String>>()?;
    let fresh = seeds.len() == 2
        && seeds.iter().all(|&(rng, kaslr)| rng != 0 && kaslr != 0)
        && seeds[0].0 != seeds[1].0
        && seeds[0].1 != seeds[1].1;
    if !fresh {
        return Err(format!(
            "{what}: seeds per boot {seeds:?}, expected two non-zero, different pairs"
        ));
    }
    let (crash_at, crash) = one(what, &lines, "ckpt crashing ")?;
    expect_fields(what, crash, &[("boot", 1)])?;
    let second_boot = all(&lines, "boot first_instruction_ticks=")
        .get(1)
        .map_or(usize::MAX, |(at, _)| *at);
    expect_report_between(outcome, what, crash_at, second_boot)?;
    if !all(&lines, "ckpt restored ").is_empty() {
        return Err(format!("{what}: restored although on-fault = \"restart\""));
    }
    let (_, completed) = one(what, &lines, "ckpt completed ")?;
    expect_fields(
        what,
        completed,
        &[("boot", 2), ("progress", FAULT_STEPS), ("restored", 0)],
    )?;
    let expected: Vec<u64> = (1..=FAULT_CRASH_AT).chain(1..=FAULT_STEPS).collect();
    let seen = progress_values(what, &lines)?;
    if seen != expected {
        return Err(format!("{what}: progress {seen:?}, expected {expected:?}"));
    }
    Ok(())
}

/// `(line index, value)` of every `worker progress=` line.
fn worker_progress(lines: &[(usize, &str)]) -> Result<Vec<(usize, u64)>, String> {
    all(lines, "worker progress=")
        .iter()
        .map(|(at, line)| Ok((*at, value("worker", line, "progress")?)))
        .collect()
}

fn check_permissions(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let denied = bulkhead_results::DENIED;
    let outsider = guest_lines(outcome, "outsider");
    let seen = results(outsider.iter().map(|(_, text)| *text));
    expect_results(
        "outsider",
        &seen,
        &[
            ("take_worker", denied),
            ("status_worker", denied),
            ("restore_worker", denied),
            // No `test-hooks` in this layout: the test-only call does not exist.
            ("corrupt_worker", bulkhead_results::NOT_SUPPORTED),
            ("take_manager", denied),
            ("take_self", bulkhead_results::NOT_SUPPORTED),
        ],
    )?;

    let manager = guest_lines(outcome, "manager");
    let seen = results(manager.iter().map(|(_, text)| *text));
    expect_results(
        "manager",
        &seen,
        &[
            ("take", 0),
            ("status", 0),
            ("take_unmanaged", denied),
            ("restore", 0),
        ],
    )?;
    let (taking_at, _) = one("manager", &manager, "manager taking")?;
    let (took_at, took) = one("manager", &manager, "manager took ")?;
    let generation = value("manager", took, "generation")?;
    let (_, status) = one("manager", &manager, "manager status ")?;
    expect_fields(
        "manager",
        status,
        &[("generation", generation), ("taken", 1)],
    )?;
    if generation == 0 {
        return Err(format!("manager: `{took}`: generation 0"));
    }
    let (restoring_at, _) = one("manager", &manager, "manager restoring")?;

    let worker = guest_lines(outcome, "worker");
    let progress = worker_progress(&worker)?;
    let drops: Vec<usize> = progress
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair[1].1 <= pair[0].1)
        .map(|(i, _)| i + 1)
        .collect();
    let [drop] = drops.as_slice() else {
        return Err(format!(
            "worker: expected its progress to drop back exactly once, saw {} drops: {:?}",
            drops.len(),
            progress.iter().map(|(_, v)| *v).collect::<Vec<_>>()
        ));
    };
    let (drop_at, resumed) = progress[*drop];
    if drop_at < restoring_at {
        return Err(format!(
            "worker: progress dropped to {resumed} before the manager restored it"
        ));
    }
    // The checkpoint holds a value between the last one printed before the
    // take and the first one printed after it.
    let low = progress
        .iter()
        .take_while(|(at, _)| *at < taking_at)
        .last()
        .map_or(0, |(_, v)| *v);
    let high = progress
        .iter()
        .find(|(at, _)| *at > took_at)
        .map_or(u64::MAX, |(_, v)| *v);
    if resumed < low || resumed > high.saturating_add(1) {
        return Err(format!(
            "worker: resumed at progress {resumed}, expected the checkpointed value in {low}..={}",
            high.saturating_add(1)
        ));
    }
    let (_, done) = one("worker", &worker, "worker done ")?;
    expect_fields("worker", done, &[("progress", WORKER_LAST)])?;
    Ok(())
}

fn check_corrupt(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let manager = guest_lines(outcome, "manager");
    let seen = results(manager.iter().map(|(_, text)| *text));
    expect_results(
        "manager",
        &seen,
        &[
            ("take", 0),
            ("corrupt", 0),
            ("restore", bulkhead_results::INTERNAL_FAILURE),
        ],
    )?;
    let (restoring_at, _) = one("manager", &manager, "manager restoring")?;
    let refusal = lines(&outcome.uart[0]).enumerate().find(|(_, line)| {
        line.starts_with("bulkhead: partition worker") && line.contains("restore refused")
    });
    let Some((refused_at, _)) = refusal else {
        return Err("no `bulkhead: partition worker ... restore refused: ...` line".into());
    };
    if refused_at < restoring_at {
        return Err("restore refused before the manager asked for it".into());
    }
    let (alive_at, _) = one("manager", &manager, "manager alive ")?;
    if alive_at < refused_at {
        return Err("manager: `manager alive` before the refusal".into());
    }
    let worker = guest_lines(outcome, "worker");
    let progress = worker_progress(&worker)?;
    if progress.len() < 2 {
        return Err(format!("worker: only {} progress lines", progress.len()));
    }
    if let Some((_, late)) = progress.iter().find(|(at, _)| *at > refused_at) {
        return Err(format!(
            "worker: printed progress={late} after the refused restore: it must be stopped"
        ));
    }
    if !all(&worker, "worker done").is_empty() {
        return Err("worker: ran to completion although its restore was refused".into());
    }
    Ok(())
}

/// SMCCC return codes the checks expect (as in `bulkhead-abi`, which this
/// host crate does not depend on).
mod bulkhead_results {
    pub const NOT_SUPPORTED: i64 = -1;
    pub const DENIED: i64 = -3;
    pub const INTERNAL_FAILURE: i64 = -6;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(uart0: &str) -> Outcome {
        Outcome {
            uart: [uart0.to_string(), String::new()],
            exit_code: Some(0),
            timed_out: false,
            check_errors: Vec::new(),
        }
    }

    fn prefixed(label: &str, text: &str) -> String {
        text.lines()
            .map(|line| format!("[{label}] {line}\n"))
            .collect()
    }

    const BOOT: &str = "boot first_instruction_ticks=1234 cntfrq=62500000\n\
                        partition id=0 vcpus=1 memory=16777216\n\
                        dt cpus=1 memory=16777216\n";

    fn rollback(r: &RollbackReference, restored_hash: u64, second_acc0: u64) -> String {
        let text = format!(
            "{BOOT}ckpt taken generation=1 step=3 hash={k:#x}\n\
             ckpt vcpu1 resumed step=3 acc1={a1k:#x}\n\
             ckpt vcpu1 done step=6 acc1={a1m:#x}\n\
             ckpt timer pass=1 fired=1\n\
             ckpt result pass=1 hash={m:#x} acc0={a0m:#x} acc1={a1m:#x}\n\
             ckpt restoring\n\
             ckpt restored generation=1 take_x1=1 hash={restored_hash:#x}\n\
             ckpt vcpu1 resumed step=3 acc1={a1k:#x}\n\
             ckpt vcpu1 done step=6 acc1={a1m:#x}\n\
             ckpt timer pass=2 fired=1\n\
             ckpt result pass=2 hash={m:#x} acc0={second_acc0:#x} acc1={a1m:#x}\n",
            k = r.hash_at_k,
            m = r.hash_at_m,
            a1k = r.acc1_at_k,
            a1m = r.acc1_at_m,
            a0m = r.acc0_at_m,
        );
        prefixed("rollback", &text)
    }

    #[test]
    fn rollback_needs_equal_hashes_and_results() {
        let r = rollback_reference();
        assert_ne!(r.hash_at_k, r.hash_at_m);
        let good = rollback(&r, r.hash_at_k, r.acc0_at_m);
        assert_eq!(check_rollback_against(&outcome(&good), &r), Ok(()));
        let bad_hash = rollback(&r, r.hash_at_k ^ 1, r.acc0_at_m);
        assert!(check_rollback_against(&outcome(&bad_hash), &r).is_err());
        let bad_fp = rollback(&r, r.hash_at_k, r.acc0_at_m ^ 1);
        assert!(check_rollback_against(&outcome(&bad_fp), &r).is_err());
        let no_timer = good.replace("pass=2 fired=1", "pass=2 fired=0");
        assert!(check_rollback_against(&outcome(&no_timer), &r).is_err());
        let vcpu1_not_rolled_back: String = good
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 10)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(check_rollback_against(&outcome(&vcpu1_not_rolled_back), &r).is_err());
    }

    fn incremental(r: &IncrementalReference, first: u64, most: u64, restored_diff: u64) -> String {
        let mut text = format!(
            "{BOOT}ckpt first generation=1 pages_copied={first} pause_ticks=100\n\
             ckpt second pages_copied=4096\n\
             ckpt incremental rounds=97 max_pages_copied={most}\n\
             ckpt last generation=100 taken=100 pages_copied=1056 pause_ticks=50\n\
             ckpt checkpoint hash={:#x}\n",
            r.hash_at_checkpoint
        );
        let samples = |at: &str| -> String {
            r.samples
                .iter()
                .map(|(i, h)| format!("ckpt page at={at} index={i} hash={h:#x}\n"))
                .collect()
        };
        text += &samples("checkpoint");
        text += &format!(
            "ckpt written hash={:#x} differing_pages={}\nckpt restoring\n\
             ckpt restored generation=100 hash={:#x} differing_pages={restored_diff} pages=1024\n",
            r.hash_written, r.differing_pages, r.hash_at_checkpoint
        );
        text += &samples("restore");
        prefixed("incremental", &text)
    }

    #[test]
    fn incremental_needs_full_then_small_copies_and_equal_pages() {
        let r = incremental_reference();
        assert!(r.differing_pages > 0 && r.differing_pages <= INCREMENTAL_WRITES_AFTER);
        let good = incremental(&r, 4096, 20, 0);
        assert_eq!(check_incremental_against(&outcome(&good), &r), Ok(()));
        assert!(check_incremental_against(&outcome(&incremental(&r, 100, 20, 0)), &r).is_err());
        assert!(check_incremental_against(&outcome(&incremental(&r, 4096, 4096, 0)), &r).is_err());
        assert!(check_incremental_against(&outcome(&incremental(&r, 4096, 20, 3)), &r).is_err());
    }

    fn fault(progress: &[u64], restart: bool) -> String {
        let seeds = |boot: u64| format!("ckpt seeds rng={} kaslr={}\n", 11 * boot, 13 * boot);
        let mut uart = prefixed("faulty", &format!("{BOOT}ckpt boot count=1\n{}", seeds(1)));
        let mut boot = 1;
        for (i, p) in progress.iter().enumerate() {
            if i > 0 && *p == 1 {
                boot += 1;
                uart += &prefixed(
                    "faulty",
                    &format!("{BOOT}ckpt boot count={boot}\n{}", seeds(boot)),
                );
            }
            uart += &prefixed("faulty", &format!("ckpt progress={p}\n"));
            let restored = !restart && i > 8;
            if *p == 5 && !restored {
                uart += &prefixed("faulty", "ckpt taken generation=1\n");
            }
            if *p == 8 && i == 7 {
                uart += &prefixed("faulty", "ckpt crashing boot=1 ipa=0x70000000\n");
                uart += "bulkhead: partition faulty (id 0) fault: stage-2 data abort\n";
                if !restart {
                    uart += &prefixed("faulty", "ckpt restored generation=1\n");
                }
            }
        }
        let restored = u8::from(!restart);
        uart += &prefixed(
            "faulty",
            &format!("ckpt completed boot={boot} progress=10 restored={restored}\n"),
        );
        uart
    }

    #[test]
    fn on_fault_policies() {
        let restore = [1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10];
        assert_eq!(
            check_on_fault_restore(&outcome(&fault(&restore, false))),
            Ok(())
        );
        let wrong = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert!(check_on_fault_restore(&outcome(&fault(&wrong, false))).is_err());
        let restart = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(
            check_on_fault_restart(&outcome(&fault(&restart, true))),
            Ok(())
        );
        assert!(check_on_fault_restore(&outcome(&fault(&restart, true))).is_err());
        assert!(check_on_fault_restart(&outcome(&fault(&restore, false))).is_err());
        // A restart that replays the first boot's seeds is refused.
        let replayed = fault(&restart, true).replace("rng=22 kaslr=26", "rng=11 kaslr=13");
        assert!(check_on_fault_restart(&outcome(&replayed)).is_err());
    }

    fn permissions(outsider_take: i64, resume_at: u64) -> String {
        let mut uart = prefixed(
            "outsider",
            &format!(
                "{BOOT}result take_worker={outsider_take}\nresult status_worker=-3\n\
                 result restore_worker=-3\nresult corrupt_worker=-1\n\
                 result take_manager=-3\nresult take_self=-1\noutsider done\n"
            ),
        );
        let worker = |from: u64, to: u64| -> String {
            (from..=to)
                .map(|p| format!("[worker] worker progress={p}\n"))
                .collect()
        };
        uart += &worker(1, 14);
        uart += &prefixed("manager", "manager taking\nresult take=0\n");
        uart += &worker(15, 15);
        uart += &prefixed(
            "manager",
            "manager took generation=1\nresult status=0\n\
             manager status generation=1 taken=1 pages_copied=4096\nresult take_unmanaged=-3\n",
        );
        uart += &worker(16, 34);
        uart += &prefixed(
            "manager",
            "manager restoring\nresult restore=0\nmanager restored\n",
        );
        uart += &worker(resume_at, 100);
        uart += "[worker] worker done progress=100\n";
        uart
    }

    #[test]
    fn permissions_denied_and_rollback_once() {
        assert_eq!(check_permissions(&outcome(&permissions(-3, 15))), Ok(()));
        assert_eq!(check_permissions(&outcome(&permissions(-3, 14))), Ok(()));
        assert!(check_permissions(&outcome(&permissions(0, 15))).is_err());
        assert!(check_permissions(&outcome(&permissions(-3, 5))).is_err());
        // No drop at all: the restore did nothing.
        assert!(check_permissions(&outcome(&permissions(-3, 35))).is_err());
    }

    fn corrupt(restore: i64, late_progress: bool) -> String {
        let mut uart: String = (1..=20)
            .map(|p| format!("[worker] worker progress={p}\n"))
            .collect();
        uart += &prefixed(
            "manager",
            &format!(
                "{BOOT}manager taking\nresult take=0\nresult corrupt=0\n\
                 manager restoring\nresult restore={restore}\n"
            ),
        );
        uart += "bulkhead: partition worker (id 1) restore refused: page 0x40400000 checksum mismatch\n";
        if late_progress {
            uart += "[worker] worker progress=21\n";
        }
        uart += "[manager] manager alive after=300\n";
        uart
    }

    #[test]
    fn corrupt_restore_refused_and_worker_stopped() {
        assert_eq!(check_corrupt(&outcome(&corrupt(-6, false))), Ok(()));
        assert!(check_corrupt(&outcome(&corrupt(0, false))).is_err());
        assert!(check_corrupt(&outcome(&corrupt(-6, true))).is_err());
        let silent = corrupt(-6, false).replace("restore refused", "stopped");
        assert!(check_corrupt(&outcome(&silent)).is_err());
    }
}

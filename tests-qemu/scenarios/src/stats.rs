//! The STATS scenario: a partition's counters move by exactly what it did, and Bulkhead's stop line agrees.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};

/// What `stats_probe` does between its two STATS calls (mirrors the guest).
const WRITES: u64 = 10;
const LINE_BYTES: u64 = 14;
const GIC_READS: u64 = 50;
const SGIS: u64 = 20;
const FAULTS: u64 = 3;
/// SMCCC codes the refusals must carry.
const DENIED: i64 = -3;
const INVALID_PARAMETERS: i64 = -2;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "stats",
        description: "STATS counts exactly a partition's hypercalls, GIC traps, SGIs, stage-2 faults and console bytes between two calls; refuses a partition it does not manage and a missing id; Bulkhead's stop line repeats the counters",
        layout: "tests-qemu/layouts/stats.dtso",
        modules: &[
            Module { address: 0x4a00_0000, guest: "stats_probe" },
            Module { address: 0x4b00_0000, guest: "idle" },
        ],
        timeout_secs: 30,
        icount: false,
        check: check_stats,
    }]
}

fn check_stats(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let lines = guest_lines(outcome, "stats");
    let (_, delta) = find("the counters' deltas", &lines, "stats delta")?;
    // The second STATS call counts itself; CONSOLE_WRITE is the only other call.
    expect_fields(
        "between the two STATS calls",
        delta,
        &[
            ("hypercalls", WRITES + 1),
            ("gic", GIC_READS),
            ("sgis", SGIS),
            ("irqs", 0),
            ("stage2_faults", FAULTS),
            ("write_faults", 0),
            ("console_bytes", WRITES * LINE_BYTES),
            ("console_dropped", 0),
        ],
    )?;
    let (_, refused) = find("the refusals", &lines, "stats refused")?;
    let code = |key| field(refused, key).and_then(number);
    if code("other") != Some(i128::from(DENIED))
        || code("missing") != Some(i128::from(INVALID_PARAMETERS))
    {
        return Err(format!(
            "STATS on others: `{refused}`, expected other={DENIED} missing={INVALID_PARAMETERS}"
        ));
    }
    // Bulkhead's line when the partition went off: every counter at least
    // what the guest last read (it went on calling and printing after).
    let (_, after) = find("the second call's values", &lines, "stats after")?;
    let stop_line = outcome.uart[0]
        .lines()
        .find(|line| line.contains("partition stats (id 0) stats: "))
        .ok_or("no `partition stats (id 0) stats:` line from Bulkhead")?;
    for name in [
        "hypercalls",
        "gic",
        "sgis",
        "stage2_faults",
        "console_bytes",
    ] {
        let (Some(seen), Some(reported)) = (field_u64(after, name), field_u64(stop_line, name))
        else {
            return Err(format!("{name} missing in `{after}` or `{stop_line}`"));
        };
        if reported < seen {
            return Err(format!(
                "the stop line's {name}={reported} is below the guest's {seen}: `{stop_line}`"
            ));
        }
    }
    Ok(())
}

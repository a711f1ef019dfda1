//! Isolation benchmarks: how much of its progress the victim keeps while the attacker on other cores storms.
//!
//! Each boots a `hostile_storm_<storm>` layout (the same boot as the
//! scenario of that name, always under icount): the attacker spins on the
//! counter (no trap, no interrupt), then runs its storm; the victim counts
//! the 4 KiB chunks both its vCPUs checksum in a window of each phase, of
//! the same length. `isolation_progress_ratio_<storm>` = storm / baseline
//! chunks (1.0: the storm took nothing from the victim). The `spin` storm
//! spins in both windows: its ratio is the measurement's own noise.

use super::{expect_victim_unaffected, ATTACKER, MODULES};
use crate::scenarios::parse::{field_u64, guest_lines};
use crate::{Benchmark, Measurement, Outcome};

/// The storms measured, by the name their layout and figure carry.
pub const STORMS: [&str; 8] = [
    "spin",
    "sgi",
    "timer",
    "hypercall",
    "console",
    "uart",
    "dma",
    "doorbell",
];

const fn storm(name: &'static str, layout: &'static str) -> Benchmark {
    Benchmark {
        name,
        layout,
        modules: MODULES,
        timeout_secs: 60,
        bare: None,
        parse: |outcome, _| parse_ratio(outcome),
    }
}

pub fn benchmarks() -> Vec<Benchmark> {
    vec![
        storm(
            "isolation_progress_ratio_spin",
            "tests-qemu/layouts/hostile_storm_spin.dtso",
        ),
        storm(
            "isolation_progress_ratio_sgi",
            "tests-qemu/layouts/hostile_storm_sgi.dtso",
        ),
        storm(
            "isolation_progress_ratio_timer",
            "tests-qemu/layouts/hostile_storm_timer.dtso",
        ),
        storm(
            "isolation_progress_ratio_hypercall",
            "tests-qemu/layouts/hostile_storm_hypercall.dtso",
        ),
        storm(
            "isolation_progress_ratio_console",
            "tests-qemu/layouts/hostile_storm_console.dtso",
        ),
        storm(
            "isolation_progress_ratio_uart",
            "tests-qemu/layouts/hostile_storm_uart.dtso",
        ),
        storm(
            "isolation_progress_ratio_dma",
            "tests-qemu/layouts/hostile_storm_dma.dtso",
        ),
        storm(
            "isolation_progress_ratio_doorbell",
            "tests-qemu/layouts/hostile_storm_doorbell.dtso",
        ),
    ]
}

/// The storm's name from the attacker's `attack storm_<name> result=` line.
fn storm_name(outcome: &Outcome) -> Result<&str, String> {
    guest_lines(outcome, ATTACKER)
        .into_iter()
        .find_map(|(_, text)| {
            let rest = text.strip_prefix("attack storm_")?;
            let (name, _) = rest.split_once(" result=")?;
            STORMS.iter().copied().find(|storm| *storm == name)
        })
        .ok_or("attacker: no `attack storm_<name> result=` line".into())
}

/// `isolation_progress_ratio_<storm>` and the two chunk counts it divides.
fn parse_ratio(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    let storm = storm_name(outcome)?;
    let victim = expect_victim_unaffected(outcome)?;
    let (baseline, stormed) = victim
        .windows
        .ok_or("victim: no `victim windows` line".to_string())?;
    if baseline == 0 {
        return Err("victim: no progress in the baseline window".into());
    }
    let count = guest_lines(outcome, ATTACKER)
        .into_iter()
        .find_map(|(_, text)| {
            text.starts_with(&format!("attack storm_{storm} "))
                .then(|| field_u64(text, "count"))
                .flatten()
        })
        .unwrap_or(0);
    Ok(vec![
        Measurement {
            name: format!("isolation_progress_ratio_{storm}"),
            value: stormed as f64 / baseline as f64,
            unit: "ratio",
        },
        Measurement {
            name: format!("isolation_progress_{storm}_baseline"),
            value: baseline as f64,
            unit: "chunks",
        },
        Measurement {
            name: format!("isolation_progress_{storm}_storm"),
            value: stormed as f64,
            unit: "chunks",
        },
        Measurement {
            name: format!("isolation_storm_{storm}_count"),
            value: count as f64,
            unit: "events",
        },
    ])
}

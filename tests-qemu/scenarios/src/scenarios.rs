//! The QEMU scenarios: layouts, guest images, and checks on the values guests print.
//!
//! Guest names are the binaries of `tests-qemu/guests`; layouts live in
//! `tests-qemu/layouts`. Each check quotes what it saw when it fails.

#[path = "aborts.rs"]
mod aborts;
#[path = "channel.rs"]
mod channel;
#[path = "checkpoint.rs"]
pub(crate) mod checkpoint;
#[path = "console.rs"]
mod console;
#[path = "cpu_features.rs"]
mod cpu_features;
#[path = "hostile.rs"]
pub(crate) mod hostile;
#[path = "interrupts.rs"]
pub(crate) mod interrupts;
#[path = "linux_channels.rs"]
pub(crate) mod linux_channels;
pub(crate) mod parse;
#[path = "pci.rs"]
mod pci;
#[path = "races.rs"]
mod races;
#[path = "stats.rs"]
mod stats;

use crate::{Module, Outcome, Scenario};
use parse::*;

/// Bytes of the first memory region of the default demo's partitions.
pub const DEFAULT_PARTITION_BYTES: u64 = 256 << 20;
/// What the isolation attackers target, by partition id (mirrors `attacker.rs`).
pub const ATTACK_TARGETS: [(&str, u64); 3] = [
    ("attacker-0", 0x7100_0000),
    ("attacker-1", 0x4200_0000),
    ("attacker-2", 0x0904_0000),
];
/// The context the `psci` guest passes to CPU_ON (mirrors `psci.rs`).
pub const PSCI_CONTEXT: u64 = 0x0123_4567_89ab_cdef;
/// The text of `hvc_args`' valid CONSOLE_WRITE (mirrors `hvc_args.rs`).
pub const HVC_ARGS_VALID_TEXT: &str = "hvc_args valid console write\n";

/// The isolation scenarios' guests (mirrors isolation*.dtso).
const ISOLATION_MODULES: &[Module] = &[
    Module {
        address: 0x4a00_0000,
        guest: "attacker",
    },
    Module {
        address: 0x4b00_0000,
        guest: "attacker",
    },
    Module {
        address: 0x4c00_0000,
        guest: "attacker",
    },
    Module {
        address: 0x4d00_0000,
        guest: "victim",
    },
];

/// What the isolation attackers' layout says a stage-2 fault outside the map does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Fault {
    /// The attacker takes the abort in its own vectors, reports it and powers off.
    Deliver,
    /// Bulkhead stops the attacker.
    Stop,
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "default",
            description: "two 2-core partitions fill and checksum 238 MiB each, concurrently, on their own UARTs",
            layout: "tests-qemu/layouts/default.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "compute" },
                Module { address: 0x4b00_0000, guest: "compute" },
            ],
            timeout_secs: 60,
            icount: false,
            check: check_default,
        },
        Scenario {
            name: "isolation",
            description: "three attackers touching foreign RAM, Bulkhead's memory and a foreign UART take a synchronous external abort in their own vectors (stage2-fault = \"deliver\", the default) and power off; the victim runs on untouched",
            layout: "tests-qemu/layouts/isolation.dtso",
            modules: ISOLATION_MODULES,
            timeout_secs: 30,
            icount: false,
            check: |outcome| check_isolation(outcome, Stage2Fault::Deliver),
        },
        Scenario {
            name: "isolation_stop",
            description: "the isolation attackers with stage2-fault = \"stop\" are stopped at their first foreign access; the victim runs on untouched",
            layout: "tests-qemu/layouts/isolation_stop.dtso",
            modules: ISOLATION_MODULES,
            timeout_secs: 30,
            icount: false,
            check: |outcome| check_isolation(outcome, Stage2Fault::Stop),
        },
        Scenario {
            name: "psci",
            description: "PSCI CPU_ON/AFFINITY_INFO/CPU_OFF return codes, SYSTEM_RESET of one partition while its neighbour keeps running",
            layout: "tests-qemu/layouts/psci.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "psci" },
                Module { address: 0x4b00_0000, guest: "bystander" },
            ],
            timeout_secs: 30,
            icount: false,
            check: check_psci,
        },
        Scenario {
            name: "hypercall_args",
            description: "bad hypercall arguments and unknown IDs return SMCCC errors and the caller keeps running",
            layout: "tests-qemu/layouts/hypercall_args.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "hvc_args" }],
            timeout_secs: 20,
            icount: false,
            check: check_hypercall_args,
        },
        Scenario {
            name: "bad_layout_at_boot",
            description: "a layout with three errors is refused at boot with the same lines the host validator prints",
            layout: "tests-qemu/layouts/bad_layout_at_boot.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "idle" },
                Module { address: 0x4b00_0000, guest: "idle" },
            ],
            timeout_secs: 20,
            icount: false,
            check: check_bad_layout_at_boot,
        },
    ]
    .into_iter()
    .chain(crate::linux::scenarios())
    .chain(interrupts::scenarios())
    .chain(checkpoint::scenarios())
    .chain(races::scenarios())
    .chain(cpu_features::scenarios())
    .chain(stats::scenarios())
    .chain(hostile::scenarios())
    .chain(pci::scenarios())
    .chain(channel::scenarios())
    .chain(linux_channels::scenarios())
    .chain(aborts::scenarios())
    .chain(console::scenarios())
    .collect()
}

/// One `compute` partition's figures.
struct ComputeReport {
    checksum: u64,
    /// (start, end) counter values of each part.
    intervals: Vec<(u64, u64)>,
}

fn compute_report(what: &str, text: &str, expected_checksum: u64) -> Result<ComputeReport, String> {
    let guest: Vec<&str> = own_lines(text).collect();
    let boot = boot_report(guest.iter().copied()).map_err(|e| format!("{what}: {e}"))?;
    expect_boot(what, &boot, 2, DEFAULT_PARTITION_BYTES)?;

    let total = guest
        .iter()
        .find(|line| line.starts_with("compute checksum="))
        .ok_or(format!("{what}: no `compute checksum=` line"))?;
    let checksum = field_u64(total, "checksum").ok_or(format!("{what}: bad line: {total}"))?;
    if checksum != expected_checksum {
        return Err(format!(
            "{what}: {total}: expected checksum={expected_checksum:#x}"
        ));
    }
    for (key, expected) in [
        ("cores", 2),
        ("memory", DEFAULT_PARTITION_BYTES),
        ("region", DEFAULT_PARTITION_BYTES),
    ] {
        if field_u64(total, key) != Some(expected) {
            return Err(format!("{what}: {total}: expected {key}={expected}"));
        }
    }

    let mut parts = [None, None];
    let mut intervals = Vec::new();
    for line in guest
        .iter()
        .filter(|line| line.starts_with("compute vcpu="))
    {
        let (Some(vcpu), Some(part), Some(sum), Some(start), Some(end)) = (
            field_u64(line, "vcpu"),
            field_u64(line, "part"),
            field_u64(line, "checksum"),
            field_u64(line, "start"),
            field_u64(line, "end"),
        ) else {
            return Err(format!("{what}: bad line: {line}"));
        };
        if vcpu != part || part > 1 || parts[part as usize].is_some() {
            return Err(format!("{what}: unexpected part line: {line}"));
        }
        parts[part as usize] = Some(sum);
        intervals.push((start, end));
    }
    let [Some(first), Some(second)] = parts else {
        return Err(format!(
            "{what}: expected one line per vCPU (parts 0 and 1), got {parts:?}"
        ));
    };
    if bulkhead_workload::combine(first, second) != checksum {
        return Err(format!(
            "{what}: part checksums {first:#x} + {second:#x} do not add up to {checksum:#x}"
        ));
    }
    Ok(ComputeReport {
        checksum,
        intervals,
    })
}

fn check_default(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let expected = bulkhead_workload::compute_checksum(DEFAULT_PARTITION_BYTES)
        .ok_or("no work area in the default partition size")?;
    // alpha owns no UART: its lines reach UART0 tagged, through its virtual console.
    let alpha_text: String = labelled_lines(&outcome.uart[0], "alpha")
        .map(|(_, text)| format!("{text}\n"))
        .collect();
    let alpha = compute_report("alpha (virtual console)", &alpha_text, expected)?;
    let beta = compute_report("beta (uart1)", &outcome.uart[1], expected)?;
    debug_assert_eq!(alpha.checksum, beta.checksum);
    // Concurrency: every part of both partitions was running at one instant
    // (the latest start precedes the earliest end on the shared counter).
    let all = alpha.intervals.iter().chain(&beta.intervals);
    let latest_start = all.clone().map(|(start, _)| *start).max().unwrap_or(0);
    let earliest_end = all.map(|(_, end)| *end).min().unwrap_or(0);
    if latest_start >= earliest_end {
        return Err(format!(
            "partitions did not run concurrently: latest start {latest_start} >= earliest end {earliest_end} \
             (alpha {:?}, beta {:?})",
            alpha.intervals, beta.intervals
        ));
    }
    Ok(())
}

fn check_isolation(outcome: &Outcome, policy: Stage2Fault) -> Result<(), String> {
    check_isolation_against(outcome, policy, &ATTACK_TARGETS)
}

/// The isolation checks with `targets` as the IPA each attacker reads (by
/// partition id): QEMU virt's [`ATTACK_TARGETS`], or another board's.
pub(crate) fn check_isolation_against(
    outcome: &Outcome,
    policy: Stage2Fault,
    targets: &[(&str, u64)],
) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let uart0 = &outcome.uart[0];
    for (uart, text) in outcome.uart.iter().enumerate() {
        if let Some(line) = lines(text).find(|line| line.contains("BREACH")) {
            return Err(format!("uart{uart}: {line}"));
        }
    }

    let (reports, other) = match policy {
        Stage2Fault::Deliver => (delivered_reports(uart0), stop_reports(uart0)),
        Stage2Fault::Stop => (stop_reports(uart0), delivered_reports(uart0)),
    };
    if let Some(report) = other.first() {
        return Err(format!("with {policy:?}, unexpected report {report:?}"));
    }
    for (index, (label, ipa)) in targets.iter().enumerate() {
        let about = format!("attacker id={index} about to read");
        if !labelled_lines(uart0, label).any(|(_, text)| text.starts_with(&about)) {
            return Err(format!("{label}: no `{about}` line on uart0"));
        }
        let mine: Vec<_> = reports.iter().filter(|r| r.label == *label).collect();
        let [report] = mine.as_slice() else {
            return Err(format!(
                "{label}: expected one {policy:?} report, got {mine:?}"
            ));
        };
        if policy == Stage2Fault::Deliver {
            // The attacker's own vectors saw a data abort from EL1 (EC 0x25,
            // DFSC 0x10 synchronous external abort) at the address it read.
            let seen = format!("guest exception: sync current-el spx esr=0x96000010 far={ipa:#x} ");
            if !labelled_lines(uart0, label).any(|(_, text)| text.starts_with(&seen)) {
                return Err(format!("{label}: no `[{label}] {seen}...` line on uart0"));
            }
        }
        if report.id != index as u64 || report.ipa != Some(*ipa) || !report.reason.contains("read")
        {
            return Err(format!(
                "{label}: report {report:?}, expected id {index}, a read abort at IPA {ipa:#x}"
            ));
        }
    }
    if reports.len() != targets.len() {
        return Err(format!(
            "expected {} {policy:?} reports, got {reports:?}",
            targets.len()
        ));
    }
    let last_report = reports.iter().map(|r| r.line_index).max().unwrap_or(0);

    // The victim's own UART: rising progress, one unchanging, correct checksum.
    let expected = bulkhead_workload::expected_checksum(0..bulkhead_workload::VICTIM_WORDS);
    let mut previous = 0;
    for line in own_lines(&outcome.uart[1]).filter(|line| line.starts_with("victim progress=")) {
        let (Some(progress), Some(checksum)) =
            (field_u64(line, "progress"), field_u64(line, "checksum"))
        else {
            return Err(format!("victim: bad line: {line}"));
        };
        if progress != previous + 1 {
            return Err(format!(
                "victim: progress {progress} after {previous}: {line}"
            ));
        }
        if checksum != expected {
            return Err(format!(
                "victim: checksum changed: {line}, expected {expected:#x}"
            ));
        }
        previous = progress;
    }
    let done = own_lines(&outcome.uart[1])
        .find(|line| line.starts_with("victim done"))
        .ok_or("victim: no `victim done` line on uart1")?;
    if field_u64(done, "progress") != Some(previous) || previous < 3 {
        return Err(format!("victim: {done} after {previous} progress lines"));
    }

    // Its mirror on UART0 orders it against the reports: still progressing
    // after the last. (Whether it printed before the first attack depends
    // on how the host schedules its vCPU threads in the first 200 ms, so it
    // is not asserted: a fresh-clone run under load saw it fail.)
    let mirror: Vec<(usize, u64)> = labelled_lines(uart0, "victim")
        .filter_map(|(index, text)| Some((index, field_u64(text, "progress")?)))
        .collect();
    let before = mirror
        .iter()
        .filter(|(index, _)| *index < last_report)
        .map(|(_, p)| *p)
        .max()
        .unwrap_or(0);
    let after = mirror
        .iter()
        .filter(|(index, _)| *index > last_report)
        .map(|(_, p)| *p)
        .max();
    match after {
        Some(after) if after > before => Ok(()),
        _ => Err(format!(
            "victim: progress did not rise after the last stop report (before {before}, after {after:?})"
        )),
    }
}

/// The result lines one boot of the `psci` guest must print.
const PSCI_RESULTS: [(&str, i64); 6] = [
    ("cpu_on_1", 0),
    ("affinity_info_1_on", 0),
    ("cpu_on_1_again", -4),
    ("cpu_on_2", -2),
    ("cpu_on_0x100", -2),
    ("affinity_info_1_off", 1),
];

fn check_psci(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let uart0 = &outcome.uart[0];
    let pilot: Vec<(usize, &str)> = labelled_lines(uart0, "pilot").collect();

    let boots: Vec<usize> = pilot
        .iter()
        .enumerate()
        .filter(|(_, (_, text))| text.starts_with("boot first_instruction_ticks="))
        .map(|(position, _)| position)
        .collect();
    if boots.len() != 2 {
        return Err(format!("pilot booted {} times, expected 2", boots.len()));
    }
    let mut second_boot_line = 0;
    for (boot, &first) in boots.iter().enumerate() {
        let end = boots.get(boot + 1).copied().unwrap_or(pilot.len());
        let section: Vec<&str> = pilot[first..end].iter().map(|(_, text)| *text).collect();
        let what = format!("pilot boot {}", boot + 1);
        let report = boot_report(section.iter().copied()).map_err(|e| format!("{what}: {e}"))?;
        expect_boot(&what, &report, 2, DEFAULT_PARTITION_BYTES)?;
        let count = format!("boot count={}", boot + 1);
        if !section.contains(&count.as_str()) {
            return Err(format!("{what}: no `{count}` line"));
        }
        let context = format!("secondary vcpu=1 context={PSCI_CONTEXT:#x}");
        if !section.contains(&context.as_str()) {
            return Err(format!("{what}: no `{context}` line"));
        }
        expect_results(&what, &results(section.iter().copied()), &PSCI_RESULTS)?;
        let last = if boot == 0 {
            "psci system_reset"
        } else {
            "psci system_off"
        };
        if !section.contains(&last) {
            return Err(format!("{what}: no `{last}` line"));
        }
        if boot == 1 {
            second_boot_line = pilot[first].0;
        }
    }

    let mut previous = 0;
    for line in own_lines(&outcome.uart[1]).filter(|line| line.starts_with("progress=")) {
        let progress = field_u64(line, "progress").ok_or(format!("bystander: bad line: {line}"))?;
        if progress != previous + 1 {
            return Err(format!("bystander: progress {progress} after {previous}"));
        }
        previous = progress;
    }
    if !own_lines(&outcome.uart[1]).any(|line| line.starts_with("bystander done")) {
        return Err("bystander: no `bystander done` line on uart1".into());
    }
    let mirror: Vec<usize> = labelled_lines(uart0, "bystander")
        .filter(|(_, text)| text.starts_with("progress="))
        .map(|(index, _)| index)
        .collect();
    let before = mirror.iter().any(|index| *index < second_boot_line);
    let after = mirror.iter().any(|index| *index > second_boot_line);
    if !(before && after) {
        return Err(format!(
            "bystander: progress on uart0 before pilot's reset: {before}, after: {after}"
        ));
    }
    Ok(())
}

/// What `hvc_args` must see, in order.
const HVC_ARGS_RESULTS: [(&str, i64); 12] = [
    ("console_write_outside", -2),
    ("console_write_overflow", -2),
    ("console_write_huge", -2),
    ("unknown_vendor", -1),
    ("unknown_owner", -1),
    ("smccc_version_hvc", 0x10001),
    ("smccc_version_smc", 0x10001),
    ("psci_version", 0x10001),
    ("psci_features_cpu_on", 0),
    ("psci_features_unknown", -1),
    ("vendor_version", 0x10000),
    ("console_write_valid", HVC_ARGS_VALID_TEXT.len() as i64),
];

fn check_hypercall_args(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let guest: Vec<&str> = own_lines(&outcome.uart[1]).collect();
    let boot = boot_report(guest.iter().copied()).map_err(|e| format!("caller: {e}"))?;
    expect_boot("caller", &boot, 1, 16 << 20)?;
    let seen = results(guest.iter().copied());
    expect_results("caller", &seen, &HVC_ARGS_RESULTS)?;
    let names: Vec<&str> = seen.iter().map(|(name, _)| *name).collect();
    let order: Vec<&str> = HVC_ARGS_RESULTS.iter().map(|(name, _)| *name).collect();
    if names != order {
        return Err(format!("caller: results out of order: {names:?}"));
    }
    if !guest.contains(&"still running after bad calls") {
        return Err("caller: no `still running after bad calls` line".into());
    }
    let text = HVC_ARGS_VALID_TEXT.trim_end();
    if !labelled_lines(&outcome.uart[0], "caller").any(|(_, line)| line == text) {
        return Err(format!("uart0: no `[caller] {text}` line"));
    }
    Ok(())
}

fn check_bad_layout_at_boot(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out || outcome.exit_code.is_none() {
        return Err("QEMU did not exit by itself after the layout was refused".into());
    }
    if outcome.check_errors.len() < 3 {
        return Err(format!(
            "host validator reported {} errors, expected at least 3: {:?}",
            outcome.check_errors.len(),
            outcome.check_errors
        ));
    }
    for property in ["cpus", "memory", "devices"] {
        let needle = format!(": {property}: ");
        if !outcome
            .check_errors
            .iter()
            .any(|line| line.contains(&needle))
        {
            return Err(format!(
                "host validator reported no `{property}` error: {:?}",
                outcome.check_errors
            ));
        }
    }
    let uart0: Vec<&str> = lines(&outcome.uart[0]).collect();
    for error in &outcome.check_errors {
        // Bulkhead may prefix its log lines; the error text itself must match.
        if !uart0
            .iter()
            .any(|line| line == error || line.ends_with(&format!(" {error}")))
        {
            return Err(format!("uart0 lacks the validator's line `{error}`"));
        }
    }
    for (uart, text) in outcome.uart.iter().enumerate() {
        if let Some(line) = lines(text).find(|line| line.contains("first_instruction_ticks=")) {
            return Err(format!(
                "a guest ran despite the bad layout: uart{uart}: {line}"
            ));
        }
    }
    if let Some(line) = lines(&outcome.uart[1]).find(|line| !line.trim().is_empty()) {
        return Err(format!("uart1 should be silent: {line}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

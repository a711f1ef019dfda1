//! The race scenarios: a partition's lifecycle (reset, fault, power-off, CPU_ON/CPU_OFF) against checkpoints and its manager, and two partitions in shared distributor words.
//!
//! Guests `race_target`, `race_manager`, `race_cpu_on_off` and `race_gicd`
//! take their role and figures from the layout's `bootargs` (mirrored by
//! the constants below). Every line but `gicd-q`'s goes through
//! CONSOLE_WRITE, so UART0 holds one stream in the order Bulkhead saw it.
//!
//! The checks hold whichever side wins each race: a manager's
//! CHECKPOINT_TAKE/RESTORE/STATUS returns within a bound with 0, BUSY
//! (-10) or DENIED (-3), so its heartbeat runs to the end; the raced
//! partition boots exactly once per reset (`/chosen/bulkhead,boot-count`
//! goes 1, 2, 3, ...) and finally powers off; a partition that is off or
//! stopped is DENIED from then on. A hypervisor that deadlocks hangs the
//! machine, and the check then says how far every partition got.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};

/// SMCCC results the checks name (as in `bulkhead-abi`, which this host
/// crate does not depend on).
pub mod code {
    pub const SUCCESS: i64 = 0;
    pub const DENIED: i64 = -3;
    pub const BUSY: i64 = -10;
}

/// Boots of the raced partition per scenario (mirror the layouts' `boots=`).
pub const TAKE_RESET_BOOTS: u64 = 10;
pub const FAULT_RESET_BOOTS: u64 = 6;
pub const RESET_BOTH_BOOTS: u64 = 30;
pub const PERIODIC_RESET_BOOTS: u64 = 8;
pub const LIFECYCLE_RESETTER_BOOTS: u64 = 6;
/// `race_take_vs_cpu_on`'s rounds (mirrors `rounds=`).
pub const TAKE_CPU_ON_ROUNDS: u64 = 200;
/// The longest a manager's call may take: the hypervisor's bound (about a
/// second) with room for a loaded host (the first checkpoint copies 16 MiB;
/// 1.2 s seen with the load average at 6 on 2 cores).
pub const LONGEST_CALL_US: u64 = 3_000_000;
/// Heartbeats after a partition went off or stopped that may still see it
/// running (the call was under way when it went).
pub const GRACE_HEARTBEATS: usize = 1;
/// Heartbeats that must follow, all DENIED.
pub const DENIED_AFTER: usize = 5;
/// Checkpoints `race_periodic_vs_reset`'s 1 ms interval must reach at the least.
pub const PERIODIC_MIN_TAKEN: u64 = 20;
/// `race_cpu_on_off`'s successful CPU_ONs (mirrors `starts=`).
pub const CPU_ON_STARTS: u64 = 5000;
/// `race_gicd`'s figures (mirror its bootargs and `REFIRES`).
pub const GICD_ITERATIONS: u64 = 2000;
pub const GICD_FINAL_BYTES: u64 = 200;
pub const GICD_REFIRES: u64 = 4;

/// Wall-time limit of each scenario: each runs in a few seconds; a
/// deadlocked hypervisor is killed here.
const TIMEOUT_SECS: u64 = 45;

/// Boot modules: the raced partition first, its manager second.
const TARGET_AND_MANAGER: &[Module] = &[
    Module {
        address: 0x4a00_0000,
        guest: "race_target",
    },
    Module {
        address: 0x4b00_0000,
        guest: "race_manager",
    },
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "race_reset_vs_take",
            description: "a partition checkpoints itself in a loop while its other vCPU resets it, 10 boots; its manager's CHECKPOINT_TAKE every 25 ms always returns and the heartbeat runs to the end",
            layout: "tests-qemu/layouts/race_reset_vs_take.dtso",
            modules: TARGET_AND_MANAGER,
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_reset_vs_take,
        },
        Scenario {
            name: "race_reset_vs_fault_restart",
            description: "one vCPU resets the partition as the other faults (on-fault = \"restart\"): one boot per round, 6 boots; the manager's heartbeat runs on",
            layout: "tests-qemu/layouts/race_reset_vs_fault_restart.dtso",
            modules: TARGET_AND_MANAGER,
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_reset_vs_fault_restart,
        },
        Scenario {
            name: "race_reset_vs_fault_restore",
            description: "one vCPU resets the partition as the other faults (on-fault = \"restore\"): rolled back or reset, one boot per round, 6 boots; the manager's heartbeat runs on",
            layout: "tests-qemu/layouts/race_reset_vs_fault_restore.dtso",
            modules: TARGET_AND_MANAGER,
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_reset_vs_fault_restore,
        },
        Scenario {
            name: "race_cpu_on_vs_off",
            description: "CPU_ON(1) in a loop while vCPU 1 switches itself off: only 0, ALREADY_ON or ON_PENDING, and vCPU 1 runs exactly once per successful CPU_ON, with its context",
            layout: "tests-qemu/layouts/race_cpu_on_vs_off.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "race_cpu_on_off" }],
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_cpu_on_vs_off,
        },
        Scenario {
            name: "race_psci_on_same_target",
            description: "three vCPUs CPU_ON the same target at once, 1,000 rounds: exactly one SUCCESS and two ALREADY_ON per round (as a synchronous PSCI answers), the target runs once per round with that round's context",
            layout: "tests-qemu/layouts/psci_on_race.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "psci_on_race" }],
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_psci_on_same_target,
        },
        Scenario {
            name: "race_take_vs_cpu_on",
            description: "a partition checkpoints itself right after CPU_ON(1) (the vCPU still on its way in) and restores that checkpoint, 200 rounds: vCPU 1 runs after every restore",
            layout: "tests-qemu/layouts/race_take_vs_cpu_on.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "race_target" }],
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_take_vs_cpu_on,
        },
        Scenario {
            name: "race_reset_both",
            description: "both vCPUs call SYSTEM_RESET at once, 30 rounds: exactly one reset per round (the boot count rises by one), CPU_ON(1) succeeds on every boot; the manager's heartbeat runs on",
            layout: "tests-qemu/layouts/race_reset_both.dtso",
            modules: TARGET_AND_MANAGER,
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_reset_both,
        },
        Scenario {
            name: "race_periodic_vs_reset",
            description: "checkpoints every 1 ms while the partition resets itself every 60 ms and its manager takes and restores it every 20 ms: every call returns a documented code, the partition reaches its last boot",
            layout: "tests-qemu/layouts/race_periodic_vs_reset.dtso",
            modules: TARGET_AND_MANAGER,
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_periodic_vs_reset,
        },
        Scenario {
            name: "race_manager_vs_lifecycle",
            description: "a manager takes, restores and queries three partitions that reset, fault (on-fault = \"stop\") and power off: its heartbeat runs on, and a stopped or off partition is DENIED from then on",
            layout: "tests-qemu/layouts/race_manager_vs_lifecycle.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "race_manager" },
                Module { address: 0x4b00_0000, guest: "race_target" },
                Module { address: 0x4c00_0000, guest: "race_target" },
                Module { address: 0x4d00_0000, guest: "race_target" },
            ],
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_manager_vs_lifecycle,
        },
        Scenario {
            name: "race_gicd_shared_words",
            description: "two partitions reconfigure their UART SPIs (33, 40) 2000 times at once through shared GICD words: every readback matches, and the physical trigger mode shows in each loopback byte's interrupt count",
            layout: "tests-qemu/layouts/race_gicd_shared_words.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "race_gicd" },
                Module { address: 0x4b00_0000, guest: "race_gicd" },
            ],
            timeout_secs: TIMEOUT_SECS,
            icount: false,
            check: check_gicd_shared_words,
        },
    ]
}

/// One `manager heartbeat=` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat<'a> {
    /// Its line index on UART0.
    pub line: usize,
    pub text: &'a str,
    pub number: u64,
    pub target: u64,
    pub take: Option<i64>,
    pub restore: Option<i64>,
    pub status: Option<i64>,
}

impl Heartbeat<'_> {
    /// The calls this heartbeat made on its target, with their results.
    fn calls(&self) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        [
            ("take", self.take),
            ("restore", self.restore),
            ("status", self.status),
        ]
        .into_iter()
        .filter_map(|(op, code)| Some((op, code?)))
    }
}

/// A signed `key=` value.
fn field_i64(line: &str, key: &str) -> Option<i64> {
    number(field(line, key)?).and_then(|n| i64::try_from(n).ok())
}

fn heartbeats<'a>(lines: &[(usize, &'a str)]) -> Result<Vec<Heartbeat<'a>>, String> {
    lines
        .iter()
        .filter(|(_, text)| text.starts_with("manager heartbeat="))
        .map(|&(line, text)| {
            let bad = || format!("manager: bad line `{text}`");
            Ok(Heartbeat {
                line,
                text,
                number: field_u64(text, "heartbeat").ok_or_else(bad)?,
                target: field_u64(text, "target").ok_or_else(bad)?,
                take: field_i64(text, "take"),
                restore: field_i64(text, "restore"),
                status: field_i64(text, "status"),
            })
        })
        .collect()
}

/// What a manager of a scenario was told to do (mirrors its bootargs).
struct ManagerSpec {
    targets: &'static [u64],
    ops: &'static [&'static str],
    /// Heartbeats at the least (`heartbeats=`); it goes on until its
    /// targets are DENIED for good (`until-denied=`).
    heartbeats: u64,
}

/// The manager called every op on every target on each of its heartbeats,
/// each call returned 0, BUSY or DENIED within [`LONGEST_CALL_US`], and
/// its `done` line agrees: it stopped because its targets were gone (or
/// after its count), not at its cap. Returns its heartbeats.
fn expect_manager<'a>(
    outcome: &'a Outcome,
    spec: &ManagerSpec,
) -> Result<Vec<Heartbeat<'a>>, String> {
    let lines = guest_lines(outcome, "manager");
    let beats = heartbeats(&lines)?;
    let per_beat = spec.targets.len();
    for (index, beat) in beats.iter().enumerate() {
        let (number, target) = (
            (index / per_beat) as u64 + 1,
            spec.targets[index % per_beat],
        );
        if beat.number != number || beat.target != target {
            return Err(format!(
                "manager: `{}` where heartbeat={number} target={target} was due",
                beat.text
            ));
        }
        let ops: Vec<&str> = beat.calls().map(|(op, _)| op).collect();
        if ops != spec.ops {
            return Err(format!(
                "manager: `{}`: calls {ops:?}, expected {:?}",
                beat.text, spec.ops
            ));
        }
        if let Some((op, result)) = beat
            .calls()
            .find(|(_, result)| ![code::SUCCESS, code::BUSY, code::DENIED].contains(result))
        {
            return Err(format!(
                "manager: `{}`: {op}={result} is none of 0, BUSY (-10), DENIED (-3)",
                beat.text
            ));
        }
    }
    let last = beats.last().map_or("none", |beat| beat.text);
    let Some((_, done)) = lines
        .iter()
        .find(|(_, text)| text.starts_with("manager done "))
    else {
        return Err(format!(
            "manager: heartbeat stopped after {} calls on targets (last: `{last}`), no `manager done` line",
            beats.len()
        ));
    };
    let count = (beats.len() / per_beat) as u64;
    if beats.len() % per_beat != 0 || count < spec.heartbeats {
        return Err(format!(
            "manager: `{done}` after {} heartbeat lines for {per_beat} target(s), expected at least {} heartbeats",
            beats.len(),
            spec.heartbeats
        ));
    }
    match field(done, "reason") {
        Some("denied" | "count") => {}
        _ => {
            return Err(format!(
                "manager: `{done}`: it gave up before its targets were gone (last: `{last}`)"
            ))
        }
    }
    let results: Vec<i64> = beats
        .iter()
        .flat_map(|beat| beat.calls().map(|(_, result)| result))
        .collect();
    let tally = |wanted: i64| results.iter().filter(|&&r| r == wanted).count() as u64;
    expect_fields(
        "manager",
        done,
        &[
            ("heartbeats", count),
            ("ok", tally(code::SUCCESS)),
            ("busy", tally(code::BUSY)),
            ("denied", tally(code::DENIED)),
            ("other", 0),
        ],
    )?;
    let longest = field_u64(done, "longest_call_us")
        .ok_or(format!("manager: `{done}`: no longest_call_us="))?;
    if longest > LONGEST_CALL_US {
        return Err(format!(
            "manager: `{done}`: a call took {longest} us, more than {LONGEST_CALL_US}"
        ));
    }
    Ok(beats)
}

/// The only line of `lines` starting with `prefix`.
fn single<'a>(
    what: &str,
    lines: &[(usize, &'a str)],
    prefix: &str,
) -> Result<(usize, &'a str), String> {
    let found: Vec<&(usize, &str)> = lines
        .iter()
        .filter(|(_, text)| text.starts_with(prefix))
        .collect();
    match found.as_slice() {
        [line] => Ok(**line),
        [] => Err(format!("{what}: no `{prefix}` line")),
        many => Err(format!(
            "{what}: {} `{prefix}` lines, expected one",
            many.len()
        )),
    }
}

/// A `race boot=<b> <event> ...` line of a `race_target` partition.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event<'a> {
    line: usize,
    text: &'a str,
    boot: u64,
    event: &'a str,
}

fn events<'a>(lines: &[(usize, &'a str)]) -> Vec<Event<'a>> {
    lines
        .iter()
        .filter_map(|&(line, text)| {
            let rest = text.strip_prefix("race boot=")?;
            let (boot, rest) = rest.split_once(' ')?;
            Some(Event {
                line,
                text,
                boot: boot.parse().ok()?,
                event: rest.split_whitespace().next()?,
            })
        })
        .collect()
}

fn of_kind<'a>(events: &[Event<'a>], kind: &str) -> Vec<Event<'a>> {
    events.iter().filter(|e| e.event == kind).copied().collect()
}

/// The boot numbers of the `start` lines, in order.
fn boots(events: &[Event]) -> Vec<u64> {
    of_kind(events, "start").iter().map(|e| e.boot).collect()
}

/// Boots went 1, 2, ..., `last`: one boot per reset, none lost or doubled.
fn expect_consecutive_boots(what: &str, events: &[Event], last: u64) -> Result<(), String> {
    let seen = boots(events);
    let expected: Vec<u64> = (1..=last).collect();
    if seen != expected {
        return Err(format!(
            "{what}: boot counts {seen:?}, expected 1..={last} (one boot per reset)"
        ));
    }
    Ok(())
}

/// Every `armed` line says CPU_ON(1) returned 0; returns how many there were per boot.
fn expect_armed(what: &str, events: &[Event]) -> Result<Vec<(u64, usize)>, String> {
    let armed = of_kind(events, "armed");
    if let Some(bad) = armed
        .iter()
        .find(|e| field_i64(e.text, "cpu_on") != Some(code::SUCCESS))
    {
        return Err(format!(
            "{what}: `{}`: CPU_ON(1) on a fresh boot must return 0",
            bad.text
        ));
    }
    let mut per_boot: Vec<(u64, usize)> = Vec::new();
    for event in armed {
        match per_boot.last_mut() {
            Some((boot, count)) if *boot == event.boot => *count += 1,
            _ => per_boot.push((event.boot, 1)),
        }
    }
    Ok(per_boot)
}

/// How often each boot of `boots` may print its `armed` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Armed {
    /// Once: vCPU 1 only acts after vCPU 0 printed it.
    Once,
    /// At most once: vCPU 1 may reset the partition before vCPU 0 got to
    /// print (a long checkpoint pause right after CPU_ON delays both).
    AtMostOnce,
    /// Any number: rollbacks to a checkpoint before CPU_ON repeat it.
    Any,
}

/// Every `armed` line says CPU_ON(1) returned 0, and each boot in `boots`
/// printed it as often as `armed` allows.
fn expect_armed_each(
    what: &str,
    events: &[Event],
    boots: std::ops::RangeInclusive<u64>,
    armed: Armed,
) -> Result<(), String> {
    let per_boot = expect_armed(what, events)?;
    for boot in boots {
        let count = per_boot
            .iter()
            .filter(|(b, _)| *b == boot)
            .map(|(_, c)| c)
            .sum::<usize>();
        let fine = match armed {
            Armed::Once => count == 1,
            Armed::AtMostOnce => count <= 1,
            Armed::Any => true,
        };
        if !fine {
            return Err(format!(
                "{what}: boot {boot} armed vCPU 1 {count} times, expected {armed:?}"
            ));
        }
    }
    Ok(())
}

/// How far each partition got, for reports of a run that did not end well:
/// its boots, its last line, and Bulkhead's last line about it.
fn progress(outcome: &Outcome, labels: &[&str]) -> String {
    let mut parts = Vec::new();
    for label in labels {
        let guest = guest_lines(outcome, label);
        let boots = boots(&events(&guest));
        let mut part = format!("{label}: ");
        if !boots.is_empty() {
            part += &format!("boots {boots:?}, ");
        }
        part += &format!(
            "last `{}`",
            guest.last().map_or("nothing", |(_, text)| *text)
        );
        let about = format!("partition {label} ");
        if let Some(line) = lines(&outcome.uart[0])
            .filter(|l| l.starts_with("bulkhead:") && l.contains(&about))
            .last()
        {
            part += &format!(", Bulkhead's last about it `{line}`");
        }
        parts.push(part);
    }
    parts.join("; ")
}

/// No fatal line, no dropped console output (the checks count lines), no
/// guest error, no timeout, exit code 0; failures say how far `labels` got.
fn expect_finished(outcome: &Outcome, labels: &[&str]) -> Result<(), String> {
    for (uart, text) in outcome.uart.iter().enumerate() {
        if let Some(line) = lines(text).find(|line| line.contains("bulkhead: fatal")) {
            return Err(format!("uart{uart}: {line}"));
        }
    }
    if let Some(line) = lines(&outcome.uart[0])
        .find(|line| line.starts_with("bulkhead: console:") && line.contains("dropped"))
    {
        return Err(format!(
            "Bulkhead dropped console output, so lines the check counts may be missing: `{line}`"
        ));
    }
    if let Err(error) = expect_no_guest_errors(outcome) {
        return Err(format!("{error} ({})", progress(outcome, labels)));
    }
    if outcome.timed_out {
        return Err(format!(
            "timed out: a core hung or a partition never finished: {}",
            progress(outcome, labels)
        ));
    }
    expect_clean_exit(outcome).map_err(|error| format!("{error} ({})", progress(outcome, labels)))
}

/// The manager kept beating while `events` happened: at least one
/// heartbeat between the first and the last boot, and one after the
/// partition's last line.
fn expect_heartbeats_across(
    beats: &[Heartbeat],
    target: u64,
    events: &[Event],
) -> Result<(), String> {
    let starts = of_kind(events, "start");
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Err("no boot to compare the heartbeat with".into());
    };
    let end = events.last().map_or(last.line, |e| e.line);
    let mine = || beats.iter().filter(|b| b.target == target);
    if !mine().any(|b| b.line > first.line && b.line < last.line) {
        return Err(format!(
            "manager: no heartbeat while the partition went from boot {} to boot {}",
            first.boot, last.boot
        ));
    }
    if !mine().any(|b| b.line > end) {
        return Err("manager: no heartbeat after the partition's last line".into());
    }
    Ok(())
}

/// The managers of the scenarios (mirror the layouts' bootargs). Each
/// runs until its targets have been DENIED for as many heartbeats again,
/// so it outlasts them however slow the host is.
const TAKE_RESET_MANAGER: ManagerSpec = ManagerSpec {
    targets: &[0],
    ops: &["take"],
    heartbeats: 40,
};
const FAULT_RESET_MANAGER: ManagerSpec = ManagerSpec {
    targets: &[0],
    ops: &["take"],
    heartbeats: 40,
};
const RESET_BOTH_MANAGER: ManagerSpec = ManagerSpec {
    targets: &[0],
    ops: &["take"],
    heartbeats: 50,
};
const PERIODIC_MANAGER: ManagerSpec = ManagerSpec {
    targets: &[0],
    ops: &["take", "restore"],
    heartbeats: 50,
};
const LIFECYCLE_MANAGER: ManagerSpec = ManagerSpec {
    targets: &[1, 2, 3],
    ops: &["take", "restore", "status"],
    heartbeats: 50,
};

fn check_reset_vs_take(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["manager", "target"])?;
    let beats = expect_manager(outcome, &TAKE_RESET_MANAGER)?;
    let lines = guest_lines(outcome, "target");
    let events = events(&lines);
    let last = TAKE_RESET_BOOTS;
    expect_consecutive_boots("target", &events, last)?;
    expect_armed_each("target", &events, 1..=last, Armed::AtMostOnce)?;
    let mut takes = 0;
    for boot in 1..=last {
        let kind = if boot == last { "off" } else { "reset" };
        let ends: Vec<Event> = of_kind(&events, kind)
            .into_iter()
            .filter(|e| e.boot == boot)
            .collect();
        let [end] = ends.as_slice() else {
            return Err(format!(
                "target: boot {boot}: {} `{kind}` lines, expected one",
                ends.len()
            ));
        };
        // vCPU 1's line: CPU_ON(1) worked on this boot, whether or not
        // vCPU 0 got to print its `armed` line.
        expect_fields(
            "target",
            end.text,
            &[("vcpu", 1), ("takes_denied", 0), ("takes_other", 0)],
        )?;
        takes += field_u64(end.text, "takes_ok").unwrap_or(0);
    }
    if takes == 0 {
        return Err("target: vCPU 0 never completed a CHECKPOINT_TAKE of itself".into());
    }
    if !beats.iter().any(|b| b.take == Some(code::SUCCESS)) {
        return Err("manager: no CHECKPOINT_TAKE of the target succeeded".into());
    }
    expect_heartbeats_across(&beats, 0, &events)
}

/// The `fault-reset` rounds: boots 1..=last, each arming vCPU 1, the last
/// powering off; rolled back (`restored` lines) only with `restore`.
fn check_reset_vs_fault(outcome: &Outcome, restore: bool) -> Result<(), String> {
    expect_finished(outcome, &["manager", "target"])?;
    let beats = expect_manager(outcome, &FAULT_RESET_MANAGER)?;
    let lines = guest_lines(outcome, "target");
    let events = events(&lines);
    let last = FAULT_RESET_BOOTS;
    expect_consecutive_boots("target", &events, last)?;
    let restored = of_kind(&events, "restored");
    if let (false, Some(line)) = (restore, restored.first()) {
        return Err(format!(
            "target: `{}` although on-fault = \"restart\"",
            line.text
        ));
    }
    let armed = if restore {
        Armed::Any
    } else {
        Armed::AtMostOnce
    };
    expect_armed_each("target", &events, 1..=last - 1, armed)?;
    if !of_kind(&events, "off").iter().any(|e| e.boot == last) {
        return Err(format!("target: no `race boot={last} off` line"));
    }
    if let Some(report) = stop_reports(&outcome.uart[0])
        .iter()
        .find(|r| r.label == "target")
    {
        return Err(format!(
            "target was stopped (`{}`), expected a {}",
            report.reason,
            if restore {
                "rollback or reset"
            } else {
                "restart"
            }
        ));
    }
    expect_heartbeats_across(&beats, 0, &events)
}

fn check_reset_vs_fault_restart(outcome: &Outcome) -> Result<(), String> {
    check_reset_vs_fault(outcome, false)
}

fn check_reset_vs_fault_restore(outcome: &Outcome) -> Result<(), String> {
    check_reset_vs_fault(outcome, true)
}

fn check_cpu_on_vs_off(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["pilot"])?;
    let lines = guest_lines(outcome, "pilot");
    let (_, line) = single("pilot", &lines, "cpu_on_off attempts=")?;
    let value = |key: &str| field_u64(line, key).ok_or(format!("pilot: `{line}`: no {key}="));
    expect_fields(
        "pilot",
        line,
        &[
            ("ok", CPU_ON_STARTS),
            ("other", 0),
            ("runs", CPU_ON_STARTS),
            ("affinity", 1),
            ("affinity_other", 0),
            ("cpu_off_returned", 0),
        ],
    )?;
    let sums = (value("context_sum")?, value("run_context_sum")?);
    if sums.0 != sums.1 {
        return Err(format!(
            "pilot: `{line}`: vCPU 1 did not run with the contexts CPU_ON gave it"
        ));
    }
    let accounted = value("ok")? + value("already_on")? + value("on_pending")? + value("other")?;
    if accounted != value("attempts")? {
        return Err(format!(
            "pilot: `{line}`: the results do not add up to the attempts"
        ));
    }
    Ok(())
}

fn check_take_vs_cpu_on(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["target"])?;
    let lines = guest_lines(outcome, "target");
    let (_, line) = single("target", &lines, "race boot=1 take_cpu_on ")?;
    expect_fields(
        "target",
        line,
        &[
            ("lost", 0),
            ("stuck", 0),
            ("cpu_on_other", 0),
            ("rounds", TAKE_CPU_ON_ROUNDS),
        ],
    )
    .map_err(|error| {
        format!("{error}: a restore must start a vCPU that CPU_ON had started (lost = rounds after which vCPU 1 never ran)")
    })
}

fn check_reset_both(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["manager", "target"])?;
    let beats = expect_manager(outcome, &RESET_BOTH_MANAGER)?;
    let lines = guest_lines(outcome, "target");
    let events = events(&lines);
    expect_consecutive_boots("target", &events, RESET_BOTH_BOOTS)?;
    expect_armed_each("target", &events, 1..=RESET_BOTH_BOOTS, Armed::Once)?;
    expect_heartbeats_across(&beats, 0, &events)
}

/// A partition that its manager also restores may be rolled back into an
/// earlier boot (a checkpoint outlives a reset), so only this holds: its
/// last `off` line is on its last boot or later, nothing but that boot's
/// `armed` line (vCPU 0 may print it after vCPU 1 switched the partition
/// off) follows it, and there were at least `last - 1` resets, less one per
/// restore (`restores`: Bulkhead's `restored to checkpoint` lines for it).
/// Returns the line of that `off`.
fn expect_reaches_last_boot(
    what: &str,
    events: &[Event],
    last: u64,
    restores: u64,
) -> Result<usize, String> {
    let Some(off) = of_kind(events, "off").last().copied() else {
        return Err(format!("{what}: no `race boot=<b> off` line"));
    };
    if off.boot < last {
        return Err(format!(
            "{what}: `{}`: powered off before boot {last}",
            off.text
        ));
    }
    if let Some(after) = events
        .iter()
        .find(|e| e.line > off.line && !(e.event == "armed" && e.boot == off.boot))
    {
        return Err(format!(
            "{what}: `{}` after its power-off `{}`",
            after.text, off.text
        ));
    }
    // A restore into an earlier boot, after its `reset` line and before its
    // SYSTEM_RESET, ends the boot it interrupted without that boot's line:
    // each restore can hide at most one.
    let resets = of_kind(events, "reset").len() as u64;
    if resets + 1 + restores < last {
        return Err(format!(
            "{what}: {resets} `reset` lines and {restores} restores, expected at least {} resets",
            (last - 1).saturating_sub(restores)
        ));
    }
    Ok(off.line)
}

/// How many times Bulkhead reported restoring partition `label`.
fn restores_of(outcome: &Outcome, label: &str) -> u64 {
    let line = format!("bulkhead: partition {label} restored to checkpoint ");
    outcome.uart[0]
        .lines()
        .filter(|text| text.starts_with(&line))
        .count() as u64
}

fn check_periodic_vs_reset(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["manager", "target"])?;
    let beats = expect_manager(outcome, &PERIODIC_MANAGER)?;
    let lines = guest_lines(outcome, "target");
    let events = events(&lines);
    expect_armed("target", &events)?;
    let restores = restores_of(outcome, "target");
    expect_reaches_last_boot("target", &events, PERIODIC_RESET_BOOTS, restores)?;
    let taken = events
        .iter()
        .filter_map(|e| field_u64(e.text, "taken"))
        .max()
        .unwrap_or(0);
    if taken < PERIODIC_MIN_TAKEN {
        return Err(format!(
            "target: {taken} checkpoints taken, expected at least {PERIODIC_MIN_TAKEN} at interval-ms = <1>"
        ));
    }
    for op in ["take", "restore"] {
        let succeeded = beats
            .iter()
            .flat_map(|b| b.calls())
            .any(|(o, result)| o == op && result == code::SUCCESS);
        if !succeeded {
            return Err(format!("manager: no {op} of the running target returned 0"));
        }
    }
    expect_heartbeats_across(&beats, 0, &events)
}

/// From the [`GRACE_HEARTBEATS`]+1st heartbeat after line `gone` on,
/// every take and restore of `target` is DENIED and every status 0 or
/// DENIED, for at least [`DENIED_AFTER`] heartbeats; before it, at least
/// one take of it returned 0.
fn expect_denied_after(
    what: &str,
    beats: &[Heartbeat],
    target: u64,
    gone: usize,
) -> Result<(), String> {
    let mine: Vec<&Heartbeat> = beats.iter().filter(|b| b.target == target).collect();
    if !mine
        .iter()
        .any(|b| b.line < gone && b.take == Some(code::SUCCESS))
    {
        return Err(format!(
            "manager: no take of {what} returned 0 while it was running"
        ));
    }
    let after: Vec<&&Heartbeat> = mine
        .iter()
        .filter(|b| b.line > gone)
        .skip(GRACE_HEARTBEATS)
        .collect();
    if after.len() < DENIED_AFTER {
        return Err(format!(
            "manager: only {} heartbeats on {what} after it was gone, expected {DENIED_AFTER}",
            after.len()
        ));
    }
    for beat in after {
        let denied = beat.calls().all(|(op, result)| {
            result == code::DENIED || (op == "status" && result == code::SUCCESS)
        });
        if !denied {
            return Err(format!(
                "manager: `{}`: {what} is gone, expected DENIED (status may be 0)",
                beat.text
            ));
        }
    }
    Ok(())
}

fn check_manager_vs_lifecycle(outcome: &Outcome) -> Result<(), String> {
    let labels = ["manager", "resetter", "faulter", "quitter"];
    expect_finished(outcome, &labels)?;
    let beats = expect_manager(outcome, &LIFECYCLE_MANAGER)?;

    let resetter = events(&guest_lines(outcome, "resetter"));
    let restores = restores_of(outcome, "resetter");
    let off = expect_reaches_last_boot("resetter", &resetter, LIFECYCLE_RESETTER_BOOTS, restores)?;
    expect_heartbeats_across(&beats, 1, &resetter)?;
    expect_denied_after("resetter", &beats, 1, off)?;

    let faulter = events(&guest_lines(outcome, "faulter"));
    let faulting = match faulter.last() {
        Some(e) if e.event == "faulting" => e.line,
        other => {
            return Err(format!(
                "faulter: last line {:?}, expected `race boot=1 faulting vcpu=0`",
                other.map(|e| e.text)
            ))
        }
    };
    let report = lines(&outcome.uart[0])
        .enumerate()
        .find(|(at, line)| {
            *at > faulting
                && line.starts_with("bulkhead: partition faulter ")
                && line.contains("stopped")
        })
        .map(|(at, _)| at)
        .ok_or("faulter: no `bulkhead: partition faulter ... stopped` report after it faulted")?;
    expect_denied_after("faulter", &beats, 2, report)?;

    let quitter = events(&guest_lines(outcome, "quitter"));
    let off = match quitter.last() {
        Some(e) if e.event == "off" => e.line,
        other => {
            return Err(format!(
                "quitter: last line {:?}, expected `race boot=1 off vcpu=0`",
                other.map(|e| e.text)
            ))
        }
    };
    expect_denied_after("quitter", &beats, 3, off)
}

/// One `gicd loop` or `gicd final` line: every readback matched, nothing
/// foreign showed, every byte came back with its expected interrupt count.
fn expect_gicd_phase(
    what: &str,
    lines: &[&str],
    phase: &str,
    mode: &str,
    bytes: u64,
    expected_interrupts: u64,
) -> Result<(), String> {
    let prefix = format!("gicd {phase} ");
    let found: Vec<&&str> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
    let [line] = found.as_slice() else {
        return Err(format!(
            "{what}: {} `{prefix}` lines, expected one",
            found.len()
        ));
    };
    if field(line, "mode") != Some(mode) {
        return Err(format!("{what}: `{line}`: expected mode={mode}"));
    }
    expect_fields(
        what,
        line,
        &[
            ("iterations", bytes),
            ("readback_mismatches", 0),
            ("foreign_visible", 0),
            ("bytes", bytes),
            ("matched", bytes),
            ("interrupts", expected_interrupts),
            ("expected_interrupts", expected_interrupts),
            ("count_mismatches", 0),
        ],
    )
}

/// What one `race_gicd` partition must report: the loop alternates
/// level (REFIRES interrupts per byte) and edge (one), starting with either.
fn expect_gicd(what: &str, lines: &[&str], final_mode: &str) -> Result<(), String> {
    let loop_interrupts = GICD_ITERATIONS / 2 * (GICD_REFIRES + 1);
    expect_gicd_phase(
        what,
        lines,
        "loop",
        "alternating",
        GICD_ITERATIONS,
        loop_interrupts,
    )?;
    let per_byte = if final_mode == "level" {
        GICD_REFIRES
    } else {
        1
    };
    expect_gicd_phase(
        what,
        lines,
        "final",
        final_mode,
        GICD_FINAL_BYTES,
        GICD_FINAL_BYTES * per_byte,
    )?;
    let done = lines
        .iter()
        .find(|l| l.starts_with("gicd done"))
        .ok_or(format!("{what}: no `gicd done` line"))?;
    expect_fields(what, done, &[("foreign_bytes", 0)])
}

fn check_gicd_shared_words(outcome: &Outcome) -> Result<(), String> {
    expect_finished(outcome, &["gicd-p"])?;
    let p: Vec<&str> = guest_lines(outcome, "gicd-p")
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    expect_gicd("gicd-p (uart0)", &p, "level")?;
    let q: Vec<&str> = own_lines(&outcome.uart[1]).collect();
    expect_gicd("gicd-q (uart1)", &q, "edge")
}

/// Rounds of `psci_on_race` (mirror `psci_on_race.rs`).
pub const PSCI_RACE_ROUNDS: u64 = 1000;

fn check_psci_on_same_target(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let lines = guest_lines(outcome, "racer");
    let (_, line) = find("racer", &lines, "psci race rounds=")?;
    let rounds = PSCI_RACE_ROUNDS;
    expect_fields(
        "racer",
        line,
        &[
            ("rounds", rounds),
            ("success", rounds),
            ("already_on", 2 * rounds),
            ("other", 0),
            ("bad_rounds", 0),
            ("target_runs", rounds),
            ("context_sum", rounds * (rounds + 1) / 2),
        ],
    )
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

    fn boot_lines(label: &str, vcpus: u64) -> String {
        format!(
            "[{label}] boot first_instruction_ticks=1234 cntfrq=62500000\n\
             [{label}] partition id=0 vcpus={vcpus} memory=16777216\n\
             [{label}] dt cpus={vcpus} memory=16777216\n"
        )
    }

    /// A manager's heartbeats with results from `result(heartbeat, target,
    /// op)`, interleaved with `events` (each placed after heartbeat n), and its done line.
    fn manager_run(
        spec: &ManagerSpec,
        events: &[(u64, String)],
        result: impl Fn(u64, u64, &str) -> i64,
    ) -> String {
        let mut text = boot_lines("manager", 1);
        let mut tally = [0u64; 4];
        for (_, line) in events.iter().filter(|(after, _)| *after == 0) {
            text += line;
        }
        for n in 1..=spec.heartbeats {
            for &target in spec.targets {
                text += &format!("[manager] manager heartbeat={n} target={target}");
                for op in spec.ops {
                    let code = result(n, target, op);
                    tally[match code {
                        code::SUCCESS => 0,
                        code::BUSY => 1,
                        code::DENIED => 2,
                        _ => 3,
                    }] += 1;
                    text += &format!(" {op}={code}");
                }
                text += "\n";
            }
            for (_, line) in events.iter().filter(|(after, _)| *after == n) {
                text += line;
            }
        }
        text + &format!(
            "[manager] manager done heartbeats={} reason=denied ok={} busy={} denied={} other={} first_other=0 longest_call_us=1200\n",
            spec.heartbeats, tally[0], tally[1], tally[2], tally[3]
        )
    }

    /// The target's lines of `take-reset` boots `boots`, one boot per 2 heartbeats from heartbeat 1.
    fn take_reset_events(boots: &[u64], last: u64) -> Vec<(u64, String)> {
        let mut events = Vec::new();
        for (i, &boot) in boots.iter().enumerate() {
            let kind = if boot == last { "off" } else { "reset" };
            events.push((
                1 + 2 * i as u64,
                format!(
                    "{}[target] race boot={boot} start mode=take-reset\n\
                     [target] race boot={boot} armed cpu_on=0\n",
                    boot_lines("target", 2)
                ),
            ));
            events.push((
                2 + 2 * i as u64,
                format!(
                    "[target] race boot={boot} {kind} vcpu=1 takes_ok=40 takes_busy=3 takes_denied=0 \
                     takes_other=0 first_other=0 restored=0\n"
                ),
            ));
        }
        events
    }

    fn take_result(n: u64, _target: u64, _op: &str) -> i64 {
        match n % 7 {
            0 => code::BUSY,
            3 => code::DENIED,
            _ => code::SUCCESS,
        }
    }

    #[test]
    fn reset_vs_take_needs_every_boot_and_the_whole_heartbeat() {
        let all: Vec<u64> = (1..=TAKE_RESET_BOOTS).collect();
        let good = manager_run(
            &TAKE_RESET_MANAGER,
            &take_reset_events(&all, TAKE_RESET_BOOTS),
            take_result,
        );
        assert_eq!(check_reset_vs_take(&outcome(&good)), Ok(()));

        // The heartbeat stops (the manager hangs in EL2) and QEMU is killed.
        let cut = good
            .find("[manager] manager heartbeat=30 ")
            .map(|at| &good[..at])
            .unwrap();
        let mut hung = outcome(cut);
        hung.timed_out = true;
        hung.exit_code = None;
        let error = check_reset_vs_take(&hung).unwrap_err();
        assert!(
            error.contains("timed out") && error.contains("heartbeat=29"),
            "{error}"
        );

        let other = manager_run(
            &TAKE_RESET_MANAGER,
            &take_reset_events(&all, TAKE_RESET_BOOTS),
            |n, t, op| if n == 5 { -6 } else { take_result(n, t, op) },
        );
        assert!(check_reset_vs_take(&outcome(&other))
            .unwrap_err()
            .contains("take=-6"));

        let mut skipped = all.clone();
        skipped.remove(3);
        let double = manager_run(
            &TAKE_RESET_MANAGER,
            &take_reset_events(&skipped, TAKE_RESET_BOOTS),
            take_result,
        );
        assert!(check_reset_vs_take(&outcome(&double))
            .unwrap_err()
            .contains("boot counts"));

        let already_on = good.replacen(
            "race boot=2 armed cpu_on=0",
            "race boot=2 armed cpu_on=-4",
            1,
        );
        assert!(check_reset_vs_take(&outcome(&already_on))
            .unwrap_err()
            .contains("cpu_on=-4"));

        let denied_self = good.replacen("takes_denied=0", "takes_denied=2", 1);
        assert!(check_reset_vs_take(&outcome(&denied_self)).is_err());

        let capped = good.replace("reason=denied", "reason=cap");
        assert!(check_reset_vs_take(&outcome(&capped))
            .unwrap_err()
            .contains("gave up"));

        let dropped = good.clone() + "bulkhead: console: 120 bytes dropped\n";
        assert!(check_reset_vs_take(&outcome(&dropped))
            .unwrap_err()
            .contains("dropped"));

        let fatal = good.clone() + "bulkhead: fatal: panic: oops\n";
        assert!(check_reset_vs_take(&outcome(&fatal))
            .unwrap_err()
            .contains("fatal"));
    }

    fn fault_events(boots: &[u64], restored_in: Option<u64>) -> Vec<(u64, String)> {
        let mut events = Vec::new();
        for (i, &boot) in boots.iter().enumerate() {
            let mut text = format!(
                "{}[target] race boot={boot} start mode=fault-reset\n",
                boot_lines("target", 2)
            );
            if boot == FAULT_RESET_BOOTS {
                text += &format!("[target] race boot={boot} off vcpu=0\n");
            } else {
                text += &format!("[target] race boot={boot} armed cpu_on=0 restored=0\n");
                text += "bulkhead: partition target (id 0) faulted (on-fault = restart: booting its image again): stage-2 data abort (read) at IPA 0x70000000\n";
                if restored_in == Some(boot) {
                    text += &format!(
                        "[target] race boot={boot} restored generation=9\n\
                         [target] race boot={boot} armed cpu_on=0 restored=1\n"
                    );
                }
            }
            events.push((1 + 3 * i as u64, text));
        }
        events
    }

    #[test]
    fn reset_vs_fault_needs_one_boot_per_round() {
        let all: Vec<u64> = (1..=FAULT_RESET_BOOTS).collect();
        let restart = manager_run(&FAULT_RESET_MANAGER, &fault_events(&all, None), take_result);
        assert_eq!(check_reset_vs_fault_restart(&outcome(&restart)), Ok(()));
        assert_eq!(check_reset_vs_fault_restore(&outcome(&restart)), Ok(()));

        let restore = manager_run(
            &FAULT_RESET_MANAGER,
            &fault_events(&all, Some(2)),
            take_result,
        );
        assert_eq!(check_reset_vs_fault_restore(&outcome(&restore)), Ok(()));
        assert!(check_reset_vs_fault_restart(&outcome(&restore))
            .unwrap_err()
            .contains("restored"));

        let twice: Vec<u64> = vec![1, 2, 4, 5, 6];
        let double = manager_run(
            &FAULT_RESET_MANAGER,
            &fault_events(&twice, None),
            take_result,
        );
        assert!(check_reset_vs_fault_restart(&outcome(&double)).is_err());

        let stopped = restart.clone()
            + "bulkhead: partition target (id 0) stopped: stage-2 data abort (read) at IPA 0x70000000\n";
        assert!(check_reset_vs_fault_restart(&outcome(&stopped))
            .unwrap_err()
            .contains("stopped"));
    }

    fn cpu_on_line(ok: u64, runs: u64, sum: u64, other: u64) -> String {
        format!(
            "{}[pilot] cpu_on_off start starts=5000 run_ms=5000\n\
             [pilot] cpu_on_off attempts={} ok={ok} already_on=1000 on_pending=500 other={other} first_other=0 \
             runs={runs} context_sum=777 run_context_sum={sum} affinity=1 affinity_other=0 \
             cpu_off_returned=0 cpu_off_error=0\n",
            boot_lines("pilot", 2),
            ok + 1500 + other
        )
    }

    #[test]
    fn cpu_on_vs_off_counts_exactly() {
        let starts = CPU_ON_STARTS;
        assert_eq!(
            check_cpu_on_vs_off(&outcome(&cpu_on_line(starts, starts, 777, 0))),
            Ok(())
        );
        assert!(check_cpu_on_vs_off(&outcome(&cpu_on_line(starts, starts - 1, 777, 0))).is_err());
        assert!(check_cpu_on_vs_off(&outcome(&cpu_on_line(starts, starts, 700, 0))).is_err());
        assert!(check_cpu_on_vs_off(&outcome(&cpu_on_line(starts, starts, 777, 2))).is_err());
        let lost = cpu_on_line(starts, starts, 777, 0).replace("affinity=1", "affinity=0");
        assert!(check_cpu_on_vs_off(&outcome(&lost)).is_err());
    }

    fn reset_both_events(boots: &[u64]) -> Vec<(u64, String)> {
        boots
            .iter()
            .map(|&boot| {
                (
                    1 + boot,
                    format!(
                        "{}[target] race boot={boot} start mode=reset-both\n\
                         [target] race boot={boot} armed cpu_on=0\n",
                        boot_lines("target", 2)
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn take_vs_cpu_on_loses_no_vcpu() {
        let report = |lost: u64| {
            format!(
                "{}[target] race boot=1 start mode=take-cpu-on\n\
                 [target] race boot=1 take_cpu_on rounds={} cpu_on_other=0 first_cpu_on=0 \
                 take_busy=0 lost={lost} first_lost_round=0 stuck=0\n",
                boot_lines("target", 2),
                if lost == 0 { TAKE_CPU_ON_ROUNDS } else { 11 }
            )
        };
        assert_eq!(check_take_vs_cpu_on(&outcome(&report(0))), Ok(()));
        assert!(check_take_vs_cpu_on(&outcome(&report(5)))
            .unwrap_err()
            .contains("lost"));
    }

    #[test]
    fn reset_both_is_one_reset_per_round() {
        let all: Vec<u64> = (1..=RESET_BOTH_BOOTS).collect();
        let good = manager_run(&RESET_BOTH_MANAGER, &reset_both_events(&all), take_result);
        assert_eq!(check_reset_both(&outcome(&good)), Ok(()));
        let mut skipped = all.clone();
        skipped.remove(10);
        let double = manager_run(
            &RESET_BOTH_MANAGER,
            &reset_both_events(&skipped),
            take_result,
        );
        assert!(check_reset_both(&outcome(&double))
            .unwrap_err()
            .contains("boot counts"));
        let early = good.replacen("[target] race boot=7 armed cpu_on=0\n", "", 1);
        let error = check_reset_both(&outcome(&early)).unwrap_err();
        assert!(error.contains("boot 7"), "{error}");
    }

    fn periodic_events(boots: &[u64], taken: u64) -> Vec<(u64, String)> {
        let last = *boots.last().unwrap();
        boots
            .iter()
            .enumerate()
            .map(|(i, &boot)| {
                let kind = if boot == last { "off" } else { "reset" };
                (
                    1 + 3 * i as u64,
                    format!(
                        "{}[target] race boot={boot} start mode=periodic-reset\n\
                         [target] race boot={boot} armed cpu_on=0\n\
                         [target] race boot={boot} {kind} vcpu=1 taken={}\n",
                        boot_lines("target", 2),
                        taken * (i as u64 + 1)
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn periodic_vs_reset_tolerates_rollbacks_across_boots() {
        let good = manager_run(
            &PERIODIC_MANAGER,
            &periodic_events(&[1, 2, 3, 2, 3, 4, 5, 6, 7, 8], 10),
            take_result,
        );
        assert_eq!(check_periodic_vs_reset(&outcome(&good)), Ok(()));
        let late_armed = good.replacen(
            "[target] race boot=8 armed cpu_on=0\n[target] race boot=8 off vcpu=1 taken=100\n",
            "[target] race boot=8 off vcpu=1 taken=100\n[target] race boot=8 armed cpu_on=0\n",
            1,
        );
        assert_ne!(late_armed, good);
        assert_eq!(check_periodic_vs_reset(&outcome(&late_armed)), Ok(()));
        let reboot_after_off = good.clone() + "[target] race boot=9 start mode=periodic-reset\n";
        assert!(check_periodic_vs_reset(&outcome(&reboot_after_off)).is_err());
        let short = manager_run(
            &PERIODIC_MANAGER,
            &periodic_events(&[1, 2, 3, 4, 5, 6, 7], 10),
            take_result,
        );
        assert!(check_periodic_vs_reset(&outcome(&short)).is_err());
        let few = manager_run(
            &PERIODIC_MANAGER,
            &periodic_events(&[1, 2, 3, 4, 5, 6, 7, 8], 1),
            take_result,
        );
        assert!(check_periodic_vs_reset(&outcome(&few))
            .unwrap_err()
            .contains("checkpoints taken"));
        let never_restored = manager_run(
            &PERIODIC_MANAGER,
            &periodic_events(&[1, 2, 3, 4, 5, 6, 7, 8], 10),
            |n, t, op| {
                if op == "restore" {
                    code::BUSY
                } else {
                    take_result(n, t, op)
                }
            },
        );
        assert!(check_periodic_vs_reset(&outcome(&never_restored))
            .unwrap_err()
            .contains("restore"));
    }

    /// Heartbeats at which the resetter, faulter and quitter are gone.
    const GONE: [u64; 3] = [30, 15, 25];

    fn lifecycle_events() -> Vec<(u64, String)> {
        let mut events = Vec::new();
        for boot in 1..=LIFECYCLE_RESETTER_BOOTS {
            let mut text = format!(
                "{}[resetter] race boot={boot} start mode=reset-loop\n",
                boot_lines("resetter", 1)
            );
            text += &if boot == LIFECYCLE_RESETTER_BOOTS {
                format!("[resetter] race boot={boot} off vcpu=0\n")
            } else {
                format!("[resetter] race boot={boot} reset vcpu=0\n")
            };
            events.push((GONE[0] - LIFECYCLE_RESETTER_BOOTS + boot, text));
        }
        events.push((
            0,
            format!(
                "{}[faulter] race boot=1 start mode=fault-stop\n{}[quitter] race boot=1 start mode=power-off\n",
                boot_lines("faulter", 1),
                boot_lines("quitter", 1)
            ),
        ));
        events.push((
            GONE[1],
            "[faulter] race boot=1 faulting vcpu=0\n\
             bulkhead: partition faulter (id 2) stopped: stage-2 data abort (read) at IPA 0x70000000\n"
                .to_string(),
        ));
        events.push((GONE[2], "[quitter] race boot=1 off vcpu=0\n".to_string()));
        events
    }

    fn lifecycle_result(n: u64, target: u64, op: &str) -> i64 {
        let gone = GONE[target as usize - 1];
        if n <= gone {
            if n.is_multiple_of(5) {
                code::BUSY
            } else {
                code::SUCCESS
            }
        } else if op == "status" && target == 3 {
            code::SUCCESS
        } else {
            code::DENIED
        }
    }

    #[test]
    fn manager_vs_lifecycle_is_denied_once_gone() {
        let good = manager_run(&LIFECYCLE_MANAGER, &lifecycle_events(), lifecycle_result);
        assert_eq!(check_manager_vs_lifecycle(&outcome(&good)), Ok(()));
        // The heartbeat right after the stop may still see it running.
        let grace = manager_run(&LIFECYCLE_MANAGER, &lifecycle_events(), |n, t, op| {
            if t == 2 && n == GONE[1] + 1 {
                code::SUCCESS
            } else {
                lifecycle_result(n, t, op)
            }
        });
        assert_eq!(check_manager_vs_lifecycle(&outcome(&grace)), Ok(()));
        let revived = manager_run(&LIFECYCLE_MANAGER, &lifecycle_events(), |n, t, op| {
            if t == 2 && n == GONE[1] + 10 && op == "take" {
                code::SUCCESS
            } else {
                lifecycle_result(n, t, op)
            }
        });
        assert!(check_manager_vs_lifecycle(&outcome(&revived))
            .unwrap_err()
            .contains("faulter"));
        let busy_forever = manager_run(&LIFECYCLE_MANAGER, &lifecycle_events(), |n, t, op| {
            if t == 3 && n > GONE[2] {
                code::BUSY
            } else {
                lifecycle_result(n, t, op)
            }
        });
        assert!(check_manager_vs_lifecycle(&outcome(&busy_forever))
            .unwrap_err()
            .contains("quitter"));
        let no_report = good.replace(
            "bulkhead: partition faulter (id 2) stopped",
            "bulkhead: nothing",
        );
        assert!(check_manager_vs_lifecycle(&outcome(&no_report)).is_err());
    }

    fn gicd_report(
        final_mode: &str,
        per_byte: u64,
        count_mismatches: u64,
        readback: u64,
    ) -> String {
        let loop_interrupts = GICD_ITERATIONS / 2 * (GICD_REFIRES + 1);
        format!(
            "gicd start uart=0x9040000 intid=40 start=edge final={final_mode} iterations=2000\n\
             abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0\n\
             gicd loop mode=alternating iterations=2000 readback_mismatches={readback} foreign_visible=0 \
             bytes=2000 matched=2000 interrupts={loop_interrupts} expected_interrupts={loop_interrupts} \
             count_mismatches={count_mismatches} first_mismatch_iteration=0 first_mismatch_count=0\n\
             gicd final mode={final_mode} iterations=200 readback_mismatches=0 foreign_visible=0 bytes=200 \
             matched=200 interrupts={} expected_interrupts={} count_mismatches=0 \
             first_mismatch_iteration=0 first_mismatch_count=0\n\
             gicd done foreign_bytes=0\n",
            200 * per_byte,
            200 * per_byte
        )
    }

    #[test]
    fn gicd_needs_exact_counts_on_both_sides() {
        let p: String = gicd_report("level", GICD_REFIRES, 0, 0)
            .lines()
            .map(|line| {
                if line.starts_with("gicd") {
                    format!("[gicd-p] {line}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let both = |p: &str, q: &str| Outcome {
            uart: [p.to_string(), q.to_string()],
            exit_code: Some(0),
            timed_out: false,
            check_errors: Vec::new(),
        };
        let q = gicd_report("edge", 1, 0, 0);
        assert_eq!(check_gicd_shared_words(&both(&p, &q)), Ok(()));
        let q_level = gicd_report("level", GICD_REFIRES, 0, 0);
        assert!(check_gicd_shared_words(&both(&p, &q_level))
            .unwrap_err()
            .contains("gicd-q"));
        let q_lost = gicd_report("edge", 1, 3, 0);
        assert!(check_gicd_shared_words(&both(&p, &q_lost)).is_err());
        let q_readback = gicd_report("edge", 1, 0, 1);
        assert!(check_gicd_shared_words(&both(&p, &q_readback)).is_err());
        let p_edge = p.replace("final mode=level", "final mode=edge");
        assert!(check_gicd_shared_words(&both(&p_edge, &q))
            .unwrap_err()
            .contains("gicd-p"));
    }
}

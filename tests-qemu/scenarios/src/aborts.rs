//! Stage-2 faults outside a partition's map delivered to the guest as synchronous external aborts.
//!
//! `abort_delivery`: the `abort_probe` guest reads, writes and jumps outside
//! its map, takes its own aborts with the architecture's syndromes and runs
//! on; Bulkhead's report lines respect the rate limit (8 in full, then a
//! summary at each power of two: `bulkhead_core::external_abort`).
//!
//! `linux_sigbus`: Debian's Linux reads and writes an unassigned address
//! through /dev/mem (`bulkhead.script=sigbus` in tests-qemu/linux/init);
//! the process gets SIGBUS and Linux runs on.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};

/// Mirrors `abort_probe.rs`.
const DATA_IPA: u64 = 0x7000_0000;
const FETCH_IPA: u64 = 0x8000_0000;
const LOOP_FAULTS: u64 = 1000;
const LOOP_PAGES: u64 = 64;
/// Aborts the guest takes in all: read, write, fetch, then the loop.
const TOTAL_ABORTS: u64 = 3 + LOOP_FAULTS;
/// Mirrors `bulkhead_core::external_abort::REPORTED_IN_FULL`.
const REPORTED_IN_FULL: usize = 8;

/// The address `init`'s `sigbus` script reads (and writes at +0x10).
const SIGBUS_ADDRESS: u64 = 0x0a00_0000;
/// The shell's status for a process killed by SIGBUS (7 on arm64).
const SIGBUS_STATUS: u64 = 128 + 7;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "linux_sigbus",
            description: "Linux userspace reading and writing an unassigned address through /dev/mem gets SIGBUS (Bulkhead delivers a synchronous external abort) and Linux runs on",
            layout: "tests-qemu/layouts/linux_sigbus.dtso",
            modules: crate::linux::LINUX_MODULES,
            timeout_secs: 180,
            icount: false,
            check: check_linux_sigbus,
        },
        Scenario {
        name: "abort_delivery",
        description: "a guest reading, writing and jumping outside its map takes its own data and prefetch aborts (EC 0x25/0x21, DFSC/IFSC 0x10, FAR, ELR) and runs on through 1,000 more; Bulkhead reports 8 of them in full and then only at powers of two",
        layout: "tests-qemu/layouts/abort_delivery.dtso",
        modules: &[Module { address: 0x4a00_0000, guest: "abort_probe" }],
        timeout_secs: 30,
        icount: false,
        check: check_abort_delivery,
    },
    ]
}

fn check_linux_sigbus(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let linux: Vec<&str> = lines(&outcome.uart[1]).collect();
    let find = |prefix: &str| {
        linux
            .iter()
            .copied()
            .find(|line| line.starts_with(prefix))
            .ok_or(format!("linux: no `{prefix}` line on uart1"))
    };
    for access in ["read", "write"] {
        let line = find(&format!("linux sigbus {access} "))?;
        expect_fields("linux", line, &[("exit", SIGBUS_STATUS)])?;
    }
    let after = find("linux after_sigbus ")?;
    if field(after, "md5") != Some(crate::linux::WORKLOAD_MD5) {
        return Err(format!(
            "linux: {after}: expected md5={}",
            crate::linux::WORKLOAD_MD5
        ));
    }
    find("linux script_done=sigbus")?;
    find("linux poweroff")?;

    let uart0 = &outcome.uart[0];
    if let Some(stop) = stop_reports(uart0).first() {
        return Err(format!("linux was stopped: {stop:?}"));
    }
    let reports = delivered_reports(uart0);
    for (ipa, access) in [(SIGBUS_ADDRESS, "read"), (SIGBUS_ADDRESS + 0x10, "write")] {
        if !reports
            .iter()
            .any(|r| r.label == "linux" && r.ipa == Some(ipa) && r.reason.contains(access))
        {
            return Err(format!(
                "no report of a delivered {access} abort at IPA {ipa:#x}: {reports:?}"
            ));
        }
    }
    Ok(())
}

/// One `abort_probe <what> ...` line, its fields checked.
fn expect_abort(
    guest: &[&str],
    what: &str,
    esr: u64,
    far: u64,
    elr: Option<u64>,
    aborts: u64,
) -> Result<(), String> {
    let prefix = format!("abort_probe {what} ");
    let line = guest
        .iter()
        .find(|line| line.starts_with(&prefix))
        .ok_or(format!("prober: no `{prefix}` line"))?;
    // Vector slot 4: synchronous, current EL with SP_EL1.
    expect_fields(
        "prober",
        line,
        &[
            ("esr", esr),
            ("far", far),
            ("vector", 4),
            ("aborts", aborts),
        ],
    )?;
    let expected_elr = match elr {
        Some(elr) => elr,
        None => field_u64(line, "expected_elr").ok_or(format!("prober: bad line: {line}"))?,
    };
    if field_u64(line, "elr") != Some(expected_elr) {
        return Err(format!(
            "prober: {line}: ELR_EL1 is not the faulting instruction {expected_elr:#x}"
        ));
    }
    Ok(())
}

fn check_abort_delivery(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let guest: Vec<&str> = own_lines(&outcome.uart[1]).collect();
    let boot = boot_report(guest.iter().copied()).map_err(|e| format!("prober: {e}"))?;
    expect_boot("prober", &boot, 1, 16 << 20)?;
    // EC 0x25 (data abort, same EL), IL, DFSC 0x10; WnR for the store.
    expect_abort(&guest, "read", 0x9600_0010, DATA_IPA, None, 1)?;
    expect_abort(&guest, "write", 0x9600_0050, DATA_IPA + 8, None, 2)?;
    // EC 0x21 (instruction abort, same EL), IL, IFSC 0x10; FAR = ELR = target.
    expect_abort(&guest, "fetch", 0x8600_0010, FETCH_IPA, Some(FETCH_IPA), 3)?;
    let far_sum: u64 = (0..LOOP_FAULTS)
        .map(|round| DATA_IPA + (round % LOOP_PAGES) * 4096 + 16)
        .sum();
    let looped = guest
        .iter()
        .find(|line| line.starts_with("abort_probe loop "))
        .ok_or("prober: no `abort_probe loop` line")?;
    expect_fields(
        "prober",
        looped,
        &[("aborts", LOOP_FAULTS), ("far_sum", far_sum)],
    )?;
    let done = guest
        .iter()
        .find(|line| line.starts_with("abort_probe done "))
        .ok_or("prober: no `abort_probe done` line")?;
    expect_fields("prober", done, &[("aborts", TOTAL_ABORTS)])?;

    let uart0 = &outcome.uart[0];
    if let Some(stop) = stop_reports(uart0).first() {
        return Err(format!("the prober was stopped: {stop:?}"));
    }
    let full: Vec<&str> = lines(uart0)
        .filter(|line| {
            line.starts_with("bulkhead: partition prober (id 0): ") && line.contains(DELIVERED)
        })
        .collect();
    if full.len() != REPORTED_IN_FULL {
        return Err(format!(
            "expected {REPORTED_IN_FULL} full reports, got {}: {full:?}",
            full.len()
        ));
    }
    for (index, expected) in [
        format!("stage-2 data abort (read) at IPA {DATA_IPA:#x}{DELIVERED}"),
        format!("stage-2 data abort (write) at IPA {:#x}{DELIVERED}", DATA_IPA + 8),
        format!("stage-2 instruction abort at IPA {FETCH_IPA:#x} (translation fault, level 1){DELIVERED}"),
    ]
    .iter()
    .enumerate()
    {
        if !full[index].contains(expected.as_str()) {
            return Err(format!("report {index}: `{}`, expected `{expected}`", full[index]));
        }
    }
    let summaries: Vec<u64> = lines(uart0)
        .filter_map(|line| {
            let rest = line.strip_prefix("bulkhead: partition prober (id 0): ")?;
            let (count, _) = rest.split_once(" stage-2 aborts delivered to the guest so far")?;
            count.parse().ok()
        })
        .collect();
    let expected: Vec<u64> = (4..64)
        .map(|bit| 1u64 << bit)
        .take_while(|count| *count <= TOTAL_ABORTS)
        .collect();
    if summaries != expected {
        return Err(format!(
            "summary reports at {summaries:?}, expected at {expected:?}"
        ));
    }
    Ok(())
}

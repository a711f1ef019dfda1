//! Reading guest and hypervisor lines out of captured UART text.
//!
//! Lines are matched by content, not position, because Bulkhead's log and
//! several partitions may share UART0 (interleaved at line granularity).

/// Lines of a UART capture, without trailing `\r`.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|line| line.trim_end_matches('\r'))
}

/// The text of a line a partition wrote through CONSOLE_WRITE, which Bulkhead
/// prints as `[<label>] <text>`; `None` for other lines.
pub fn labelled<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    line.strip_prefix('[')?
        .strip_prefix(label)?
        .strip_prefix("] ")
}

/// Every line `label` wrote through CONSOLE_WRITE, in order, with its index in `text`.
pub fn labelled_lines<'a>(text: &'a str, label: &'a str) -> impl Iterator<Item = (usize, &'a str)> {
    lines(text)
        .enumerate()
        .filter_map(move |(index, line)| labelled(line, label).map(|rest| (index, rest)))
}

/// The value of `key=` in a line of space-separated `key=value` words.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// An integer in decimal, `-`decimal or `0x` hex.
pub fn number(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if negative { -value } else { value })
}

/// `field` parsed as an unsigned number.
pub fn field_u64(line: &str, key: &str) -> Option<u64> {
    number(field(line, key)?).and_then(|n| u64::try_from(n).ok())
}

/// The `result <name>=<value>` lines of some guest output, in order.
pub fn results<'a>(guest_lines: impl Iterator<Item = &'a str>) -> Vec<(&'a str, i64)> {
    guest_lines
        .filter_map(|line| {
            let rest = line.strip_prefix("result ")?;
            let (name, value) = rest.split_once('=')?;
            Some((name, i64::try_from(number(value.trim())?).ok()?))
        })
        .collect()
}

/// Checks that `results` holds exactly `expected`, in order.
pub fn expect_results(
    what: &str,
    results: &[(&str, i64)],
    expected: &[(&str, i64)],
) -> Result<(), String> {
    for (name, value) in expected {
        match results.iter().find(|(n, _)| n == name) {
            None => return Err(format!("{what}: no `result {name}=` line")),
            Some((_, got)) if got != value => {
                return Err(format!("{what}: result {name}={got}, expected {value}"))
            }
            Some(_) => {}
        }
    }
    if results.len() != expected.len() {
        return Err(format!(
            "{what}: {} result lines, expected {}: {results:?}",
            results.len(),
            expected.len()
        ));
    }
    Ok(())
}

/// A `bulkhead: partition <label> (id <n>) stopped: <reason>` report.
#[derive(Clone, Debug, PartialEq)]
pub struct StopReport {
    pub line_index: usize,
    pub label: String,
    pub id: u64,
    pub reason: String,
    /// The address after "at IPA" in the reason, if any.
    pub ipa: Option<u64>,
}

/// Every partition-stopped report in `text`.
pub fn stop_reports(text: &str) -> Vec<StopReport> {
    lines(text)
        .enumerate()
        .filter_map(|(line_index, line)| {
            let rest = line.strip_prefix("bulkhead: partition ")?;
            let (head, reason) = rest.split_once(" stopped: ")?;
            let (label, id) = head.split_once(" (id ")?;
            let id = number(id.strip_suffix(')')?)?;
            let ipa = reason
                .split_once("at IPA ")
                .and_then(|(_, after)| number(after.split_whitespace().next()?))
                .and_then(|n| u64::try_from(n).ok());
            Some(StopReport {
                line_index,
                label: label.to_string(),
                id: u64::try_from(id).ok()?,
                reason: reason.to_string(),
                ipa,
            })
        })
        .collect()
}

/// What Bulkhead's report of a delivered abort says after the fault's description.
pub const DELIVERED: &str = ", delivered to the guest as a synchronous external abort";

/// Every full report of a stage-2 abort delivered to a guest
/// (`bulkhead: partition <label> (id <n>): <reason>, delivered to the guest
/// as a synchronous external abort (...)`), as [`StopReport`]s.
pub fn delivered_reports(text: &str) -> Vec<StopReport> {
    lines(text)
        .enumerate()
        .filter_map(|(line_index, line)| {
            let rest = line.strip_prefix("bulkhead: partition ")?;
            let (head, after) = rest.split_once("): ")?;
            let (reason, _) = after.split_once(DELIVERED)?;
            let (label, id) = head.split_once(" (id ")?;
            let ipa = reason
                .split_once("at IPA ")
                .and_then(|(_, after)| {
                    number(after.split_whitespace().next()?.trim_end_matches(','))
                })
                .and_then(|n| u64::try_from(n).ok());
            Some(StopReport {
                line_index,
                label: label.to_string(),
                id: u64::try_from(number(id)?).ok()?,
                reason: reason.to_string(),
                ipa,
            })
        })
        .collect()
}

/// Lines a partition printed on a UART it owns: everything except Bulkhead's
/// log (`bulkhead:`) and CONSOLE_WRITE lines (`[label] `) sharing the UART.
pub fn own_lines(text: &str) -> impl Iterator<Item = &str> {
    lines(text).filter(|line| !line.starts_with("bulkhead:") && !line.starts_with('['))
}

/// The common boot lines every guest prints first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootReport {
    pub first_instruction_ticks: u64,
    pub frequency: u64,
    pub partition_vcpus: Option<u64>,
    pub partition_memory: Option<u64>,
    pub dt_cpus: Option<u64>,
    pub dt_memory: Option<u64>,
}

/// Reads the boot lines from one guest's lines (the first boot only).
pub fn boot_report<'a>(
    mut guest_lines: impl Iterator<Item = &'a str>,
) -> Result<BootReport, String> {
    let boot = guest_lines
        .find(|line| line.starts_with("boot first_instruction_ticks="))
        .ok_or("no `boot first_instruction_ticks=` line")?;
    let mut report = BootReport {
        first_instruction_ticks: field_u64(boot, "first_instruction_ticks")
            .ok_or(format!("bad line: {boot}"))?,
        frequency: field_u64(boot, "cntfrq").ok_or(format!("bad line: {boot}"))?,
        partition_vcpus: None,
        partition_memory: None,
        dt_cpus: None,
        dt_memory: None,
    };
    for line in guest_lines.take(4) {
        if line.starts_with("partition id=") {
            report.partition_vcpus = field_u64(line, "vcpus");
            report.partition_memory = field_u64(line, "memory");
        } else if line.starts_with("dt cpus=") {
            report.dt_cpus = field_u64(line, "cpus");
            report.dt_memory = field_u64(line, "memory");
        }
    }
    Ok(report)
}

/// Checks a guest's boot lines report `vcpus` vCPUs and `memory` bytes, both
/// from PARTITION_INFO and from its device tree.
pub fn expect_boot(what: &str, report: &BootReport, vcpus: u64, memory: u64) -> Result<(), String> {
    let seen = [
        ("PARTITION_INFO vcpus", report.partition_vcpus, vcpus),
        ("PARTITION_INFO memory", report.partition_memory, memory),
        ("device tree cpus", report.dt_cpus, vcpus),
        ("device tree memory", report.dt_memory, memory),
    ];
    for (name, got, expected) in seen {
        if got != Some(expected) {
            return Err(format!("{what}: {name} = {got:?}, expected {expected}"));
        }
    }
    if report.frequency == 0 {
        return Err(format!("{what}: cntfrq=0"));
    }
    Ok(())
}

/// QEMU exited by itself with code 0 (Bulkhead powered the machine off).
pub fn expect_clean_exit(outcome: &crate::Outcome) -> Result<(), String> {
    if outcome.timed_out {
        return Err("timed out (QEMU killed)".into());
    }
    match outcome.exit_code {
        Some(0) => Ok(()),
        other => Err(format!("QEMU exit code {other:?}, expected Some(0)")),
    }
}

/// Fails if any guest reported a panic, exception or its own error.
pub fn expect_no_guest_errors(outcome: &crate::Outcome) -> Result<(), String> {
    for (uart, text) in outcome.uart.iter().enumerate() {
        for line in lines(text) {
            let bad = ["guest panic:", "guest exception:", " error:"]
                .iter()
                .any(|marker| line.contains(marker))
                && !line.starts_with("bulkhead:");
            if bad {
                return Err(format!("uart{uart}: {line}"));
            }
        }
    }
    Ok(())
}

/// Counter ticks to instructions under `-icount shift=0` (1 ns per instruction).
pub fn ticks_to_instructions(ticks: u64, frequency: u64) -> Result<f64, String> {
    if frequency == 0 {
        return Err("cntfrq=0".into());
    }
    Ok(ticks as f64 * 1e9 / frequency as f64)
}

/// The lines `label` wrote through CONSOLE_WRITE, with their UART0 line index.
pub fn guest_lines<'a>(outcome: &'a crate::Outcome, label: &'a str) -> Vec<(usize, &'a str)> {
    labelled_lines(&outcome.uart[0], label).collect()
}

/// Checks that `line` has `key=expected` for each pair.
pub fn expect_fields(what: &str, line: &str, expected: &[(&str, u64)]) -> Result<(), String> {
    for (key, want) in expected {
        if field_u64(line, key) != Some(*want) {
            return Err(format!(
                "{what}: `{line}`: expected {key}={want} ({want:#x})"
            ));
        }
    }
    Ok(())
}

/// The first line of `lines` starting with `prefix`, with its index.
pub fn find<'a>(
    what: &str,
    lines: &[(usize, &'a str)],
    prefix: &str,
) -> Result<(usize, &'a str), String> {
    lines
        .iter()
        .find(|(_, text)| text.starts_with(prefix))
        .copied()
        .ok_or(format!("{what}: no `{prefix}` line"))
}

/// Every line of `lines` starting with `prefix`.
pub fn find_all<'a>(lines: &[(usize, &'a str)], prefix: &str) -> Vec<(usize, &'a str)> {
    lines
        .iter()
        .filter(|(_, text)| text.starts_with(prefix))
        .copied()
        .collect()
}

/// Checks `key=true`/`key=false` words.
pub fn expect_flags(what: &str, line: &str, expected: &[(&str, bool)]) -> Result<(), String> {
    for (key, want) in expected {
        let want_text = if *want { "true" } else { "false" };
        if field(line, key) != Some(want_text) {
            return Err(format!("{what}: `{line}`: expected {key}={want_text}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_numbers() {
        let line = "compute checksum=0x1f cores=2 memory=268435456 delta=-4";
        assert_eq!(field(line, "checksum"), Some("0x1f"));
        assert_eq!(field_u64(line, "checksum"), Some(0x1f));
        assert_eq!(field_u64(line, "memory"), Some(268435456));
        assert_eq!(field(line, "delta").and_then(number), Some(-4));
        assert_eq!(field_u64(line, "delta"), None);
        assert_eq!(field(line, "core"), None);
        assert_eq!(number("0x"), None);
    }

    #[test]
    fn labels_and_reports() {
        let text = "bulkhead: partition attacker-1 (id 1) stopped: stage-2 data abort (read) at IPA 0x42000000\r\n\
                    [victim] victim progress=3 checksum=0x5\n";
        let reports = stop_reports(text);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].label, "attacker-1");
        assert_eq!(reports[0].id, 1);
        assert_eq!(reports[0].ipa, Some(0x4200_0000));
        let victim: Vec<_> = labelled_lines(text, "victim").collect();
        assert_eq!(victim, vec![(1, "victim progress=3 checksum=0x5")]);
        assert_eq!(labelled("[victimx] a", "victim"), None);
    }

    #[test]
    fn results_in_order() {
        let lines = ["result a=0", "noise", "result b=-2", "result c=0x10001"];
        let got = results(lines.into_iter());
        assert_eq!(got, vec![("a", 0), ("b", -2), ("c", 0x10001)]);
        assert!(expect_results("t", &got, &[("a", 0), ("b", -2), ("c", 65537)]).is_ok());
        assert!(expect_results("t", &got, &[("a", 0), ("b", -1), ("c", 65537)]).is_err());
        assert!(expect_results("t", &got, &[("a", 0), ("b", -2)]).is_err());
    }
}

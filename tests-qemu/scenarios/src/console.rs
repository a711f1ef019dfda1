//! Virtual consoles: many partitions on Bulkhead's one UART, whole lines, tagged, drops counted.

use crate::scenarios::parse::{expect_clean_exit, field_u64, lines};
use crate::{Module, Outcome, Scenario};

/// Labels of the flooding partitions (`console_flood.dtso`).
const FLOODERS: [&str; 3] = ["f1", "f2", "f3"];
/// A flood line's text (`console_flood` guest): 63 bytes before the newline.
const FLOOD_TEXT_BYTES: usize = 63;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "console_flood",
        description: "three partitions print 64-byte lines as fast as they can for 3 s (two through their virtual PL011, one through CONSOLE_WRITE): on Bulkhead's UART every line is whole and tagged, none interleaved, and the dropped-byte counts Bulkhead reports match the missing lines",
        layout: "tests-qemu/layouts/console_flood.dtso",
        modules: &[
            Module { address: 0x4a00_0000, guest: "console_flood" },
            Module { address: 0x4b00_0000, guest: "console_flood" },
            Module { address: 0x4c00_0000, guest: "console_flood" },
        ],
        timeout_secs: 60,
        icount: false,
        check: check_flood,
    }]
}

/// The sequence number of a whole flood line, None if the line is not one
/// (cut, glued to another, or altered).
fn flood_seq(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != FLOOD_TEXT_BYTES {
        return None;
    }
    let seq = text.strip_prefix("flood seq=")?.get(..6)?;
    let end = text.get(FLOOD_TEXT_BYTES - 11..)?.strip_prefix(" end=")?;
    let pad = text.get(16..FLOOD_TEXT_BYTES - 11)?;
    (seq == end && pad.starts_with(' ') && pad[1..].bytes().all(|b| b == b'.'))
        .then(|| seq.parse().ok())
        .flatten()
}

/// Per flooder: lines seen, their seqs in order, bytes Bulkhead says it
/// dropped, and the guest's own count.
#[derive(Default, Debug)]
struct Flooder {
    seqs: Vec<u64>,
    dropped_bytes: u64,
    done_lines: Option<u64>,
}

fn check_flood(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let mut flooders: [Flooder; 3] = Default::default();
    for (index, line) in lines(&outcome.uart[0]).enumerate() {
        if line.starts_with("bulkhead:") || line.trim().is_empty() {
            continue;
        }
        let tagged = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "));
        let Some((label, text)) = tagged else {
            return Err(format!("uart0 line {index} is not tagged: `{line}`"));
        };
        let Some(slot) = FLOODERS.iter().position(|f| *f == label) else {
            return Err(format!("uart0 line {index}: unknown tag: `{line}`"));
        };
        let flooder = &mut flooders[slot];
        if text.contains('[') {
            return Err(format!(
                "uart0 line {index}: two writers in one line: `{line}`"
            ));
        }
        if text.starts_with("flood seq=") {
            let seq = flood_seq(text).ok_or(format!(
                "uart0 line {index}: a cut or interleaved line: `{line}`"
            ))?;
            flooder.seqs.push(seq);
        } else if let Some(rest) = text.strip_prefix("(console: ") {
            let dropped = rest
                .strip_suffix(" bytes dropped)")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(format!("uart0 line {index}: bad drop notice `{line}`"))?;
            flooder.dropped_bytes += dropped;
        } else if text.starts_with("flood done") {
            flooder.done_lines = field_u64(text, "lines");
        } else if !text.starts_with("flood start")
            && !text.starts_with("boot ")
            && !text.starts_with("partition ")
            && !text.starts_with("dt ")
        {
            return Err(format!("uart0 line {index}: unexpected `{line}`"));
        }
    }
    for (label, flooder) in FLOODERS.iter().zip(&flooders) {
        let total = flooder
            .done_lines
            .ok_or(format!("{label}: no `flood done` line"))?;
        if let Some(pair) = flooder.seqs.windows(2).find(|pair| pair[1] <= pair[0]) {
            return Err(format!("{label}: seq {} after {}", pair[1], pair[0]));
        }
        if flooder.seqs.last().is_some_and(|&last| last > total) {
            return Err(format!("{label}: a line beyond the {total} it printed"));
        }
        let seen = flooder.seqs.len() as u64;
        if seen == 0 {
            return Err(format!("{label}: no flood line arrived"));
        }
        // A dropped line is dropped whole: its tag, text and line end.
        let line_bytes = (label.len() + 3 + FLOOD_TEXT_BYTES + 2) as u64;
        let missing = total - seen;
        if flooder.dropped_bytes != missing * line_bytes {
            return Err(format!(
                "{label}: {missing} of {total} lines missing ({} bytes) but {} bytes reported dropped",
                missing * line_bytes,
                flooder.dropped_bytes
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> String {
        let digits = format!("{seq:06}");
        format!(
            "flood seq={digits} {} end={digits}",
            ".".repeat(FLOOD_TEXT_BYTES - 28)
        )
    }

    fn outcome(uart0: String) -> Outcome {
        Outcome {
            uart: [uart0, String::new()],
            exit_code: Some(0),
            timed_out: false,
            check_errors: Vec::new(),
        }
    }

    fn good() -> String {
        let mut text = String::from("bulkhead: starting\r\n");
        for label in FLOODERS {
            text += &format!("[{label}] flood start sink=uart\r\n");
            for seq in [1, 2, 4] {
                text += &format!("[{label}] {}\r\n", line(seq));
            }
            text += &format!("[{label}] (console: 70 bytes dropped)\r\n");
            text += &format!("[{label}] flood done lines=4 ticks=1 cntfrq=1\r\n");
        }
        text
    }

    #[test]
    fn whole_lines_and_consistent_drops_pass() {
        assert_eq!(flood_seq(&line(42)), Some(42));
        assert_eq!(check_flood(&outcome(good())), Ok(()));
    }

    #[test]
    fn interleaving_cut_lines_and_wrong_counts_fail() {
        let glued = good().replacen("end=000002", "en[f2] d=000002", 1);
        assert!(check_flood(&outcome(glued)).is_err());
        let cut = good().replacen(" end=000004", "", 1);
        assert!(check_flood(&outcome(cut)).is_err());
        let miscounted = good().replacen("70 bytes dropped", "71 bytes dropped", 1);
        assert!(check_flood(&outcome(miscounted)).is_err());
        let untagged = good() + "flood seq=000005\r\n";
        assert!(check_flood(&outcome(untagged)).is_err());
    }
}

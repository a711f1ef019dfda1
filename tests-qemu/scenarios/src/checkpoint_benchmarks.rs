//! Checkpoint benchmarks: full and incremental pause, write-fault cost, restore pause and periodic slowdown, parsed from the `ckpt_bench*` guests.

use crate::scenarios::parse::{field_u64, ticks_to_instructions};
use crate::{Benchmark, Measurement, Module, Outcome};

/// Dirty page counts `ckpt_bench` measures (mirrors the guest).
pub const DIRTY_COUNTS: [u64; 4] = [1, 16, 256, 4096];

const BENCH_MODULE: &[Module] = &[Module {
    address: 0x4a00_0000,
    guest: "ckpt_bench",
}];
const FULL_MODULE: &[Module] = &[Module {
    address: 0x4a00_0000,
    guest: "ckpt_bench_full",
}];
const PERIODIC_MODULES: &[Module] = &[
    Module {
        address: 0x4a00_0000,
        guest: "ckpt_bench_periodic",
    },
    Module {
        address: 0x4b00_0000,
        guest: "ckpt_bench_periodic",
    },
];

pub fn benchmarks() -> Vec<Benchmark> {
    vec![
        Benchmark {
            name: "ckpt_incremental",
            layout: "tests-qemu/layouts/ckpt_bench.dtso",
            modules: BENCH_MODULE,
            timeout_secs: 120,
            bare: None,
            parse: |outcome, _| parse_incremental(outcome),
        },
        Benchmark {
            name: "ckpt_full_64mib",
            layout: "tests-qemu/layouts/ckpt_bench_full_64mib.dtso",
            modules: FULL_MODULE,
            timeout_secs: 120,
            bare: None,
            parse: |outcome, _| parse_full("64mib", outcome),
        },
        Benchmark {
            name: "ckpt_full_256mib",
            layout: "tests-qemu/layouts/ckpt_bench_full_256mib.dtso",
            modules: FULL_MODULE,
            timeout_secs: 120,
            bare: None,
            parse: |outcome, _| parse_full("256mib", outcome),
        },
        Benchmark {
            name: "ckpt_sve_state",
            layout: "tests-qemu/layouts/ckpt_bench_state.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "ckpt_bench_state",
            }],
            timeout_secs: 60,
            bare: None,
            parse: parse_sve_state,
        },
        periodic(
            "ckpt_periodic_40hz_1pct",
            "tests-qemu/layouts/ckpt_bench_periodic_40hz_1pct.dtso",
        ),
        periodic(
            "ckpt_periodic_40hz_3pct",
            "tests-qemu/layouts/ckpt_bench_periodic_40hz_3pct.dtso",
        ),
        periodic(
            "ckpt_periodic_40hz_10pct",
            "tests-qemu/layouts/ckpt_bench_periodic_40hz_10pct.dtso",
        ),
        periodic(
            "ckpt_periodic_40hz_30pct",
            "tests-qemu/layouts/ckpt_bench_periodic_40hz_30pct.dtso",
        ),
        periodic(
            "ckpt_periodic_100hz_1pct",
            "tests-qemu/layouts/ckpt_bench_periodic_100hz_1pct.dtso",
        ),
        periodic(
            "ckpt_periodic_100hz_3pct",
            "tests-qemu/layouts/ckpt_bench_periodic_100hz_3pct.dtso",
        ),
        periodic(
            "ckpt_periodic_100hz_10pct",
            "tests-qemu/layouts/ckpt_bench_periodic_100hz_10pct.dtso",
        ),
        periodic(
            "ckpt_periodic_100hz_30pct",
            "tests-qemu/layouts/ckpt_bench_periodic_100hz_30pct.dtso",
        ),
    ]
}

/// One periodic case; the parser reads the interval and share from the
/// guests' lines (parsers are plain fns).
fn periodic(name: &'static str, layout: &'static str) -> Benchmark {
    Benchmark {
        name,
        layout,
        modules: PERIODIC_MODULES,
        timeout_secs: 120,
        bare: None,
        parse: |outcome, _| parse_periodic(outcome),
    }
}

/// The text after `ckpt_bench ` of every such line on either UART
/// (CONSOLE_WRITE lines carry a `[label] ` prefix); fails on a guest error.
fn bench_lines(outcome: &Outcome) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    for line in outcome.uart.iter().flat_map(|text| text.lines()) {
        if let Some(at) = line.find("error:") {
            if line.contains("ckpt_bench") {
                return Err(line[at..].trim().to_string());
            }
        }
        if let Some(at) = line.find("ckpt_bench ") {
            found.push(line[at + "ckpt_bench ".len()..].trim_end());
        }
    }
    if found.is_empty() {
        let how = if outcome.timed_out {
            "timed out"
        } else {
            "exited"
        };
        return Err(format!("{how} without a `ckpt_bench` line"));
    }
    Ok(found)
}

/// The first line starting with `prefix` that has every key in `keys`,
/// and those keys' values.
fn find<const N: usize>(lines: &[&str], prefix: &str, keys: [&str; N]) -> Result<[u64; N], String> {
    let line = lines
        .iter()
        .find(|line| line.starts_with(prefix))
        .ok_or(format!("no `ckpt_bench {prefix}` line"))?;
    let mut values = [0; N];
    for (value, key) in values.iter_mut().zip(keys) {
        *value = field_u64(line, key).ok_or(format!("no {key}= in `{line}`"))?;
    }
    Ok(values)
}

fn measurement(name: impl Into<String>, value: f64, unit: &'static str) -> Measurement {
    Measurement {
        name: name.into(),
        value,
        unit,
    }
}

/// `ckpt_sve_state`: the mean pause of a checkpoint that copies almost
/// only the vCPU state, on `max` (SVE at 2048 bits, PAuth) and on
/// cortex-a72 (neither); the difference is what the SVE state (and the
/// five PAuth keys) add per vCPU.
fn parse_sve_state(
    outcome: &Outcome,
    baseline: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let mean = |outcome: &Outcome| -> Result<(f64, u64, f64), String> {
        let lines = bench_lines(outcome)?;
        let [takes, pause, pages, vl, cntfrq] = find(
            &lines,
            "state ",
            ["takes", "pause_ticks", "pages", "vl", "cntfrq"],
        )?;
        if takes == 0 {
            return Err("state takes=0".into());
        }
        let pause = ticks_to_instructions(pause, cntfrq)? / takes as f64;
        Ok((pause, vl, pages as f64 / takes as f64))
    };
    let (with_sve, vl, pages) = mean(outcome)?;
    let baseline = baseline.ok_or("no cortex-a72 comparison boot")?;
    let (without, base_vl, base_pages) = mean(baseline)?;
    if vl == 0 || base_vl != 0 {
        return Err(format!(
            "expected SVE on the first model and none on the second: vl={vl} and vl={base_vl}"
        ));
    }
    Ok(vec![
        measurement("ckpt_vcpu_state_pause_sve", with_sve, "instructions"),
        measurement("ckpt_vcpu_state_pause_no_sve", without, "instructions"),
        measurement("ckpt_sve_state", with_sve - without, "instructions"),
        measurement("ckpt_sve_state_vector_bytes", vl as f64, "bytes"),
        measurement("ckpt_vcpu_state_pages", pages.max(base_pages), "pages"),
    ])
}

/// The counter frequency, from the `cntfrq=` of the first line giving it.
fn frequency(lines: &[&str]) -> Result<u64, String> {
    lines
        .iter()
        .find_map(|line| field_u64(line, "cntfrq"))
        .ok_or("no cntfrq= figure".into())
}

fn parse_incremental(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let lines = bench_lines(outcome)?;
    let cntfrq = frequency(&lines)?;
    let instructions = |ticks: u64| ticks_to_instructions(ticks, cntfrq);
    let mut figures = Vec::new();

    let [pages, ticks] = find(&lines, "memcpy_4k ", ["pages", "ticks"])?;
    if pages == 0 {
        return Err("memcpy_4k pages=0".into());
    }
    let memcpy_4k = instructions(ticks)? / pages as f64;
    figures.push(measurement("memcpy_4k", memcpy_4k, "instructions"));
    // The anchor an optimized memcpy sets: 64 bytes per iteration in SIMD.
    let [fast_pages, fast_ticks] = find(&lines, "memcpy_4k_fast ", ["pages", "ticks"])?;
    if fast_pages == 0 {
        return Err("memcpy_4k_fast pages=0".into());
    }
    let memcpy_4k_fast = instructions(fast_ticks)? / fast_pages as f64;
    figures.push(measurement(
        "memcpy_4k_fast",
        memcpy_4k_fast,
        "instructions",
    ));

    let [full_pages, full_ticks] = find(&lines, "first ", ["pages_copied", "pause_ticks"])?;
    figures.push(measurement(
        "ckpt_incremental_first_32mib",
        instructions(full_ticks)?,
        "instructions",
    ));
    figures.push(measurement(
        "ckpt_incremental_first_pages",
        full_pages as f64,
        "pages",
    ));

    let mut pauses = Vec::new();
    for dirty in DIRTY_COUNTS {
        let prefix = format!("incremental dirty={dirty} ");
        let [copied, pause] = find(&lines, &prefix, ["pages_copied", "pause_ticks"])?;
        if copied < dirty {
            return Err(format!(
                "checkpoint after {dirty} dirty pages copied only {copied}"
            ));
        }
        let pause = instructions(pause)?;
        figures.push(measurement(
            format!("ckpt_incremental_pause_{dirty}"),
            pause,
            "instructions",
        ));
        figures.push(measurement(
            format!("ckpt_incremental_pages_copied_{dirty}"),
            copied as f64,
            "pages",
        ));
        pauses.push((copied, pause));
    }
    let (Some(&(few_pages, fixed)), Some(&(many_pages, most))) = (pauses.first(), pauses.last())
    else {
        return Err("no incremental figures".into());
    };
    figures.push(measurement(
        "ckpt_incremental_fixed_cost",
        fixed,
        "instructions",
    ));
    if many_pages <= few_pages {
        return Err(format!(
            "pages copied do not grow: {few_pages} then {many_pages}"
        ));
    }
    // Per page actually copied (the guest's own stack page comes on top of
    // the dirtied ones, equally in both).
    let per_page = (most - fixed) / (many_pages - few_pages) as f64;
    figures.push(measurement(
        "ckpt_incremental_per_page",
        per_page,
        "instructions",
    ));
    figures.push(measurement(
        "ckpt_incremental_per_page_vs_memcpy_4k",
        per_page / memcpy_4k,
        "ratio",
    ));
    figures.push(measurement(
        "ckpt_incremental_per_page_vs_memcpy_4k_fast",
        per_page / memcpy_4k_fast,
        "ratio",
    ));

    let [pages, faulting, plain] = find(
        &lines,
        "write_fault ",
        ["pages", "faulting_ticks", "plain_ticks"],
    )?;
    if pages == 0 || faulting < plain {
        return Err(format!(
            "write_fault: pages={pages} faulting={faulting} plain={plain}"
        ));
    }
    figures.push(measurement(
        "write_fault_cost",
        instructions(faulting - plain)? / pages as f64,
        "instructions",
    ));

    for dirty in DIRTY_COUNTS {
        let [start] = find(&lines, &format!("restore_run dirty={dirty} "), ["start"])?;
        let [end, print] = find(
            &lines,
            &format!("restored dirty={dirty} "),
            ["end", "print_ticks"],
        )?;
        let span = end
            .checked_sub(start)
            .and_then(|span| span.checked_sub(print))
            .ok_or(format!(
                "restore {dirty}: end {end} before start {start} + print {print}"
            ))?;
        figures.push(measurement(
            format!("restore_pause_{dirty}"),
            instructions(span)?,
            "instructions",
        ));
    }
    if !lines.contains(&"done") {
        return Err("no `ckpt_bench done` line".into());
    }
    Ok(figures)
}

fn parse_full(size: &str, outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let lines = bench_lines(outcome)?;
    let cntfrq = frequency(&lines)?;
    let [memory, memcpy_bytes, memcpy_ticks, memcpy_fast_ticks, pages, pause, observed] = find(
        &lines,
        "full ",
        [
            "memory",
            "memcpy_bytes",
            "memcpy_ticks",
            "memcpy_fast_ticks",
            "pages_copied",
            "pause_ticks",
            "observed_ticks",
        ],
    )?;
    if memcpy_bytes != memory
        || pages * 4096 != memory
        || memcpy_ticks == 0
        || memcpy_fast_ticks == 0
    {
        return Err(format!(
            "full: memory={memory} memcpy_bytes={memcpy_bytes} pages_copied={pages} memcpy_ticks={memcpy_ticks} memcpy_fast_ticks={memcpy_fast_ticks}"
        ));
    }
    let memcpy_fast = ticks_to_instructions(memcpy_fast_ticks, cntfrq)?;
    let pause = ticks_to_instructions(pause, cntfrq)?;
    let memcpy = ticks_to_instructions(memcpy_ticks, cntfrq)?;
    Ok(vec![
        measurement(format!("ckpt_full_{size}"), pause, "instructions"),
        measurement(
            format!("ckpt_full_{size}_observed"),
            ticks_to_instructions(observed, cntfrq)?,
            "instructions",
        ),
        measurement(format!("memcpy_{size}"), memcpy, "instructions"),
        measurement(format!("ckpt_full_{size}_ratio"), pause / memcpy, "ratio"),
        measurement(format!("memcpy_{size}_fast"), memcpy_fast, "instructions"),
        measurement(
            format!("ckpt_full_{size}_ratio_fast"),
            pause / memcpy_fast,
            "ratio",
        ),
    ])
}

fn parse_periodic(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let lines = bench_lines(outcome)?;
    let keys = [
        "interval_ms",
        "percent",
        "pages",
        "rounds",
        "ticks",
        "checkpoints",
        "start",
        "end",
    ];
    let [interval, percent, pages, rounds, checked_ticks, checkpoints, _, checked_end] =
        find(&lines, "periodic role=checkpointed ", keys)?;
    let [p_interval, p_percent, p_pages, p_rounds, plain_ticks, _, plain_start, _] =
        find(&lines, "periodic role=plain ", keys)?;
    if (interval, percent, pages, rounds) != (p_interval, p_percent, p_pages, p_rounds) {
        return Err("the two partitions ran different workloads".into());
    }
    // icount time is shared by all cores: the plain run must not overlap.
    if plain_start < checked_end {
        return Err(format!(
            "the plain run started at {plain_start}, before the checkpointed one ended at {checked_end}"
        ));
    }
    if plain_ticks == 0 || checkpoints == 0 || interval == 0 {
        return Err(format!(
            "plain ticks={plain_ticks} checkpoints={checkpoints} interval={interval}"
        ));
    }
    let hz = 1000 / interval;
    let case = format!("periodic_slowdown_{hz}hz_{percent}pct");
    Ok(vec![
        measurement(
            case.clone(),
            (checked_ticks as f64 / plain_ticks as f64 - 1.0) * 100.0,
            "percent",
        ),
        measurement(format!("{case}_checkpoints"), checkpoints as f64, "count"),
        measurement(format!("{case}_pages_per_interval"), pages as f64, "pages"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(uart0: &str) -> Outcome {
        Outcome {
            uart: [uart0.into(), String::new()],
            exit_code: Some(0),
            ..Outcome::default()
        }
    }

    #[test]
    fn table_is_consistent() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
        for b in benchmarks() {
            assert!(
                b.name.starts_with("ckpt_"),
                "{}: `bench ckpt` runs them all",
                b.name
            );
            assert!(
                std::path::Path::new(root).join(b.layout).exists(),
                "{}",
                b.layout
            );
            // The whole of `cargo xtask bench` must stay within minutes.
            assert!(b.timeout_secs > 0 && b.timeout_secs <= 120, "{}", b.name);
            assert!(!b.modules.is_empty() && b.bare.is_none(), "{}", b.name);
        }
    }

    const INCREMENTAL: &str = "bulkhead: starting\n\
        [ckpt_bench] boot first_instruction_ticks=1 cntfrq=62500000\n\
        [ckpt_bench] ckpt_bench memcpy_4k pages=256 ticks=16000 cntfrq=62500000\n\
        [ckpt_bench] ckpt_bench memcpy_4k_fast pages=256 ticks=6400\n\
        [ckpt_bench] ckpt_bench first pages_copied=8192 pause_ticks=1000000\n\
        [ckpt_bench] ckpt_bench incremental dirty=1 pages_copied=2 pause_ticks=1000 observed_ticks=1010\n\
        [ckpt_bench] ckpt_bench incremental dirty=16 pages_copied=17 pause_ticks=2500 observed_ticks=2510\n\
        [ckpt_bench] ckpt_bench incremental dirty=256 pages_copied=257 pause_ticks=26500 observed_ticks=1\n\
        [ckpt_bench] ckpt_bench incremental dirty=4096 pages_copied=4097 pause_ticks=410500 observed_ticks=1\n\
        [ckpt_bench] ckpt_bench write_fault pages=1024 faulting_ticks=70000 plain_ticks=6000\n\
        [ckpt_bench] ckpt_bench restore_cal dirty=1 start=100\n\
        [ckpt_bench] ckpt_bench restore_run dirty=1 start=1000\n\
        [ckpt_bench] ckpt_bench restored dirty=1 end=3100 print_ticks=100\n\
        [ckpt_bench] ckpt_bench restore_run dirty=16 start=5000\n\
        [ckpt_bench] ckpt_bench restored dirty=16 end=8100 print_ticks=100\n\
        [ckpt_bench] ckpt_bench restore_run dirty=256 start=10000\n\
        [ckpt_bench] ckpt_bench restored dirty=256 end=40100 print_ticks=100\n\
        [ckpt_bench] ckpt_bench restore_run dirty=4096 start=50000\n\
        [ckpt_bench] ckpt_bench restored dirty=4096 end=500100 print_ticks=100\n\
        [ckpt_bench] ckpt_bench done\n";

    fn value(figures: &[Measurement], name: &str) -> f64 {
        figures
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
            .unwrap_or_else(|| panic!("no {name} in {figures:?}"))
    }

    #[test]
    fn incremental_figures() {
        let got = parse_incremental(&outcome(INCREMENTAL)).unwrap();
        // 16000 ticks * 16 instructions / 256 copies.
        assert!((value(&got, "memcpy_4k") - 1000.0).abs() < 1e-9);
        assert!((value(&got, "ckpt_incremental_fixed_cost") - 16_000.0).abs() < 1e-6);
        assert!((value(&got, "ckpt_incremental_pause_4096") - 6_568_000.0).abs() < 1e-6);
        // (6_568_000 - 16_000) / (4097 - 2) = 1600.
        assert!((value(&got, "ckpt_incremental_per_page") - 1600.0).abs() < 1e-6);
        assert!((value(&got, "ckpt_incremental_per_page_vs_memcpy_4k") - 1.6).abs() < 1e-9);
        // 6400 * 16 / 256 = 400.
        assert!((value(&got, "memcpy_4k_fast") - 400.0).abs() < 1e-9);
        assert!((value(&got, "ckpt_incremental_per_page_vs_memcpy_4k_fast") - 4.0).abs() < 1e-9);
        // (70000 - 6000) * 16 / 1024.
        assert!((value(&got, "write_fault_cost") - 1000.0).abs() < 1e-9);
        // (3100 - 1000 - 100) * 16.
        assert!((value(&got, "restore_pause_1") - 32_000.0).abs() < 1e-6);
        assert!((value(&got, "restore_pause_4096") - 7_200_000.0).abs() < 1e-6);
        assert_eq!(value(&got, "ckpt_incremental_pages_copied_16"), 17.0);
    }

    #[test]
    fn incremental_refuses_errors_and_gaps() {
        let error = format!("{INCREMENTAL}[ckpt_bench] ckpt_bench error: take returned -2\n");
        assert!(parse_incremental(&outcome(&error))
            .unwrap_err()
            .contains("take returned -2"));
        let missing = INCREMENTAL.replace("ckpt_bench done", "");
        assert!(parse_incremental(&outcome(&missing)).is_err());
        let no_restore = INCREMENTAL.replace("restored dirty=256", "restored dirty=255");
        assert!(parse_incremental(&outcome(&no_restore)).is_err());
        let too_few = INCREMENTAL.replace("dirty=16 pages_copied=17", "dirty=16 pages_copied=3");
        assert!(parse_incremental(&outcome(&too_few)).is_err());
        assert!(parse_incremental(&outcome("bulkhead: starting\n")).is_err());
    }

    #[test]
    fn full_ratio() {
        let line = "[ckpt_full] ckpt_bench full memory=67108864 memcpy_bytes=67108864 \
            memcpy_ticks=1000000 memcpy_fast_ticks=500000 pages_copied=16384 pause_ticks=1100000 observed_ticks=1100010 cntfrq=62500000\n";
        let got = parse_full("64mib", &outcome(line)).unwrap();
        assert_eq!(got[0].name, "ckpt_full_64mib");
        assert!((got[0].value - 17_600_000.0).abs() < 1e-6);
        assert_eq!(got[2].name, "memcpy_64mib");
        assert!((value(&got, "ckpt_full_64mib_ratio") - 1.1).abs() < 1e-9);
        assert!((value(&got, "memcpy_64mib_fast") - 8_000_000.0).abs() < 1e-6);
        assert!((value(&got, "ckpt_full_64mib_ratio_fast") - 2.2).abs() < 1e-9);
        let no_fast = line.replace("memcpy_fast_ticks=500000 ", "");
        assert!(parse_full("64mib", &outcome(&no_fast)).is_err());
        let partial = line.replace("pages_copied=16384", "pages_copied=100");
        assert!(parse_full("64mib", &outcome(&partial)).is_err());
    }

    const PERIODIC: &str =
        "[checkpointed] ckpt_bench periodic role=checkpointed interval_ms=25 percent=1 \
        pages=82 rounds=16 ticks=1030 checkpoints=16 start=10 end=1040 cntfrq=62500000\n\
        [plain] ckpt_bench periodic role=plain interval_ms=25 percent=1 pages=82 rounds=16 \
        ticks=1000 checkpoints=0 start=2000 end=3000 cntfrq=62500000\n";

    #[test]
    fn periodic_slowdown_percent() {
        let got = parse_periodic(&outcome(PERIODIC)).unwrap();
        assert_eq!(got[0].name, "periodic_slowdown_40hz_1pct");
        assert!((got[0].value - 3.0).abs() < 1e-9, "{got:?}");
        assert_eq!(value(&got, "periodic_slowdown_40hz_1pct_checkpoints"), 16.0);
    }

    #[test]
    fn periodic_refuses_overlap_and_mismatch() {
        let overlap = PERIODIC.replace("start=2000", "start=1000");
        assert!(parse_periodic(&outcome(&overlap)).is_err());
        let mismatch = PERIODIC.replace("rounds=16 ticks=1000", "rounds=15 ticks=1000");
        assert!(parse_periodic(&outcome(&mismatch)).is_err());
        let none = PERIODIC.replace("checkpoints=16", "checkpoints=0");
        assert!(parse_periodic(&outcome(&none)).is_err());
    }
}

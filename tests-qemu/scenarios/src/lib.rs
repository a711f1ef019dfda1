//! Bulkhead's QEMU scenarios and benchmarks: which layout and guests to boot, and what must be seen.
//!
//! `cargo xtask test` boots every [`Scenario`] and `cargo xtask bench` every
//! [`Benchmark`]; the runner lives in `tools/`, the checks live here beside
//! the guests whose output they read.

mod benchmarks;
pub mod boards;
pub mod console_input;
pub mod cpu_models;
pub mod disk;
pub mod firmware;
mod linux;
mod scenarios;

pub use benchmarks::benchmarks;
pub use console_input::{console_input, InputStep};
pub use cpu_models::{cpu_models, run_name, CpuModel};
pub use firmware::{firmware, Firmware};
pub use scenarios::all;

/// What Bulkhead's power-off report says it allocated after boot
/// (`bulkhead: heap: <n> allocations after boot`), if the boot got there.
pub fn runtime_allocations(console: &str) -> Option<u64> {
    console.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix("bulkhead: heap: ")?
            .strip_suffix(" allocations after boot")?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod runtime_allocation_tests {
    #[test]
    fn reads_the_power_off_report() {
        let text = "bulkhead: heap: 1024 of 4096 bytes used at boot\r\nbulkhead: heap: 3 allocations after boot\r\n";
        assert_eq!(super::runtime_allocations(text), Some(3));
        assert_eq!(
            super::runtime_allocations("bulkhead: all partitions are off"),
            None
        );
    }
}

/// The scenario `cargo xtask run` boots when given no layout: Debian's
/// unmodified Linux beside a bare-metal partition.
pub const DEMO: &str = "linux_boot";

/// A guest image loaded as a boot module.
#[derive(Clone, Copy, Debug)]
pub struct Module {
    /// Physical address the raw image is loaded at (the layout's `kernel` PA).
    pub address: u64,
    /// Binary name in `tests-qemu/guests` (built for aarch64-unknown-none, objcopied to raw).
    pub guest: &'static str,
}

/// What one QEMU boot printed and how it ended.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Everything each PL011 printed (index 0 = 0x0900_0000, 1 = 0x0904_0000).
    pub uart: [String; 2],
    /// QEMU's exit code; `None` if it was killed.
    pub exit_code: Option<i32>,
    /// Whether the runner killed QEMU at the scenario's timeout.
    pub timed_out: bool,
    /// The `layout error: ...` lines the host validator (`cargo xtask check`)
    /// printed for this layout, empty if it accepted it.
    pub check_errors: Vec<String>,
}

/// One QEMU boot with a verdict.
#[derive(Clone)]
pub struct Scenario {
    pub name: &'static str,
    /// One line: what this proves.
    pub description: &'static str,
    /// Layout overlay (.dtso), relative to the repository root.
    pub layout: &'static str,
    pub modules: &'static [Module],
    /// Hard limit of wall time; QEMU is killed after it.
    pub timeout_secs: u64,
    /// Run with `-icount shift=0,align=off,sleep=off`.
    pub icount: bool,
    /// Ok, or what was wrong, quoting what was seen.
    pub check: fn(&Outcome) -> Result<(), String>,
}

/// One measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// A comparison boot on QEMU without Bulkhead: `virt` with GICv3, no
/// virtualization, the guest entered at EL1 with a DT QEMU generates; same
/// CPU model and icount as the Bulkhead boot.
#[derive(Clone, Copy, Debug)]
pub struct BareBoot {
    /// A bin of `tests-qemu/guests`, or `linux:kernel` (Debian's Image).
    pub kernel: &'static str,
    /// `linux:initramfs` or none.
    pub initrd: Option<&'static str>,
    /// Kernel command line.
    pub append: Option<&'static str>,
    pub cpus: u32,
    pub memory_mib: u32,
}

/// One QEMU boot (always under icount) that yields measurements, optionally
/// beside a bare comparison boot.
pub struct Benchmark {
    pub name: &'static str,
    pub layout: &'static str,
    pub modules: &'static [Module],
    pub timeout_secs: u64,
    /// Booted after the Bulkhead boot, with the same timeout.
    pub bare: Option<BareBoot>,
    /// Figures from the Bulkhead boot and a comparison boot: the bare one
    /// if `bare` is set, else the same Bulkhead boot on the benchmark's
    /// second CPU model if it has one (`cpu_models`).
    pub parse: fn(&Outcome, Option<&Outcome>) -> Result<Vec<Measurement>, String>,
}

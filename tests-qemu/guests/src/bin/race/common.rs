//! Shared by the `race_*` guests: options from `/chosen/bootargs`, return-code tallies, a cheap random source.
//!
//! Each race guest is one binary whose role and figures come from the
//! layout's `bootargs` (`key=value` words, e.g. `race=take-reset boots=5`),
//! so one image serves every partition of a scenario.
//!
//! Each binary includes this file as a module and uses only part of it.
#![allow(dead_code)]

use bulkhead_guests::abi::ret;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The words of `/chosen/bootargs` in the device tree at `dtb` (empty without one).
pub fn bootargs(dtb: u64) -> &'static str {
    bulkhead_guests::dt::blob(dtb)
        .and_then(|fdt| fdt.find_node("/chosen")?.property("bootargs")?.as_str())
        .unwrap_or("")
}

/// The value of `key=` in `args`.
pub fn option<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// `key=` as a decimal number, else `default`.
pub fn option_u64(args: &str, key: &str, default: u64) -> u64 {
    option(args, key)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// How one SMCCC result counts in a tally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Ok,
    Busy,
    Denied,
    Other,
}

/// Sorts a lifecycle call's result: 0, BUSY, DENIED, or anything else.
pub fn classify(code: i64) -> Class {
    match code {
        ret::SUCCESS => Class::Ok,
        ret::BUSY => Class::Busy,
        ret::DENIED => Class::Denied,
        _ => Class::Other,
    }
}

/// Counts of results by [`Class`], shareable between vCPUs; the first
/// unexpected code is kept so a report can name it.
pub struct Tally {
    pub ok: AtomicU64,
    pub busy: AtomicU64,
    pub denied: AtomicU64,
    pub other: AtomicU64,
    pub first_other: AtomicI64,
}

impl Tally {
    pub const fn new() -> Self {
        Self {
            ok: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            other: AtomicU64::new(0),
            first_other: AtomicI64::new(0),
        }
    }

    /// Counts `code`; returns its class.
    pub fn count(&self, code: i64) -> Class {
        let class = classify(code);
        let counter = match class {
            Class::Ok => &self.ok,
            Class::Busy => &self.busy,
            Class::Denied => &self.denied,
            Class::Other => {
                let _ =
                    self.first_other
                        .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
                &self.other
            }
        };
        counter.fetch_add(1, Ordering::AcqRel);
        class
    }

    /// `ok=<a> busy=<b> denied=<c> other=<d> first_other=<code>` values, in that order.
    pub fn values(&self) -> [i64; 5] {
        let load = |counter: &AtomicU64| counter.load(Ordering::Acquire) as i64;
        [
            load(&self.ok),
            load(&self.busy),
            load(&self.denied),
            load(&self.other),
            self.first_other.load(Ordering::Acquire),
        ]
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): cheap
/// jitter, so the racing sides meet at varying offsets.
pub struct Lcg(u64);

impl Lcg {
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33).checked_rem(bound).unwrap_or(0)
    }
}

/// Spins `iterations` times (a jitter delay shorter than a timer tick).
pub fn spin(iterations: u64) {
    for _ in 0..iterations {
        core::hint::spin_loop();
    }
}

/// Counter ticks in `us` microseconds (at least one).
pub fn ticks_from_us(us: u64) -> u64 {
    (bulkhead_guests::timer::frequency().saturating_mul(us) / 1_000_000).max(1)
}

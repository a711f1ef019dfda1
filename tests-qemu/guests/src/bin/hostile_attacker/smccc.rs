//! Attack `smccc`: every SMCCC owner, fast and yielding, 32- and 64-bit, a handful of function numbers each, through `hvc` and `smc`.
//!
//! Calls each ID of [`ids`] with x1 = [`X1`] and x2..x6 = 0; an answer is
//! any x0 but NOT_SUPPORTED (for 32-bit IDs only w0 counts). Skips the
//! three IDs that would end the attacker ([`SKIPPED`]). Prints one
//! `attack smccc_answer id=<id> conduit=<c> x0=<x0>` line per answer, one
//! `attack smccc_owner owner=<o> answered=<n>` line per owner with answers,
//! and `attack smccc result=done calls=<n> answered=<n>`.

use super::calls::{raw, Conduit};
use super::Done;
use bulkhead_guests::abi::{psci, ret};
use bulkhead_guests::println;

/// Function numbers (bits 15:0) tried in every owner range.
pub const FUNCTIONS: [u32; 23] = [
    0x0, 0x1, 0x2, 0x3, 0x4, 0x6, 0xA, 0x10, 0x11, 0x12, 0x20, 0x21, 0xF0, 0xFF, 0x3FFF, 0x7FFF,
    0x8000, 0xFF00, 0xFF01, 0xFF02, 0xFF03, 0xFFFE, 0xFFFF,
];
/// x1 of every call: SMCCC_ARCH_FEATURES's own ID (what ARCH_FEATURES and
/// PSCI_FEATURES query: implemented, but not a PSCI function), as a virtual
/// MPIDR vCPU 1 (flag bit 31 set; it is off), as a partition id one that
/// does not exist.
pub const X1: u64 = 0x8000_0001;
/// IDs not called: CPU_OFF, SYSTEM_OFF and SYSTEM_RESET end the caller.
pub const SKIPPED: [u32; 3] = [psci::CPU_OFF, psci::SYSTEM_OFF, psci::SYSTEM_RESET];

/// Every ID tried, in order: owner, then fast/yielding, 64/32-bit, function.
pub fn ids() -> impl Iterator<Item = u32> {
    (0..64u32).flat_map(|owner| {
        [1u32 << 31 | 1 << 30, 1 << 31, 1 << 30, 0]
            .into_iter()
            .flat_map(move |kind| {
                FUNCTIONS
                    .into_iter()
                    .map(move |function| kind | owner << 24 | function)
            })
    })
}

pub fn run() -> Done {
    let mut calls = 0u64;
    let mut answered = 0u64;
    let mut owner_answers = [0u64; 64];
    for id in ids().filter(|id| !SKIPPED.contains(id)) {
        for conduit in Conduit::BOTH {
            let x0 = raw(conduit, u64::from(id), [X1, 0, 0, 0, 0, 0])[0];
            calls += 1;
            let not_supported = if id & 1 << 30 != 0 {
                x0 as i64 == ret::NOT_SUPPORTED
            } else {
                x0 as u32 == ret::NOT_SUPPORTED as u32
            };
            if !not_supported {
                answered += 1;
                owner_answers[((id >> 24) & 0x3f) as usize] += 1;
                println!(
                    "attack smccc_answer id={id:#x} conduit={} x0={}",
                    conduit.name(),
                    x0 as i64
                );
            }
        }
    }
    for (owner, count) in owner_answers.iter().enumerate().filter(|(_, c)| **c != 0) {
        println!("attack smccc_owner owner={owner} answered={count}");
    }
    println!("attack smccc result=done calls={calls} answered={answered}");
    Done("calls", calls)
}

//! Guest `race_manager`: checkpoints, restores and queries the partitions it manages on a heartbeat, whatever they are doing.
//!
//! Options (`/chosen/bootargs`): `targets=<id>[,<id>...]` (default: the
//! next id), `ops=` any of `take`, `restore`, `status` joined by commas
//! (default `take`), `period-ms=<n>` between heartbeats (default 25),
//! `heartbeats=<n>` (default 50), `until-denied=<k>` (default 0) and
//! `max-heartbeats=<n>` (default 1000). Every heartbeat it calls each op on
//! each target and prints `manager heartbeat=<n> target=<id> take=<code>
//! [restore=<code>] [status=<code>]`. It stops after `heartbeats`, or, with
//! `until-denied`, once the first op of every target was DENIED on `k`
//! heartbeats in a row (they are all off or stopped: it outlasts them
//! however slow the host is), or at `max-heartbeats`. Then it prints
//! `manager done heartbeats=<n> reason=<count|denied|cap> ok=<a> busy=<b>
//! denied=<c> other=<d> first_other=<code> longest_call_us=<u>` (every
//! call's result: 0, BUSY, DENIED or anything else) and calls SYSTEM_OFF.
//! A call that never returns stops the heartbeat: that is what the race
//! scenarios watch for.
#![no_std]
#![no_main]

#[path = "race/common.rs"]
mod common;

use bulkhead_guests::abi::ret;
use bulkhead_guests::{checkpoint, guest_main, println, psci, timer, BootInfo};
use common::{option, option_u64, Tally};
use core::fmt;

/// Most targets one manager drives.
const MAX_TARGETS: usize = 4;

/// ` name=<code>` when the op was called, nothing otherwise.
struct Field(&'static str, Option<i64>);

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(code) => write!(f, " {}={code}", self.0),
            None => Ok(()),
        }
    }
}

/// Runs `call`, keeping the longest duration seen (counter ticks) in `longest`.
fn timed(longest: &mut u64, call: impl FnOnce() -> i64) -> i64 {
    let start = timer::now();
    let code = call();
    *longest = (*longest).max(timer::now().saturating_sub(start));
    code
}

fn main(boot: &BootInfo) -> ! {
    let args = common::bootargs(boot.dtb);
    let own = boot.partition.map_or(0, |p| p.id);
    let mut targets = [0u64; MAX_TARGETS];
    let mut count = 0;
    for id in option(args, "targets")
        .unwrap_or("")
        .split(',')
        .filter_map(|id| id.parse().ok())
        .take(MAX_TARGETS)
    {
        targets[count] = id;
        count += 1;
    }
    if count == 0 {
        targets[0] = own + 1;
        count = 1;
    }
    let targets = &targets[..count];
    let ops = option(args, "ops").unwrap_or("take");
    let has = |op: &str| ops.split(',').any(|o| o == op);
    let (take, restore, status) = (has("take"), has("restore"), has("status"));
    let period_ms = option_u64(args, "period-ms", 25);
    let heartbeats = option_u64(args, "heartbeats", 50);
    let until_denied = option_u64(args, "until-denied", 0);
    let max_heartbeats = option_u64(args, "max-heartbeats", 1000).max(heartbeats);
    println!(
        "manager start targets={} ops={ops} period_ms={period_ms} heartbeats={heartbeats} \
         until_denied={until_denied} max_heartbeats={max_heartbeats}",
        option(args, "targets").unwrap_or("next")
    );

    let tally = Tally::new();
    let mut longest = 0u64;
    let mut denied_streak = 0u64;
    let mut heartbeat = 0u64;
    let reason = loop {
        if heartbeat >= heartbeats && until_denied == 0 {
            break "count";
        }
        if heartbeat >= heartbeats && denied_streak >= until_denied {
            break "denied";
        }
        if heartbeat >= max_heartbeats {
            break "cap";
        }
        heartbeat += 1;
        let mut all_denied = true;
        for &target in targets {
            let mut call = |wanted: bool, op: fn(u64) -> i64| {
                wanted.then(|| {
                    let code = timed(&mut longest, || op(target));
                    tally.count(code);
                    code
                })
            };
            let take = call(take, checkpoint::take_code);
            let restore = call(restore, checkpoint::restore);
            let status = call(status, checkpoint::status_code);
            all_denied &= take.or(restore).or(status) == Some(ret::DENIED);
            println!(
                "manager heartbeat={heartbeat} target={target}{}{}{}",
                Field("take", take),
                Field("restore", restore),
                Field("status", status)
            );
        }
        denied_streak = if all_denied { denied_streak + 1 } else { 0 };
        timer::delay_ms(period_ms);
    };
    let [ok, busy, denied, other, first_other] = tally.values();
    let longest_us = longest.saturating_mul(1_000_000) / timer::frequency().max(1);
    println!(
        "manager done heartbeats={heartbeat} reason={reason} ok={ok} busy={busy} denied={denied} other={other} \
         first_other={first_other} longest_call_us={longest_us}"
    );
    psci::system_off()
}

guest_main!(main);

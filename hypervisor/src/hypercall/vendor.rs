//! Bulkhead's own calls (vendor-specific hypervisor range, owner 6).

use bulkhead_abi::{ret, vendor};

use super::{set_result, Caller};
use crate::arch::aarch64::exception::GuestFrame;
use crate::console;
use crate::partition::{GuestBuffer, TrapCounters};

pub fn handle(caller: &Caller, function: u32, frame: &mut GuestFrame) {
    match vendor::canonical(function) {
        vendor::VERSION => set_result(
            frame,
            ((vendor::BULKHEAD_VERSION_MAJOR << 16) | vendor::BULKHEAD_VERSION_MINOR) as i64,
        ),
        vendor::PARTITION_INFO => {
            let config = &caller.partition.config;
            frame.x[0] = ret::SUCCESS as u64;
            frame.x[1] = u64::from(config.id);
            frame.x[2] = caller.partition.vcpus.len() as u64;
            frame.x[3] = caller.vcpu.index as u64;
            frame.x[4] = config.memory_bytes();
        }
        vendor::CONSOLE_WRITE => console_write(caller, frame),
        vendor::STATS => match crate::manage::target(caller.system, caller.partition, frame.x[1]) {
            Ok(target) => {
                frame.x[0] = ret::SUCCESS as u64;
                frame.x[1..=vendor::stats::COUNT].copy_from_slice(&target.stats());
            }
            Err(code) => set_result(frame, code),
        },
        vendor::NULL => set_result(frame, ret::SUCCESS),
        vendor::CALL_COUNT => set_result(frame, vendor::COUNT as i64),
        vendor::CALL_UID => {
            for (register, word) in frame.x[..4].iter_mut().zip(vendor::UID) {
                *register = u64::from(word);
            }
        }
        vendor::REVISION => {
            frame.x[0] = vendor::BULKHEAD_VERSION_MAJOR;
            frame.x[1] = vendor::BULKHEAD_VERSION_MINOR;
        }
        _ => set_result(frame, ret::NOT_SUPPORTED),
    }
}

/// CONSOLE_WRITE(x1 = IPA, x2 = length): the whole buffer must be the
/// caller's; at most CONSOLE_WRITE_MAX bytes are taken per call. They go
/// into the caller's console ring (bytes it has no room for are dropped
/// and reported), so the call never waits for the UART.
fn console_write(caller: &Caller, frame: &mut GuestFrame) {
    let buffer = GuestBuffer::new(frame.x[1], frame.x[2]);
    let Some(bytes) = buffer.check(&caller.partition.config) else {
        set_result(frame, ret::INVALID_PARAMETERS);
        return;
    };
    let count = bytes.len().min(vendor::CONSOLE_WRITE_MAX as usize);
    // The console keeps one ring per partition, by its place in the system.
    let partition = caller
        .system
        .partitions
        .iter()
        .position(|partition| core::ptr::eq(partition, caller.partition))
        .unwrap_or(usize::MAX);
    let dropped = console::write_guest_bytes(partition, caller.partition.label(), &bytes[..count]);
    let traps = &caller.partition.traps;
    TrapCounters::add(&traps.console_bytes, count as u64);
    TrapCounters::add(&traps.console_dropped, dropped);
    set_result(frame, count as i64);
}

//! Guest `psci`: exercises CPU_ON, AFFINITY_INFO, CPU_OFF and SYSTEM_RESET on its own partition.
//!
//! Prints one `result <name>=<value>` line per call; a boot counter kept
//! outside the image (first region + 200 MiB) survives SYSTEM_RESET, so the
//! first boot resets and the second switches off.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// The value vCPU 0 hands vCPU 1 through CPU_ON.
pub const CONTEXT: u64 = 0x0123_4567_89ab_cdef;
/// Offset of the boot counter from the first region's start.
const COUNTER_OFFSET: u64 = 200 << 20;
/// Marks the counter as written by us (RAM may hold anything at power-on).
const COUNTER_MAGIC: u64 = 0x626f_6f74_636e_7431;
/// Longest wait for vCPU 1 to report or switch off.
const WAIT_MS: u64 = 2000;
/// Pause before reset/off, so a concurrent partition prints across it.
const LINGER_MS: u64 = 300;

/// Set by vCPU 1 once it has printed its context.
static SECONDARY_UP: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 0 when vCPU 1 may call CPU_OFF.
static SECONDARY_GO_OFF: AtomicU64 = AtomicU64::new(0);

fn result(name: &str, value: i64) {
    println!("result {name}={value}");
}

/// Waits up to [`WAIT_MS`] for `done`; false on timeout.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let start = timer::now();
    while !done() {
        if timer::elapsed_ms(start) > WAIT_MS {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Increments and returns the boot counter.
fn count_boot(base: u64) -> u64 {
    let counter = (base + COUNTER_OFFSET) as *mut u64;
    // SAFETY: the counter's 16 bytes lie in this partition's first region
    // (its size was checked by the caller), outside the image and .bss, and
    // only vCPU 0 touches them.
    unsafe {
        let count = if core::ptr::read_volatile(counter) == COUNTER_MAGIC {
            core::ptr::read_volatile(counter.add(1)) + 1
        } else {
            1
        };
        core::ptr::write_volatile(counter, COUNTER_MAGIC);
        core::ptr::write_volatile(counter.add(1), count);
        count
    }
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("psci error: no memory region known");
        psci::system_off()
    };
    if size < COUNTER_OFFSET + (4 << 20) {
        println!("psci error: first region {base:#x}+{size:#x} too small for the boot counter");
        psci::system_off()
    }
    let count = count_boot(base);
    println!("boot count={count}");

    result("cpu_on_1", psci::cpu_on(1, CONTEXT));
    if !wait_for(|| SECONDARY_UP.load(Ordering::Acquire) != 0) {
        println!("psci error: vcpu 1 never reported");
    }
    result("affinity_info_1_on", psci::affinity_info(1));
    result("cpu_on_1_again", psci::cpu_on(1, CONTEXT));
    result("cpu_on_2", psci::cpu_on(2, CONTEXT));
    result("cpu_on_0x100", psci::cpu_on(0x100, CONTEXT));

    SECONDARY_GO_OFF.store(1, Ordering::Release);
    let mut state = psci::affinity_info(1);
    let _ = wait_for(|| {
        state = psci::affinity_info(1);
        state == bulkhead_guests::abi::psci::AFFINITY_OFF as i64
    });
    result("affinity_info_1_off", state);

    timer::delay_ms(LINGER_MS);
    if count == 1 {
        println!("psci system_reset");
        psci::system_reset()
    }
    println!("psci system_off");
    psci::system_off()
}

fn secondary(vcpu: u64, context: u64) -> ! {
    println!("secondary vcpu={vcpu} context={context:#x}");
    SECONDARY_UP.store(1, Ordering::Release);
    while SECONDARY_GO_OFF.load(Ordering::Acquire) == 0 {
        core::hint::spin_loop();
    }
    let error = psci::cpu_off();
    println!("psci error: cpu_off returned {error}");
    psci::park()
}

guest_main!(main, secondary);

//! Guest `ckpt_bench_state`: the pause of a checkpoint that copies almost no memory, i.e. mostly the vCPU state.
//!
//! One vCPU (with SVE at its longest vector length where the core has it)
//! takes a first checkpoint, then [`TAKES`] more of itself touching nothing
//! in between, summing CHECKPOINT_STATUS's pause. Line:
//! `ckpt_bench state takes=<n> pause_ticks=<sum> pages=<sum> vl=<bytes> cntfrq=<f>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take, SELF};
use bulkhead_guests::{cpu, guest_main, println, psci, timer, BootInfo};

const TAKES: u64 = 200;

fn main(_boot: &BootInfo) -> ! {
    let vl = if cpu::has_sve() {
        cpu::enable_sve();
        cpu::set_vector_length(0xf);
        cpu::vector_bytes()
    } else {
        0
    };
    let _ = checkpoint::take(SELF);
    let (mut pause, mut pages) = (0, 0);
    for _ in 0..TAKES {
        match checkpoint::take(SELF) {
            Take::Taken { .. } => {}
            other => {
                println!("ckpt_bench error: take returned {:?}", other);
                psci::system_off()
            }
        }
        match checkpoint::status(SELF) {
            Ok(status) => {
                pause += status.pause_ticks;
                pages += status.pages_copied;
            }
            Err(code) => {
                println!("ckpt_bench error: status returned {}", code);
                psci::system_off()
            }
        }
    }
    println!(
        "ckpt_bench state takes={} pause_ticks={} pages={} vl={} cntfrq={}",
        TAKES,
        pause,
        pages,
        vl,
        timer::frequency()
    );
    psci::system_off()
}

guest_main!(main);

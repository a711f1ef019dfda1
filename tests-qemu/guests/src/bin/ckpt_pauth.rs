//! Guest `ckpt_pauth`: pointer-authentication keys are rolled back with the rest of the vCPU.
//!
//! Signs a return address with the APIA key K1 and checkpoints itself; on
//! the first return it switches to key K2 (signing the same address now
//! gives another code) and restores. On the second return the key must be
//! K1 again and the address signed before the checkpoint must
//! authenticate. Lines: `pauth taken differs=<bool>`, `pauth restored
//! key_restored=<bool> authenticated=<bool>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take, SELF};
use bulkhead_guests::{cpu, guest_main, println, psci, BootInfo};

const KEY1: (u64, u64) = (0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321);
const KEY2: (u64, u64) = (0x1111_2222_3333_4444, 0x5555_6666_7777_8888);
/// The modifier signing uses (as a stack pointer would be).
const MODIFIER: u64 = 0x4a10_0000;

fn main(_boot: &BootInfo) -> ! {
    // A code address of this image: what a signed return address points to.
    let target = main as *const () as u64;
    cpu::set_apia_key(KEY1.0, KEY1.1);
    let signed = cpu::sign(target, MODIFIER);
    if signed == target {
        println!("pauth unavailable");
        psci::system_off()
    }
    match checkpoint::take(SELF) {
        Take::Taken { .. } => {
            cpu::set_apia_key(KEY2.0, KEY2.1);
            println!(
                "pauth taken differs={}",
                cpu::sign(target, MODIFIER) != signed
            );
            let code = checkpoint::restore(SELF);
            println!("pauth restore failed code={}", code);
        }
        Take::Restored { .. } => {
            let key_restored = cpu::apia_key() == KEY1;
            let authenticated = key_restored && cpu::authenticate(signed, MODIFIER) == target;
            println!(
                "pauth restored key_restored={} authenticated={}",
                key_restored, authenticated
            );
        }
        Take::Failed(code) => println!("pauth take failed code={}", code),
    }
    psci::system_off()
}

guest_main!(main);

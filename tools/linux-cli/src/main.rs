//! `bulkhead`: the Linux guest's view of Bulkhead: partitions (`ps`, `stats`, lifecycle commands) and channels.
//!
//! A static aarch64 musl binary in the test initramfs at `/bin/bulkhead`.
//! The logic lives in host-tested modules behind small traits
//! ([`registers::Registers`], [`transfer::Endpoint`]); `hardware` is the
//! only module that touches the devices.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod commands;
mod control;
mod counter;
mod hardware;
mod registers;
mod sysfs;
mod transfer;

use std::process::ExitCode;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|argument| argument.to_string_lossy().into_owned())
        .collect();
    let command = match args::parse(&arguments) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("bulkhead: {error}");
            return ExitCode::from(2);
        }
    };
    match commands::run(&command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bulkhead: {message}");
            ExitCode::FAILURE
        }
    }
}

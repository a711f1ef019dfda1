//! The device tree a partition's guest boots with, derived from the board's own DTB.

mod channels;
mod error;
mod virtual_console;
mod virtual_pci;
mod writer;

#[cfg(test)]
mod tests;

pub use error::GuestDtError;
pub use writer::{boot_count_offset, build, chosen_value_offset, GuestDtOptions};

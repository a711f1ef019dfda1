//! Architecture support; Bulkhead runs on AArch64 at EL2 only.

pub mod aarch64;

//! Starting the other cores the way the board DT says: PSCI `CPU_ON` or a spin table.
//!
//! Either way a core enters `entry::secondary_entry` at EL2 with x0 = its
//! logical id. Guests never see the board's method: they get Bulkhead's PSCI.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_core::config::{BoardCpu, EnableMethod};

use crate::arch::aarch64::{entry, firmware, spin_table};

/// Secondary cores that have reached Rust with their MMU on.
static ARRIVED: AtomicUsize = AtomicUsize::new(0);

/// Why a core was not started.
pub enum StartError {
    /// The firmware's PSCI `CPU_ON` returned this error.
    Psci(i64),
    /// The board DT's CPU node has no `enable-method`.
    NoEnableMethod,
    /// More cores than Bulkhead has stacks for.
    NoStack,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Psci(code) => write!(f, "firmware PSCI CPU_ON returned {code}"),
            StartError::NoEnableMethod => {
                write!(
                    f,
                    "its CPU node has no enable-method, so it cannot be started"
                )
            }
            StartError::NoStack => write!(f, "Bulkhead has no stack for it"),
        }
    }
}

/// Starts `board_cpu` as logical CPU `cpu`.
pub fn start(cpu: usize, board_cpu: &BoardCpu) -> Result<(), StartError> {
    match board_cpu.enable_method {
        EnableMethod::Psci => firmware::cpu_on(
            board_cpu.mpidr,
            entry::secondary_entry as *const () as u64,
            cpu as u64,
        )
        .map_err(StartError::Psci),
        EnableMethod::SpinTable { release } => {
            // SAFETY: `release` is the core's cpu-release-addr from the board
            // DT (parsed as an aligned 64-bit address); the EL2 map covers
            // the board's RAM, and the word lies in Bulkhead's reserved area
            // on the boards it describes (platform::rpi4: 0xd8..0xf8).
            unsafe { spin_table::release(cpu, board_cpu.mpidr, release) }
                .map_err(|_| StartError::NoStack)
        }
        EnableMethod::Unspecified => Err(StartError::NoEnableMethod),
    }
}

/// Called by every secondary core once its MMU is on.
pub fn arrived() {
    ARRIVED.fetch_add(1, Ordering::AcqRel);
}

/// How many secondary cores have arrived so far.
pub fn arrived_count() -> usize {
    ARRIVED.load(Ordering::Acquire)
}

/// How the board starts `board_cpu`, for logs.
pub fn method_name(board_cpu: &BoardCpu) -> &'static str {
    match board_cpu.enable_method {
        EnableMethod::Psci => "psci",
        EnableMethod::SpinTable { .. } => "spin-table",
        EnableMethod::Unspecified => "none",
    }
}

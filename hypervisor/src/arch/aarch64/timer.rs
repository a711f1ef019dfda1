//! The EL2 physical timer (CNTHP): Bulkhead's own clock for periodic checkpoints.

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};

use super::sysreg::{isb, write_sysreg};

/// Its interrupt: PPI 10, INTID 26.
pub const HYPERVISOR_TIMER_PPI: u32 = 26;

/// Fires the EL2 timer `ms` milliseconds from now (one shot).
pub fn arm_hypervisor_timer(ms: u64) {
    let ticks = CNTFRQ_EL0.get().saturating_mul(ms) / 1000;
    write_sysreg!("cnthp_cval_el2", CNTPCT_EL0.get().saturating_add(ticks));
    write_sysreg!("cnthp_ctl_el2", 1);
    isb();
}

pub fn disarm_hypervisor_timer() {
    write_sysreg!("cnthp_ctl_el2", 0);
    isb();
}

/// The system counter now.
pub fn now() -> u64 {
    CNTPCT_EL0.get()
}

/// A point on the system counter after which a wait gives up.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(u64);

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Deadline {
        let ticks = CNTFRQ_EL0.get().saturating_mul(ms) / 1000;
        Deadline(now().saturating_add(ticks))
    }

    pub fn passed(self) -> bool {
        now() >= self.0
    }
}

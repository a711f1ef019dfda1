//! The EL2 physical timer (CNTHP): Bulkhead's own clock for periodic checkpoints and for settling deferred level interrupts.
//!
//! Each core's timer serves two deadlines (`bulkhead_core::level_irq::TimerDeadlines`):
//! it is programmed for the earlier one, and its handler asks
//! [`take_expired`] which were reached.

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
use bulkhead_core::level_irq::{Expired, TimerDeadlines};
use bulkhead_platform::current::PLATFORM;

use super::sysreg::{isb, write_sysreg};

/// Its interrupt: PPI 10, INTID 26.
pub const HYPERVISOR_TIMER_PPI: u32 = 26;

/// Each core's deadlines; only that core touches its entry (with IRQs
/// masked at EL2), the lock only makes the shared static sound.
static DEADLINES: [spin::Mutex<TimerDeadlines>; PLATFORM.max_cpus] = [const {
    spin::Mutex::new(TimerDeadlines {
        checkpoint: None,
        deferred: None,
    })
}; PLATFORM.max_cpus];

/// Updates this core's deadlines with `change` and programs the timer for the earlier one.
fn update(change: impl FnOnce(&mut TimerDeadlines)) {
    let Some(slot) = DEADLINES.get(crate::percpu::current_cpu()) else {
        return;
    };
    let mut deadlines = slot.lock();
    change(&mut deadlines);
    program(deadlines.next());
}

fn program(at: Option<u64>) {
    match at {
        Some(at) => {
            write_sysreg!("cnthp_cval_el2", at);
            write_sysreg!("cnthp_ctl_el2", 1);
        }
        None => write_sysreg!("cnthp_ctl_el2", 0),
    }
    isb();
}

/// Counter ticks in `us` microseconds.
pub fn ticks_from_us(us: u64) -> u64 {
    CNTFRQ_EL0.get().saturating_mul(us) / 1_000_000
}

/// The next periodic checkpoint is due `ms` milliseconds from now (one shot).
pub fn arm_hypervisor_timer(ms: u64) {
    let at = now().saturating_add(CNTFRQ_EL0.get().saturating_mul(ms) / 1000);
    update(|deadlines| deadlines.checkpoint = Some(at));
}

/// No periodic checkpoint on this core.
pub fn disarm_hypervisor_timer() {
    update(|deadlines| deadlines.checkpoint = None);
}

/// Deferred interrupts are next due at counter value `at` (none: `None`).
pub fn set_deferred_deadline(at: Option<u64>) {
    update(|deadlines| deadlines.deferred = at);
}

/// The timer fired: which deadlines it reached (cleared; the timer is
/// programmed for what is left).
pub fn take_expired() -> Expired {
    let now = now();
    let mut expired = Expired::default();
    update(|deadlines| expired = deadlines.expire(now));
    expired
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

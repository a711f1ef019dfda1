//! Level-triggered passthrough interrupts that come back while the guest masks IRQs: held, then delivered only if their line is still asserted.
//!
//! A guest handler that EOIs (deactivates, through the list register's HW
//! bit) before it clears its device lets the still-asserted line re-pend
//! the physical interrupt at once. On a bare machine that pending state
//! follows the line, and the line has dropped by the time the handler
//! unmasks IRQs: nothing more is taken. At EL2 the re-pend is acknowledged
//! at once (the guest's PSTATE.I does not mask EL2), after which its
//! pending state no longer follows the line, and an injection would give
//! the guest a second interrupt with nothing raised.
//!
//! So a level SPI of the partition that arrives while the interrupted guest
//! masks IRQs (it could not take it yet anyway) is [`Arrival::Defer`]red:
//! it stays physically active (priority already dropped) for a short grace
//! period, then is [`settle`]d by its line: still asserted, it is injected
//! (a real event, or a guest that waits with IRQs masked); dropped, it is
//! deactivated unseen. Nothing is lost: while it is held active the
//! physical pending state keeps following the line, so an event raised
//! during the grace period is what the settling finds asserted. Each
//! deferral costs one timer expiry and a deferred INTID cannot arrive again
//! before it is settled, so a guest cannot make EL2 spin.

/// INTIDs of SPIs (the only passthrough interrupts that are deferred).
pub const SPIS: core::ops::Range<u32> = 32..1020;

/// What to do with a partition's physical interrupt that just arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Inject,
    /// Keep it active and settle it after the grace period.
    Defer,
}

/// `level`: its physical configuration is level-sensitive; `guest_masked`:
/// the interrupted guest context has PSTATE.I set (SPSR_EL2.I).
pub fn on_arrival(intid: u32, level: bool, guest_masked: bool) -> Arrival {
    if SPIS.contains(&intid) && level && guest_masked {
        Arrival::Defer
    } else {
        Arrival::Inject
    }
}

/// What a deferred interrupt becomes once its grace period is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// The line is still asserted: inject it (HW bit, as any other).
    Inject,
    /// The line dropped: deactivate it; the guest never sees it.
    Deactivate,
}

pub fn settle(line_asserted: bool) -> Settle {
    if line_asserted {
        Settle::Inject
    } else {
        Settle::Deactivate
    }
}

/// Most interrupts one vCPU holds deferred at once; one more is injected at
/// once (today's behaviour) rather than dropped.
pub const MOST_DEFERRED: usize = 16;

/// One deferred interrupt and the counter value from which it is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    intid: u32,
    due: u64,
}

/// The interrupts one vCPU holds deferred.
#[derive(Clone, Debug, Default)]
pub struct Deferred {
    entries: [Option<Entry>; MOST_DEFERRED],
}

/// Every slot was taken: inject the interrupt now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl Deferred {
    pub const fn new() -> Deferred {
        Deferred {
            entries: [None; MOST_DEFERRED],
        }
    }

    /// Holds `intid` until counter value `due`. An INTID already held keeps
    /// its slot (it cannot arrive twice while active; a caller mistake must
    /// not fill the set).
    pub fn defer(&mut self, intid: u32, due: u64) -> Result<(), Full> {
        if let Some(entry) = self.entries.iter_mut().flatten().find(|e| e.intid == intid) {
            entry.due = entry.due.min(due);
            return Ok(());
        }
        let slot = self
            .entries
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(Full)?;
        *slot = Some(Entry { intid, due });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Option::is_none)
    }

    /// The earliest counter value at which something is due.
    pub fn next_due(&self) -> Option<u64> {
        self.entries.iter().flatten().map(|entry| entry.due).min()
    }

    /// Removes every interrupt due at counter value `now`, calling `each` with it.
    pub fn take_due(&mut self, now: u64, mut each: impl FnMut(u32)) {
        for slot in self.entries.iter_mut() {
            if let Some(entry) = *slot {
                if entry.due <= now {
                    *slot = None;
                    each(entry.intid);
                }
            }
        }
    }

    /// Removes every interrupt (the vCPU stops, restarts or is restored),
    /// calling `each` with it.
    pub fn take_all(&mut self, each: impl FnMut(u32)) {
        self.take_due(u64::MAX, each);
    }
}

/// The deadlines sharing one core's EL2 timer: the partition's periodic
/// checkpoint and the settling of deferred interrupts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerDeadlines {
    pub checkpoint: Option<u64>,
    pub deferred: Option<u64>,
}

/// Which deadlines an expiry of the timer reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub checkpoint: bool,
    pub deferred: bool,
}

impl TimerDeadlines {
    /// The compare value to program, if any deadline is set.
    pub fn next(&self) -> Option<u64> {
        match (self.checkpoint, self.deferred) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Clears and reports the deadlines reached at counter value `now`.
    pub fn expire(&mut self, now: u64) -> Expired {
        let reached = |deadline: &mut Option<u64>| {
            let hit = deadline.is_some_and(|at| at <= now);
            if hit {
                *deadline = None;
            }
            hit
        };
        Expired {
            checkpoint: reached(&mut self.checkpoint),
            deferred: reached(&mut self.deferred),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_level_spis_of_a_masked_guest_are_deferred() {
        assert_eq!(on_arrival(37, true, true), Arrival::Defer);
        assert_eq!(on_arrival(37, true, false), Arrival::Inject);
        assert_eq!(on_arrival(37, false, true), Arrival::Inject, "edge");
        assert_eq!(on_arrival(27, true, true), Arrival::Inject, "PPI (timer)");
        assert_eq!(on_arrival(8, true, true), Arrival::Inject, "SGI");
        assert_eq!(on_arrival(1020, true, true), Arrival::Inject, "special");
    }

    #[test]
    fn settling_follows_the_line() {
        assert_eq!(settle(true), Settle::Inject);
        assert_eq!(settle(false), Settle::Deactivate);
    }

    #[test]
    fn due_interrupts_are_taken_once_others_stay() {
        let mut deferred = Deferred::new();
        assert!(deferred.is_empty());
        deferred.defer(37, 100).unwrap();
        deferred.defer(38, 200).unwrap();
        assert_eq!(deferred.next_due(), Some(100));
        let mut taken = Vec::new();
        deferred.take_due(99, |intid| taken.push(intid));
        assert!(taken.is_empty());
        deferred.take_due(150, |intid| taken.push(intid));
        assert_eq!(taken, [37]);
        assert_eq!(deferred.next_due(), Some(200));
        deferred.take_due(150, |intid| taken.push(intid));
        assert_eq!(taken, [37]);
        deferred.take_all(|intid| taken.push(intid));
        assert_eq!(taken, [37, 38]);
        assert!(deferred.is_empty());
        assert_eq!(deferred.next_due(), None);
    }

    #[test]
    fn the_same_intid_twice_keeps_one_slot_and_the_earlier_deadline() {
        let mut deferred = Deferred::new();
        deferred.defer(40, 500).unwrap();
        deferred.defer(40, 300).unwrap();
        deferred.defer(40, 900).unwrap();
        let mut taken = Vec::new();
        deferred.take_all(|intid| taken.push(intid));
        assert_eq!(taken, [40]);
    }

    #[test]
    fn a_full_set_refuses_rather_than_drops() {
        let mut deferred = Deferred::new();
        for intid in 0..MOST_DEFERRED as u32 {
            deferred.defer(32 + intid, 10).unwrap();
        }
        assert_eq!(deferred.defer(500, 10), Err(Full));
        let mut count = 0;
        deferred.take_all(|_| count += 1);
        assert_eq!(count, MOST_DEFERRED);
        assert_eq!(deferred.defer(500, 10), Ok(()));
    }

    #[test]
    fn the_timer_fires_at_the_earlier_deadline_and_reports_what_it_reached() {
        let mut deadlines = TimerDeadlines::default();
        assert_eq!(deadlines.next(), None);
        deadlines.checkpoint = Some(1_000);
        assert_eq!(deadlines.next(), Some(1_000));
        deadlines.deferred = Some(400);
        assert_eq!(deadlines.next(), Some(400));
        assert_eq!(deadlines.expire(399), Expired::default());
        assert_eq!(
            deadlines.expire(400),
            Expired {
                checkpoint: false,
                deferred: true
            }
        );
        assert_eq!(deadlines.next(), Some(1_000));
        assert_eq!(
            deadlines.expire(5_000),
            Expired {
                checkpoint: true,
                deferred: false
            }
        );
        assert_eq!(deadlines.next(), None);
    }
}

//! IRQ handling for guests: acknowledge, count per vCPU and INTID, call the registered handler, EOI.
//!
//! Handlers run with IRQs masked on the interrupted vCPU's stack and must
//! not print (the interrupted code may hold the console lock): they update
//! atomics that the guest's main code reports.

use crate::gic;
use crate::timer;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// INTIDs counted and dispatchable: every SGI, PPI and SPI (Bulkhead's
/// virtual SPIs, channel doorbells, sit at 960 and up).
pub const INTIDS: usize = 1020;
/// vCPUs counted (as many as the runtime has stacks for).
pub const VCPUS: usize = crate::entry::MAX_VCPUS as usize;

/// What a handler learns about the interrupt it serves.
#[derive(Clone, Copy, Debug)]
pub struct Irq {
    pub intid: u32,
    /// The vCPU taking it (MPIDR Aff0).
    pub vcpu: u64,
    /// CNTVCT_EL0 as the exception vector read it.
    pub entry_ticks: u64,
}

/// A handler, called between acknowledge and EOI.
pub type Handler = fn(&Irq);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const NO_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
#[allow(clippy::declare_interior_mutable_const)]
const ROW: [AtomicU64; INTIDS] = [ZERO; INTIDS];

/// Acknowledged interrupts by vCPU and INTID.
static COUNTS: [[AtomicU64; INTIDS]; VCPUS] = [ROW; VCPUS];
/// Acknowledged INTIDs outside the counted range (not spurious ones), by vCPU.
static OUT_OF_RANGE: [AtomicU64; VCPUS] = [ZERO; VCPUS];
/// Handlers by INTID, as `Handler` pointers (null: count only).
static HANDLERS: [AtomicPtr<()>; INTIDS] = [NO_HANDLER; INTIDS];
#[allow(clippy::declare_interior_mutable_const)]
const DISPATCH_EOIS: AtomicBool = AtomicBool::new(false);
/// INTIDs whose handler writes its own EOI (the dispatcher then does not).
static HANDLER_EOIS: [AtomicBool; INTIDS] = [DISPATCH_EOIS; INTIDS];

/// Registers `handler` for `intid` (ignored for INTIDs not dispatchable).
pub fn set_handler(intid: u32, handler: Handler) {
    if let Some(slot) = HANDLERS.get(intid as usize) {
        slot.store(handler as *mut (), Ordering::Release);
    }
}

/// Registers `handler` for `intid` as one that writes the EOI itself,
/// wherever it chooses (say before it clears the device).
pub fn set_handler_that_eois(intid: u32, handler: Handler) {
    if let Some(flag) = HANDLER_EOIS.get(intid as usize) {
        flag.store(true, Ordering::Release);
    }
    set_handler(intid, handler);
}

/// Interrupts `vcpu` acknowledged with `intid` so far.
pub fn count(vcpu: u64, intid: u32) -> u64 {
    COUNTS
        .get(vcpu as usize)
        .and_then(|row| row.get(intid as usize))
        .map_or(0, |count| count.load(Ordering::Acquire))
}

/// Interrupts `vcpu` acknowledged with an INTID in `intids`.
pub fn count_range(vcpu: u64, intids: core::ops::Range<u32>) -> u64 {
    intids.map(|intid| count(vcpu, intid)).sum()
}

/// Every interrupt `vcpu` acknowledged, whatever its INTID.
pub fn total(vcpu: u64) -> u64 {
    count_range(vcpu, 0..INTIDS as u32)
        + OUT_OF_RANGE
            .get(vcpu as usize)
            .map_or(0, |count| count.load(Ordering::Acquire))
}

/// Called by the IRQ vector: serves every pending interrupt, then returns.
pub(crate) fn dispatch(entry_ticks: u64) {
    let vcpu = gic::own_vcpu();
    loop {
        let intid = gic::acknowledge();
        if intid >= gic::SPECIAL_INTID {
            return;
        }
        let row = COUNTS.get(vcpu as usize);
        match row.and_then(|row| row.get(intid as usize)) {
            Some(count) => {
                count.fetch_add(1, Ordering::AcqRel);
            }
            None => {
                if let Some(count) = OUT_OF_RANGE.get(vcpu as usize) {
                    count.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        let handler = HANDLERS
            .get(intid as usize)
            .map_or(core::ptr::null_mut(), |slot| slot.load(Ordering::Acquire));
        if !handler.is_null() {
            // SAFETY: non-null entries of HANDLERS are only ever stored by
            // `set_handler`, from a `Handler`; function and data pointers
            // have the same size on AArch64.
            let handler: Handler = unsafe { core::mem::transmute::<*mut (), Handler>(handler) };
            handler(&Irq {
                intid,
                vcpu,
                entry_ticks,
            });
        }
        let handler_eoied = !handler.is_null()
            && HANDLER_EOIS
                .get(intid as usize)
                .is_some_and(|flag| flag.load(Ordering::Acquire));
        if !handler_eoied {
            gic::end_of_interrupt(intid);
        }
    }
}

/// Unmasks IRQs (DAIF.I) on this vCPU.
pub fn enable() {
    // SAFETY: unmasking IRQs only lets the vector (installed at boot) run.
    unsafe { asm!("msr daifclr, #2", "isb", options(nomem, nostack)) };
}

/// Masks IRQs (DAIF.I) on this vCPU.
pub fn disable() {
    // SAFETY: masking IRQs has no memory effects.
    unsafe { asm!("msr daifset, #2", "isb", options(nomem, nostack)) };
}

/// Waits for an interrupt (`wfi`).
#[inline(always)]
pub fn wait() {
    // SAFETY: `wfi` only waits; with IRQs unmasked the handler runs after it.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Spins until `done` or `ms` milliseconds of counter time pass; false on timeout.
pub fn wait_until(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    let end = timer::now().saturating_add(timer::ticks_from_ms(ms));
    while !done() {
        if timer::now() >= end {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Sleeps in `wfi` until `done`, without the lost-wakeup race: the check
/// and the `wfi` run with IRQs masked (a pending interrupt still ends
/// `wfi`), and the interrupt is taken when they are unmasked again. Only for
/// conditions an interrupt that is sure to come will make true; returns with
/// IRQs unmasked.
pub fn sleep_until(mut done: impl FnMut() -> bool) {
    loop {
        disable();
        if done() {
            enable();
            return;
        }
        wait();
        enable();
    }
}

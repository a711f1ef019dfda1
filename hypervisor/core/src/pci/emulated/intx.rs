//! An emulated function's legacy interrupt: status, mask, INTx Disable and the line, in one atomic word.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// Mask register bits (the guest's whole 32-bit value, read back as written).
const MASK: u64 = 0xFFFF_FFFF;
/// Status bit 0, the only status bit: an event (doorbell, completed command) is pending.
const STATUS: u64 = 1 << 32;
/// Command bit 10 (INTx Disable) as the guest last wrote it.
const INTX_DISABLED: u64 = 1 << 33;
/// The line as last reported: asserted since the last raise.
const LINE: u64 = 1 << 34;

/// The interrupt state of one emulated function, shared (through an
/// `Arc`) by its config header on the virtual bus, its BAR0 register model
/// and, for an ivshmem endpoint, the peers that ring it from other cores.
///
/// The device asserts INTx while `status & mask != 0` (Status bit 3 shows
/// that, before masking); Command bit 10 masks it; the line is
/// `status & mask != 0 && !intx_disabled`.
///
/// **Level line, raised on rising edge.** Bulkhead's virtual SPI for INTx
/// is injected, not wired: every method that can make the line rise returns
/// `true` exactly when it rose, and the caller then injects the interrupt
/// once. A fall (status read, mask or INTx Disable set) is not reported: an
/// interrupt already injected stays pending in the vGIC, and a driver that
/// checks Status bit 3 or INTR_STATUS sees nothing to do. While the line
/// stays up nothing is re-raised; after it falls, the next rise raises again
/// (e.g. a driver unmasking with status pending takes a new interrupt, as a
/// level line would give it).
///
/// All four values live in one word updated by compare-and-swap, so each
/// operation sees and leaves a consistent state: concurrent callers raise at
/// most once per rising edge and a rise is never lost between a peer's ring
/// and the guest's status read.
#[derive(Default)]
pub struct IntxLine {
    word: AtomicU64,
}

impl IntxLine {
    /// Reset state: nothing pending, everything masked, INTx enabled, line low.
    pub const fn new() -> IntxLine {
        IntxLine {
            word: AtomicU64::new(0),
        }
    }

    /// An event: sets status bit 0. Returns whether the line rose (inject INTx now).
    ///
    /// An ivshmem endpoint's doorbell rung by a peer; the control function's
    /// command completion.
    #[must_use = "a raise must be injected"]
    pub fn signal(&self) -> bool {
        self.update(|word| word | STATUS)
    }

    /// The guest writes the mask register. Returns whether the line rose.
    #[must_use = "a raise must be injected"]
    pub fn set_mask(&self, mask: u32) -> bool {
        self.update(|word| (word & !MASK) | u64::from(mask))
    }

    /// The guest writes Command bit 10. Returns whether the line rose
    /// (cleared with an unmasked event pending).
    #[must_use = "a raise must be injected"]
    pub fn set_intx_disabled(&self, disabled: bool) -> bool {
        self.update(|word| {
            if disabled {
                word | INTX_DISABLED
            } else {
                word & !INTX_DISABLED
            }
        })
    }

    /// The guest reads the status register: its value, cleared (the line falls).
    pub fn take_status(&self) -> u32 {
        let mut old = 0;
        let _cannot_rise = self.update(|word| {
            old = word;
            word & !STATUS
        });
        status_of(old)
    }

    /// The status register without clearing it.
    pub fn status(&self) -> u32 {
        status_of(self.word.load(Ordering::Acquire))
    }

    /// The mask register.
    pub fn mask(&self) -> u32 {
        (self.word.load(Ordering::Acquire) & MASK) as u32
    }

    /// Whether the device asserts INTx before Command bit 10 masks it (Status bit 3).
    pub fn pending(&self) -> bool {
        pending(self.word.load(Ordering::Acquire))
    }

    /// Whether INTx is asserted now (pending and not disabled).
    pub fn asserted(&self) -> bool {
        self.word.load(Ordering::Acquire) & LINE != 0
    }

    /// Partition restart: nothing pending, everything masked, INTx enabled, line low.
    pub fn reset(&self) {
        self.word.store(0, Ordering::Release);
    }

    /// Applies `change` atomically, recomputes the line from the new state,
    /// and returns whether it rose. `change` may run more than once.
    fn update(&self, mut change: impl FnMut(u64) -> u64) -> bool {
        let mut old = self.word.load(Ordering::Acquire);
        loop {
            let changed = change(old) & !LINE;
            let new = if pending(changed) && changed & INTX_DISABLED == 0 {
                changed | LINE
            } else {
                changed
            };
            match self
                .word
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return old & LINE == 0 && new & LINE != 0,
                Err(current) => old = current,
            }
        }
    }
}

/// Status bits of a word, as the status register reads them.
fn status_of(word: u64) -> u32 {
    u32::from(word & STATUS != 0)
}

/// Whether `status & mask != 0` in `word`.
fn pending(word: u64) -> bool {
    status_of(word) & (word & MASK) as u32 != 0
}

impl fmt::Debug for IntxLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word.load(Ordering::Acquire);
        f.debug_struct("IntxLine")
            .field("status", &status_of(word))
            .field("mask", &((word & MASK) as u32))
            .field("intx_disabled", &(word & INTX_DISABLED != 0))
            .field("line", &(word & LINE != 0))
            .finish()
    }
}

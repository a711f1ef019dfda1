//! The cross-core protocol: one state per vCPU, a request mailbox per vCPU, one lifecycle operation per partition.
//!
//! Every core runs exactly one vCPU, and only that core moves its vCPU
//! into or out of its guest. Other cores (a sibling vCPU resetting the
//! partition, a manager checkpointing it, the periodic timer's core) act
//! on it only through three things defined here:
//!
//! - [`VcpuCell::state`]: one [`VcpuState`] per vCPU, changed only by
//!   compare-and-swap along the transitions of [`VcpuState::next`];
//! - [`Mailbox`]: typed [`Request`]s the vCPU's core takes at every EL2
//!   exit and inside every wait;
//! - [`OperationSlot`]: at most one lifecycle [`Operation`] (checkpoint,
//!   restore, reset, stop) per partition at a time. A claim never waits: a
//!   caller that loses gets the current holder back and either answers
//!   BUSY (a manager, a guest's own checkpoint call) or services its own
//!   mailbox and tries again (a reset, a fault), so no core ever waits for
//!   another with its own mailbox unserviced.
//!
//! An operation that needs the partition quiet *holds* each other vCPU: a
//! vCPU out of its guest is held where it is ([`VcpuState::HeldOff`],
//! [`VcpuState::HeldOnPending`]: its core cannot start it), one in its
//! guest is asked to [`Request::Pause`] and parks itself
//! ([`VcpuState::Parked`]); releasing undoes both.

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// Where one vCPU is. Only the transitions of [`VcpuState::next`] exist.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VcpuState {
    /// Powered off (never started, CPU_OFF, or its partition stopped/reset).
    Off = 0,
    /// CPU_ON accepted; its core will start it.
    OnPending = 1,
    /// Its core runs it: in the guest, or in EL2 on the guest's behalf.
    Running = 2,
    /// Waiting in EL2 with its state saved, while an operation holds the partition.
    Parked = 3,
    /// Off, and held by an operation: cannot be started until released.
    HeldOff = 4,
    /// CPU_ON accepted, held by an operation: starts once released.
    HeldOnPending = 5,
}

/// What moves a vCPU from one state to another, and who may do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// PSCI CPU_ON from a sibling vCPU (any core).
    PowerOn,
    /// Its own core takes a pending start.
    Start,
    /// Its own core answers a pause request.
    Park,
    /// The operation holding the partition lets a parked vCPU run on.
    Release,
    /// Its own core leaves the guest (CPU_OFF, exit request, fault).
    Leave,
    /// An operation holds a vCPU that is out of its guest.
    Hold,
    /// The operation lets a held vCPU go, as it was.
    Unhold,
    /// The operation, holding it, powers the vCPU off (stop, reset).
    HeldPowerOff,
    /// The operation, holding it, makes it start once released (reset's vCPU 0, restore).
    HeldPowerOn,
}

/// PSCI's view of a vCPU (AFFINITY_INFO: 0 on, 1 off, 2 on pending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerView {
    On,
    Off,
    OnPending,
}

impl VcpuState {
    pub const ALL: [VcpuState; 6] = [
        VcpuState::Off,
        VcpuState::OnPending,
        VcpuState::Running,
        VcpuState::Parked,
        VcpuState::HeldOff,
        VcpuState::HeldOnPending,
    ];

    fn from_raw(raw: u8) -> VcpuState {
        match raw {
            1 => VcpuState::OnPending,
            2 => VcpuState::Running,
            3 => VcpuState::Parked,
            4 => VcpuState::HeldOff,
            5 => VcpuState::HeldOnPending,
            _ => VcpuState::Off,
        }
    }

    /// The state `transition` leads to from `self`, or None if it does not apply.
    pub fn next(self, transition: Transition) -> Option<VcpuState> {
        use Transition as T;
        use VcpuState as S;
        match (self, transition) {
            (S::Off, T::PowerOn) => Some(S::OnPending),
            (S::HeldOff, T::PowerOn) => Some(S::HeldOnPending),
            (S::OnPending, T::Start) => Some(S::Running),
            (S::Running, T::Park) => Some(S::Parked),
            (S::Parked, T::Release) => Some(S::Running),
            (S::Running, T::Leave) => Some(S::Off),
            (S::Off, T::Hold) => Some(S::HeldOff),
            (S::OnPending, T::Hold) => Some(S::HeldOnPending),
            (S::HeldOff, T::Unhold) => Some(S::Off),
            (S::HeldOnPending, T::Unhold) => Some(S::OnPending),
            (S::HeldOff | S::HeldOnPending, T::HeldPowerOff) => Some(S::HeldOff),
            (S::HeldOff | S::HeldOnPending, T::HeldPowerOn) => Some(S::HeldOnPending),
            _ => None,
        }
    }

    /// What AFFINITY_INFO reports, and what CPU_ON checks.
    pub fn power(self) -> PowerView {
        match self {
            VcpuState::Off | VcpuState::HeldOff => PowerView::Off,
            VcpuState::OnPending | VcpuState::HeldOnPending => PowerView::OnPending,
            VcpuState::Running | VcpuState::Parked => PowerView::On,
        }
    }

    /// Whether an operation holding the partition has this vCPU where it wants it.
    pub fn is_held(self) -> bool {
        matches!(
            self,
            VcpuState::Parked | VcpuState::HeldOff | VcpuState::HeldOnPending
        )
    }
}

/// Why CPU_ON was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOnRefused {
    AlreadyOn,
    OnPending,
}

/// The result of trying to hold one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldAttempt {
    /// Held (now, or it already was: parked or held).
    Held,
    /// It is running: ask it to pause and try again.
    Running,
}

/// One vCPU's protocol state: its [`VcpuState`] and its [`Mailbox`].
#[derive(Debug)]
pub struct VcpuCell {
    state: AtomicU8,
    pub mailbox: Mailbox,
}

impl Default for VcpuCell {
    fn default() -> Self {
        VcpuCell::new()
    }
}

impl VcpuCell {
    pub const fn new() -> VcpuCell {
        VcpuCell {
            state: AtomicU8::new(VcpuState::Off as u8),
            mailbox: Mailbox::new(),
        }
    }

    pub fn state(&self) -> VcpuState {
        VcpuState::from_raw(self.state.load(Ordering::SeqCst))
    }

    /// Applies `transition` if it applies to the current state; returns the state it left.
    ///
    /// SeqCst: a start (vCPU state, then partition state) and a stop
    /// (partition state, then vCPU states) must see each other's writes in
    /// one order, so one of them always notices the other.
    pub fn apply(&self, transition: Transition) -> Result<VcpuState, VcpuState> {
        let mut current = self.state();
        loop {
            let next = current.next(transition).ok_or(current)?;
            match self.state.compare_exchange(
                current as u8,
                next as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(current),
                Err(raw) => current = VcpuState::from_raw(raw),
            }
        }
    }

    /// PSCI CPU_ON: Off (or held off) becomes pending.
    pub fn power_on(&self) -> Result<(), PowerOnRefused> {
        self.apply(Transition::PowerOn)
            .map(|_| ())
            .map_err(|state| match state.power() {
                PowerView::OnPending => PowerOnRefused::OnPending,
                _ => PowerOnRefused::AlreadyOn,
            })
    }

    /// An operation tries to hold this vCPU where it is.
    pub fn hold(&self) -> HoldAttempt {
        match self.apply(Transition::Hold) {
            Ok(_) => HoldAttempt::Held,
            Err(state) if state.is_held() => HoldAttempt::Held,
            Err(_) => HoldAttempt::Running,
        }
    }

    /// An operation lets go of this vCPU: a parked one runs on, a held one
    /// returns to Off or OnPending. Returns whether its core needs a kick to notice.
    pub fn let_go(&self) -> bool {
        match self.state() {
            VcpuState::Parked => self.apply(Transition::Release).is_ok(),
            VcpuState::HeldOff | VcpuState::HeldOnPending => {
                self.apply(Transition::Unhold) == Ok(VcpuState::HeldOnPending)
            }
            _ => false,
        }
    }
}

/// A request one core leaves for another vCPU's core.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Save your state and park until released (checkpoint, restore).
    Pause = 1 << 0,
    /// Leave the guest now (partition stop or reset).
    Exit = 1 << 1,
    /// Virtual interrupts were queued for you: load them into list registers.
    Inject = 1 << 2,
}

/// The set of requests waiting in a mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests(u32);

impl Requests {
    pub fn contains(self, request: Request) -> bool {
        self.0 & request as u32 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A vCPU's mailbox: requests coalesce (two pauses are one pause).
#[derive(Debug, Default)]
pub struct Mailbox(AtomicU32);

impl Mailbox {
    pub const fn new() -> Mailbox {
        Mailbox(AtomicU32::new(0))
    }

    pub fn post(&self, request: Request) {
        self.0.fetch_or(request as u32, Ordering::SeqCst);
    }

    /// Withdraws `request` if it is still unread; false if its core already took it.
    pub fn withdraw(&self, request: Request) -> bool {
        self.0.fetch_and(!(request as u32), Ordering::SeqCst) & request as u32 != 0
    }

    /// Takes `request` if it is all that is waiting; false (nothing taken)
    /// if anything else waits too, or nothing does.
    #[inline]
    pub fn take_only(&self, request: Request) -> bool {
        self.0
            .compare_exchange(request as u32, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// What is waiting, without taking it.
    #[inline]
    pub fn peek(&self) -> Requests {
        Requests(self.0.load(Ordering::SeqCst))
    }

    /// Takes everything waiting.
    pub fn take(&self) -> Requests {
        Requests(self.0.swap(0, Ordering::SeqCst))
    }

    /// Takes `request` alone, leaving the others.
    pub fn take_one(&self, request: Request) -> bool {
        self.withdraw(request)
    }
}

/// A lifecycle operation on a partition; one at a time.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Checkpoint = 1,
    Restore = 2,
    Reset = 3,
    Stop = 4,
}

impl Operation {
    fn from_raw(raw: u8) -> Option<Operation> {
        match raw {
            1 => Some(Operation::Checkpoint),
            2 => Some(Operation::Restore),
            3 => Some(Operation::Reset),
            4 => Some(Operation::Stop),
            _ => None,
        }
    }
}

/// Which operation, if any, holds a partition.
#[derive(Debug, Default)]
pub struct OperationSlot(AtomicU8);

/// Proof of a claimed [`OperationSlot`]; releases it when dropped.
#[derive(Debug)]
pub struct Claim<'a> {
    slot: &'a OperationSlot,
    pub operation: Operation,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.slot.0.store(0, Ordering::SeqCst);
    }
}

impl OperationSlot {
    pub const fn new() -> OperationSlot {
        OperationSlot(AtomicU8::new(0))
    }

    /// Claims the slot for `operation`, or names the operation holding it. Never waits.
    pub fn try_claim(&self, operation: Operation) -> Result<Claim<'_>, Operation> {
        match self
            .0
            .compare_exchange(0, operation as u8, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Ok(Claim {
                slot: self,
                operation,
            }),
            // A raw value that names nothing cannot be stored; report it as a stop.
            Err(raw) => Err(Operation::from_raw(raw).unwrap_or(Operation::Stop)),
        }
    }

    /// The operation holding the slot now.
    pub fn current(&self) -> Option<Operation> {
        Operation::from_raw(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
#[path = "protocol/tests.rs"]
mod tests;

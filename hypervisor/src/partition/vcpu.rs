//! A vCPU: one physical core pinned to a partition, and its PSCI power state.

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use spin::Mutex;

use crate::arch::aarch64::snapshot::VcpuSnapshot;
use crate::arch::aarch64::vgic_hw::VirtualInterrupt;

/// PSCI view of a vCPU (AFFINITY_INFO answers 0, 1, 2 in this order).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    On = 0,
    Off = 1,
    OnPending = 2,
}

impl PowerState {
    fn from_raw(raw: u8) -> PowerState {
        match raw {
            0 => PowerState::On,
            2 => PowerState::OnPending,
            _ => PowerState::Off,
        }
    }
}

pub struct Vcpu {
    /// Index among the partition's vCPUs (its virtual MPIDR Aff0).
    pub index: usize,
    /// Logical id of the physical core (index into the board's CPUs).
    pub cpu: usize,
    /// Physical MPIDR of that core, for SGIs and firmware calls.
    pub mpidr: u64,
    power: AtomicU8,
    entry: AtomicU64,
    context: AtomicU64,
    /// Whether the core is currently executing (or trapped from) the guest.
    in_guest: AtomicBool,
    /// Virtual SGIs (bit n = SGI n) waiting for a list register on this vCPU.
    pub pending_sgis: AtomicU32,
    /// Interrupts that found every list register busy, oldest first.
    pub overflow: Mutex<VecDeque<VirtualInterrupt>>,
    /// State saved at the last pause (checkpoint), or to load on a restore.
    pub snapshot: Mutex<Option<VcpuSnapshot>>,
    /// Waiting in EL2 while its partition is paused.
    pub parked: AtomicBool,
    /// Load `snapshot` when the pause ends (a restore happened).
    pub reload: AtomicBool,
    /// Start from `snapshot` instead of a PSCI entry point (restored while off).
    pub start_from_snapshot: AtomicBool,
}

impl Vcpu {
    pub fn new(index: usize, cpu: usize, mpidr: u64) -> Vcpu {
        Vcpu {
            index,
            cpu,
            mpidr,
            power: AtomicU8::new(PowerState::Off as u8),
            entry: AtomicU64::new(0),
            context: AtomicU64::new(0),
            in_guest: AtomicBool::new(false),
            pending_sgis: AtomicU32::new(0),
            overflow: Mutex::new(VecDeque::new()),
            snapshot: Mutex::new(None),
            parked: AtomicBool::new(false),
            reload: AtomicBool::new(false),
            start_from_snapshot: AtomicBool::new(false),
        }
    }

    pub fn power(&self) -> PowerState {
        PowerState::from_raw(self.power.load(Ordering::Acquire) & 0x7f)
    }

    /// Off -> OnPending with the given entry point; Err(current state) otherwise.
    pub fn request_on(&self, entry: u64, context: u64) -> Result<(), PowerState> {
        // Claim the vCPU first so two racing CPU_ONs cannot both succeed.
        self.power
            .compare_exchange(
                PowerState::Off as u8,
                PowerState::OnPending as u8 | 0x80,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map_err(|raw| PowerState::from_raw(raw & 0x7f))?;
        self.entry.store(entry, Ordering::Relaxed);
        self.context.store(context, Ordering::Relaxed);
        self.power
            .store(PowerState::OnPending as u8, Ordering::Release);
        Ok(())
    }

    /// Forces OnPending (partition reset), whatever the state.
    pub fn force_on_pending(&self, entry: u64, context: u64) {
        self.entry.store(entry, Ordering::Relaxed);
        self.context.store(context, Ordering::Relaxed);
        self.power
            .store(PowerState::OnPending as u8, Ordering::Release);
    }

    /// OnPending -> On, returning (entry, context); None if not pending.
    pub fn take_pending_start(&self) -> Option<(u64, u64)> {
        self.power
            .compare_exchange(
                PowerState::OnPending as u8,
                PowerState::On as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()?;
        Some((
            self.entry.load(Ordering::Relaxed),
            self.context.load(Ordering::Relaxed),
        ))
    }

    /// On -> Off after the vCPU left its guest; leaves a pending restart alone.
    pub fn power_off_if_on(&self) {
        let _ = self.power.compare_exchange(
            PowerState::On as u8,
            PowerState::Off as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub fn force_off(&self) {
        self.power.store(PowerState::Off as u8, Ordering::Release);
    }

    pub fn set_in_guest(&self, value: bool) {
        self.in_guest.store(value, Ordering::Release);
    }

    /// Forgets every interrupt waiting for this vCPU (it is starting afresh).
    pub fn clear_pending_interrupts(&self) {
        self.pending_sgis.store(0, Ordering::Release);
        self.overflow.lock().clear();
    }

    pub fn in_guest(&self) -> bool {
        self.in_guest.load(Ordering::Acquire)
    }
}

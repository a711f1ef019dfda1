//! The whole machine as Bulkhead runs it: the board, every partition, and which core runs what.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_core::config::Board;
use bulkhead_core::irq_owner::InterruptOwners;
use bulkhead_platform::current::PLATFORM;
use spin::Once;

use super::runtime::Partition;

pub struct System {
    pub board: Board,
    pub partitions: Vec<Partition>,
    /// Who each interrupt belongs to (built from the layout at boot).
    pub interrupts: InterruptOwners,
    /// The layout enabled the test-only hypercalls.
    pub test_hooks: bool,
    /// For each logical CPU: (partition index, vCPU index), or None if idle.
    pub cpu_map: Vec<Option<(usize, usize)>>,
    /// Partitions still running or resetting; at zero the machine powers off.
    alive: AtomicUsize,
}

static SYSTEM: Once<System> = Once::new();

/// Per core: the system and where the core belongs, resolved once at
/// install, so that the trap fast paths find them in a few loads instead
/// of three bounds-checked lookups per trap (placement never changes).
static RESIDENTS: [Once<(&'static System, Placement<'static>)>; PLATFORM.max_cpus] =
    [const { Once::new() }; PLATFORM.max_cpus];

/// Where a core belongs.
#[derive(Clone, Copy)]
pub struct Placement<'a> {
    /// Index of the partition in `System::partitions` (and the owner table).
    pub index: usize,
    pub partition: &'a Partition,
    pub vcpu: &'a super::Vcpu,
}

impl System {
    /// Publishes the system; boot CPU, once, before secondaries start.
    pub fn install(
        board: Board,
        partitions: Vec<Partition>,
        interrupts: InterruptOwners,
        test_hooks: bool,
    ) -> &'static System {
        let mut cpu_map = Vec::new();
        cpu_map.resize(board.cpus.len(), None);
        for (partition_index, partition) in partitions.iter().enumerate() {
            for vcpu in &partition.vcpus {
                if let Some(slot) = cpu_map.get_mut(vcpu.cpu) {
                    *slot = Some((partition_index, vcpu.index));
                }
            }
        }
        let alive = AtomicUsize::new(partitions.len());
        crate::channel::route_all(&partitions);
        let system = SYSTEM.call_once(|| System {
            board,
            partitions,
            interrupts,
            test_hooks,
            cpu_map,
            alive,
        });
        for (cpu, resident) in RESIDENTS.iter().enumerate() {
            if let Some(placement) = system.placement(cpu) {
                resident.call_once(|| (system, placement));
            }
        }
        system
    }

    /// The partition and vCPU that `cpu` runs.
    pub fn assignment(&self, cpu: usize) -> Option<(&Partition, &super::Vcpu)> {
        self.placement(cpu)
            .map(|placement| (placement.partition, placement.vcpu))
    }

    /// The partition (and its index) and vCPU that `cpu` runs.
    pub fn placement(&self, cpu: usize) -> Option<Placement<'_>> {
        let (index, vcpu) = (*self.cpu_map.get(cpu)?)?;
        let partition = self.partitions.get(index)?;
        Some(Placement {
            index,
            partition,
            vcpu: partition.vcpus.get(vcpu)?,
        })
    }

    /// The partition with layout id `id`.
    pub fn partition_by_id(&self, id: u32) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|partition| partition.config.id == id)
    }

    /// Records that a partition went from alive to off/stopped; returns how many remain.
    pub(super) fn partition_died(&self) -> usize {
        self.alive.fetch_sub(1, Ordering::AcqRel).saturating_sub(1)
    }

    /// Records that a stopped or powered-off partition starts again.
    pub(super) fn partition_revived(&self) {
        self.alive.fetch_add(1, Ordering::AcqRel);
    }

    pub fn alive_partitions(&self) -> usize {
        self.alive.load(Ordering::Acquire)
    }
}

/// The installed system; None before boot has published it.
pub fn system() -> Option<&'static System> {
    SYSTEM.get()
}

/// The system and what `cpu` runs; None before install or on an idle core.
#[inline(always)]
pub fn resident(cpu: usize) -> Option<(&'static System, Placement<'static>)> {
    RESIDENTS.get(cpu)?.get().copied()
}

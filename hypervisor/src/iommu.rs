//! DMA confinement: Bulkhead's SMMU, which stream goes through which partition's stage 2, and DMA fault reports.
//!
//! Every stream table entry is valid: a stream of a function a partition
//! owns (individually, or through its whole host bridge) translates through
//! that partition's DMA stage 2 (its RAM, VMID = partition id); every other
//! stream aborts, and so does anything arriving before the table is live
//! (GBPA). A fault is reported once per (partition, stream, page) and
//! counted; the partition's `on-dma-fault` says whether it is stopped.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bulkhead_core::address::PAGE_SIZE;
use bulkhead_core::config::{Board, OnDmaFault, SmmuNode};
use bulkhead_core::pci::FunctionAddress;
use bulkhead_core::smmu::{ste, Access, Event, FaultLog, Recorded, Stage2Config};
use bulkhead_core::stage2::IPA_BITS;
use spin::{Mutex, Once};

use crate::arch::aarch64::smmu::{SmmuError, SmmuV3};
use crate::arch::aarch64::{sysreg, timer};
use crate::partition::{stop_foreign, system, Partition, StopReason};
use crate::pci::PciBus;

/// Distinct (partition, stream, page) faults reported before only counting.
const FAULT_LOG_ENTRIES: usize = 256;

/// Who a stream belongs to.
#[derive(Clone, Copy)]
struct StreamOwner {
    partition: usize,
    function: FunctionAddress,
}

pub struct Iommu {
    smmu: Mutex<SmmuV3>,
    node: SmmuNode,
    /// Indexed by stream ID.
    owners: Vec<Option<StreamOwner>>,
    faults: Mutex<FaultLog>,
    /// GERROR bits already reported.
    reported_errors: AtomicU32,
    /// Most events taken per interrupt: the event queue's size.
    event_budget: usize,
    /// Per partition: the counter value when its first fault report was
    /// queued (0: none yet), for the power-off summary.
    first_report: Vec<AtomicU64>,
}

static IOMMU: Once<Iommu> = Once::new();

/// Why DMA cannot be confined.
pub enum IommuError {
    /// A partition has PCI DMA but the board has no SMMU in front of it.
    NoSmmu,
    Smmu(SmmuError),
}

impl core::fmt::Display for IommuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IommuError::NoSmmu => write!(
                f,
                "the PCI host bridge has no SMMU (iommu-map): DMA cannot be confined"
            ),
            IommuError::Smmu(error) => write!(f, "SMMU: {error}"),
        }
    }
}

/// The stream IDs function `address` can use, with its host's `iommu-map`.
fn stream_of(board: &Board, address: FunctionAddress) -> Option<(&str, u32)> {
    board.pci_hosts.first()?.stream(address)
}

/// Brings up the SMMU in front of the board's PCI host bridge and points
/// every enumerated function's stream at its owner. Boot CPU, before any
/// partition runs. `Ok(None)`: the board has no PCI host bridge.
pub fn init(
    board: &Board,
    partitions: &[Partition],
    bus: Option<&PciBus>,
) -> Result<(), IommuError> {
    let Some(bus) = bus else {
        return Ok(());
    };
    let Some(host) = board.pci_hosts.first() else {
        return Ok(());
    };
    let smmu_path = host.iommu_map.first().map(|map| map.smmu.clone());
    let node = smmu_path.and_then(|path| board.smmus.iter().find(|s| s.path == path).cloned());
    let Some(node) = node else {
        let dma = partitions.iter().any(|p| p.config.dma_capable());
        return if dma { Err(IommuError::NoSmmu) } else { Ok(()) };
    };
    // Streams the enumerated functions use: the table covers the highest.
    let highest = bus
        .functions
        .iter()
        .filter_map(|f| stream_of(board, f.address).map(|(_, sid)| sid))
        .max()
        .unwrap_or(0);
    let bits = (u32::BITS - highest.leading_zeros()).max(1);
    // SAFETY: the board DT names the SMMU's registers (2 × 64 KiB pages),
    // which the EL2 identity map covers as device memory, and only this
    // module programs it.
    let mut smmu =
        unsafe { SmmuV3::probe(node.registers.start.0, bits) }.map_err(IommuError::Smmu)?;
    smmu.enable().map_err(IommuError::Smmu)?;
    let mut owners = vec![None; smmu.streams() as usize];
    let output_size_field = smmu
        .features
        .output_size_field
        .min(sysreg::pa_range_field().min(0b101));
    for (index, partition) in partitions.iter().enumerate() {
        let Some(dma_stage2) = partition.dma_stage2.as_ref() else {
            continue;
        };
        let whole_host = partition.config.devices.iter().any(|d| d.path == host.path);
        let functions: Vec<FunctionAddress> = bus
            .functions
            .iter()
            .map(|f| f.address)
            .filter(|address| {
                whole_host
                    || partition
                        .config
                        .pci_functions
                        .iter()
                        .any(|f| f.address == *address)
            })
            .collect();
        let entry = ste::stage2(&Stage2Config {
            vmid: partition.vmid,
            table: dma_stage2.root_address(),
            ipa_bits: IPA_BITS,
            start_level: 1,
            output_size_field,
            record_faults: true,
            incoming_shareability: false,
        });
        for function in functions {
            let Some((_, sid)) = stream_of(board, function) else {
                continue;
            };
            smmu.set_stream(sid, entry).map_err(IommuError::Smmu)?;
            if let Some(slot) = owners.get_mut(sid as usize) {
                *slot = Some(StreamOwner {
                    partition: index,
                    function,
                });
            }
        }
        smmu.invalidate_vmid(partition.vmid)
            .map_err(IommuError::Smmu)?;
    }
    log::info!(
        "SMMU {}: {} streams, {} assigned, stage 2 only; unassigned streams abort",
        node.path,
        smmu.streams(),
        owners.iter().filter(|o| o.is_some()).count()
    );
    let event_budget = smmu.event_queue_entries();
    IOMMU.call_once(|| Iommu {
        smmu: Mutex::new(smmu),
        faults: Mutex::new(FaultLog::with_capacity(FAULT_LOG_ENTRIES, partitions.len())),
        owners,
        node,
        reported_errors: AtomicU32::new(0),
        event_budget,
        first_report: partitions.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    Ok(())
}

/// The SMMU's SPIs: Bulkhead's, edge-triggered (QEMU pulses them).
pub fn interrupts(board: &Board) -> Vec<u32> {
    let Some(host) = board.pci_hosts.first() else {
        return Vec::new();
    };
    board
        .smmus
        .iter()
        .filter(|smmu| host.iommu_map.iter().any(|map| map.smmu == smmu.path))
        .flat_map(|smmu| smmu.interrupts())
        .collect()
}

/// Handles one of the SMMU's interrupts; false if `intid` is not one.
pub fn handle_interrupt(intid: u32) -> bool {
    let Some(iommu) = IOMMU.get() else {
        return false;
    };
    if Some(intid) == iommu.node.global_error {
        let errors = iommu.smmu.lock().take_global_errors();
        report_global_errors(iommu, errors);
        return true;
    }
    if Some(intid) != iommu.node.event_queue {
        return iommu.node.interrupts().any(|own| own == intid);
    }
    // Taken out of the lock first: reporting (and stopping) must not hold it.
    let mut events: [Option<Event>; 32] = [None; 32];
    // Bounded: one queue's worth per interrupt; a device still faulting
    // raises the interrupt again.
    let mut budget = iommu.event_budget;
    let mut more = true;
    while more && budget != 0 {
        budget = budget.saturating_sub(events.len());
        let mut count = 0;
        {
            let mut smmu = iommu.smmu.lock();
            smmu.drain_events_bounded(events.len(), |event| {
                if let Some(slot) = events.get_mut(count) {
                    *slot = Some(event);
                    count += 1;
                }
            });
        }
        more = count == events.len();
        for event in events.iter_mut().take(count).filter_map(Option::take) {
            report(iommu, &event);
        }
    }
    true
}

/// Global errors, each kind reported once: a device that faults faster
/// than the event queue drains overflows it again and again (the faults
/// are still aborted; only their records are lost).
fn report_global_errors(iommu: &Iommu, errors: u32) {
    use bulkhead_core::smmu::registers::{GERROR_CMDQ_ERR, GERROR_EVENTQ_ABT_ERR};
    let new = errors & !iommu.reported_errors.fetch_or(errors, Ordering::AcqRel);
    if new & GERROR_EVENTQ_ABT_ERR != 0 {
        log::warn!(
            "SMMU {}: event queue overflowed: DMA faults beyond it are aborted but not recorded",
            iommu.node.path
        );
    }
    if new & GERROR_CMDQ_ERR != 0 {
        log::error!(
            "SMMU {}: a command was refused and skipped",
            iommu.node.path
        );
    }
    let rest = new & !(GERROR_EVENTQ_ABT_ERR | GERROR_CMDQ_ERR);
    if rest != 0 {
        log::error!("SMMU {}: global errors {rest:#x}", iommu.node.path);
    }
}

fn report(iommu: &Iommu, event: &Event) {
    let owner = iommu
        .owners
        .get(event.stream_id as usize)
        .copied()
        .flatten();
    let Some(owner) = owner else {
        log::warn!(
            "dma fault: unassigned stream {:#x}: {} at {:#x}",
            event.stream_id,
            event.kind.name(),
            event.input_address
        );
        return;
    };
    let Some(system) = system() else {
        return;
    };
    let Some(partition) = system.partitions.get(owner.partition) else {
        return;
    };
    let page = event.input_address & !(PAGE_SIZE - 1);
    let recorded = iommu
        .faults
        .lock()
        .record(owner.partition, event.stream_id, page);
    match recorded {
        Recorded::First => {
            log::warn!(
                "dma fault: partition {} (id {}) device {} (stream {:#x}) {} at IPA {:#x}: {}",
                partition.label(),
                partition.config.id,
                owner.function,
                event.stream_id,
                match event.access {
                    Access::Read => "read",
                    Access::Write => "write",
                },
                event.input_address,
                event.kind.name()
            );
            if let Some(first) = iommu.first_report.get(owner.partition) {
                let _ =
                    first.compare_exchange(0, timer::now(), Ordering::AcqRel, Ordering::Acquire);
            }
        }
        Recorded::Unlogged { report_full: true } => log::warn!(
            "dma fault: partition {} (id {}): fault log full, further faults only counted",
            partition.label(),
            partition.config.id
        ),
        Recorded::Repeat | Recorded::Unlogged { report_full: false } => {}
    }
    if partition.config.on_dma_fault == OnDmaFault::Stop
        && stop_foreign(system, partition, StopReason::Fault).is_ok()
    {
        log::info!(
            "partition {} (id {}) stopped: dma fault",
            partition.label(),
            partition.config.id
        );
    }
}

/// DMA faults of the partition at `index` in the system so far (0 without an SMMU).
pub fn dma_faults(index: usize) -> u64 {
    IOMMU
        .get()
        .map_or(0, |iommu| iommu.faults.lock().count(index))
}

/// Prints each partition's DMA fault count, if it had any (at power-off).
pub fn report_totals() {
    let (Some(iommu), Some(system)) = (IOMMU.get(), system()) else {
        return;
    };
    let faults = iommu.faults.lock();
    for (index, partition) in system.partitions.iter().enumerate() {
        let count = faults.count(index);
        let first = iommu
            .first_report
            .get(index)
            .map_or(0, |first| first.load(Ordering::Acquire));
        if count != 0 {
            log::info!(
                "dma faults: partition {} (id {}): {count}, first reported at counter {first}",
                partition.label(),
                partition.config.id
            );
        }
    }
}

//! Checkpoint and restore of a partition: pause its vCPUs at a rendezvous, save or load state and memory, resume.
//!
//! The first checkpoint copies all memory; afterwards stage 2 is
//! write-protected and the write-fault handler records dirty pages, so a
//! checkpoint copies only the pages written since the slot it overwrites
//! was last written (two slots: see `bulkhead_core::checkpoint`). All work
//! runs on the core that asked (a vCPU of the partition, or its manager's),
//! while the partition's other cores wait in EL2: other partitions never pause.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bulkhead_core::address::{Ipa, PAGE_SIZE};
use bulkhead_core::checkpoint::{CheckpointStore, DirtyTracker, Generation};
use bulkhead_core::config::{CheckpointPolicy, Partition as PartitionConfig};
use bulkhead_core::vgic::VirtualGic;
use spin::Mutex;

use super::runtime::Partition;
use super::vcpu::Vcpu;
use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::snapshot::VcpuSnapshot;
use crate::arch::aarch64::{gic, timer, vm};

/// What one checkpoint cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointStats {
    pub generation: u64,
    pub taken: u64,
    pub pages_copied: u64,
    pub pause_ticks: u64,
    pub taken_at: u64,
}

/// A partition's checkpointing: its policy, store and dirty tracking.
pub struct Checkpointing {
    pub policy: CheckpointPolicy,
    store: Mutex<CheckpointStore<'static>>,
    tracker: Mutex<DirtyTracker>,
    /// The emulated distributor as it was at the current checkpoint.
    gic_model: Mutex<Option<VirtualGic>>,
    pub stats: Mutex<CheckpointStats>,
    next_generation: AtomicU64,
    /// Whether stage 2 is write-protected for tracking.
    tracking: AtomicBool,
    /// Pages made writable again by write faults since the last protection:
    /// the only ones a later checkpoint must protect again.
    unprotected: Mutex<Vec<Ipa>>,
}

/// First byte of a stored vCPU state: whether the vCPU was on.
const STATE_ON: u8 = 1;
const STATE_OFF: u8 = 0;

fn regions(config: &PartitionConfig) -> Vec<(Ipa, u64)> {
    config
        .memory
        .iter()
        .map(|region| (region.ipa, region.size))
        .collect()
}

impl Checkpointing {
    /// Formats the store the layout reserved for `config`.
    pub fn new(
        config: &PartitionConfig,
        policy: &CheckpointPolicy,
    ) -> Result<Checkpointing, String> {
        use alloc::format;
        let size =
            usize::try_from(policy.store.size).map_err(|_| String::from("store too large"))?;
        // SAFETY: the validator guarantees the store lies in RAM and overlaps
        // no partition, module, other store or the hypervisor; EL2 maps RAM
        // as normal memory and nothing else ever references this range.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut(policy.store.start.0 as *mut u8, size) };
        let regions = regions(config);
        let store = CheckpointStore::format(bytes, &regions, config.cpus.len())
            .map_err(|error| format!("checkpoint store: {error}"))?;
        let tracker =
            DirtyTracker::new(&regions).map_err(|error| format!("dirty tracking: {error}"))?;
        Ok(Checkpointing {
            policy: *policy,
            store: Mutex::new(store),
            tracker: Mutex::new(tracker),
            gic_model: Mutex::new(None),
            stats: Mutex::new(CheckpointStats::default()),
            next_generation: AtomicU64::new(1),
            tracking: AtomicBool::new(false),
            unprotected: Mutex::new(Vec::new()),
        })
    }

    pub fn has_checkpoint(&self) -> bool {
        self.store.lock().current().is_some()
    }
}

/// The counter, for timestamps and pause lengths.
fn now() -> u64 {
    crate::arch::aarch64::sysreg::read_sysreg!("cntpct_el0")
}

/// The vCPU `vcpu` parks here when its partition pauses: it saves its
/// state, waits for the release, and loads the (possibly restored) state.
///
/// Returns false if the vCPU must leave its guest: the partition was
/// restored to a checkpoint in which it was off.
pub fn park(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame) -> bool {
    let snapshot = VcpuSnapshot::capture(frame, vcpu.pending_sgis.load(Ordering::Acquire));
    *vcpu.snapshot.lock() = Some(snapshot);
    vcpu.parked.store(true, Ordering::Release);
    while partition.pause_requested.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let mut keep_running = true;
    if vcpu.reload.swap(false, Ordering::AcqRel) {
        keep_running = vcpu.snapshot.lock().is_some();
        load_snapshot(partition, vcpu, frame);
    }
    vcpu.parked.store(false, Ordering::Release);
    keep_running
}

/// Loads `vcpu.snapshot` into this core and `frame`.
fn load_snapshot(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame) {
    let snapshot = vcpu.snapshot.lock().clone();
    if let Some(snapshot) = snapshot {
        vcpu.clear_pending_interrupts();
        snapshot.apply(frame);
        vcpu.pending_sgis
            .store(snapshot.pending_sgis as u32, Ordering::Release);
        // Hardware interrupts in flight at the checkpoint were active in the
        // GIC then: make them so again, so the guest's EOI finds them.
        for intid in snapshot.hardware_interrupts() {
            partition.set_physical_active(vcpu.index, intid);
        }
    }
}

/// Pauses every vCPU of `partition` but the caller's (if it is one of
/// them): kicks them and waits until each is parked or out of its guest.
fn pause(partition: &Partition, caller_cpu: usize) {
    partition.pause_requested.store(true, Ordering::Release);
    for vcpu in partition.vcpus.iter().filter(|vcpu| vcpu.cpu != caller_cpu) {
        gic::send_kick(vcpu.mpidr);
    }
    for vcpu in partition.vcpus.iter().filter(|vcpu| vcpu.cpu != caller_cpu) {
        while vcpu.in_guest() && !vcpu.parked.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    }
}

/// Takes the partition's lifecycle lock. A vCPU of the partition that has
/// to wait parks meanwhile if another core pauses the partition, so two
/// vCPUs checkpointing at once cannot wait for each other forever.
fn lock_lifecycle<'a>(
    partition: &'a Partition,
    caller: &mut Option<(&Vcpu, &mut GuestFrame)>,
) -> spin::MutexGuard<'a, ()> {
    loop {
        if let Some(guard) = partition.lifecycle.try_lock() {
            return guard;
        }
        if partition.pause_requested.load(Ordering::Acquire) {
            if let Some((vcpu, frame)) = caller.as_mut() {
                let _ = park(partition, vcpu, frame);
            }
        }
        core::hint::spin_loop();
    }
}

fn resume(partition: &Partition) {
    partition.pause_requested.store(false, Ordering::Release);
}

/// Write-protects the partition's RAM and flushes its TLB entries: all of
/// it the first time, afterwards only the pages write faults re-enabled.
fn protect_memory(
    partition: &Partition,
    checkpointing: &Checkpointing,
) -> Result<(), &'static str> {
    let mut stage2 = partition.stage2.lock();
    let mut unprotected = checkpointing.unprotected.lock();
    if checkpointing.tracking.load(Ordering::Acquire) {
        for page in unprotected.drain(..) {
            stage2
                .write_protect(page, PAGE_SIZE)
                .map_err(|_| "stage-2 write protection failed")?;
        }
    } else {
        unprotected.clear();
        for region in &partition.config.memory {
            stage2
                .write_protect(region.ipa, region.size)
                .map_err(|_| "stage-2 write protection failed")?;
        }
    }
    drop((stage2, unprotected));
    vm::invalidate_partition_tlb(partition.stage2_root(), partition.vmid);
    Ok(())
}

/// A stage-2 permission fault on a write to RAM while tracking: records the
/// page as dirty and makes it writable. Returns false if the fault is not
/// a tracking fault (the caller reports it).
pub fn handle_write_fault(partition: &Partition, ipa: u64) -> bool {
    let Some(checkpointing) = partition.checkpointing.as_ref() else {
        return false;
    };
    if !checkpointing.tracking.load(Ordering::Acquire) {
        return false;
    }
    let page = Ipa(ipa & !(PAGE_SIZE - 1));
    if partition.config.ipa_to_pa(page, PAGE_SIZE).is_none() {
        return false;
    }
    checkpointing.tracker.lock().mark(page);
    let mut stage2 = partition.stage2.lock();
    let already_writable = stage2
        .translate(page)
        .is_some_and(|translation| translation.access == bulkhead_core::stage2::Access::ReadWrite);
    if already_writable {
        // A stale combined stage-1+2 entry: the per-IPA flush was not enough.
        drop(stage2);
        vm::invalidate_guest_stage1();
        return true;
    }
    if stage2.make_writable_page(page).is_err() {
        return false;
    }
    drop(stage2);
    checkpointing.unprotected.lock().push(page);
    vm::invalidate_ipa(page.0);
    true
}

/// Takes a checkpoint of `partition`. `caller` is the calling vCPU and its
/// frame when the partition checkpoints itself (its saved state then
/// resumes in the call with x0 = RESTORED after a restore). Returns the generation.
pub fn take(
    partition: &Partition,
    caller_cpu: usize,
    caller: Option<(&Vcpu, &mut GuestFrame)>,
    origin: Origin,
) -> Result<u64, String> {
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(String::from("no checkpoint policy"))?;
    let mut caller = caller;
    let _lifecycle = lock_lifecycle(partition, &mut caller);
    let started = now();
    pause(partition, caller_cpu);
    let generation = checkpointing.next_generation.fetch_add(1, Ordering::AcqRel);
    if let Some((vcpu, frame)) = caller {
        // Saved as it must look when a restore resumes it: a CHECKPOINT_TAKE
        // returns RESTORED; an interrupted guest just goes on.
        let mut resumed = frame.clone();
        if origin == Origin::Hypercall {
            resumed.x[0] = bulkhead_abi::vendor::RESTORED;
            resumed.x[1] = generation;
        }
        let snapshot = VcpuSnapshot::capture(&resumed, vcpu.pending_sgis.load(Ordering::Acquire));
        *vcpu.snapshot.lock() = Some(snapshot);
    }
    let result = write_checkpoint(partition, checkpointing, caller_cpu, generation, started);
    let pages = match result {
        Ok(pages) => pages,
        Err(error) => {
            resume(partition);
            return Err(error);
        }
    };
    *checkpointing.gic_model.lock() = Some(partition.vgic.lock().clone());
    let protected = protect_memory(partition, checkpointing);
    checkpointing
        .tracking
        .store(protected.is_ok(), Ordering::Release);
    resume(partition);
    let pause_ticks = now().saturating_sub(started);
    let mut stats = checkpointing.stats.lock();
    stats.generation = generation;
    stats.taken += 1;
    stats.pages_copied = pages;
    stats.pause_ticks = pause_ticks;
    stats.taken_at = started;
    drop(stats);
    protected.map_err(String::from)?;
    Ok(generation)
}

/// Writes vCPU states and dirty pages into the non-current slot; returns pages copied.
fn write_checkpoint(
    partition: &Partition,
    checkpointing: &Checkpointing,
    caller_cpu: usize,
    generation: u64,
    started: u64,
) -> Result<u64, String> {
    use alloc::format;
    let mut store = checkpointing.store.lock();
    let mut tracker = checkpointing.tracker.lock();
    let mut writer = store
        .begin(Generation(generation), started)
        .map_err(|error| format!("{error}"))?;
    let slot = writer.slot();
    // A device that masters DMA writes memory behind stage 2's back: with
    // one, every checkpoint copies all memory.
    let dma = partition
        .config
        .devices
        .iter()
        .any(|device| device.dma_capable);
    if writer.needs_every_page() || dma {
        tracker.invalidate(slot);
    }
    for vcpu in &partition.vcpus {
        let mut state = Vec::new();
        let snapshot = vcpu.snapshot.lock();
        match snapshot.as_ref() {
            Some(snapshot) if vcpu.in_guest() || vcpu.cpu == caller_cpu => {
                state.push(STATE_ON);
                state.extend_from_slice(&snapshot.to_bytes());
            }
            _ => state.push(STATE_OFF),
        }
        writer
            .write_vcpu_state(vcpu.index, &state)
            .map_err(|error| format!("{error}"))?;
    }
    let mut pages = 0;
    for ipa in tracker.since(slot).iter_dirty() {
        let pa = partition
            .config
            .ipa_to_pa(ipa, PAGE_SIZE)
            .ok_or(String::from("dirty page outside memory"))?;
        // SAFETY: `ipa_to_pa` checked that the page is the partition's RAM,
        // identity-mapped at EL2; its vCPUs are paused, so nothing writes it.
        let page = unsafe { &*(pa.0 as *const [u8; 4096]) };
        writer
            .write_page(ipa, page)
            .map_err(|error| format!("{error}"))?;
        pages += 1;
    }
    writer.finish().map_err(|error| format!("{error}"))?;
    tracker.committed(slot);
    Ok(pages)
}

/// What asked for a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// CHECKPOINT_TAKE, from the partition itself or its manager.
    Hypercall,
    /// The periodic timer, which interrupted the partition's first vCPU.
    Timer,
}

/// Arms the EL2 timer of this core for the next periodic checkpoint of
/// `partition`, if its policy has an interval and this is its first vCPU.
pub fn arm_periodic(partition: &Partition, vcpu: &Vcpu) {
    let interval = partition
        .checkpointing
        .as_ref()
        .and_then(|checkpointing| checkpointing.policy.interval_ms);
    match interval {
        Some(ms) if vcpu.index == 0 => timer::arm_hypervisor_timer(u64::from(ms)),
        _ => timer::disarm_hypervisor_timer(),
    }
}

/// The EL2 timer fired on the partition's first vCPU: checkpoint, re-arm.
pub fn periodic(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame) {
    if let Err(error) = take(partition, vcpu.cpu, Some((vcpu, frame)), Origin::Timer) {
        log::warn!(
            "partition {}: periodic checkpoint failed: {error}",
            partition.label()
        );
    }
    arm_periodic(partition, vcpu);
}

/// What a restore did.
pub enum Restored {
    /// The partition runs on from its last checkpoint.
    Checkpoint(u64),
    /// It had none: restart it from its image instead.
    NoCheckpoint,
}

/// Rolls `partition` back to its last checkpoint. On an error the partition
/// has not been touched (nothing is copied before the checkpoint verifies).
pub fn restore(
    partition: &Partition,
    caller_cpu: usize,
    caller: Option<(&Vcpu, &mut GuestFrame)>,
) -> Result<Restored, String> {
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(String::from("no checkpoint policy"))?;
    let mut caller = caller;
    let lifecycle = lock_lifecycle(partition, &mut caller);
    let Some(current) = checkpointing.store.lock().current() else {
        return Ok(Restored::NoCheckpoint);
    };
    pause(partition, caller_cpu);
    let copied = copy_back(partition, checkpointing, current.slot);
    if let Err(error) = copied {
        resume(partition);
        drop(lifecycle);
        return Err(error);
    }
    if let Some(model) = checkpointing.gic_model.lock().clone() {
        *partition.vgic.lock() = model;
    }
    let protected = protect_memory(partition, checkpointing);
    checkpointing
        .tracking
        .store(protected.is_ok(), Ordering::Release);
    for vcpu in partition.vcpus.iter().filter(|vcpu| vcpu.cpu != caller_cpu) {
        let was_on = vcpu.snapshot.lock().is_some();
        if vcpu.parked.load(Ordering::Acquire) {
            // Runs on from its snapshot, or leaves the guest if it was off then.
            vcpu.reload.store(true, Ordering::Release);
        } else if was_on {
            vcpu.start_from_snapshot.store(true, Ordering::Release);
            vcpu.force_on_pending(0, 0);
            gic::send_kick(vcpu.mpidr);
        }
    }
    resume(partition);
    if let Some((vcpu, frame)) = caller {
        load_snapshot(partition, vcpu, frame);
    }
    drop(lifecycle);
    protected.map_err(String::from)?;
    Ok(Restored::Checkpoint(current.generation.0))
}

/// Verifies, then copies back the dirty pages and the vCPU states.
fn copy_back(
    partition: &Partition,
    checkpointing: &Checkpointing,
    slot: bulkhead_core::checkpoint::Slot,
) -> Result<(), String> {
    use alloc::format;
    let store = checkpointing.store.lock();
    let mut tracker = checkpointing.tracker.lock();
    let pages: Vec<Ipa> = store.pages_to_restore(tracker.since(slot)).collect();
    store
        .verify_pages(slot, pages.iter().copied())
        .map_err(|error| format!("{error}"))?;
    let mut snapshots = Vec::new();
    for vcpu in &partition.vcpus {
        let state = store
            .vcpu_state(slot, vcpu.index)
            .map_err(|error| format!("{error}"))?;
        match state.split_first() {
            Some((&STATE_ON, bytes)) => {
                let snapshot = VcpuSnapshot::from_bytes(bytes)
                    .ok_or(format!("vCPU {} state is truncated", vcpu.index))?;
                snapshots.push(Some(snapshot));
            }
            _ => snapshots.push(None),
        }
    }
    for ipa in &pages {
        let page = store
            .page(slot, *ipa)
            .ok_or(format!("page {:#x} missing from the checkpoint", ipa.0))?;
        let pa = partition
            .config
            .ipa_to_pa(*ipa, PAGE_SIZE)
            .ok_or(String::from("page outside memory"))?;
        // SAFETY: `ipa_to_pa` checked the page is the partition's RAM; its
        // vCPUs are paused.
        unsafe { core::ptr::copy_nonoverlapping(page.as_ptr(), pa.0 as *mut u8, page.len()) };
    }
    tracker.restored(slot);
    for (vcpu, snapshot) in partition.vcpus.iter().zip(snapshots) {
        *vcpu.snapshot.lock() = snapshot;
    }
    Ok(())
}

/// Test-only hook: damages the stored copy of the page at `ipa` in the current checkpoint.
pub fn corrupt_for_test(partition: &Partition, ipa: u64) -> Result<(), String> {
    use alloc::format;
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(String::from("no checkpoint policy"))?;
    let mut store = checkpointing.store.lock();
    let current = store.current().ok_or(String::from("no checkpoint"))?;
    store
        .corrupt_page_for_test(current.slot, Ipa(ipa & !(PAGE_SIZE - 1)))
        .map_err(|error| format!("{error}"))
}

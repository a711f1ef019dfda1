//! Checkpoint and restore of a partition: hold its vCPUs, save or load state and memory, let them go.
//!
//! The first checkpoint copies all memory; afterwards stage 2 is
//! write-protected and the write-fault handler records dirty pages, so a
//! checkpoint copies only the pages written since the slot it overwrites
//! was last written (two slots: see `bulkhead_core::checkpoint`). All work
//! runs on the core that asked (a vCPU of the partition, its manager's, or
//! the periodic timer's), under the partition's operation slot, while the
//! partition's other vCPUs are held (`super::protocol`): other partitions
//! never pause, and nothing here allocates.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bulkhead_core::address::{Ipa, PhysAddr, PAGE_SIZE};
use bulkhead_core::bounded::BoundedList;
use bulkhead_core::checkpoint::{
    CheckpointStore, DirtyTracker, Generation, PageKernel, PageRun, Slot, PAGE_BYTES,
};
use bulkhead_core::config::{CheckpointPolicy, Partition as PartitionConfig};
use bulkhead_core::protocol::{Operation, VcpuState};
use bulkhead_core::vgic::VirtualGic;
use spin::Mutex;

use super::protocol::{self, Operator, Serviced, Site};
use super::runtime::{Partition, PartitionState};
use super::vcpu::{AfterPark, Vcpu};
use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::simd::SimdPageKernel;
use crate::arch::aarch64::snapshot::{VcpuSnapshot, SNAPSHOT_BYTES};

/// The kind word and the largest snapshot fit a vCPU's area in the store.
const _: () =
    assert!(STATE_KIND_BYTES + SNAPSHOT_BYTES <= bulkhead_core::checkpoint::VCPU_STATE_MAX);
use crate::arch::aarch64::{timer, vm};
use crate::error::Error;

/// What one checkpoint cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointStats {
    pub generation: u64,
    pub taken: u64,
    pub pages_copied: u64,
    pub pause_ticks: u64,
    pub taken_at: u64,
}

/// A partition's checkpointing: its policy, store and dirty tracking, all sized at boot.
pub struct Checkpointing {
    pub policy: CheckpointPolicy,
    store: Mutex<CheckpointStore<'static>>,
    tracker: Mutex<DirtyTracker>,
    /// The emulated distributor as it was at the current checkpoint (a
    /// copy made at boot, overwritten in place by each checkpoint).
    gic_model: Mutex<VirtualGic>,
    pub stats: Mutex<CheckpointStats>,
    next_generation: AtomicU64,
    /// Whether stage 2 is write-protected for tracking.
    tracking: AtomicBool,
    /// Pages made writable again by write faults since the last protection:
    /// the only ones a later checkpoint must protect again. One entry per
    /// page at most, so its boot-time capacity (every page) always suffices.
    unprotected: Mutex<BoundedList<Ipa>>,
}

/// First byte of a stored vCPU state: whether the vCPU was on.
const STATE_ON: u8 = 1;
const STATE_OFF: u8 = 0;
/// CPU_ON accepted but not yet running: followed by entry and context (LE).
const STATE_PENDING: u8 = 2;
/// The first byte's word: what follows starts 8-byte aligned, as the
/// store's vCPU areas are, so it is written and read a word at a time.
const STATE_KIND_BYTES: usize = 8;
const PENDING_BYTES: usize = STATE_KIND_BYTES + 16;

/// A stored vCPU state's kind and what follows it.
fn stored_state(state: &[u8]) -> Option<(u8, &[u8])> {
    let (kind, rest) = state.split_first_chunk::<STATE_KIND_BYTES>()?;
    Some((kind[0], rest))
}

/// Writes a vCPU state's kind word; returns where its contents start.
fn write_state_kind(state: &mut [u8], kind: u8) -> usize {
    let mut word = [0; STATE_KIND_BYTES];
    word[0] = kind;
    let end = STATE_KIND_BYTES.min(state.len());
    state[..end].copy_from_slice(&word[..end]);
    end
}

impl Checkpointing {
    /// Formats the store the layout reserved for `config`.
    pub fn new(
        config: &PartitionConfig,
        policy: &CheckpointPolicy,
        vgic: &VirtualGic,
    ) -> Result<Checkpointing, Error> {
        let size = usize::try_from(policy.store.size)
            .map_err(|_| Error::Store(bulkhead_core::checkpoint::StoreError::SizeOverflow))?;
        // SAFETY: the validator guarantees the store lies in RAM and overlaps
        // no partition, module, other store or the hypervisor; EL2 maps RAM
        // as normal memory and nothing else ever references this range.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut(policy.store.start.0 as *mut u8, size) };
        let regions: alloc::vec::Vec<(Ipa, u64)> = config
            .memory
            .iter()
            .map(|region| (region.ipa, region.size))
            .collect();
        let store = CheckpointStore::format(bytes, &regions, config.cpus.len())?;
        let tracker = DirtyTracker::new(&regions)?;
        let pages = usize::try_from(config.memory_bytes() / PAGE_SIZE).unwrap_or(usize::MAX);
        Ok(Checkpointing {
            policy: *policy,
            store: Mutex::new(store),
            tracker: Mutex::new(tracker),
            gic_model: Mutex::new(vgic.clone()),
            stats: Mutex::new(CheckpointStats::default()),
            next_generation: AtomicU64::new(1),
            tracking: AtomicBool::new(false),
            unprotected: Mutex::new(BoundedList::with_capacity(pages)),
        })
    }

    pub fn has_checkpoint(&self) -> bool {
        self.store.lock().current().is_some()
    }

    /// Bulkhead itself rewrote the partition's memory (a reset reloads its
    /// images), which stage-2 write tracking does not see: memory may now
    /// differ from either slot anywhere, so the next restore copies every
    /// page back and the next checkpoint into each slot copies every page.
    pub fn memory_rewritten(&self) {
        let mut tracker = self.tracker.lock();
        tracker.invalidate(Slot::A);
        tracker.invalidate(Slot::B);
    }

    /// After a checkpoint or restore re-protected memory (`protected`) or
    /// failed to: writes are then unseen until memory is protected again,
    /// so every page counts as rewritten and the next checkpoint is whole.
    fn tracking_resumes(&self, protected: bool) {
        self.tracking.store(protected, Ordering::Release);
        if !protected {
            self.memory_rewritten();
        }
    }
}

/// Who asks for a checkpoint or restore, and from where.
pub struct Requester<'a, 'f> {
    /// The asking core's own vCPU (of this partition or of its manager).
    pub vcpu: &'a Vcpu,
    /// Its trap frame, when the vCPU belongs to the partition itself (its
    /// state is saved from it, and a restore loads into it).
    pub own_frame: Option<&'f mut GuestFrame>,
}

impl Requester<'_, '_> {
    fn operator(&self) -> Operator<'_> {
        Operator {
            vcpu: self.vcpu,
            member: self.own_frame.is_some(),
        }
    }
}

/// Write-protects the partition's RAM and flushes its TLB entries: all of
/// it the first time, afterwards only the pages write faults re-enabled.
fn protect_memory(partition: &Partition, checkpointing: &Checkpointing) -> Result<(), Error> {
    let mut stage2 = partition.stage2.lock();
    let mut unprotected = checkpointing.unprotected.lock();
    if checkpointing.tracking.load(Ordering::Acquire) {
        stage2.write_protect_pages(unprotected.drain())?;
    } else {
        unprotected.clear();
        for region in &partition.config.memory {
            stage2.write_protect(region.ipa, region.size)?;
        }
    }
    drop((stage2, unprotected));
    vm::invalidate_partition_tlb(partition.stage2_root(), partition.vmid);
    Ok(())
}

/// A stage-2 permission fault on a write to RAM: records the
/// page as dirty and makes it writable. Returns false if the fault is not
/// a tracking fault (the caller reports it).
pub fn handle_write_fault(partition: &Partition, ipa: u64) -> bool {
    let Some(checkpointing) = partition.checkpointing.as_ref() else {
        return false;
    };
    // Taken whether tracking is on or not: with it off (memory could not
    // all be re-protected), pages left read-only are written all the same,
    // and a stale read-only TLB entry on this core is dropped.
    let page = Ipa(ipa & !(PAGE_SIZE - 1));
    // The tracker covers exactly the partition's RAM: a permission fault
    // elsewhere (a read-only channel endpoint's write) is not tracking's.
    if checkpointing.tracker.lock().mark(page).is_none() {
        return false;
    }
    let mut stage2 = partition.stage2.lock();
    match stage2.make_writable_page(page) {
        Ok(true) => {
            // Writable already: this core's TLB still held the read-only
            // entry (the relaxation was invalidated on another core only), or
            // a combined stage-1+2 entry that the per-IPA flush did not reach.
            drop(stage2);
            vm::invalidate_guest_stage1_local();
            true
        }
        Ok(false) => {
            // Re-protected at the next checkpoint. Cannot overflow (one
            // entry per page, and the page was read-only until now); if it
            // did, the page goes back to read-only so tracking stays exact.
            if checkpointing.unprotected.lock().push(page).is_err() {
                let _ = stage2.write_protect_page(page);
                return false;
            }
            drop(stage2);
            vm::invalidate_ipa_local(page.0);
            true
        }
        Err(_) => false,
    }
}

/// Claims the partition's operation slot: a refused claim is BUSY, and a
/// partition that is not running has nothing to save or roll back.
fn claim<'a>(
    partition: &'a Partition,
    requester: &mut Requester,
    operation: Operation,
    wait: bool,
) -> Result<bulkhead_core::protocol::Claim<'a>, Error> {
    let claim = match (&mut requester.own_frame, wait) {
        (Some(frame), true) => protocol::claim_own(
            partition,
            requester.vcpu,
            frame,
            Site::Interrupted,
            operation,
        )
        .map_err(|serviced| match serviced {
            Serviced::Reloaded => Error::Reloaded,
            _ => Error::NotRunning,
        })?,
        _ => partition
            .operation
            .try_claim(operation)
            .map_err(|_| Error::Busy)?,
    };
    if partition.state() != PartitionState::Running {
        return Err(Error::NotRunning);
    }
    Ok(claim)
}

/// Takes a checkpoint of `partition`. When the requester is one of its
/// vCPUs, its state is saved as it must look when a restore resumes it (a
/// CHECKPOINT_TAKE returns RESTORED). Returns the generation.
pub fn take(partition: &Partition, mut requester: Requester, origin: Origin) -> Result<u64, Error> {
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(Error::NoCheckpointPolicy)?;
    let _claim = claim(partition, &mut requester, Operation::Checkpoint, false)?;
    let started = timer::now();
    let operator = requester.operator();
    protocol::hold_others(partition, &operator).map_err(|_| Error::Busy)?;
    let generation = checkpointing.next_generation.fetch_add(1, Ordering::AcqRel);
    if let Some(frame) = requester.own_frame.as_deref() {
        let mut resumed = frame.clone();
        if origin == Origin::Hypercall {
            resumed.x[0] = bulkhead_abi::vendor::RESTORED;
            resumed.x[1] = generation;
        }
        let snapshot = VcpuSnapshot::capture(
            &resumed,
            requester.vcpu.pending_sgis.load(),
            &mut requester.vcpu.sve.lock(),
        );
        *requester.vcpu.snapshot.lock() = Some(snapshot);
    }
    let own = requester.own_frame.is_some().then_some(requester.vcpu);
    let written = write_checkpoint(partition, checkpointing, own, generation, started);
    let result = written.and_then(|pages| {
        let vgic = partition.vgic.lock();
        checkpointing.gic_model.lock().clone_from(&vgic);
        let protected = protect_memory(partition, checkpointing);
        checkpointing.tracking_resumes(protected.is_ok());
        protected.map(|()| pages)
    });
    protocol::let_go_others(partition, &operator);
    let pages = result?;
    let mut stats = checkpointing.stats.lock();
    stats.generation = generation;
    stats.taken += 1;
    stats.pages_copied = pages;
    stats.pause_ticks = timer::now().saturating_sub(started);
    stats.taken_at = started;
    Ok(generation)
}

/// Writes vCPU states and dirty pages into the non-current slot; returns pages copied.
fn write_checkpoint(
    partition: &Partition,
    checkpointing: &Checkpointing,
    own: Option<&Vcpu>,
    generation: u64,
    started: u64,
) -> Result<u64, Error> {
    let mut store = checkpointing.store.lock();
    let mut tracker = checkpointing.tracker.lock();
    let mut writer = store.begin(Generation(generation), started)?;
    let slot = writer.slot();
    // A device that masters DMA writes memory behind stage 2's back: with
    // one, every checkpoint copies all memory.
    let dma = partition.config.dma_capable();
    if writer.needs_every_page() || dma {
        tracker.invalidate(slot);
    }
    for vcpu in &partition.vcpus {
        let on =
            own.is_some_and(|own| core::ptr::eq(own, vcpu)) || vcpu.state() == VcpuState::Parked;
        let snapshot = vcpu.snapshot.lock();
        // Serialized straight into the store (a state with SVE is 9 KiB).
        writer.write_vcpu_state_with(vcpu.index, |state| match snapshot.as_ref() {
            Some(snapshot) if on => {
                let start = write_state_kind(state, STATE_ON);
                start + snapshot.write_bytes(&vcpu.sve.lock(), &mut state[start..])
            }
            // Held while its start was pending: a restore must start it again.
            _ if vcpu.state() == VcpuState::HeldOnPending => {
                let (entry, context) = vcpu.pending_start();
                let start = write_state_kind(state, STATE_PENDING);
                let words = [entry.to_le_bytes(), context.to_le_bytes()];
                for (target, word) in state[start..].chunks_exact_mut(8).zip(words) {
                    target.copy_from_slice(&word);
                }
                PENDING_BYTES.min(state.len())
            }
            _ => write_state_kind(state, STATE_OFF),
        })?;
    }
    let mut pages = 0;
    // The vector registers hold the guest state of whichever vCPU runs on
    // this core (this partition's or another's): the kernel preserves them.
    let mut kernel = SimdPageKernel::new();
    // Copy once: a page written since this slot's image but not since the
    // current checkpoint equals the current one's copy, whose record is
    // taken over. DMA writes behind tracking's back: then every page is copied.
    let inherit = writer.can_inherit() && !dma;
    // The store and both bitmaps number pages alike (the partition's
    // regions in layout order): pages are looked up by index.
    let since_current = tracker.since(slot.other());
    let since = tracker.since(slot);
    let mut run: Option<(PageRun, PhysAddr)> = None;
    for index in since.iter_dirty().indices() {
        if inherit && !since_current.is_dirty_index(index) {
            writer.inherit_page_at(index)?;
            continue;
        }
        // Dirty pages come in index order: most lie in the run found last.
        let found = run.and_then(|(run, pa)| {
            let offset = run.offset_of(index)?;
            Some((Ipa(run.start.0 + offset), PhysAddr(pa.0 + offset)))
        });
        let (ipa, pa) = match found {
            Some(found) => found,
            None => {
                // Every index the bitmap yields is a page (its bits past
                // the last page stay clear); the error only keeps this total.
                let Some(region) = since.page_map().run_of(index) else {
                    return Err(Error::OutsideMemory(Ipa(index.saturating_mul(PAGE_SIZE))));
                };
                let Some(pa) = partition.config.ipa_to_pa(region.start, region.bytes()) else {
                    return Err(Error::OutsideMemory(region.start));
                };
                run = Some((region, pa));
                let offset = region.offset_of(index).unwrap_or(0);
                (Ipa(region.start.0 + offset), PhysAddr(pa.0 + offset))
            }
        };
        // SAFETY: `ipa_to_pa` checked that the page's whole region is the partition's RAM,
        // identity-mapped at EL2; its vCPUs are held, so nothing writes it
        // (but DMA, for which every page is copied).
        let page = unsafe { &*(pa.0 as *const [u8; 4096]) };
        writer.write_page_at(index, ipa, page, &mut kernel)?;
        pages += 1;
    }
    writer.finish()?;
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
/// A checkpoint that finds the partition busy (a reset, a manager's
/// checkpoint) is skipped: the next period takes one.
pub fn periodic(partition: &Partition, vcpu: &Vcpu, frame: &mut GuestFrame) {
    let requester = Requester {
        vcpu,
        own_frame: Some(frame),
    };
    match take(partition, requester, Origin::Timer) {
        Ok(_) | Err(Error::Busy) | Err(Error::NotRunning) => {}
        Err(error) => log::warn!(
            "partition {}: periodic checkpoint failed: {error}",
            partition.label()
        ),
    }
    arm_periodic(partition, vcpu);
}

/// What a restore did.
pub enum Restored {
    /// The partition runs on from its last checkpoint (this generation);
    /// `caller_off`: the requesting vCPU was off in it and must leave its guest.
    Checkpoint { generation: u64, caller_off: bool },
    /// It had none: restart it from its image instead.
    NoCheckpoint,
}

/// Rolls `partition` back to its last checkpoint. `wait`: a requester of
/// the partition itself that cannot be refused (its fault handler) waits
/// for a busy partition, servicing its mailbox; anyone else gets BUSY. On
/// an error the partition has not been touched (nothing is copied before
/// the checkpoint verifies).
pub fn restore(
    partition: &Partition,
    mut requester: Requester,
    wait: bool,
) -> Result<Restored, Error> {
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(Error::NoCheckpointPolicy)?;
    let claim = claim(partition, &mut requester, Operation::Restore, wait)?;
    let Some(current) = checkpointing.store.lock().current() else {
        return Ok(Restored::NoCheckpoint);
    };
    let operator = requester.operator();
    protocol::hold_others(partition, &operator).map_err(|_| Error::Busy)?;
    if let Err(error) = copy_back(partition, checkpointing, current.slot) {
        protocol::let_go_others(partition, &operator);
        return Err(error);
    }
    {
        let mut vgic = partition.vgic.lock();
        vgic.clone_from(&checkpointing.gic_model.lock());
        // Raises from before the restore are moot; routes are the checkpoint's.
        partition.virtual_spis.reset(&vgic);
    }
    let protected = protect_memory(partition, checkpointing);
    checkpointing.tracking_resumes(protected.is_ok());
    let own = requester.own_frame.is_some().then_some(requester.vcpu);
    let caller_off = own.is_some_and(|vcpu| vcpu.snapshot.lock().is_none());
    for vcpu in &partition.vcpus {
        let pending = vcpu.staged_start.lock().take();
        if own.is_some_and(|own| core::ptr::eq(own, vcpu)) {
            // This core: it takes the start itself if it leaves its guest.
            *vcpu.restored_start.lock() = pending;
            continue;
        }
        let was_on = vcpu.snapshot.lock().is_some();
        match (vcpu.state(), was_on, pending) {
            (VcpuState::Parked, true, _) => vcpu.set_after_park(AfterPark::Reload),
            // Leaves its guest; then, if it was still to start, is pending
            // again (its core takes the start once out).
            (VcpuState::Parked, false, pending) => {
                *vcpu.restored_start.lock() = pending;
                vcpu.set_after_park(AfterPark::Leave);
            }
            (_, true, _) => {
                vcpu.start_from_snapshot.store(true, Ordering::Release);
                vcpu.held_power_on(0, 0);
            }
            (_, false, Some((entry, context))) => vcpu.held_power_on(entry, context),
            (_, false, None) => vcpu.held_power_off(),
        }
    }
    protocol::let_go_others(partition, &operator);
    if let Some(frame) = requester.own_frame.as_deref_mut() {
        protocol::load_snapshot(partition, requester.vcpu, frame);
    }
    drop(claim);
    protected?;
    Ok(Restored::Checkpoint {
        generation: current.generation.0,
        caller_off,
    })
}

/// Verifies, then copies back the dirty pages and the vCPU states.
fn copy_back(
    partition: &Partition,
    checkpointing: &Checkpointing,
    slot: Slot,
) -> Result<(), Error> {
    let store = checkpointing.store.lock();
    let mut tracker = checkpointing.tracker.lock();
    if partition.config.dma_capable() {
        // Its devices may have written any page since the checkpoint,
        // unseen by stage 2: every page goes back.
        tracker.invalidate(slot);
    }
    let mut kernel = SimdPageKernel::new();
    store.verify_pages_with(
        slot,
        store.pages_to_restore(tracker.since(slot)),
        &mut kernel,
    )?;
    // Every vCPU state must parse before anything is overwritten.
    for vcpu in &partition.vcpus {
        let state = store.vcpu_state(slot, vcpu.index)?;
        let parses = match stored_state(state) {
            Some((STATE_ON, bytes)) => VcpuSnapshot::from_bytes(bytes, None).is_some(),
            Some((STATE_PENDING, _)) => pending_start(state).is_some(),
            _ => true,
        };
        if !parses {
            return Err(Error::VcpuStateTruncated { vcpu: vcpu.index });
        }
    }
    for ipa in store.pages_to_restore(tracker.since(slot)) {
        let Some(page) = store.page(slot, ipa) else {
            return Err(Error::PageMissing(ipa));
        };
        let Some(pa) = partition.config.ipa_to_pa(ipa, PAGE_SIZE) else {
            return Err(Error::OutsideMemory(ipa));
        };
        // SAFETY: `ipa_to_pa` checked the page is the partition's RAM,
        // identity-mapped at EL2 and never the store; its vCPUs are held.
        let target = unsafe { &mut *(pa.0 as *mut [u8; PAGE_BYTES]) };
        kernel.copy(target, page);
    }
    tracker.restored(slot);
    for vcpu in &partition.vcpus {
        let state = store.vcpu_state(slot, vcpu.index)?;
        *vcpu.snapshot.lock() = match stored_state(state) {
            Some((STATE_ON, bytes)) => VcpuSnapshot::from_bytes(bytes, Some(&mut vcpu.sve.lock())),
            _ => None,
        };
        *vcpu.staged_start.lock() = pending_start(state);
    }
    Ok(())
}

/// The entry point and context of a stored pending vCPU state.
fn pending_start(state: &[u8]) -> Option<(u64, u64)> {
    let (STATE_PENDING, rest) = stored_state(state)? else {
        return None;
    };
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(rest.get(at..at + 8)?.try_into().ok()?))
    };
    Some((word(0)?, word(8)?))
}

/// Test-only hook: damages the stored copy of the page at `ipa` in the current checkpoint.
pub fn corrupt_for_test(partition: &Partition, ipa: u64) -> Result<(), Error> {
    let checkpointing = partition
        .checkpointing
        .as_ref()
        .ok_or(Error::NoCheckpointPolicy)?;
    let mut store = checkpointing.store.lock();
    let current = store.current().ok_or(Error::Store(
        bulkhead_core::checkpoint::StoreError::NoCheckpoint,
    ))?;
    store.corrupt_page_for_test(current.slot, Ipa(ipa & !(PAGE_SIZE - 1)))?;
    Ok(())
}

//! The hypervisor heap: a buddy allocator over the `.heap` region of `linker.ld`, sealed once boot is done.
//!
//! Everything Bulkhead needs is sized from the layout and allocated at
//! boot; nothing a guest does afterwards allocates. The allocator counts
//! what is allocated after [`report_and_seal`], and power-off reports the
//! count, so a test can assert it stays zero.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use buddy_system_allocator::LockedHeap;

/// The buddy allocator, counting allocations once sealed.
struct SealedHeap {
    heap: LockedHeap<32>,
    sealed: AtomicBool,
    after_seal: AtomicUsize,
}

// SAFETY: every call is forwarded unchanged to `LockedHeap`, a sound
// GlobalAlloc; the counters are atomics.
unsafe impl GlobalAlloc for SealedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.sealed.load(Ordering::Relaxed) {
            self.after_seal.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout, per GlobalAlloc's contract.
        unsafe { self.heap.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: SealedHeap = SealedHeap {
    heap: LockedHeap::empty(),
    sealed: AtomicBool::new(false),
    after_seal: AtomicUsize::new(0),
};

extern "C" {
    static __heap_start: u8;
    static __heap_end: u8;
}

/// Hands the linker-reserved heap region to the allocator. Boot CPU, once, before any allocation.
pub fn init() {
    let start = core::ptr::addr_of!(__heap_start) as usize;
    let end = core::ptr::addr_of!(__heap_end) as usize;
    // SAFETY: [start, end) is the NOLOAD `.heap` section reserved by
    // linker.ld for this purpose and used by nothing else.
    unsafe { HEAP.heap.lock().init(start, end - start) };
}

/// Bytes in use and the heap's size.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.heap.lock();
    (heap.stats_alloc_actual(), heap.stats_total_bytes())
}

/// Boot is done: prints what the heap holds, and from now on counts allocations.
pub fn report_and_seal() {
    let (used, size) = usage();
    log::info!("heap: {used} of {size} bytes used at boot");
    HEAP.sealed.store(true, Ordering::SeqCst);
}

/// Prints how many allocations happened after boot (0 unless a bug).
pub fn report_after_boot() {
    log::info!(
        "heap: {} allocations after boot",
        HEAP.after_seal.load(Ordering::SeqCst)
    );
}

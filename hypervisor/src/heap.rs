//! The hypervisor heap: a buddy allocator over the `.heap` region of `linker.ld`.

use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

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
    unsafe { HEAP.lock().init(start, end - start) };
}

//! Bulkhead: a static-partitioning type-1 micro-hypervisor for ARMv8-A, running at EL2.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod arch;
mod boot;
mod channel;
mod console;
mod cpu_start;
mod emulated;
mod error;
mod fault;
mod heap;
mod hypercall;
mod iommu;
mod irq;
mod manage;
mod mmio;
mod partition;
mod pci;
mod percpu;
mod trap;
mod virtual_spi;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("bulkhead: fatal: panic: {info}");
    console::flush_bounded();
    arch::aarch64::firmware::system_off()
}

//! Partitions and their vCPUs: resources from the validated layout, and their lifecycle.

pub mod checkpoint;
mod lifecycle;
mod memory;
pub mod protocol;
mod runtime;
mod system;
mod vcpu;
mod virtual_pci;

pub use lifecycle::{
    leave_requested, must_leave, request_cpu_on, reset_foreign, reset_partition, start_foreign,
    stop_foreign, stop_partition, wait_until_out, StopReason, Then,
};
pub use memory::GuestBuffer;
pub use runtime::{Partition, PartitionState, StatsLine, TrapCounters};
pub use system::{resident, system, Placement, System};
pub use vcpu::Vcpu;

//! Device-tree layout -> validated [`Layout`]: the one validator shared by `cargo xtask check` and the hypervisor.
//!
//! [`parse_board`] reads the board (CPUs, RAM, MMIO, GIC, console);
//! [`parse_layout`] checks the `/chosen/bulkhead` layout (binding v1)
//! against it and returns every problem found. Neither panics on any input.
//!
//! Binding v1, under `/chosen/bulkhead` (`compatible = "bulkhead,layout-v1"`):
//!
//! ```text
//! partition@<id> {
//!     reg = <id>;  label = "name";  cpus = <MPIDR ...>;
//!     memory = <PA(2) IPA(2) size(2) ...>;      devices = "/board/path", ...;
//!     kernel = <PA(2) size(2)>;                 load-address = <IPA(2)>;  /* optional */
//!     initrd = <PA(2) size(2)>;  bootargs = "..."; /* optional, for Linux */
//!     manages = <id ...>;        /* optional: other partitions it may checkpoint/restore */
//!     pci-functions = "00:02.0", ...; /* optional: PCI functions, through a virtual host bridge */
//!     on-dma-fault = "report";   /* optional: "report" (default) | "stop" */
//!     stage2-fault = "deliver";  /* optional: "deliver" (default: the guest takes a synchronous
//!                                   external abort) | "stop" (report, then on-fault) */
//!     checkpoint {               /* optional: this partition is checkpointed */
//!         store = <PA(2) size(2)>;  /* RAM of nobody: no partition, module, MMIO,
//!                                      reserved area or other store; at least
//!                                      checkpoint_store_required() bytes */
//!         interval-ms = <ms>;       /* optional, >= 1: periodic; absent = on request */
//!         on-fault = "stop";        /* optional: "stop" (default) | "restart" | "restore" */
//!     };
//! };
//! channel@<id> {                 /* optional: memory shared between partitions */
//!     reg = <id>;  label = "name";  /* label optional: "channel<id>"; at most 31 bytes */
//!     memory = <PA(2) size(2)>;     /* RAM of nobody, 4 KiB aligned; size a power of two >= 4 KiB */
//!     endpoints = <id id ...>;      /* at least two partition ids */
//!     endpoint-ipa = <IPA(2) ...>;  /* one per endpoint, aligned to the size */
//!     read-only = <id ...>;         /* optional: endpoints that may only read */
//! };
//! ```
//!
//! Errors on a checkpoint's properties name the `checkpoint` node itself
//! (`.../partition@1/checkpoint: store: ...`); `manages` errors name the
//! partition; a channel's errors name the channel node, except what clashes
//! with a partition's own virtual PCI bus (its `pci-functions`, `memory`,
//! `devices`), which names the partition.
#![forbid(unsafe_code)]

mod board;
mod channel;
pub mod checkpoint;
mod cpu_start;
pub mod dt;
pub mod el2_map;
mod error;
pub mod heap;
mod interrupt_controller;
mod interrupts;
mod layout;
mod pci_assign;
mod pci_host;
mod regs;
mod validate;
pub mod virtual_console;
pub mod virtual_pci;

pub use crate::address::{Ipa, PhysAddr, PhysRange};
pub use board::{
    parse_board, Board, BoardCpu, Gic, GicV2, GicV3, MmioRegion, GICV2_COMPATIBLE, GICV3_COMPATIBLE,
};
pub use channel::{Channel, ChannelEndpointConfig, PartitionChannel, MAX_CHANNEL_LABEL_BYTES};
pub use checkpoint::{checkpoint_store_required, CheckpointPolicy, OnFault};
pub use cpu_start::{bcm2835_power_manager, EnableMethod};
pub use interrupt_controller::root_interrupt_controller;
// For guest_dt, which derives the guest's GIC and copied nodes from the same board DT.
pub(crate) use board::gic_node;
pub use dt::DtError;
pub(crate) use error::Issue;
pub use error::{BoardError, LayoutError};
pub(crate) use interrupts::interrupt_map;
pub use layout::{
    Device, Layout, MemoryRegion, Module, OnDmaFault, Partition, PciFunction, Stage2Fault,
};
pub use pci_assign::assign_pci_functions;
pub use pci_host::{IntxRoute, IommuMap, PciHost, PciSpace, PciWindow, SmmuNode, VIRTUAL_ECAM};
pub(crate) use regs::{pci_ranges, physical_regs, reachable_pci_ranges};
pub use validate::{parse_layout, LAYOUT_COMPATIBLE};

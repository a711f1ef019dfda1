//! The validated layout: partitions with their CPUs, memory, devices and boot module.

use alloc::string::String;
use alloc::vec::Vec;

use super::channel::{Channel, PartitionChannel};
use super::checkpoint::CheckpointPolicy;
use super::virtual_console::{ConsoleUart, VIRTUAL_UART_INTID};
use super::virtual_pci::{channel_doorbell_intid, channel_intx_intid, CONTROL_INTID};
use crate::address::{Ipa, PhysAddr, PhysRange};
use crate::pci::FunctionAddress;

/// Guest RAM: `size` bytes at `pa`, seen by the guest at `ipa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub pa: PhysAddr,
    pub ipa: Ipa,
    pub size: u64,
}

/// A board device assigned to a partition; its MMIO is mapped at IPA == PA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Full board DT path.
    pub path: String,
    /// Its `reg` ranges, then, for a PCI host bridge (`device_type = "pci"`),
    /// the CPU-side windows of its `ranges` (I/O, 32- and 64-bit memory):
    /// BARs are assigned inside them, so they are MMIO the guest needs.
    /// Windows beyond the stage-2 IPA space (`stage2::IPA_BITS`) cannot be
    /// mapped at IPA == PA; they are left out, and out of the guest DT too.
    pub regs: Vec<PhysRange>,
    /// GIC INTIDs (SPI n = 32 + n, PPI n = 16 + n) from `interrupts` or
    /// `interrupts-extended`, then the GIC SPIs of its `interrupt-map` (the
    /// legacy INTx lines of a PCI host), without duplicates.
    pub interrupts: Vec<u32>,
    /// Whether the device can master DMA into the partition's memory (a PCI
    /// host bridge, or a node marked `dma-coherent` or behind an IOMMU):
    /// writes it makes are invisible to stage-2 dirty tracking.
    pub dma_capable: bool,
}

/// A PCI function given to a partition (`pci-functions`): its BARs, INTx
/// line and DMA stream go to that partition only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    pub address: FunctionAddress,
    /// Path of the host bridge it sits behind.
    pub host: String,
    /// GIC INTID of its INTx line. The validator assumes pin INTA (the
    /// usual one; it cannot read the device); boot replaces it with the
    /// route of the pin the function reports, or `None` if it has none.
    pub interrupt: Option<u32>,
    /// Its INTx pin, 1 (INTA) to 4 (INTD), 0 for none (INTA until enumerated).
    pub pin: u8,
    /// Its memory BARs as Bulkhead assigned them, each widened to whole
    /// pages (assignment never puts two functions in one page); empty until
    /// the bus is enumerated at boot.
    pub bars: Vec<PhysRange>,
    /// SMMU stream ID of its DMA (from the host's `iommu-map`), if any.
    pub stream: Option<u32>,
}

/// What a DMA fault of a partition's device does to the partition
/// (`on-dma-fault`); the DMA itself is always aborted and reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDmaFault {
    /// The partition runs on.
    #[default]
    Report,
    /// The partition is stopped.
    Stop,
}

impl OnDmaFault {
    pub fn from_name(name: &str) -> Option<OnDmaFault> {
        match name {
            "report" => Some(OnDmaFault::Report),
            "stop" => Some(OnDmaFault::Stop),
            _ => None,
        }
    }
}

/// What a stage-2 abort outside the partition's map (an access to an IPA
/// no memory region, device or emulated device covers) does
/// (`stage2-fault`). Faults inside the map (permission) and other unhandled
/// traps always follow `on-fault`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage2Fault {
    /// The guest takes a synchronous external abort at its EL1, as on
    /// hardware; Bulkhead reports it (rate-limited) and the partition runs on.
    #[default]
    Deliver,
    /// Bulkhead reports the fault and applies `on-fault` (stop by default).
    Stop,
}

impl Stage2Fault {
    /// The binding's spelling of each value.
    pub const NAMES: [(&'static str, Stage2Fault); 2] = [
        ("deliver", Stage2Fault::Deliver),
        ("stop", Stage2Fault::Stop),
    ];

    /// Parses a `stage2-fault` value.
    pub fn from_name(name: &str) -> Option<Stage2Fault> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| *value)
    }

    /// The binding's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Stage2Fault::Deliver => "deliver",
            Stage2Fault::Stop => "stop",
        }
    }
}

/// A boot module (the guest image) in physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub pa: PhysAddr,
    pub size: u64,
}

/// One statically partitioned guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub id: u32,
    pub label: String,
    /// Full path, e.g. "/chosen/bulkhead/partition@0".
    pub node: String,
    /// Logical CPU ids (indices into `Board::cpus`); position = vCPU index.
    pub cpus: Vec<usize>,
    pub memory: Vec<MemoryRegion>,
    pub devices: Vec<Device>,
    pub kernel: Module,
    /// IPA the image is copied to and entered at.
    pub load_address: Ipa,
    /// Optional second boot module (`initrd = <PA(2) size(2)>`, an
    /// initramfs): copied below the guest DT, its range given in `/chosen`.
    pub initrd: Option<Module>,
    /// Optional guest kernel command line (`bootargs = "..."`), written to
    /// the guest DT's `/chosen/bootargs`.
    pub bootargs: Option<String>,
    /// Optional `checkpoint { ... }` child node: where and when this
    /// partition is checkpointed and what a fault does to it.
    pub checkpoint: Option<CheckpointPolicy>,
    /// Ids of the partitions this one may checkpoint and restore
    /// (`manages = <id ...>`); never its own id, each existing.
    pub manages: Vec<u32>,
    /// Individual PCI functions (`pci-functions = "00:02.0", ...`), seen
    /// through a virtual host bridge.
    pub pci_functions: Vec<PciFunction>,
    /// `on-dma-fault`: what a DMA fault of its devices does.
    pub on_dma_fault: OnDmaFault,
    /// `stage2-fault`: what an access outside its stage-2 map does.
    pub stage2_fault: Stage2Fault,
    /// The channels it is an endpoint of, sorted by id (`slot` = position).
    pub channels: Vec<PartitionChannel>,
    /// It owns no UART, so it sees a virtual PL011 (`config::virtual_console`).
    pub virtual_console: bool,
}

impl Partition {
    /// Total guest RAM.
    pub fn memory_bytes(&self) -> u64 {
        self.memory
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.size))
    }

    /// PA of `[ipa, ipa + len)` if it lies wholly inside ONE memory region
    /// (`len` 0 counts as 1 byte for the check), `None` otherwise.
    pub fn ipa_to_pa(&self, ipa: Ipa, len: u64) -> Option<PhysAddr> {
        let end = ipa.0.checked_add(len.max(1))?;
        self.memory.iter().find_map(|region| {
            let region_end = region.ipa.0.checked_add(region.size)?;
            if ipa.0 < region.ipa.0 || end > region_end {
                return None;
            }
            region.pa.checked_add(ipa.0 - region.ipa.0)
        })
    }

    /// Whether a device of the partition can write its memory behind
    /// stage 2's back (a PCI host or function, a DMA-capable node).
    pub fn dma_capable(&self) -> bool {
        !self.pci_functions.is_empty() || self.devices.iter().any(|d| d.dma_capable)
    }

    /// Whether it sees a virtual PCI host bridge: it has PCI functions,
    /// channels (their endpoint functions) or partitions to manage (the
    /// control function).
    pub fn has_virtual_pci(&self) -> bool {
        !self.pci_functions.is_empty() || !self.channels.is_empty() || !self.manages.is_empty()
    }

    /// Its virtual SPIs (never a board's): the control function's INTx if
    /// it manages partitions, per channel slot its doorbell and INTx, then
    /// its virtual UART's.
    pub fn virtual_spis(&self) -> impl Iterator<Item = u32> + '_ {
        let control = (!self.manages.is_empty()).then_some(CONTROL_INTID);
        let uart = self.virtual_console.then_some(VIRTUAL_UART_INTID);
        control
            .into_iter()
            .chain(
                self.channels
                    .iter()
                    .flat_map(|c| [channel_doorbell_intid(c.slot), channel_intx_intid(c.slot)]),
            )
            .chain(uart)
    }

    /// GIC INTIDs of its devices and of its PCI functions' INTx lines
    /// (physical ones only: see [`Partition::virtual_spis`]).
    pub fn interrupts(&self) -> impl Iterator<Item = u32> + '_ {
        self.devices
            .iter()
            .flat_map(|device| device.interrupts.iter().copied())
            .chain(self.pci_functions.iter().filter_map(|f| f.interrupt))
    }

    /// Every MMIO range mapped into the partition at IPA == PA: its devices'
    /// `reg`s and windows, and its PCI functions' BARs.
    pub fn mmio_ranges(&self) -> impl Iterator<Item = &PhysRange> + '_ {
        self.devices
            .iter()
            .flat_map(|device| device.regs.iter())
            .chain(self.pci_functions.iter().flat_map(|f| f.bars.iter()))
    }

    /// Whether `[pa, pa + len)` lies wholly inside one MMIO range of one of
    /// this partition's devices (`len` 0 counts as 1 byte).
    pub fn owns_mmio(&self, pa: PhysAddr, len: u64) -> bool {
        let Some(end) = pa.0.checked_add(len.max(1)) else {
            return false;
        };
        self.mmio_ranges().any(|range| {
            range
                .end()
                .is_some_and(|range_end| pa.0 >= range.start.0 && end <= range_end)
        })
    }
}

/// Every partition and channel, each sorted by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub partitions: Vec<Partition>,
    /// Memory shared between partitions (`channel@<id>` nodes).
    pub channels: Vec<Channel>,
    /// `test-hooks` in `/chosen/bulkhead`: enables hypercalls that exist only
    /// for Bulkhead's own tests (CHECKPOINT_CORRUPT_FOR_TEST). Never set it
    /// in production: a partition could then damage checkpoints it manages.
    pub test_hooks: bool,
    /// Bulkhead's console UART: `console` in `/chosen/bulkhead`, else the
    /// board's `stdout-path` (None if it has none).
    pub console: Option<ConsoleUart>,
}

impl Layout {
    /// `(partition index, vCPU index)` of the partition running on logical CPU `cpu`.
    pub fn partition_of_cpu(&self, cpu: usize) -> Option<(usize, usize)> {
        self.partitions
            .iter()
            .enumerate()
            .find_map(|(index, partition)| {
                partition
                    .cpus
                    .iter()
                    .position(|&c| c == cpu)
                    .map(|vcpu| (index, vcpu))
            })
    }
}

//! Fuzz target: `parse_board` and `parse_layout` must never panic on any blob.
#![no_main]

use bulkhead_core::config::{
    parse_board, parse_layout, Board, BoardCpu, EnableMethod, Gic, GicV3, IntxRoute, MmioRegion,
    PciHost, PciSpace,
    PciWindow, PhysRange,
};
use libfuzzer_sys::fuzz_target;

/// qemu-virt's reserved area and its hypervisor part (see `platform::qemu_virt`).
const RESERVED: PhysRange = PhysRange::new(0x4000_0000, 0x1000_0000);
const HYPERVISOR: PhysRange = PhysRange::new(0x4000_0000, 0x0400_0000);

/// A fixed qemu-virt board, so inputs whose board part is broken still reach the layout checks.
fn fixed_board() -> Board {
    let cpus = (0..4)
        .map(|i| BoardCpu {
            path: format!("/cpus/cpu@{i}"),
            mpidr: i,
            enable_method: EnableMethod::Psci,
        })
        .collect();
    let mmio = [
        ("/pl011@9000000", 0x0900_0000, 0x1000),
        ("/pl011@9040000", 0x0904_0000, 0x1000),
    ]
    .into_iter()
    .map(|(node, start, size)| MmioRegion {
        node: node.into(),
        range: PhysRange::new(start, size),
    })
    .collect();
    Board {
        cpus,
        ram: vec![PhysRange::new(0x4000_0000, 0x8000_0000)],
        mmio,
        gic: Some(Gic::V3(GicV3 {
            distributor: PhysRange::new(0x0800_0000, 0x10000),
            redistributors: PhysRange::new(0x080a_0000, 0x00f6_0000),
        })),
        console: Some(PhysRange::new(0x0900_0000, 0x1000)),
        pci_hosts: vec![fixed_pci_host()],
        smmus: Vec::new(),
        firmware_psci: true,
    }
}

/// qemu-virt's PCIe host bridge, so `pci-functions` reaches its checks.
fn fixed_pci_host() -> PciHost {
    let intx = (0u32..4)
        .flat_map(|slot| {
            (1u32..=4).map(move |pin| IntxRoute {
                address_high: slot << 11,
                pin,
                intid: 32 + 3 + (pin - 1 + slot) % 4,
            })
        })
        .collect();
    PciHost {
        path: "/pcie@10000000".into(),
        ecam: PhysRange::new(0x40_1000_0000, 0x1000_0000),
        first_bus: 0,
        last_bus: 0xff,
        windows: vec![PciWindow {
            space: PciSpace::Memory32,
            prefetchable: false,
            pci_address: 0x1000_0000,
            cpu: PhysRange::new(0x1000_0000, 0x2eff_0000),
        }],
        intx_mask: (0x1800, 7),
        intx,
        iommu_map: Vec::new(),
    }
}

fuzz_target!(|dtb: &[u8]| {
    if let Ok(board) = parse_board(dtb) {
        let _ = parse_layout(dtb, &board, RESERVED, HYPERVISOR);
    }
    let _ = parse_layout(dtb, &fixed_board(), RESERVED, HYPERVISOR);
});

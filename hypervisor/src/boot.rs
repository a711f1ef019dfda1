//! Boot: from the reset entry to every core running its partition's vCPU.
//!
//! Boot CPU: MMU, heap, console, board DT, layout validation (a refused
//! layout stops here and powers off), partitions, GIC, secondary cores. Then
//! every core, the boot CPU included, runs [`run_core`].

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use bulkhead_core::address::{PhysAddr, PhysRange};
use bulkhead_core::config::el2_map::{BlockKind, EarlyMap, El2Map};
use bulkhead_core::config::{self, Gic};
use bulkhead_platform::current::PLATFORM;

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::{
    exception, firmware, gic, mmu, pm_watchdog, sysreg, timer, vgic_hw, vm,
};
use crate::error::Error;
use crate::irq;
use crate::partition::{protocol, system, Partition, PartitionState, System};
use crate::{console, cpu_start, heap, iommu, pci, percpu, println};
use bulkhead_core::irq_owner::InterruptOwners;
use bulkhead_core::vgic::GUEST_PPIS;

/// Largest board DTB Bulkhead accepts.
const MAX_DTB_SIZE: usize = 2 << 20;

/// Rust entry of the boot CPU; `dtb` is the physical address firmware passed in x0.
#[no_mangle]
extern "C" fn primary_main(dtb: u64) -> ! {
    let reserved = PhysRange::new(PLATFORM.reserved_start, PLATFORM.reserved_size);
    mmu::build_early_map(&EarlyMap {
        reserved,
        early_console: PhysAddr(PLATFORM.early_console),
        // Without a DTB (x0 = 0) nothing more than the reserved area is mapped.
        dtb: if dtb == 0 {
            reserved.start
        } else {
            PhysAddr(dtb)
        },
    });
    mmu::enable();
    heap::init();
    console::init(PLATFORM.early_console);
    console::init_logger();
    log::info!(
        "Bulkhead {} starting at EL2 on {} (DTB at {dtb:#x})",
        env!("CARGO_PKG_VERSION"),
        PLATFORM.name
    );

    // Leaked: the board DTB lives as long as the hypervisor (guest DTs are
    // regenerated from it at every partition start).
    let Some(dtb) = copy_dtb(dtb).map(|dtb| &*alloc::vec::Vec::leak(dtb)) else {
        log::error!("no valid device tree at x0; stopping");
        firmware::system_off();
    };
    let board = match config::parse_board(dtb) {
        Ok(board) => board,
        Err(error) => {
            log::error!("board device tree: {error}; stopping");
            firmware::system_off();
        }
    };
    firmware::set_psci_present(board.firmware_psci);
    install_board_map(&board, reserved);
    if !board.firmware_psci {
        match config::bcm2835_power_manager(dtb) {
            // Mapped by the board map: it is a device node of the DT.
            Ok(Some(registers)) => pm_watchdog::set_base(registers.start),
            Ok(None) => {}
            Err(error) => log::warn!("board device tree: {error}; cannot power off"),
        }
    }
    if let Some(uart) = board.console {
        console::init(uart.start.0);
    }
    let hypervisor = PhysRange::new(PLATFORM.reserved_start, PLATFORM.hypervisor_size);
    let mut layout = match config::parse_layout(dtb, &board, reserved, hypervisor) {
        Ok(layout) => layout,
        Err(errors) => {
            for error in &errors {
                println!("{error}");
            }
            log::error!(
                "layout refused ({} error(s)); no partition started, stopping",
                errors.len()
            );
            firmware::system_off();
        }
    };
    // The layout may give Bulkhead another UART than the board's stdout-path.
    let console_uart = layout.console.clone();
    if let Some(uart) = &console_uart {
        console::init(uart.registers.start.0);
    }
    if board.cpus.len() > PLATFORM.max_cpus {
        log::error!(
            "board has {} CPUs, Bulkhead supports {}; stopping",
            board.cpus.len(),
            PLATFORM.max_cpus
        );
        firmware::system_off();
    }

    // Before any core takes an interrupt or sends a kick: the board's GIC
    // behind the seam, and (GICv3) the redistributor region to search.
    let redistributor_region = match &board.gic {
        Some(Gic::V3(gic)) => {
            gic::install_v3(gic::GicV3 {
                redistributors: gic.redistributors.start.0,
                redistributors_size: gic.redistributors.size,
            });
            Some(gic.redistributors)
        }
        Some(Gic::V2(gic)) => {
            let Some(hypervisor_interface) = gic.hypervisor_interface else {
                log::error!("board's GICv2 has no virtualization extensions (no GICH); stopping");
                firmware::system_off();
            };
            // SAFETY: the three frames come from the board DT's GIC node,
            // which the EL2 identity map covers as device memory.
            gic::install_v2(unsafe {
                gic::GicV2::new(
                    gic.distributor.start.0,
                    gic.cpu_interface.start.0,
                    hypervisor_interface.start.0,
                )
            });
            None
        }
        // No GIC this build drives: start the cores, report them and name
        // the controller before stopping.
        None => stop_for_unsupported_gic(&board, dtb),
    };
    // PCI functions and their BARs exist only once enumerated: what the
    // validator could not check is checked here, with the same lines.
    let pci_bus = match pci::enumerate(&board, &mut layout.partitions) {
        Ok(bus) => bus,
        Err(errors) => {
            for error in &errors {
                println!("{error}");
            }
            log::error!("layout refused; no partition started, stopping");
            firmware::system_off();
        }
    };
    let mut hypervisor_spis = iommu::interrupts(&board);
    // The console UART's receive interrupt: Bulkhead's console input.
    let input_intid = console_uart
        .as_ref()
        .and_then(|uart| uart.intid)
        .filter(|&intid| intid >= 32);
    hypervisor_spis.extend(input_intid);
    let interrupts = match InterruptOwners::build(
        &layout.partitions,
        &irq::hypervisor_private(),
        &GUEST_PPIS,
        &hypervisor_spis,
    ) {
        Ok(interrupts) => interrupts,
        Err(errors) => {
            for error in &errors {
                println!("{error}");
            }
            log::error!("layout refused; no partition started, stopping");
            firmware::system_off();
        }
    };
    let test_hooks = layout.test_hooks;
    let heap_errors = heap_refusals(&layout.partitions, dtb.len() as u64);
    if !heap_errors.is_empty() {
        for error in &heap_errors {
            println!("{error}");
        }
        log::error!("layout refused; no partition started, stopping");
        firmware::system_off();
    }
    let mut partitions = Vec::new();
    for config in layout.partitions {
        let label = config.label.clone();
        let mut frames = Vec::new();
        // GICv3 only: a GICv2 has no redistributors (its SGIs and PPIs are
        // banked in the distributor).
        let cpus = if redistributor_region.is_some() {
            config.cpus.as_slice()
        } else {
            &[]
        };
        for &cpu in cpus {
            let Some(region) = redistributor_region else {
                break;
            };
            let mpidr = board.cpus.get(cpu).map_or(u64::MAX, |cpu| cpu.mpidr);
            // SAFETY: the redistributor region comes from the board DT and
            // the EL2 identity map covers it as device memory.
            match unsafe { gic::v3::find_redistributor(region.start.0, region.size, mpidr) } {
                Some(frame) => frames.push(frame),
                None => {
                    log::error!(
                        "partition {label}: no GIC redistributor for MPIDR {mpidr:#x}; stopping"
                    );
                    firmware::system_off();
                }
            }
        }
        match Partition::new(config, &board, dtb, frames, pci_bus.as_ref()) {
            Ok(partition) => partitions.push(partition),
            // Placement problems found here are validator lines: printed
            // exactly as `check` would.
            Err(Error::Layout(error)) => {
                println!("{error}");
                log::error!("layout refused; no partition started, stopping");
                firmware::system_off();
            }
            Err(error) => {
                log::error!("partition {label}: {error}; no partition started, stopping");
                firmware::system_off();
            }
        }
    }
    if partitions
        .iter()
        .any(|partition| partition.checkpointing.is_some())
        && !crate::arch::aarch64::simd::agrees_with_portable()
    {
        log::error!("the SIMD checkpoint kernels disagree with the store's checksum; stopping");
        firmware::system_off();
    }
    for partition in &partitions {
        if let Err(error) = partition.load_images() {
            log::error!("partition {}: {error}; stopping", partition.label());
            firmware::system_off();
        }
        log::info!(
            "partition {} (id {}): {} vCPU(s), {} MiB, entry {:#x}, DT at {:#x}",
            partition.label(),
            partition.config.id,
            partition.vcpus.len(),
            partition.config.memory_bytes() >> 20,
            partition.placement.kernel.0,
            partition.placement.dtb.0
        );
    }
    if let Err(error) = iommu::init(&board, &partitions, pci_bus.as_ref()) {
        if partitions.iter().any(|p| p.config.dma_capable()) {
            log::error!("{error}; a partition has DMA-capable devices, stopping");
            firmware::system_off();
        }
        log::warn!("{error}; no partition has a DMA-capable device");
    }
    let distributor = board
        .gic
        .as_ref()
        .map_or(0, |gic| gic.distributor().start.0);
    match gic::v2() {
        Some(gicv2) => gicv2.init_distributor(),
        // SAFETY: the board DT names the GICv3 distributor, which the EL2
        // identity map covers as device memory.
        None => unsafe { gic::v3::init_distributor(distributor) },
    }
    // Bulkhead's own SPIs (the SMMU's) go to a core that runs a partition:
    // such a core takes interrupts for ever (in its guest, or in its wait
    // for power-on), where a core with no partition is switched off. A
    // partition with DMA-capable devices is preferred: the fault reports
    // its devices cause then cost its own core.
    let handler_mpidr = partitions
        .iter()
        .filter(|partition| partition.config.dma_capable())
        .chain(partitions.iter())
        .flat_map(|partition| partition.config.cpus.first())
        .find_map(|&cpu| board.cpus.get(cpu).map(|cpu| cpu.mpidr))
        .unwrap_or_else(sysreg::mpidr);
    for &intid in &hypervisor_spis {
        match gic::v2() {
            Some(gicv2) => gicv2.enable_hypervisor_spi(intid, handler_mpidr),
            // SAFETY: as above; boot CPU, before any partition runs.
            None => unsafe { gic::v3::enable_hypervisor_spi(distributor, intid, handler_mpidr) },
        }
    }
    for partition in &partitions {
        partition.reset_interrupts();
    }

    let boot_mpidr = sysreg::mpidr();
    let boot_cpu = board.cpus.iter().position(|cpu| cpu.mpidr == boot_mpidr);
    let system = System::install(board, partitions, interrupts, test_hooks);
    if let Some(intid) = input_intid {
        console::enable_input(intid, system);
    }
    for partition in &system.partitions {
        if let Some(first) = partition.vcpus.first() {
            let _ = first.power_on(partition.placement.kernel.0, partition.placement.dtb.0);
        }
    }
    heap::report_and_seal();
    for (cpu, board_cpu) in system.board.cpus.iter().enumerate() {
        if Some(cpu) == boot_cpu || system.cpu_map.get(cpu).copied().flatten().is_none() {
            continue;
        }
        if let Err(error) = cpu_start::start(cpu, board_cpu) {
            log::error!(
                "CPU {} (MPIDR {:#x}) not started: {error}",
                cpu,
                board_cpu.mpidr
            );
        }
    }
    match boot_cpu {
        Some(cpu) if system.cpu_map.get(cpu).copied().flatten().is_some() => run_core(cpu),
        _ => {
            log::info!("boot CPU runs no partition; powering it off");
            firmware::cpu_off();
            idle_forever()
        }
    }
}

/// Rust entry of a secondary core started by [`firmware::cpu_on`].
#[no_mangle]
extern "C" fn secondary_main(cpu: u64) -> ! {
    mmu::enable();
    // The console keeps per-core state: say which core this is before printing.
    percpu::set_current_cpu(cpu as usize);
    if system().is_none() {
        // Started only to show the board's bring-up works (see
        // `stop_for_unsupported_gic`): report and park.
        log::info!("CPU {cpu} (MPIDR {:#x}) up at EL2; parked", sysreg::mpidr());
    }
    cpu_start::arrived();
    run_core(cpu as usize)
}

/// Replaces the early EL2 map by the one the board DT describes: its RAM
/// (and Bulkhead's reserved area) as normal memory, its devices as device
/// memory, nothing else. A DT that cannot be mapped stops the boot.
fn install_board_map(board: &config::Board, reserved: PhysRange) {
    let map = match El2Map::from_board(board, &[reserved]) {
        Ok(map) => map,
        Err(error) => {
            log::error!("board device tree: {error}; stopping");
            firmware::system_off();
        }
    };
    if let Err(error) = mmu::switch_to_board_map(&map) {
        log::error!(
            "board device tree: the EL2 map needs {} or more level-2 tables, Bulkhead has {}; stopping",
            error.needed,
            error.available
        );
        firmware::system_off();
    }
    let (mut normal, mut device) = (0u64, 0u64);
    for (range, kind) in map.regions() {
        match kind {
            BlockKind::Normal => normal += range.size,
            BlockKind::Device => device += range.size,
            BlockKind::Unmapped => {}
        }
    }
    log::info!(
        "EL2 map from the board DT: {} MiB normal, {} MiB device in {} ranges",
        normal >> 20,
        device >> 20,
        map.regions().len()
    );
}

/// How long the boot CPU waits for the cores it started to report in.
const ARRIVAL_WAIT_MS: u64 = 2000;

/// This build drives a GICv3 only. Before stopping, it starts every other
/// core the way the board says (so a board's bring-up can be checked before
/// its GIC is supported), waits for them, and says which GIC the board has.
fn stop_for_unsupported_gic(board: &config::Board, dtb: &[u8]) -> ! {
    let boot_mpidr = sysreg::mpidr();
    let mut started = 0;
    for (cpu, board_cpu) in board.cpus.iter().enumerate() {
        if board_cpu.mpidr == boot_mpidr {
            continue;
        }
        match cpu_start::start(cpu, board_cpu) {
            Ok(()) => started += 1,
            Err(error) => log::error!(
                "CPU {cpu} (MPIDR {:#x}) not started: {error}",
                board_cpu.mpidr
            ),
        }
    }
    let deadline = timer::Deadline::after_ms(ARRIVAL_WAIT_MS);
    while cpu_start::arrived_count() < started && !deadline.passed() {
        core::hint::spin_loop();
    }
    let methods: Vec<&str> = board.cpus.iter().map(cpu_start::method_name).collect();
    log::info!(
        "{} of {} secondary CPU(s) up (enable-method {})",
        cpu_start::arrived_count(),
        board.cpus.len().saturating_sub(1),
        methods.first().copied().unwrap_or("none")
    );
    let (node, compatible) = config::root_interrupt_controller(dtb).unwrap_or_else(|| {
        (
            alloc::string::String::from("(none)"),
            alloc::string::String::new(),
        )
    });
    log::error!(
        "board interrupt controller {node} ({compatible}) is not supported by this build: it drives GICv3 (arm,gic-v3) and GICv2 with virtualization (arm,gic-400, arm,cortex-a15-gic); stopping"
    );
    console::flush_bounded();
    firmware::system_off();
}

/// The partitions that would not fit in what is left of the heap: every
/// run-time structure is allocated at boot, so this is checked first.
fn heap_refusals(
    partitions: &[config::Partition],
    board_dtb_bytes: u64,
) -> Vec<config::LayoutError> {
    let (used, size) = heap::usage();
    let size = size as u64;
    let mut committed = used as u64;
    let mut errors = Vec::new();
    for partition in partitions {
        // A guest DT is the board's filtered, plus a few added nodes.
        let required = config::heap::partition_heap_required(partition, board_dtb_bytes + 0x4000);
        let left = size.saturating_sub(committed);
        if required > left {
            errors.push(config::LayoutError::new(
                partition.node.as_str(),
                "memory",
                alloc::format!(
                    "needs up to {required:#x} bytes of Bulkhead's heap for its tables and tracking; only {left:#x} of {size:#x} are left"
                ),
            ));
        }
        committed = committed.saturating_add(required);
    }
    errors
}

/// Copies the board DTB into the heap so that nothing later overwrites it.
fn copy_dtb(address: u64) -> Option<Vec<u8>> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: firmware passes the DTB in RAM, identity-mapped as normal
    // memory; we read its 8-byte header first and check the magic.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    if header[0..4] != [0xd0, 0x0d, 0xfe, 0xed] {
        return None;
    }
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if size > MAX_DTB_SIZE {
        return None;
    }
    // SAFETY: the header says the blob is `size` bytes long, bounded above.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, size) }.to_vec())
}

/// Every core's life: bring up its GIC interface, then run its vCPU whenever
/// it is powered on, until the machine powers off.
fn run_core(cpu: usize) -> ! {
    percpu::set_current_cpu(cpu);
    let Some(system) = system() else {
        idle_forever()
    };
    let Some((partition, vcpu)) = system.assignment(cpu) else {
        idle_forever()
    };
    if system.board.gic.is_some() {
        if let Err(error) = gic::init_this_cpu() {
            log::error!("CPU {cpu}: {error}");
            idle_forever();
        }
    }
    vm::enter_partition(partition.stage2_root(), partition.vmid);
    loop {
        let (entry, context) = wait_for_power_on(system, partition, vcpu);
        // Started (the vCPU is Running): a stop or reset that raced the start
        // either held the vCPU first (no start) or sees it running and posts
        // it an exit request; checking the state closes the other order.
        if partition.state() != PartitionState::Running {
            vcpu.leave();
            continue;
        }
        vm::reset_vcpu(vcpu.index);
        vcpu.clear_pending_interrupts();
        irq::release_deferred(vcpu);
        vgic_hw::reset_virtual_interface();
        // GICv2: this vCPU's PPIs are banked in the distributor and only
        // this core can reset them (the partition-wide reset could not).
        partition.reset_private_interrupts(vcpu.index);
        let mut frame = GuestFrame::default();
        frame.x[0] = context;
        frame.elr = entry;
        frame.spsr = vm::SPSR_EL1H_MASKED;
        if vcpu.start_from_snapshot.swap(false, Ordering::AcqRel) {
            // Restored to a checkpoint in which this vCPU was running.
            protocol::load_snapshot(partition, vcpu, &mut frame);
        }
        crate::partition::checkpoint::arm_periodic(partition, vcpu);
        // SAFETY: this core's stage 2, HCR_EL2 and EL1 reset state were set
        // for its partition above; SPSR names EL1h.
        unsafe { exception::enter_guest(&frame) };
        timer::disarm_hypervisor_timer();
        irq::release_deferred(vcpu);
        vm::stop_guest_timers();
        vgic_hw::disable_virtual_interface();
        vcpu.leave();
        vcpu.restart_if_restored_pending();
    }
}

/// Sleeps until this vCPU can start in a running partition, or powers the
/// machine off once no partition is alive.
fn wait_for_power_on(
    system: &System,
    partition: &Partition,
    vcpu: &crate::partition::Vcpu,
) -> (u64, u64) {
    loop {
        // Drain first, then look: a kick that arrives after the look stays
        // pending and ends the wfi at once, so no wake-up is lost.
        irq::drain_idle(system);
        console::drain();
        if system.alive_partitions() == 0 {
            power_off_machine();
        }
        if partition.state() == PartitionState::Running {
            if let Some(start) = vcpu.start() {
                return start;
            }
        }
        sysreg::wait_for_interrupt();
    }
}

/// Powers the machine off once the last partition is gone. The first core
/// to notice reports it, flushes the console and asks the firmware; the
/// others wait: one of them powering off first would cut the report short
/// (it may not even be in the console yet).
fn power_off_machine() -> ! {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if REPORTED.swap(true, Ordering::AcqRel) {
        idle_forever()
    }
    log::info!("all partitions are off; powering off");
    iommu::report_totals();
    heap::report_after_boot();
    console::flush_bounded();
    firmware::system_off()
}

fn idle_forever() -> ! {
    loop {
        sysreg::wait_for_interrupt();
    }
}

/// Called from the entry code when we were not entered at EL2 (MMU off).
#[no_mangle]
extern "C" fn refuse_exception_level(level: u64) {
    console::init(PLATFORM.early_console);
    println!(
        "bulkhead: entered at EL{level}, but Bulkhead must be entered at EL2; refusing to run"
    );
}

/// An exception taken from EL2 itself: a hypervisor bug. Report and stop the machine.
#[no_mangle]
extern "C" fn hypervisor_exception(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    println!("bulkhead: fatal: exception in the hypervisor (kind {kind}) esr={esr:#x} elr={elr:#x} far={far:#x}");
    console::flush_bounded();
    firmware::system_off();
}

//! Consoles in the layout: the board's console UART is Bulkhead's, and a partition without a UART gets a virtual PL011.

mod support;

use bulkhead_core::config::dt::DeviceTree;
use bulkhead_core::config::virtual_console::{VIRTUAL_UART, VIRTUAL_UART_INTID};
use bulkhead_core::guest_dt::{build, GuestDtOptions};
use support::*;

const ROOT: &str = "/chosen/bulkhead";
const BETA: &str = "/chosen/bulkhead/partition@1";

#[test]
fn giving_the_console_uart_away_is_refused_naming_it() {
    // Without `console`, alpha's /pl011@9000000 is the board's stdout-path.
    let errors = errors(|tree| tree.at(ROOT).remove("console"));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = errors[0].to_string();
    assert!(
        error.starts_with(
            "layout error: /chosen/bulkhead/partition@0: devices: /pl011@9000000 is Bulkhead's console UART"
        ),
        "{error}"
    );
    assert!(error.contains("console = "), "{error}");
}

#[test]
fn accepted_with_another_uart_for_bulkhead() {
    let layout = parse(&edited_dtb(|_| {})).unwrap_or_else(|e| panic!("{e:#?}"));
    let console = layout.console.expect("a console UART");
    assert_eq!(console.path, "/pl011@9070000");
    assert!(layout.partitions.iter().all(|p| !p.virtual_console));
}

#[test]
fn console_naming_a_uart_a_partition_owns_is_refused() {
    let errors = errors(set_string(ROOT, "console", "/pl011@9040000"));
    // alpha holds the stdout UART, beta the one `console` names.
    assert!(
        errors
            .iter()
            .any(|e| e.node == BETA && e.property == "devices"),
        "{errors:#?}"
    );
}

#[test]
fn console_must_be_a_pl011_in_the_board() {
    let missing = errors(set_string(ROOT, "console", "/nowhere"));
    let reason = expect_error(&missing, ROOT, "console");
    assert!(reason.contains("/nowhere"), "{reason}");
    let not_pl011 = errors(set_string(ROOT, "console", "/virtio_mmio@a000200"));
    let reason = expect_error(&not_pl011, ROOT, "console");
    assert!(reason.contains("not a PL011"), "{reason}");
}

#[test]
fn a_partition_without_uart_gets_a_virtual_pl011() {
    // beta gives up its UART: it keeps the virtio transport only.
    let dtb = edited_dtb(|tree| {
        tree.at(BETA)
            .set("devices", strings(&["/virtio_mmio@a000200"]));
    });
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let beta = &layout.partitions[1];
    assert!(beta.virtual_console);
    assert_eq!(
        beta.virtual_spis().collect::<Vec<_>>(),
        [VIRTUAL_UART_INTID]
    );
    let guest = build(&dtb, beta, &GuestDtOptions::default()).expect("guest DT");
    let tree = DeviceTree::parse(&guest).expect("guest DT parses");
    let chosen = tree.find("/chosen").expect("/chosen");
    assert_eq!(
        chosen.property("stdout-path").and_then(|p| p.as_str()),
        Some("/pl011@3f200000")
    );
    let uart = tree.find("/pl011@3f200000").expect("the virtual PL011");
    assert!(uart.is_compatible("arm,pl011") && uart.is_compatible("arm,primecell"));
    let cells = |name: &str| uart.property(name).and_then(|p| p.as_cells());
    assert_eq!(
        cells("reg"),
        Some(vec![0, VIRTUAL_UART.start.0 as u32, 0, 0x1000])
    );
    assert_eq!(
        cells("interrupts"),
        Some(vec![0, VIRTUAL_UART_INTID - 32, 4])
    );
    let clocks = cells("clocks").expect("clocks");
    let clock = tree
        .nodes()
        .find(|n| n.property("phandle").and_then(|p| p.as_u32()) == Some(clocks[0]))
        .expect("the clock node");
    assert!(clock.is_compatible("fixed-clock"));
    // The phandle is the guest DT's alone.
    assert_eq!(
        tree.nodes()
            .filter(|n| n.property("phandle").and_then(|p| p.as_u32()) == Some(clocks[0]))
            .count(),
        1
    );
}

#[test]
fn virtual_console_window_kept_clear() {
    let errors = errors(|tree| {
        tree.at(BETA)
            .set("devices", strings(&["/virtio_mmio@a000200"]));
        tree.at(BETA).set(
            "memory",
            cells(&[0, 0x6000_0000, 0, 0x3f00_0000, 0, 0x0100_0000]),
        );
    });
    let reason = expect_error(&errors, BETA, "memory");
    assert!(reason.contains("virtual console UART"), "{reason}");
}

fn set_string(path: &str, property: &str, value: &str) -> impl FnOnce(&mut TestNode) {
    let (path, property, value) = (path.to_string(), property.to_string(), value.to_string());
    move |tree| tree.at(&path).set(&property, strings(&[value.as_str()]))
}

//! Checkpoint binding: `checkpoint { store; interval-ms; on-fault; }` and `manages`, and each refusal.

mod support;

use bulkhead_core::config::{
    checkpoint_store_required, CheckpointPolicy, LayoutError, OnFault, PhysRange,
};
use support::*;

const ALPHA_CKPT: &str = "/chosen/bulkhead/partition@0/checkpoint";
const BETA_CKPT: &str = "/chosen/bulkhead/partition@1/checkpoint";
/// beta's store in the good layout: free RAM above both partitions.
const BETA_STORE: (u64, u64) = (0x8000_0000, 0x2400_0000);

/// The good layout, plus: beta checkpointed every 25 ms into `BETA_STORE`,
/// restored on a fault; alpha manages beta.
fn checkpointed(tree: &mut TestNode) {
    let (pa, size) = BETA_STORE;
    tree.at(BETA).children.push(
        TestNode::new("checkpoint")
            .raw("store", wide(&[pa, size]))
            .cells("interval-ms", &[25])
            .string("on-fault", "restore"),
    );
    tree.at(ALPHA).set("manages", cells(&[1]));
}

/// The errors after `checkpointed` then `edit`; fails if the layout is accepted.
fn refusals(edit: impl FnOnce(&mut TestNode)) -> Vec<LayoutError> {
    errors(both(checkpointed, edit))
}

/// Gives alpha a checkpoint node with only a store.
fn alpha_store(pa: u64, size: u64) -> impl FnOnce(&mut TestNode) {
    move |tree| {
        tree.at(ALPHA)
            .children
            .push(TestNode::new("checkpoint").raw("store", wide(&[pa, size])))
    }
}

#[test]
fn good_layout_parses_to_the_policy() {
    let layout = parse(&edited_dtb(checkpointed)).unwrap_or_else(|e| panic!("{e:#?}"));
    let (alpha, beta) = (&layout.partitions[0], &layout.partitions[1]);
    assert_eq!(alpha.checkpoint, None);
    assert_eq!(alpha.manages, vec![1]);
    assert_eq!(
        beta.checkpoint,
        Some(CheckpointPolicy {
            store: PhysRange::new(BETA_STORE.0, BETA_STORE.1),
            interval_ms: Some(25),
            on_fault: OnFault::Restore,
        })
    );
    assert!(beta.manages.is_empty());
}

#[test]
fn interval_and_on_fault_are_optional() {
    let dtb = edited_dtb(|tree| {
        checkpointed(tree);
        let checkpoint = tree.at(BETA_CKPT);
        checkpoint.remove("interval-ms");
        checkpoint.remove("on-fault");
    });
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let policy = layout.partitions[1]
        .checkpoint
        .expect("beta is checkpointed");
    assert_eq!(policy.interval_ms, None);
    assert_eq!(policy.on_fault, OnFault::Stop);
}

#[test]
fn every_on_fault_value_parses() {
    for (name, value) in [
        ("stop", OnFault::Stop),
        ("restart", OnFault::Restart),
        ("restore", OnFault::Restore),
    ] {
        let dtb = edited_dtb(|tree| {
            checkpointed(tree);
            tree.at(BETA_CKPT).set("on-fault", strings(&[name]));
        });
        let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
        let policy = layout.partitions[1]
            .checkpoint
            .expect("beta is checkpointed");
        assert_eq!(policy.on_fault, value);
    }
}

#[test]
fn store_size_formula() {
    // Per slot: header 4 KiB, 16 KiB per vCPU, 16-byte records for 0x10000 pages
    // (1 MiB), 256 MiB of data; two slots.
    assert_eq!(
        checkpoint_store_required(0x1000_0000, 2),
        2 * (0x1000 + 0x8000 + 0x10_0000 + 0x1000_0000)
    );
    // A store of exactly the required size is accepted.
    let required = checkpoint_store_required(0x1100_0000, 2);
    let dtb = edited_dtb(|tree| {
        checkpointed(tree);
        tree.at(BETA_CKPT)
            .set("store", wide(&[BETA_STORE.0, required]));
    });
    parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
}

#[test]
fn store_missing() {
    let errors = refusals(remove(BETA_CKPT, "store"));
    expect_only_reason(&errors, BETA_CKPT, "store", "is missing");
}

#[test]
fn store_malformed() {
    let errors = refusals(set(BETA_CKPT, "store", cells(&[0, 0x8000_0000, 0x100])));
    expect_only_reason(&errors, BETA_CKPT, "store", "must be 4");
    let errors = errors_of_bytes(vec![1, 2, 3]);
    expect_only_reason(&errors, BETA_CKPT, "store", "32-bit cells");
}

fn errors_of_bytes(store: Vec<u8>) -> Vec<LayoutError> {
    refusals(set(BETA_CKPT, "store", store))
}

#[test]
fn store_zero_size() {
    let errors = errors_of_bytes(wide(&[0x8000_0000, 0]));
    expect_only_reason(&errors, BETA_CKPT, "store", "zero size");
}

#[test]
fn store_wraps() {
    let errors = errors_of_bytes(wide(&[u64::MAX - 0xfff, 0x2000]));
    expect_only_reason(&errors, BETA_CKPT, "store", "wraps");
}

#[test]
fn store_not_page_aligned() {
    let errors = errors_of_bytes(wide(&[0x8000_0800, 0x2400_0000]));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "PA 0x80000800 is not 4 KiB aligned",
    );
    let errors = errors_of_bytes(wide(&[0x8000_0000, 0x2400_0800]));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "size 0x24000800 is not 4 KiB aligned",
    );
}

#[test]
fn store_outside_ram() {
    // RAM ends at 0xc000_0000.
    let errors = errors_of_bytes(wide(&[0xb000_0000, 0x2400_0000]));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "does not lie inside one RAM range",
    );
}

#[test]
fn store_over_the_reserved_area() {
    let errors = refusals(alpha_store(0x4800_0000, 0x1000));
    expect_reason(
        &errors,
        ALPHA_CKPT,
        "store",
        "store 0x48000000+0x1000 overlaps Bulkhead's reserved area 0x40000000+0x10000000",
    );
}

#[test]
fn store_over_mmio() {
    // The first UART's page: MMIO, and not RAM either.
    let errors = errors_of_bytes(wide(&[0x0900_0000, 0x1000]));
    expect_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps MMIO of /pl011@9000000 (0x9000000+0x1000)",
    );
    expect_reason(
        &errors,
        BETA_CKPT,
        "store",
        "does not lie inside one RAM range",
    );
}

#[test]
fn store_over_its_own_partitions_memory() {
    let errors = errors_of_bytes(wide(&[0x6000_0000, 0x2400_0000]));
    expect_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the memory of this partition, at its region 0x60000000+0x10000000",
    );
}

#[test]
fn store_over_another_partitions_memory() {
    let errors = errors_of_bytes(wide(&[0x5000_0000, 0x2400_0000]));
    expect_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the memory of partition@0 (alpha), at its region 0x50000000+0x10000000",
    );
}

#[test]
fn store_over_a_boot_module() {
    // An initrd outside the reserved area, inside beta's store.
    let errors = refusals(set(BETA, "initrd", wide(&[0x8100_0000, 0x10_0000])));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the initrd module 0x81000000+0x100000 of this partition",
    );
    // Alpha's kernel moved into beta's store.
    let errors = refusals(set(ALPHA, "kernel", wide(&[0x8000_0000, 0x10_0000])));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the kernel module 0x80000000+0x100000 of partition@0 (alpha)",
    );
}

#[test]
fn store_over_another_store() {
    // Alpha's store is big enough for alpha but starts inside beta's; the
    // clash is reported once, on the partition with the higher id.
    let size = checkpoint_store_required(0x1000_0000, 2);
    let errors = refusals(alpha_store(0x9000_0000, size));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the checkpoint store 0x90000000+0x20212000 of partition@0 (alpha)",
    );
}

#[test]
fn store_too_small() {
    // alpha: 256 MiB and 2 vCPUs need 2 * (0x1000 + 0x8000 + 0x100000 + 0x10000000).
    let errors = refusals(alpha_store(0x8000_0000 + 0x2400_0000, 0x1000_0000));
    expect_only_reason(
        &errors,
        ALPHA_CKPT,
        "store",
        "needs at least 0x20212000 bytes for two checkpoints of 256 MiB and 2 vCPUs, has 0x10000000",
    );
    let message = errors[0].to_string();
    assert!(
        message.starts_with("layout error: /chosen/bulkhead/partition@0/checkpoint: store: "),
        "{message}"
    );
}

#[test]
fn interval_zero() {
    let errors = refusals(set(BETA_CKPT, "interval-ms", cells(&[0])));
    expect_only_reason(&errors, BETA_CKPT, "interval-ms", "is 0");
}

#[test]
fn interval_malformed() {
    let errors = refusals(set(BETA_CKPT, "interval-ms", cells(&[0, 25])));
    expect_only_reason(&errors, BETA_CKPT, "interval-ms", "one 32-bit cell");
}

#[test]
fn on_fault_unknown() {
    let errors = refusals(set(BETA_CKPT, "on-fault", strings(&["reboot"])));
    expect_only_reason(&errors, BETA_CKPT, "on-fault", "\"reboot\" is unknown");
    let errors = refusals(set(BETA_CKPT, "on-fault", strings(&["Restore"])));
    expect_only_reason(
        &errors,
        BETA_CKPT,
        "on-fault",
        "must be \"stop\", \"restart\" or \"restore\"",
    );
}

#[test]
fn on_fault_malformed() {
    let errors = refusals(set(BETA_CKPT, "on-fault", cells(&[1])));
    expect_only_reason(&errors, BETA_CKPT, "on-fault", "one UTF-8 string");
    let errors = refusals(set(BETA_CKPT, "on-fault", strings(&["stop", "restore"])));
    expect_only_reason(&errors, BETA_CKPT, "on-fault", "one UTF-8 string");
}

#[test]
fn manages_unknown_partition() {
    let errors = refusals(set(ALPHA, "manages", cells(&[1, 7])));
    expect_only_reason(
        &errors,
        ALPHA,
        "manages",
        "partition id 0x7 is not in the layout",
    );
}

#[test]
fn manages_itself() {
    let errors = refusals(set(ALPHA, "manages", cells(&[0])));
    expect_only_reason(&errors, ALPHA, "manages", "is this partition itself");
}

#[test]
fn manages_malformed() {
    let errors = refusals(set(ALPHA, "manages", vec![0, 0, 1]));
    expect_only_reason(&errors, ALPHA, "manages", "32-bit cells");
    let errors = refusals(set(ALPHA, "manages", Vec::new()));
    expect_only_reason(&errors, ALPHA, "manages", "is empty");
    let errors = refusals(set(ALPHA, "manages", cells(&[1, 1])));
    expect_only_reason(
        &errors,
        ALPHA,
        "manages",
        "partition id 0x1 is listed twice",
    );
}

#[test]
fn a_second_checkpoint_node_is_refused() {
    let errors = refusals(|tree| {
        tree.at(BETA)
            .children
            .push(TestNode::new("checkpoint@1").raw("store", wide(&[0xa800_0000, 0x1000])));
    });
    expect_only_reason(
        &errors,
        "/chosen/bulkhead/partition@1/checkpoint@1",
        "name",
        "at most one checkpoint node",
    );
}

#[test]
fn every_problem_is_reported() {
    let errors = refusals(|tree| {
        let checkpoint = tree.at(BETA_CKPT);
        checkpoint.set("store", wide(&[0x6000_0800, 0x1000]));
        checkpoint.set("interval-ms", cells(&[0]));
        checkpoint.set("on-fault", strings(&["explode"]));
        tree.at(ALPHA).set("manages", cells(&[0, 9]));
    });
    expect_reason(&errors, BETA_CKPT, "store", "not 4 KiB aligned");
    expect_reason(&errors, BETA_CKPT, "store", "too small");
    expect_reason(
        &errors,
        BETA_CKPT,
        "store",
        "overlaps the memory of this partition",
    );
    expect_reason(&errors, BETA_CKPT, "interval-ms", "is 0");
    expect_reason(&errors, BETA_CKPT, "on-fault", "\"explode\" is unknown");
    expect_reason(&errors, ALPHA, "manages", "itself");
    expect_reason(&errors, ALPHA, "manages", "0x9 is not in the layout");
    assert_eq!(errors.len(), 7, "{errors:#?}");
}

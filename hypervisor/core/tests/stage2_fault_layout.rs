//! `stage2-fault`: "deliver" by default, "stop" on request, anything else refused naming node and property.

mod support;

use bulkhead_core::config::Stage2Fault;
use support::*;

#[test]
fn deliver_by_default_stop_on_request() {
    let layout = accepted(|tree| tree.at(ALPHA).set("stage2-fault", strings(&["stop"])));
    assert_eq!(layout.partitions[0].stage2_fault, Stage2Fault::Stop);
    assert_eq!(layout.partitions[1].stage2_fault, Stage2Fault::Deliver);
    let layout = accepted(|tree| tree.at(BETA).set("stage2-fault", strings(&["deliver"])));
    assert_eq!(layout.partitions[1].stage2_fault, Stage2Fault::Deliver);
}

#[test]
fn unknown_value() {
    let errors = errors(|tree| tree.at(ALPHA).set("stage2-fault", strings(&["ignore"])));
    let reason = expect_error(&errors, ALPHA, "stage2-fault");
    assert!(reason.contains("\"ignore\" is unknown"), "{reason}");
    assert!(reason.contains("\"deliver\" or \"stop\""), "{reason}");
}

#[test]
fn not_a_string() {
    let errors = errors(|tree| tree.at(ALPHA).set("stage2-fault", vec![0xff, 0xfe, 0]));
    expect_error(&errors, ALPHA, "stage2-fault");
}

#[test]
fn names_round_trip() {
    for (name, value) in Stage2Fault::NAMES {
        assert_eq!(Stage2Fault::from_name(name), Some(value));
        assert_eq!(value.name(), name);
    }
}

//! The interrupt line alone: level semantics, raised once per rising edge, also under contention.

use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Barrier;
use std::thread;

use super::IntxLine;

#[test]
fn reset_state_is_quiet() {
    let line = IntxLine::new();
    assert_eq!((line.status(), line.mask()), (0, 0));
    assert!(!line.pending() && !line.asserted());
}

#[test]
fn masked_event_stays_pending_without_raising() {
    let line = IntxLine::new();
    assert!(!line.signal());
    assert_eq!(line.status(), 1);
    assert!(!line.pending() && !line.asserted());
    // Unmasking with the event pending raises, once.
    assert!(line.set_mask(1));
    assert!(line.asserted());
    assert!(!line.set_mask(1));
    assert!(!line.signal(), "already up: no second raise");
}

#[test]
fn status_read_clears_and_lowers_the_line() {
    let line = IntxLine::new();
    assert!(!line.set_mask(1));
    assert!(line.signal());
    assert_eq!(line.take_status(), 1);
    assert_eq!(line.take_status(), 0);
    assert!(!line.asserted());
    assert!(line.signal(), "a new event after the read raises again");
}

#[test]
fn mask_reads_back_whole_and_only_bit_zero_matters() {
    let line = IntxLine::new();
    assert!(!line.set_mask(0xFFFF_FFFE));
    assert_eq!(line.mask(), 0xFFFF_FFFE);
    assert!(!line.signal(), "bit 0 masked");
    assert!(!line.pending());
    assert!(line.set_mask(0xFFFF_FFFF));
    // Masking lowers the line; unmasking raises again.
    assert!(!line.set_mask(0));
    assert!(!line.asserted());
    assert!(line.set_mask(1));
}

#[test]
fn intx_disable_masks_after_status() {
    let line = IntxLine::new();
    assert!(!line.set_mask(1));
    assert!(!line.set_intx_disabled(true));
    assert!(!line.signal());
    assert!(line.pending(), "Status bit 3 shows the line before masking");
    assert!(!line.asserted());
    assert!(line.set_intx_disabled(false));
    assert!(!line.set_intx_disabled(false));
    assert!(!line.set_intx_disabled(true));
    assert!(!line.asserted());
}

#[test]
fn reset_clears_everything() {
    let line = IntxLine::new();
    assert!(!line.set_intx_disabled(true));
    assert!(!line.set_mask(0xFF));
    assert!(!line.signal());
    line.reset();
    assert_eq!((line.status(), line.mask()), (0, 0));
    assert!(!line.pending() && !line.asserted());
    assert!(!line.set_mask(1));
    assert!(line.signal(), "INTx Disable is clear after reset");
}

#[test]
fn concurrent_rings_raise_once_per_edge() {
    const THREADS: usize = 8;
    const EDGES: usize = 200;
    let line = Arc::new(IntxLine::new());
    assert!(!line.set_mask(1));
    for _ in 0..EDGES {
        let barrier = Arc::new(Barrier::new(THREADS));
        let raises: usize = (0..THREADS)
            .map(|_| {
                let (line, barrier) = (line.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    (0..4).filter(|_| line.signal()).count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .sum();
        assert_eq!(raises, 1);
        assert_eq!(line.take_status(), 1);
    }
}

/// Peers ring while the guest reads status and toggles INTx Disable: every
/// raise is a rising edge (never two without a fall between) and the line
/// always ends where the state says it should.
#[test]
fn rings_racing_the_guest_never_lose_or_double_a_raise() {
    const RINGERS: usize = 3;
    let line = Arc::new(IntxLine::new());
    assert!(!line.set_mask(1));
    let barrier = Arc::new(Barrier::new(RINGERS + 1));
    let ringers: Vec<_> = (0..RINGERS)
        .map(|_| {
            let (line, barrier) = (line.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..20_000).filter(|_| line.signal()).count()
            })
        })
        .collect();
    barrier.wait();
    let mut guest_raises = 0;
    let mut reads = 0;
    for round in 0..20_000u32 {
        reads += line.take_status();
        if round % 7 == 0 {
            guest_raises += usize::from(line.set_intx_disabled(true));
            guest_raises += usize::from(line.set_intx_disabled(false));
        }
    }
    let ring_raises: usize = ringers
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .sum();
    // Each raise was a rising edge, and each fall needed a status read (or
    // INTx Disable): raises cannot outnumber falls by more than one.
    let falls = reads as usize + 20_000 / 7 + 1;
    assert!(ring_raises + guest_raises <= falls + 1);
    assert!(ring_raises >= 1);
    assert_eq!(line.asserted(), line.pending());
    // A final read leaves everything low; the next ring raises.
    let _ = line.take_status();
    assert!(!line.asserted());
    assert!(line.signal());
}

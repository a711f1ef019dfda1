//! Property tests: no input, however malformed, makes the board or layout parser panic.

mod support;

use bulkhead_core::config::{parse_board, parse_layout, Board};
use proptest::prelude::*;
use support::*;

/// Both parsers on one blob; the layout is also checked against the good board
/// so that mutations deep in `/chosen/bulkhead` reach the validator.
fn exercise(dtb: &[u8], good_board: &Board) {
    if let Ok(board) = parse_board(dtb) {
        let _ = parse_layout(dtb, &board, RESERVED, HYPERVISOR);
    }
    let _ = parse_layout(dtb, good_board, RESERVED, HYPERVISOR);
}

fn good() -> (Vec<u8>, Board) {
    let dtb = edited_dtb(|_| {});
    let board = parse_board(&dtb).expect("fixture");
    (dtb, board)
}

/// Values that make FDT parsers misbehave when written over a 32-bit word.
fn interesting_word() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..16,
        Just(u32::MAX),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        any::<u32>(),
        (0u32..0x200).prop_map(|v| v.wrapping_mul(4)),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Byte(usize, u8),
    Word(usize, u32),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        (any::<usize>(), interesting_word()).prop_map(|(i, w)| Mutation::Word(i, w)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(dtb: &mut Vec<u8>, mutation: &Mutation) {
    if dtb.is_empty() {
        return;
    }
    match *mutation {
        Mutation::Byte(index, byte) => {
            let len = dtb.len();
            dtb[index % len] = byte;
        }
        Mutation::Word(index, word) => {
            let words = dtb.len() / 4;
            if words > 0 {
                let at = (index % words) * 4;
                dtb[at..at + 4].copy_from_slice(&word.to_be_bytes());
            }
        }
        Mutation::Truncate(len) => {
            let len = len % dtb.len();
            dtb.truncate(len);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (_, board) = good();
        exercise(&bytes, &board);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        // A plausible header so the structure walker, not the header check, sees the noise.
        let (_, board) = good();
        let total = 40 + tail.len() as u32;
        let mut dtb = Vec::new();
        for word in [0xd00d_feed, total, 40, 40, 40, 17, 16, 0, 0, tail.len() as u32] {
            dtb.extend_from_slice(&u32::to_be_bytes(word));
        }
        dtb.extend_from_slice(&tail);
        exercise(&dtb, &board);
    }

    #[test]
    fn mutated_layouts(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let (mut dtb, board) = good();
        for m in &mutations {
            apply(&mut dtb, m);
        }
        exercise(&dtb, &board);
    }

    #[test]
    fn random_property_values(
        target in 0usize..10,
        value in proptest::collection::vec(any::<u8>(), 0..64),
        cell_values in proptest::collection::vec(interesting_word(), 0..14),
        as_cells in any::<bool>(),
    ) {
        // Well-formed blobs with ill-formed values in the properties the validator reads.
        let (_, board) = good();
        let targets = [
            (ALPHA, "reg"), (ALPHA, "label"), (ALPHA, "cpus"), (ALPHA, "memory"), (ALPHA, "devices"),
            (BETA, "kernel"), (BETA, "load-address"), ("/pl011@9000000", "interrupts"),
            ("/pl011@9000000", "reg"), ("/", "#address-cells"),
        ];
        let (path, property) = targets[target];
        let bytes = if as_cells { cells(&cell_values) } else { value };
        let dtb = edited_dtb(|tree| tree.at(path).set(property, bytes));
        exercise(&dtb, &board);
    }
}

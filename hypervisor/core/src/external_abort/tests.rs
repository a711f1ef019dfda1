//! Host tests of abort delivery: exact syndromes for the cases the QEMU scenario sees, invariants over any input.

use proptest::prelude::*;

use super::*;

const VBAR: u64 = 0x4008_0800;
/// SCTLR_EL1 at reset-ish values: SPAN and DSSBS clear.
const SCTLR: u64 = 0x30d0_0800;

fn trapped(esr: u64, spsr: u64) -> Trapped {
    Trapped {
        esr,
        far: 0x1234_5678,
        elr: 0x4008_1000,
        spsr,
        vbar: VBAR,
        sctlr: SCTLR,
    }
}

/// ESR_EL2 of a lower-EL abort: EC, IL, ISS.
fn esr(class: u64, iss: u64) -> u64 {
    class << 26 | 1 << 25 | iss
}

/// EL1h with interrupts unmasked, Z set.
const EL1H_GUEST: u64 = 0x4000_0005;

#[test]
fn read_from_el1h() {
    // A 32-bit load (ISV, SAS=2, SRT=1), translation fault level 1.
    let got = deliver(
        &trapped(esr(0x24, 1 << 24 | 2 << 22 | 1 << 16 | 0x05), EL1H_GUEST),
        Features::default(),
    )
    .unwrap();
    assert_eq!(got.kind, Injected::DataAbort);
    assert_eq!(got.esr_el1, 0x9600_0010);
    assert_eq!(got.far_el1, 0x1234_5678);
    assert_eq!(got.elr_el1, 0x4008_1000);
    assert_eq!(got.spsr_el1, EL1H_GUEST);
    assert_eq!(got.vector, VBAR + 0x200);
    assert_eq!(got.pstate, 0x4000_03c5);
}

#[test]
fn write_keeps_wnr() {
    let got = deliver(
        &trapped(esr(0x24, 1 << 6 | 0x07), EL1H_GUEST),
        Features::default(),
    )
    .unwrap();
    assert_eq!(got.esr_el1, 0x9600_0050);
}

#[test]
fn fetch_from_el1h() {
    let got = deliver(&trapped(esr(0x20, 0x06), EL1H_GUEST), Features::default()).unwrap();
    assert_eq!(got.kind, Injected::InstructionAbort);
    assert_eq!(got.esr_el1, 0x8600_0010);
}

#[test]
fn from_el0_and_sp0() {
    let el0 = deliver(&trapped(esr(0x24, 0x07), 0), Features::default()).unwrap();
    assert_eq!(el0.esr_el1, 0x9200_0010);
    assert_eq!(el0.vector, VBAR + 0x400);
    let fetch = deliver(&trapped(esr(0x20, 0x07), 0), Features::default()).unwrap();
    assert_eq!(fetch.esr_el1, 0x8200_0010);
    let sp0 = deliver(&trapped(esr(0x24, 0x07), 0b0100), Features::default()).unwrap();
    assert_eq!(sp0.esr_el1, 0x9600_0010);
    assert_eq!(sp0.vector, VBAR);
    let a32 = deliver(&trapped(esr(0x24, 0x07), 0b1_0000), Features::default()).unwrap();
    assert_eq!(a32.esr_el1, 0x9200_0010);
    assert_eq!(a32.vector, VBAR + 0x600);
}

#[test]
fn walk_fault_is_an_external_abort_on_a_walk() {
    // S1PTW, translation level 2; WnR clear.
    let got = deliver(
        &trapped(esr(0x24, 1 << 7 | 0x06), EL1H_GUEST),
        Features::default(),
    )
    .unwrap();
    assert_eq!(got.esr_el1, 0x9600_0014);
    let fetch = deliver(
        &trapped(esr(0x20, 1 << 7 | 0x06), EL1H_GUEST),
        Features::default(),
    )
    .unwrap();
    assert_eq!(fetch.esr_el1, 0x8600_0014);
}

#[test]
fn inside_the_map_is_not_delivered() {
    for fsc in [0x0c, 0x0d, 0x0e, 0x0f, 0x09, 0x10, 0x21, 0x30] {
        let result = deliver(
            &trapped(esr(0x24, 1 << 6 | fsc), EL1H_GUEST),
            Features::default(),
        );
        assert!(
            matches!(result, Err(Undeliverable::InsideTheMap(_))),
            "fsc {fsc:#x}: {result:?}"
        );
    }
    // Checkpoint tracking's walk write: a permission fault with S1PTW.
    assert!(matches!(
        deliver(&trapped(esr(0x20, 0x8f), EL1H_GUEST), Features::default()),
        Err(Undeliverable::InsideTheMap(_))
    ));
    assert_eq!(
        deliver(&trapped(esr(0x16, 0), EL1H_GUEST), Features::default()),
        Err(Undeliverable::NotAnAbort)
    );
}

#[test]
fn impossible_modes_are_refused() {
    for mode in [0b1000, 0b1001, 0b1100, 0b1101, 0b0001, 0b1_0011, 0b1_1111] {
        assert_eq!(
            deliver(&trapped(esr(0x24, 0x07), mode), Features::default()),
            Err(Undeliverable::BadMode(mode))
        );
    }
}

#[test]
fn entry_pstate_per_feature() {
    let all = Features {
        pan: true,
        ssbs: true,
        mte: true,
        nmi: true,
    };
    // SPAN clear: PAN set; DSSBS clear: SSBS clear; TCO set; SPINTMASK clear: ALLINT set.
    let old = pstate::SSBS | pstate::BTYPE | pstate::UAO | pstate::SS | pstate::IL | EL1H_GUEST;
    assert_eq!(
        entry_pstate(old, 0, all),
        0x4000_0000 | pstate::PAN | pstate::TCO | pstate::ALLINT | pstate::DAIF | pstate::EL1H
    );
    // SPAN set: PAN unchanged (clear, then set); DSSBS set; SPINTMASK set.
    let sctlr = sctlr::SPAN | sctlr::DSSBS | sctlr::SPINTMASK;
    assert_eq!(
        entry_pstate(0, sctlr, all),
        pstate::SSBS | pstate::TCO | pstate::DAIF | pstate::EL1H
    );
    assert_eq!(
        entry_pstate(pstate::PAN | pstate::DIT, sctlr, all),
        pstate::PAN | pstate::DIT | pstate::SSBS | pstate::TCO | pstate::DAIF | pstate::EL1H
    );
    // Nothing implemented: only the mode, the masks and NZCV/DIT.
    assert_eq!(
        entry_pstate(u64::MAX, 0, Features::default()),
        pstate::NZCV | pstate::DIT | pstate::DAIF | pstate::EL1H
    );
}

#[test]
fn features_from_id_registers() {
    assert_eq!(Features::from_id_registers(0, 0), Features::default());
    // cortex-a72: no PAN, no SSBS. neoverse-v1-like: PAN 3, SSBS 2, BT 1.
    assert_eq!(
        Features::from_id_registers(3 << 20, 2 << 4 | 1),
        Features {
            pan: true,
            ssbs: true,
            mte: false,
            nmi: false
        }
    );
    assert_eq!(
        Features::from_id_registers(0, 2 << 8 | 1 << 36),
        Features {
            pan: false,
            ssbs: false,
            mte: true,
            nmi: true
        }
    );
}

#[test]
fn rate_limit() {
    let kinds: Vec<Report> = (1..=1000).map(report_kind).collect();
    assert!(kinds[..8].iter().all(|k| *k == Report::Full));
    let summaries: Vec<u64> = (1..=1000u64)
        .filter(|n| report_kind(*n) == Report::Summary)
        .collect();
    assert_eq!(summaries, [16, 32, 64, 128, 256, 512]);
    assert_eq!(report_kind(0), Report::Silent);
    assert_eq!(report_kind(9), Report::Silent);
    // At most 8 + 64 - 3 lines over any count a u64 holds.
    let lines = (0..64)
        .filter(|bit| report_kind(1u64 << bit) != Report::Silent)
        .count();
    assert_eq!(lines, 64);
}

proptest! {
    /// Whatever the registers hold: never a panic; a delivery always lands
    /// in EL1h with everything masked, in one of VBAR's four sync slots,
    /// with an external-abort syndrome whose EC matches the source EL.
    #[test]
    fn any_input(esr_value in any::<u64>(), spsr in any::<u64>(), sctlr in any::<u64>(),
                 vbar in any::<u64>(), far in any::<u64>(), elr in any::<u64>(),
                 pan in any::<bool>(), ssbs in any::<bool>(), mte in any::<bool>(), nmi in any::<bool>()) {
        let features = Features { pan, ssbs, mte, nmi };
        let input = Trapped { esr: esr_value, far, elr, spsr, vbar, sctlr };
        if let Ok(got) = deliver(&input, features) {
            prop_assert_eq!(got.pstate & 0x1f, pstate::EL1H);
            prop_assert_eq!(got.pstate & pstate::DAIF, pstate::DAIF);
            prop_assert_eq!(got.pstate & (pstate::SS | pstate::IL | pstate::BTYPE | pstate::UAO), 0);
            prop_assert!([0, 0x200, 0x400, 0x600].contains(&got.vector.wrapping_sub(vbar)));
            prop_assert_eq!((got.far_el1, got.elr_el1, got.spsr_el1), (far, elr, spsr));
            let class = got.esr_el1 >> 26;
            let from_el1 = got.vector.wrapping_sub(vbar) < 0x400;
            prop_assert_eq!(class & 1 == 1, from_el1);
            prop_assert!([0x20, 0x21, 0x24, 0x25].contains(&class));
            prop_assert_eq!(got.esr_el1 & (1 << 25), 1 << 25);
            // ISV, FnV, EA, SET, S1PTW: all clear.
            prop_assert_eq!(got.esr_el1 & (1 << 24 | 1 << 10 | 1 << 9 | 0b11 << 11 | 1 << 7), 0);
            prop_assert!([0x10, 0x14].contains(&(got.esr_el1 & 0x3f)));
            prop_assert_eq!(got.esr_el1 >> 32, 0);
        }
    }
}

#[test]
fn undefined_goes_to_the_current_or_lower_vector_with_only_il() {
    let trapped = |spsr| Trapped {
        esr: 0x623c_0521,
        far: 0x1234,
        elr: 0x4000_02a4,
        spsr,
        vbar: 0x4000_0800,
        sctlr: 0,
    };
    let from_el1 = undefined(&trapped(0x3c5), Features::default()).unwrap();
    assert_eq!(from_el1.kind, Injected::Undefined);
    assert_eq!(from_el1.esr_el1, 1 << 25, "EC 0, IL as trapped");
    assert_eq!(from_el1.vector, 0x4000_0a00);
    assert_eq!(from_el1.far_el1, 0x1234, "FAR_EL1 left as it was");
    assert_eq!(from_el1.elr_el1, 0x4000_02a4);
    assert_eq!(from_el1.spsr_el1, 0x3c5);
    let from_el0 = undefined(&trapped(0), Features::default()).unwrap();
    assert_eq!(from_el0.vector, 0x4000_0c00);
    assert!(
        undefined(&trapped(0x3c9), Features::default()).is_err(),
        "EL2h is no guest mode"
    );
}

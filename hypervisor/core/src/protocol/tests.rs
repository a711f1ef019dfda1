//! Host tests of the cross-core protocol: every transition, and racing cores.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;

const TRANSITIONS: [Transition; 9] = [
    Transition::PowerOn,
    Transition::Start,
    Transition::Park,
    Transition::Release,
    Transition::Leave,
    Transition::Hold,
    Transition::Unhold,
    Transition::HeldPowerOff,
    Transition::HeldPowerOn,
];

fn cell_in(state: VcpuState) -> VcpuCell {
    let cell = VcpuCell::new();
    cell.state.store(state as u8, Ordering::SeqCst);
    cell
}

#[test]
fn transition_table_is_exactly_the_documented_one() {
    use Transition as T;
    use VcpuState as S;
    let allowed = [
        (S::Off, T::PowerOn, S::OnPending),
        (S::HeldOff, T::PowerOn, S::HeldOnPending),
        (S::OnPending, T::Start, S::Running),
        (S::Running, T::Park, S::Parked),
        (S::Parked, T::Release, S::Running),
        (S::Running, T::Leave, S::Off),
        (S::Off, T::Hold, S::HeldOff),
        (S::OnPending, T::Hold, S::HeldOnPending),
        (S::HeldOff, T::Unhold, S::Off),
        (S::HeldOnPending, T::Unhold, S::OnPending),
        (S::HeldOff, T::HeldPowerOff, S::HeldOff),
        (S::HeldOnPending, T::HeldPowerOff, S::HeldOff),
        (S::HeldOff, T::HeldPowerOn, S::HeldOnPending),
        (S::HeldOnPending, T::HeldPowerOn, S::HeldOnPending),
    ];
    for state in VcpuState::ALL {
        for transition in TRANSITIONS {
            let expected = allowed
                .iter()
                .find(|(from, via, _)| *from == state && *via == transition)
                .map(|(_, _, to)| *to);
            assert_eq!(
                state.next(transition),
                expected,
                "{state:?} --{transition:?}"
            );
            let cell = cell_in(state);
            match expected {
                Some(to) => {
                    assert_eq!(cell.apply(transition), Ok(state));
                    assert_eq!(cell.state(), to);
                }
                None => {
                    assert_eq!(cell.apply(transition), Err(state));
                    assert_eq!(cell.state(), state, "a refused transition changes nothing");
                }
            }
        }
    }
}

#[test]
fn a_running_or_parked_vcpu_can_only_be_moved_by_its_own_core() {
    // Foreign transitions (PowerOn, Hold, Unhold, HeldPower*) never apply to
    // a vCPU that is in its guest: only Park/Leave (own core) and Release
    // (the holder, after the core parked itself) do.
    for state in [VcpuState::Running, VcpuState::Parked] {
        for transition in [
            Transition::PowerOn,
            Transition::Hold,
            Transition::Unhold,
            Transition::HeldPowerOff,
            Transition::HeldPowerOn,
            Transition::Start,
        ] {
            assert_eq!(state.next(transition), None, "{state:?} --{transition:?}");
        }
    }
}

#[test]
fn power_view_and_cpu_on_answers() {
    assert_eq!(cell_in(VcpuState::Off).power_on(), Ok(()));
    assert_eq!(cell_in(VcpuState::HeldOff).power_on(), Ok(()));
    assert_eq!(
        cell_in(VcpuState::Running).power_on(),
        Err(PowerOnRefused::AlreadyOn)
    );
    assert_eq!(
        cell_in(VcpuState::Parked).power_on(),
        Err(PowerOnRefused::AlreadyOn)
    );
    assert_eq!(
        cell_in(VcpuState::OnPending).power_on(),
        Err(PowerOnRefused::OnPending)
    );
    assert_eq!(
        cell_in(VcpuState::HeldOnPending).power_on(),
        Err(PowerOnRefused::OnPending)
    );
    assert_eq!(VcpuState::Parked.power(), PowerView::On);
    assert_eq!(VcpuState::HeldOff.power(), PowerView::Off);
}

#[test]
fn hold_and_let_go_round_trip_every_state() {
    for state in VcpuState::ALL {
        let cell = cell_in(state);
        let attempt = cell.hold();
        match state {
            VcpuState::Running => {
                assert_eq!(attempt, HoldAttempt::Running);
                assert_eq!(cell.state(), VcpuState::Running);
            }
            _ => {
                assert_eq!(attempt, HoldAttempt::Held);
                assert!(cell.state().is_held());
            }
        }
        let kick = cell.let_go();
        let expected = match state {
            VcpuState::Parked => VcpuState::Running,
            VcpuState::HeldOff => VcpuState::Off,
            VcpuState::HeldOnPending => VcpuState::OnPending,
            other => other,
        };
        assert_eq!(cell.state(), expected, "from {state:?}");
        assert_eq!(
            kick,
            matches!(
                state,
                VcpuState::Parked | VcpuState::OnPending | VcpuState::HeldOnPending
            )
        );
    }
}

#[test]
fn mailbox_coalesces_and_withdraws() {
    let mailbox = Mailbox::new();
    assert!(mailbox.peek().is_empty());
    mailbox.post(Request::Pause);
    mailbox.post(Request::Pause);
    mailbox.post(Request::Inject);
    assert!(mailbox.withdraw(Request::Pause));
    assert!(!mailbox.withdraw(Request::Pause), "already withdrawn");
    let taken = mailbox.take();
    assert!(taken.contains(Request::Inject));
    assert!(!taken.contains(Request::Pause));
    assert!(mailbox.peek().is_empty());
}

#[test]
fn operation_slot_admits_one_and_names_the_holder() {
    let slot = OperationSlot::new();
    let claim = slot.try_claim(Operation::Reset).expect("free slot");
    assert_eq!(slot.current(), Some(Operation::Reset));
    for other in [
        Operation::Checkpoint,
        Operation::Restore,
        Operation::Reset,
        Operation::Stop,
    ] {
        assert_eq!(slot.try_claim(other).err(), Some(Operation::Reset));
    }
    drop(claim);
    assert_eq!(slot.current(), None);
    assert!(slot.try_claim(Operation::Stop).is_ok());
}

/// Many cores race for one partition's slot: exactly one wins each round,
/// losers learn who holds it, nobody waits.
#[test]
fn concurrent_claims_are_exclusive() {
    let slot = Arc::new(OperationSlot::new());
    let inside = Arc::new(AtomicUsize::new(0));
    let wins = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = [
        Operation::Checkpoint,
        Operation::Restore,
        Operation::Reset,
        Operation::Stop,
    ]
    .into_iter()
    .map(|operation| {
        let (slot, inside, wins) = (slot.clone(), inside.clone(), wins.clone());
        thread::spawn(move || {
            for _ in 0..20_000 {
                if let Ok(claim) = slot.try_claim(operation) {
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    assert_eq!(claim.operation, operation);
                    wins.fetch_add(1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })
    })
    .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
    assert!(wins.load(Ordering::Relaxed) > 0);
    assert_eq!(slot.current(), None);
}

/// Two CPU_ONs for one vCPU: exactly one succeeds, the other sees it pending.
#[test]
fn racing_power_ons_start_the_vcpu_once() {
    for _ in 0..2_000 {
        let cell = Arc::new(VcpuCell::new());
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (cell, barrier) = (cell.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    cell.power_on()
                })
            })
            .collect();
        let results: Vec<_> = racers
            .into_iter()
            .map(|t| t.join().expect("join"))
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results.contains(&Err(PowerOnRefused::OnPending)));
        assert_eq!(cell.state(), VcpuState::OnPending);
    }
}

/// The core that starts a vCPU and an operation (a stop) that raises a
/// flag and then holds it: the hold wins (the start fails and the core
/// waits), or the start wins and the operation sees it running (and posts
/// it an exit request). Never both, never neither.
#[test]
fn start_and_hold_never_miss_each_other() {
    for _ in 0..5_000 {
        let cell = Arc::new(cell_in(VcpuState::OnPending));
        let stopping = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(2));
        let core = {
            let (cell, stopping, barrier) = (cell.clone(), stopping.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                match cell.apply(Transition::Start) {
                    // Started: the core now looks at the partition.
                    Ok(_) => Some(stopping.load(Ordering::SeqCst)),
                    Err(_) => None,
                }
            })
        };
        let operator = {
            let (cell, stopping, barrier) = (cell.clone(), stopping.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                stopping.store(true, Ordering::SeqCst);
                cell.hold()
            })
        };
        let started = core.join().expect("core");
        let held = operator.join().expect("operator");
        match (started, held) {
            (None, HoldAttempt::Held) => assert_eq!(cell.state(), VcpuState::HeldOnPending),
            (Some(_), HoldAttempt::Running) => assert_eq!(cell.state(), VcpuState::Running),
            other => panic!("start and hold both won or both lost: {other:?}"),
        }
    }
}

/// A holder pauses a running vCPU while its core services the mailbox:
/// the core parks exactly once, and the holder's withdrawal on abort either
/// removes the unread request or finds the vCPU parked (never a vCPU that
/// took the request and runs on unparked).
#[test]
fn pause_then_abort_never_strands_a_core() {
    for round in 0..3_000 {
        let cell = Arc::new(cell_in(VcpuState::Running));
        let barrier = Arc::new(Barrier::new(2));
        let core = {
            let (cell, barrier) = (cell.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut parks = 0;
                for _ in 0..200 {
                    if cell.mailbox.take_one(Request::Pause) {
                        cell.apply(Transition::Park).expect("running");
                        parks += 1;
                        while cell.state() == VcpuState::Parked {
                            std::hint::spin_loop();
                        }
                    }
                }
                parks
            })
        };
        barrier.wait();
        cell.mailbox.post(Request::Pause);
        if round % 2 == 0 {
            for _ in 0..(round % 50) {
                std::hint::spin_loop();
            }
        }
        // Abort: withdraw; if the core already took the request, wait for
        // it to park (it is committed to) and release it.
        let withdrew = cell.mailbox.withdraw(Request::Pause);
        if !withdrew {
            while cell.state() != VcpuState::Parked {
                std::hint::spin_loop();
            }
            assert!(cell.let_go());
        }
        let parks = core.join().expect("core");
        assert_eq!(parks, usize::from(!withdrew));
        assert_eq!(cell.state(), VcpuState::Running);
    }
}

#[test]
fn take_only_takes_a_lone_request_and_nothing_else() {
    let mailbox = Mailbox::new();
    assert!(!mailbox.take_only(Request::Inject));
    mailbox.post(Request::Inject);
    assert!(mailbox.take_only(Request::Inject));
    assert!(mailbox.peek().is_empty());
    mailbox.post(Request::Inject);
    mailbox.post(Request::Pause);
    assert!(!mailbox.take_only(Request::Inject));
    let left = mailbox.take();
    assert!(left.contains(Request::Inject) && left.contains(Request::Pause));
}

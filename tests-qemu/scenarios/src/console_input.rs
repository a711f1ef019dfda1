//! What scenarios type on Bulkhead's console (QEMU's UART0 input), keyed by scenario name.
//!
//! Most scenarios type nothing. A scenario listed here gets its steps sent
//! in order, each only once a UART0 line containing its marker has arrived
//! (after the previous step was sent), so what a partition receives never
//! depends on timing.

/// Ctrl-a three times: moves Bulkhead's console input to the next partition.
pub const SWITCH_FOCUS: &[u8] = b"\x01\x01\x01";

/// One thing to type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputStep {
    /// Sent once a UART0 line containing this has arrived.
    pub after: &'static str,
    pub send: &'static [u8],
}

/// The scenarios that type, and what.
const INPUTS: &[(&str, &[InputStep])] = &[(
    "linux_console_input",
    &[
        // Focus starts on the first partition with a virtual console: linux.
        InputStep {
            after: "[linux] linux console ready",
            send: b"echo typed-$((6*7))\n",
        },
        InputStep {
            after: "[linux] typed-42",
            send: SWITCH_FOCUS,
        },
        InputStep {
            after: "bulkhead: console input now goes to echo",
            send: b"hello-echo\nbye\n",
        },
        InputStep {
            after: "[echo] echo got=bye",
            send: SWITCH_FOCUS,
        },
        InputStep {
            after: "bulkhead: console input now goes to linux",
            send: b"echo back-$((2+3))\nexit\n",
        },
    ],
)];

/// What scenario `name` types (nothing for most).
pub fn console_input(name: &str) -> &'static [InputStep] {
    INPUTS
        .iter()
        .find(|(scenario, _)| *scenario == name)
        .map_or(&[], |(_, steps)| steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_names_a_scenario() {
        let scenarios = crate::all();
        for (name, steps) in INPUTS {
            assert!(scenarios.iter().any(|s| s.name == *name), "{name}");
            assert!(!steps.is_empty());
        }
        assert!(console_input("default").is_empty());
    }
}

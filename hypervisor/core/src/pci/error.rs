//! What can stop enumeration.

use core::fmt;

use super::address::FunctionAddress;
use super::function::BarKind;

/// Why [`super::enumerate`] failed; `Display` is a sentence naming the function and BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumerationError {
    /// No window of the right kind has an aligned hole for this BAR.
    WindowExhausted {
        function: FunctionAddress,
        bar: u8,
        size: u64,
        kind: BarKind,
    },
    /// A BAR that cannot be decoded: a reserved memory type, or a 64-bit BAR
    /// in the last slot (no dword for its high half). Refused rather than
    /// guessed, since a wrong guess could leave it decoding a neighbour's page.
    MalformedBar {
        function: FunctionAddress,
        bar: u8,
        /// What the BAR read after all-ones was written to it.
        probe: u32,
    },
}

impl fmt::Display for EnumerationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EnumerationError::WindowExhausted {
                function,
                bar,
                size,
                kind,
            } => write!(
                f,
                "{function}: BAR {bar} ({size:#x} bytes, {kind}) does not fit in the host bridge's windows"
            ),
            EnumerationError::MalformedBar {
                function,
                bar,
                probe,
            } => write!(
                f,
                "{function}: BAR {bar} reads {probe:#010x} when sized: a reserved memory type or a 64-bit BAR without a second dword"
            ),
        }
    }
}

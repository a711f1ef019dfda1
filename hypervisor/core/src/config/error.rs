//! Errors of board parsing and layout validation, as sentences naming node and property.

use alloc::string::{String, ToString};
use core::fmt;

use super::dt::DtError;

/// Why the board device tree cannot be used. `Display` gives `node: property: reason`
/// without a prefix; callers add "board error: ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardError {
    /// The blob is not a well-formed flattened device tree.
    Malformed(DtError),
    /// A node the board must have (`/cpus`, a memory node) is absent.
    MissingNode(&'static str),
    /// A property is missing or malformed.
    Property {
        node: String,
        property: String,
        reason: String,
    },
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardError::Malformed(error) => write!(f, "{error}"),
            BoardError::MissingNode(path) => {
                write!(f, "the device tree has no {path} node")
            }
            BoardError::Property {
                node,
                property,
                reason,
            } => {
                write!(f, "{node}: {property}: {reason}")
            }
        }
    }
}

impl From<DtError> for BoardError {
    fn from(error: DtError) -> Self {
        BoardError::Malformed(error)
    }
}

/// One problem in a layout: which node, which property, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError {
    /// Full path of the node, e.g. `/chosen/bulkhead/partition@0`.
    pub node: String,
    pub property: String,
    /// A lower-case sentence with the offending values in hex.
    pub reason: String,
}

impl LayoutError {
    pub fn new(
        node: impl Into<String>,
        property: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        LayoutError {
            node: node.into(),
            property: property.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layout error: {}: {}: {}",
            self.node, self.property, self.reason
        )
    }
}

/// A problem with one property, before it is known whether it belongs to
/// the board or to the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub node: String,
    pub property: String,
    pub reason: String,
}

impl Issue {
    pub fn new(node: impl Into<String>, property: &str, reason: impl Into<String>) -> Self {
        Issue {
            node: node.into(),
            property: property.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<Issue> for BoardError {
    fn from(issue: Issue) -> Self {
        BoardError::Property {
            node: issue.node,
            property: issue.property,
            reason: issue.reason,
        }
    }
}

impl From<Issue> for LayoutError {
    fn from(issue: Issue) -> Self {
        LayoutError {
            node: issue.node,
            property: issue.property,
            reason: issue.reason,
        }
    }
}

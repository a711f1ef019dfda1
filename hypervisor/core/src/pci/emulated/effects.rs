//! What a guest's register write asks of the hypervisor: an interrupt to inject, a doorbell to ring.

/// Effects of one register write, performed by the caller (the model never
/// injects or rings itself).
#[must_use = "a raise must be injected and a ring delivered"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The function's INTx rose: inject its virtual SPI once.
    pub raise: bool,
    /// An ivshmem doorbell write: ring these peers.
    pub ring: Option<Ring>,
}

impl Effects {
    /// Nothing to do.
    pub const NONE: Effects = Effects {
        raise: false,
        ring: None,
    };

    /// Just a raise, if `raise`.
    pub const fn raise_if(raise: bool) -> Effects {
        Effects { raise, ring: None }
    }
}

/// A doorbell a guest rang through ivshmem's DOORBELL register.
///
/// The hypervisor delivers it as CHANNEL_NOTIFY does: to each named endpoint
/// (its IntxLine's [`super::IntxLine::signal`], or its doorbell SPI for a
/// bare-metal endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// The endpoint index rung (never the ringer's own, always below the
    /// channel's endpoint count); `None`: every endpoint but the ringer.
    pub peer: Option<usize>,
}

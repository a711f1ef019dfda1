//! Which partition a cross-partition call (x1 = partition id or SELF) may act on.

use bulkhead_abi::{ret, vendor};

/// The partition a call may act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The calling partition itself (x1 = SELF or its own id).
    Caller,
    /// Another existing partition, which the caller manages.
    Managed(u32),
}

/// Why a call may not act on the partition it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// x1 is neither SELF nor the id of an existing partition (or does not fit a u32).
    NoSuchPartition,
    /// The partition exists, but it is not in the caller's `manages`.
    NotManaged,
}

impl TargetError {
    /// The SMCCC return code the caller gets: INVALID_PARAMETERS or DENIED.
    pub const fn smccc_code(&self) -> i64 {
        match self {
            TargetError::NoSuchPartition => ret::INVALID_PARAMETERS,
            TargetError::NotManaged => ret::DENIED,
        }
    }
}

/// The partition `requested` (a call's x1) names, if partition `caller`,
/// managing `manages`, may act on it; `existing` are all partition ids.
///
/// Whether a partition exists is checked before whether it is managed, so a
/// caller learns only that ids it may not touch exist, never anything else.
pub fn resolve_target(
    caller: u32,
    manages: &[u32],
    requested: u64,
    existing: impl IntoIterator<Item = u32>,
) -> Result<Target, TargetError> {
    if requested == vendor::SELF || requested == u64::from(caller) {
        return Ok(Target::Caller);
    }
    let id = u32::try_from(requested).map_err(|_| TargetError::NoSuchPartition)?;
    if !existing.into_iter().any(|existing| existing == id) {
        return Err(TargetError::NoSuchPartition);
    }
    if manages.contains(&id) {
        Ok(Target::Managed(id))
    } else {
        Err(TargetError::NotManaged)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Partitions 0, 1, 2 and 7; partition 0 manages 1 and 7.
    const EXISTING: [u32; 4] = [0, 1, 2, 7];
    const MANAGES: [u32; 2] = [1, 7];

    fn resolve(caller: u32, manages: &[u32], requested: u64) -> Result<Target, TargetError> {
        resolve_target(caller, manages, requested, EXISTING)
    }

    #[test]
    fn self_and_own_id_name_the_caller() {
        assert_eq!(resolve(0, &MANAGES, vendor::SELF), Ok(Target::Caller));
        assert_eq!(resolve(0, &MANAGES, 0), Ok(Target::Caller));
        assert_eq!(resolve(2, &[], vendor::SELF), Ok(Target::Caller));
        assert_eq!(resolve(2, &[], 2), Ok(Target::Caller));
    }

    #[test]
    fn managed_partitions() {
        assert_eq!(resolve(0, &MANAGES, 1), Ok(Target::Managed(1)));
        assert_eq!(resolve(0, &MANAGES, 7), Ok(Target::Managed(7)));
    }

    #[test]
    fn existing_but_unmanaged_is_denied() {
        assert_eq!(resolve(0, &MANAGES, 2), Err(TargetError::NotManaged));
        assert_eq!(resolve(1, &[], 0), Err(TargetError::NotManaged));
        assert_eq!(resolve(2, &[], 7), Err(TargetError::NotManaged));
    }

    #[test]
    fn ids_that_are_no_partition_are_invalid() {
        assert_eq!(resolve(0, &MANAGES, 3), Err(TargetError::NoSuchPartition));
        assert_eq!(
            resolve(0, &MANAGES, u64::from(u32::MAX)),
            Err(TargetError::NoSuchPartition)
        );
        // Does not fit a u32, even if its low half is a managed id.
        assert_eq!(
            resolve(0, &MANAGES, 1 << 32 | 1),
            Err(TargetError::NoSuchPartition)
        );
        assert_eq!(
            resolve(0, &MANAGES, u64::MAX - 1),
            Err(TargetError::NoSuchPartition)
        );
        // A stale `manages` entry naming a partition that is gone.
        assert_eq!(resolve(0, &[1, 9], 9), Err(TargetError::NoSuchPartition));
    }

    #[test]
    fn smccc_codes() {
        assert_eq!(
            TargetError::NoSuchPartition.smccc_code(),
            ret::INVALID_PARAMETERS
        );
        assert_eq!(TargetError::NotManaged.smccc_code(), ret::DENIED);
    }

    proptest! {
        #[test]
        fn matches_the_old_checkpoint_rule(
            caller in 0u32..10,
            manages in prop::collection::vec(0u32..10, 0..4),
            existing in prop::collection::vec(0u32..10, 0..6),
            requested in prop_oneof![0u64..12, Just(vendor::SELF), any::<u64>()],
        ) {
            let result = resolve_target(caller, &manages, requested, existing.iter().copied());
            // `checkpoint.rs`'s `target()` before the move, as codes.
            let expected = if requested == vendor::SELF || requested == u64::from(caller) {
                Ok(None)
            } else {
                match u32::try_from(requested) {
                    Err(_) => Err(ret::INVALID_PARAMETERS),
                    Ok(id) if !existing.contains(&id) => Err(ret::INVALID_PARAMETERS),
                    Ok(id) if manages.contains(&id) => Ok(Some(id)),
                    Ok(_) => Err(ret::DENIED),
                }
            };
            let got = result
                .map(|target| match target {
                    Target::Caller => None,
                    Target::Managed(id) => Some(id),
                })
                .map_err(|error| error.smccc_code());
            prop_assert_eq!(got, expected);
        }
    }
}

//! SGI requests: the value a guest writes to ICC_SGI1R_EL1/ASGI1R_EL1/SGI0R_EL1 and which of its vCPUs it names.
//!
//! Bulkhead gives vCPU `i` of a partition the virtual MPIDR Aff0 = `i`, every
//! other affinity level 0, so a request names a vCPU exactly when it names
//! that MPIDR. vCPUs from index 256 on have no MPIDR a target list can name;
//! a broadcast still reaches them.

use core::ops::Range;

const INTID_SHIFT: u32 = 24;
const IRM: u64 = 1 << 40;
const AFF1_SHIFT: u32 = 16;
const AFF2_SHIFT: u32 = 32;
const RANGE_SELECTOR_SHIFT: u32 = 44;
const AFF3_SHIFT: u32 = 48;

/// Number of Aff0 values one target list covers (RS selects which 16).
const TARGETS_PER_RANGE: usize = 16;

/// One write to an SGI generation register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SgiRequest {
    /// INTID (bits 27:24): which SGI, 0..=15.
    pub intid: u8,
    pub targets: SgiTargets,
}

/// Who an SGI request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTargets {
    /// IRM = 1: every PE in the system but the sender.
    AllButSender,
    /// IRM = 0: the PEs with Aff3.Aff2.Aff1 as given and Aff0 =
    /// `range_selector * 16 + n` for each bit `n` set in `target_list`.
    List {
        aff3: u8,
        aff2: u8,
        aff1: u8,
        /// RS (bits 47:44).
        range_selector: u8,
        /// TargetList (bits 15:0).
        target_list: u16,
    },
}

impl SgiRequest {
    /// Decodes a register value; bits the architecture reserves are ignored.
    pub const fn decode(value: u64) -> SgiRequest {
        let targets = if value & IRM != 0 {
            SgiTargets::AllButSender
        } else {
            SgiTargets::List {
                aff3: (value >> AFF3_SHIFT) as u8,
                aff2: (value >> AFF2_SHIFT) as u8,
                aff1: (value >> AFF1_SHIFT) as u8,
                range_selector: ((value >> RANGE_SELECTOR_SHIFT) & 0xf) as u8,
                target_list: value as u16,
            }
        };
        SgiRequest {
            intid: ((value >> INTID_SHIFT) & 0xf) as u8,
            targets,
        }
    }

    /// The register value that makes this request (what a guest writes).
    pub const fn encode(&self) -> u64 {
        let intid = ((self.intid & 0xf) as u64) << INTID_SHIFT;
        match self.targets {
            SgiTargets::AllButSender => intid | IRM,
            SgiTargets::List {
                aff3,
                aff2,
                aff1,
                range_selector,
                target_list,
            } => {
                intid
                    | (aff3 as u64) << AFF3_SHIFT
                    | ((range_selector & 0xf) as u64) << RANGE_SELECTOR_SHIFT
                    | (aff2 as u64) << AFF2_SHIFT
                    | (aff1 as u64) << AFF1_SHIFT
                    | target_list as u64
            }
        }
    }

    /// A target list as (the vCPU index of its bit 0, its sixteen bits);
    /// None for a broadcast. Bulkhead's vCPUs all have affinity 0 above
    /// level 1, so a list naming another affinity names no vCPU.
    const fn list(&self) -> Option<(usize, u16)> {
        match self.targets {
            SgiTargets::AllButSender => None,
            SgiTargets::List {
                aff3,
                aff2,
                aff1,
                range_selector,
                target_list,
            } => {
                let base = range_selector as usize * TARGETS_PER_RANGE;
                let bits = if aff3 == 0 && aff2 == 0 && aff1 == 0 {
                    target_list
                } else {
                    0
                };
                Some((base, bits))
            }
        }
    }

    /// Whether the request names the vCPU at `index`, sent from vCPU `sender`.
    pub const fn names(&self, index: usize, sender: usize) -> bool {
        match self.list() {
            None => index != sender,
            Some((base, bits)) => {
                index >= base
                    && index - base < TARGETS_PER_RANGE
                    && bits & (1 << (index - base)) != 0
            }
        }
    }

    /// The vCPU indices, in increasing order, the request names in a
    /// partition of `vcpu_count` vCPUs when vCPU `sender` sends it.
    ///
    /// A listed sender is named like any other vCPU (an SGI to itself);
    /// a broadcast leaves it out. `sender` need not be below `vcpu_count`.
    pub const fn named_vcpus(&self, sender: usize, vcpu_count: usize) -> NamedVcpus {
        // Only a list's sixteen candidates are looked at, however large the partition.
        let named = match self.list() {
            None => Named::AllBut {
                remaining: 0..vcpu_count,
                sender,
            },
            Some((base, bits)) => {
                let bits = if base >= vcpu_count {
                    0
                } else if vcpu_count - base >= TARGETS_PER_RANGE {
                    bits as u32
                } else {
                    bits as u32 & ((1 << (vcpu_count - base)) - 1)
                };
                Named::List { base, bits }
            }
        };
        NamedVcpus { named }
    }
}

/// Iterator over the vCPUs an [`SgiRequest`] names; see [`SgiRequest::named_vcpus`].
#[derive(Clone, Debug)]
pub struct NamedVcpus {
    named: Named,
}

#[derive(Clone, Debug)]
enum Named {
    /// A broadcast: every index left but the sender's.
    AllBut {
        remaining: Range<usize>,
        sender: usize,
    },
    /// A target list: bit `n` names vCPU `base + n` (already cut to the partition).
    List { base: usize, bits: u32 },
}

impl Iterator for NamedVcpus {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match &mut self.named {
            Named::AllBut { remaining, sender } => {
                let sender = *sender;
                remaining.find(|&index| index != sender)
            }
            Named::List { base, bits } => {
                if *bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                Some(*base + bit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Reference: the naming rule of `irq.rs`'s `send_sgi` before the move.
    fn reference(value: u64, sender: usize, vcpu_count: usize) -> Vec<usize> {
        let broadcast = value & (1 << 40) != 0;
        let high_affinity = (value >> 16) & 0xff | (value >> 32) & 0xff | (value >> 48) & 0xff;
        let range_base = ((value >> 44) & 0xf) * 16;
        let target_list = value & 0xffff;
        (0..vcpu_count)
            .filter(|&index| {
                if broadcast {
                    index != sender
                } else {
                    let aff0 = index as u64;
                    high_affinity == 0
                        && aff0 >= range_base
                        && aff0 < range_base + 16
                        && target_list & (1 << (aff0 - range_base)) != 0
                }
            })
            .collect()
    }

    fn named(value: u64, sender: usize, vcpu_count: usize) -> Vec<usize> {
        SgiRequest::decode(value)
            .named_vcpus(sender, vcpu_count)
            .collect()
    }

    fn list(intid: u8, range_selector: u8, target_list: u16) -> u64 {
        SgiRequest {
            intid,
            targets: SgiTargets::List {
                aff3: 0,
                aff2: 0,
                aff1: 0,
                range_selector,
                target_list,
            },
        }
        .encode()
    }

    #[test]
    fn decodes_every_field() {
        let value = 0x0012_7034_0b56_abcd;
        assert_eq!(
            SgiRequest::decode(value),
            SgiRequest {
                intid: 0xb,
                targets: SgiTargets::List {
                    aff3: 0x12,
                    aff2: 0x34,
                    aff1: 0x56,
                    range_selector: 0x7,
                    target_list: 0xabcd,
                },
            }
        );
        assert_eq!(SgiRequest::decode(value).encode(), value);
        let broadcast = SgiRequest::decode(1 << 40 | 3 << 24 | 0xffff);
        assert_eq!(broadcast.intid, 3);
        assert_eq!(broadcast.targets, SgiTargets::AllButSender);
    }

    #[test]
    fn intid_is_four_bits() {
        for intid in 0..16 {
            assert_eq!(SgiRequest::decode(intid << 24).intid, intid as u8);
        }
        assert_eq!(SgiRequest::decode(0xf << 28 | 0x5 << 24).intid, 5);
    }

    #[test]
    fn target_list_in_range_zero() {
        assert_eq!(named(list(1, 0, 0b1), 0, 4), [0]);
        assert_eq!(named(list(1, 0, 0b1010), 0, 4), [1, 3]);
        assert_eq!(named(list(1, 0, 0xffff), 2, 4), [0, 1, 2, 3]);
        assert_eq!(named(list(1, 0, 0), 0, 4), Vec::<usize>::new());
    }

    #[test]
    fn every_range_selector_names_its_sixteen() {
        for range_selector in 0..16u8 {
            let base = usize::from(range_selector) * 16;
            let vcpus = named(list(0, range_selector, 0xffff), 0, 300);
            assert_eq!(
                vcpus,
                (base..base + 16).collect::<Vec<_>>(),
                "RS {range_selector}"
            );
            let vcpus = named(list(0, range_selector, 1 << 15 | 1), 0, 300);
            assert_eq!(vcpus, [base, base + 15], "RS {range_selector}");
        }
    }

    #[test]
    fn targets_beyond_the_partition_name_nothing() {
        // Bits for vCPUs 4..15 in a 4-vCPU partition.
        assert_eq!(named(list(0, 0, 0xfff0), 0, 4), Vec::<usize>::new());
        assert_eq!(named(list(0, 0, 0xfff8), 0, 4), [3]);
        // A range no vCPU lives in.
        assert_eq!(named(list(0, 1, 0xffff), 0, 4), Vec::<usize>::new());
        assert_eq!(named(list(0, 15, 0xffff), 0, 16), Vec::<usize>::new());
        assert_eq!(named(list(0, 0, 0xffff), 0, 0), Vec::<usize>::new());
    }

    #[test]
    fn nonzero_higher_affinity_names_nothing() {
        for shift in [16, 32, 48] {
            for affinity in [1u64, 0x80, 0xff] {
                let value = list(2, 0, 0xffff) | affinity << shift;
                assert_eq!(named(value, 0, 16), Vec::<usize>::new(), "{value:#x}");
                let request = SgiRequest::decode(value);
                assert!((0..16).all(|index| !request.names(index, 0)));
            }
        }
    }

    #[test]
    fn broadcast_names_everyone_but_the_sender() {
        let value = 1 << 40 | 7 << 24;
        assert_eq!(named(value, 0, 4), [1, 2, 3]);
        assert_eq!(named(value, 3, 4), [0, 1, 2]);
        assert_eq!(named(value, 1, 1), [0]);
        assert_eq!(named(value, 0, 1), Vec::<usize>::new());
        // A sender outside the partition leaves everyone in.
        assert_eq!(named(value, 9, 3), [0, 1, 2]);
        // Affinity, RS and the target list do not matter for IRM = 1.
        assert_eq!(named(value | 0xff << 48 | 0xf << 44 | 0xffff, 0, 3), [1, 2]);
        // Even vCPUs with no nameable MPIDR.
        assert_eq!(named(value, 0, 300).len(), 299);
    }

    #[test]
    fn a_listed_sender_signals_itself() {
        assert_eq!(named(list(0, 0, 0b100), 2, 4), [2]);
        assert!(SgiRequest::decode(list(0, 0, 0b100)).names(2, 2));
    }

    #[test]
    fn names_agrees_with_the_iterator() {
        let request = SgiRequest::decode(list(0, 1, 0b1000_0000_0000_0101));
        assert!(request.names(16, 0));
        assert!(request.names(18, 0));
        assert!(request.names(31, 0));
        assert!(!request.names(17, 0));
        assert!(!request.names(0, 0));
        assert!(!request.names(32, 0));
        assert!(!request.names(usize::MAX, 0));
        assert_eq!(
            named(list(0, 1, 0b1000_0000_0000_0101), 0, 64),
            [16, 18, 31]
        );
    }

    proptest! {
        #[test]
        fn matches_the_old_send_sgi_rule(
            value in prop_oneof![
                any::<u64>(),
                // Mostly zero affinities, so lists name something.
                (any::<u16>(), 0u64..16, 0u64..16, any::<bool>())
                    .prop_map(|(list, rs, intid, irm)| {
                        u64::from(irm) << 40 | rs << 44 | intid << 24 | u64::from(list)
                    }),
            ],
            sender in 0usize..300,
            vcpu_count in 0usize..300,
        ) {
            prop_assert_eq!(named(value, sender, vcpu_count), reference(value, sender, vcpu_count));
        }

        #[test]
        fn any_value_and_sizes_never_panic(
            value in any::<u64>(),
            sender in any::<usize>(),
            index in any::<usize>(),
            vcpu_count in prop_oneof![0usize..1024, Just(usize::MAX)],
        ) {
            let request = SgiRequest::decode(value);
            prop_assert!(request.intid < 16);
            let _ = request.names(index, sender);
            // A list looks at no more than sixteen vCPUs, however many there are.
            let named = request.named_vcpus(sender, vcpu_count);
            match request.targets {
                SgiTargets::List { .. } => prop_assert!(named.count() <= 16),
                SgiTargets::AllButSender => prop_assert!(named.take(20).count() <= 20),
            }
            prop_assert_eq!(SgiRequest::decode(request.encode()), request);
        }
    }
}

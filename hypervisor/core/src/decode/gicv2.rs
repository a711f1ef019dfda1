//! GICv2 values a guest or the virtual interface produces: GICD_SGIR requests, ITARGETSR bytes and GICH_LR<n> list registers.
//!
//! Under GICv2 a partition's vCPU `i` is the guest's CPU interface `i`
//! (bit `i` of a target list or ITARGETSR byte). GICv2 numbers at most eight
//! CPU interfaces, so a partition has at most eight vCPUs a GICv2 guest can
//! name; the physical CPU interface of each core is what the hardware says
//! (GICD_ITARGETSR0..7 read back the reading core's own bit), not its index.

use super::list_register::{Deactivation, ListRegister, ListRegisterState};

/// CPU interfaces a GICv2 target list can name.
pub const MAX_CPU_INTERFACES: usize = 8;

const SGIR_FILTER_SHIFT: u32 = 24;
const SGIR_TARGETS_SHIFT: u32 = 16;
const SGIR_INTID_MASK: u32 = 0xf;

/// Who a GICD_SGIR write names (TargetListFilter, bits 25:24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributorSgiTargets {
    /// 0b00: the CPU interfaces in CPUTargetList (bits 23:16).
    List(u8),
    /// 0b01: every CPU interface but the sender's.
    AllButSender,
    /// 0b10: the sender only.
    Sender,
    /// 0b11: reserved; the architecture leaves it without effect here.
    Reserved,
}

/// One guest write to GICD_SGIR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DistributorSgi {
    /// SGIINTID (bits 3:0).
    pub intid: u8,
    pub targets: DistributorSgiTargets,
}

impl DistributorSgi {
    /// Decodes a 32-bit GICD_SGIR value; NSATT (bit 15) and reserved bits are ignored.
    pub const fn decode(value: u32) -> DistributorSgi {
        let targets = match (value >> SGIR_FILTER_SHIFT) & 0b11 {
            0b00 => DistributorSgiTargets::List((value >> SGIR_TARGETS_SHIFT) as u8),
            0b01 => DistributorSgiTargets::AllButSender,
            0b10 => DistributorSgiTargets::Sender,
            _ => DistributorSgiTargets::Reserved,
        };
        DistributorSgi {
            intid: (value & SGIR_INTID_MASK) as u8,
            targets,
        }
    }

    /// The register value for this request (what a guest writes).
    pub const fn encode(&self) -> u32 {
        let (filter, list) = match self.targets {
            DistributorSgiTargets::List(list) => (0b00, list as u32),
            DistributorSgiTargets::AllButSender => (0b01, 0),
            DistributorSgiTargets::Sender => (0b10, 0),
            DistributorSgiTargets::Reserved => (0b11, 0),
        };
        filter << SGIR_FILTER_SHIFT
            | list << SGIR_TARGETS_SHIFT
            | (self.intid as u32 & SGIR_INTID_MASK)
    }

    /// The partition's vCPUs the request names, as a mask (bit `i`: vCPU
    /// `i`), when vCPU `sender` of a partition of `vcpu_count` vCPUs sends it.
    /// Bits for vCPUs the partition does not have are dropped: a target list
    /// naming CPU interfaces of other partitions reaches none of them.
    pub const fn named_vcpus(&self, sender: usize, vcpu_count: usize) -> u8 {
        let present = vcpu_mask(vcpu_count);
        let sender_bit = if sender < MAX_CPU_INTERFACES {
            1u8 << sender
        } else {
            0
        };
        let named = match self.targets {
            DistributorSgiTargets::List(list) => list,
            DistributorSgiTargets::AllButSender => !sender_bit,
            DistributorSgiTargets::Sender => sender_bit,
            DistributorSgiTargets::Reserved => 0,
        };
        named & present
    }
}

/// Bits 0..`vcpu_count` (at most eight) set.
const fn vcpu_mask(vcpu_count: usize) -> u8 {
    if vcpu_count >= MAX_CPU_INTERFACES {
        0xff
    } else {
        ((1u16 << vcpu_count) - 1) as u8
    }
}

/// Translates the ITARGETSR byte a guest writes for one of its SPIs (bit
/// `i`: its vCPU `i`) to the physical byte (bit `c`: CPU interface `c`),
/// through `cpu_interfaces[i]`, the physical CPU interface of vCPU `i`'s
/// core. Bits naming vCPUs the partition lacks are dropped, so the result
/// names only the partition's own cores. An interface number of 8 or more
/// (no such interface) names nothing.
pub fn targets_to_physical(virtual_targets: u8, cpu_interfaces: &[u8]) -> u8 {
    cpu_interfaces
        .iter()
        .take(MAX_CPU_INTERFACES)
        .enumerate()
        .filter(|&(vcpu, _)| virtual_targets & (1 << vcpu) != 0)
        .fold(0, |physical, (_, &interface)| {
            physical | 1u8.checked_shl(u32::from(interface)).unwrap_or(0)
        })
}

/// The guest's view of a physical ITARGETSR byte: bit `i` set when vCPU
/// `i`'s core is targeted. Other partitions' cores are not shown.
pub fn targets_to_virtual(physical_targets: u8, cpu_interfaces: &[u8]) -> u8 {
    cpu_interfaces
        .iter()
        .take(MAX_CPU_INTERFACES)
        .enumerate()
        .filter(|&(_, &interface)| {
            interface < MAX_CPU_INTERFACES as u8 && physical_targets & (1 << interface) != 0
        })
        .fold(0, |virtual_targets, (vcpu, _)| virtual_targets | 1 << vcpu)
}

const LR_VIRTUAL_ID_MASK: u32 = 0x3ff;
const LR_PHYSICAL_ID_SHIFT: u32 = 10;
const LR_PHYSICAL_ID_MASK: u32 = 0x3ff;
/// CPUID (bits 12:10) when HW = 0: the source of a virtual SGI.
const LR_SOURCE_MASK: u32 = 0b111;
/// EOI (bit 19) when HW = 0.
const LR_EOI: u32 = 1 << 19;
const LR_PRIORITY_SHIFT: u32 = 23;
const LR_STATE_SHIFT: u32 = 28;
const LR_GROUP1: u32 = 1 << 30;
const LR_HW: u32 = 1 << 31;

/// One GICH_LR<n> value: the version-neutral [`ListRegister`] plus what
/// only GICv2 carries, the source CPU interface of a virtual SGI (the guest
/// reads it in GICC_IAR bits 12:10 and writes it back on EOI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegisterV2 {
    pub register: ListRegister,
    /// CPUID (bits 12:10), meaningful for HW = 0 SGIs only.
    pub source: u8,
}

impl ListRegisterV2 {
    /// Decodes a GICH_LR value. GICv2 keeps five bits of priority (27:23):
    /// they become the top five of the neutral 8-bit priority.
    pub const fn decode(value: u32) -> ListRegisterV2 {
        let hardware = value & LR_HW != 0;
        ListRegisterV2 {
            register: ListRegister {
                state: state_from_bits(value >> LR_STATE_SHIFT),
                deactivation: if hardware {
                    Deactivation::Hardware {
                        physical_intid: ((value >> LR_PHYSICAL_ID_SHIFT) & LR_PHYSICAL_ID_MASK)
                            as u16,
                    }
                } else {
                    Deactivation::Virtual {
                        eoi_maintenance: value & LR_EOI != 0,
                    }
                },
                group1: value & LR_GROUP1 != 0,
                priority: (((value >> LR_PRIORITY_SHIFT) & 0x1f) << 3) as u8,
                virtual_intid: value & LR_VIRTUAL_ID_MASK,
            },
            source: if hardware {
                0
            } else {
                ((value >> LR_PHYSICAL_ID_SHIFT) & LR_SOURCE_MASK) as u8
            },
        }
    }

    /// The GICH_LR value. What GICv2 cannot hold is cut: the vINTID and
    /// pINTID to 10 bits, the priority to its top five bits, the source to 3.
    pub const fn encode(&self) -> u32 {
        let register = &self.register;
        let deactivation = match register.deactivation {
            Deactivation::Hardware { physical_intid } => {
                LR_HW | (physical_intid as u32 & LR_PHYSICAL_ID_MASK) << LR_PHYSICAL_ID_SHIFT
            }
            Deactivation::Virtual { eoi_maintenance } => {
                let eoi = if eoi_maintenance { LR_EOI } else { 0 };
                eoi | (self.source as u32 & LR_SOURCE_MASK) << LR_PHYSICAL_ID_SHIFT
            }
        };
        let group = if register.group1 { LR_GROUP1 } else { 0 };
        state_bits(register.state) << LR_STATE_SHIFT
            | deactivation
            | group
            | (register.priority as u32 >> 3) << LR_PRIORITY_SHIFT
            | (register.virtual_intid & LR_VIRTUAL_ID_MASK)
    }
}

const fn state_from_bits(bits: u32) -> ListRegisterState {
    match bits & 0b11 {
        0b00 => ListRegisterState::Invalid,
        0b01 => ListRegisterState::Pending,
        0b10 => ListRegisterState::Active,
        _ => ListRegisterState::PendingActive,
    }
}

const fn state_bits(state: ListRegisterState) -> u32 {
    match state {
        ListRegisterState::Invalid => 0b00,
        ListRegisterState::Pending => 0b01,
        ListRegisterState::Active => 0b10,
        ListRegisterState::PendingActive => 0b11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgir_decodes_each_filter_and_round_trips() {
        let list = DistributorSgi::decode(0x0003_0005);
        assert_eq!(list.intid, 5);
        assert_eq!(list.targets, DistributorSgiTargets::List(0b11));
        assert_eq!(list.encode(), 0x0003_0005);
        assert_eq!(
            DistributorSgi::decode(0x0100_0001).targets,
            DistributorSgiTargets::AllButSender
        );
        assert_eq!(
            DistributorSgi::decode(0x0200_000f).targets,
            DistributorSgiTargets::Sender
        );
        assert_eq!(
            DistributorSgi::decode(0x0300_0000).targets,
            DistributorSgiTargets::Reserved
        );
        // NSATT and reserved bits do not change the request.
        assert_eq!(DistributorSgi::decode(0xfcff_80f3).intid, 3);
        for value in [0u32, 0x00ff_0007, 0x0100_0002, 0x0200_000e] {
            assert_eq!(DistributorSgi::decode(value).encode(), value);
        }
    }

    #[test]
    fn sgir_only_names_the_partitions_own_vcpus() {
        // A 2-vCPU partition whose guest names every CPU interface.
        let all = DistributorSgi::decode(0x00ff_0001);
        assert_eq!(all.named_vcpus(0, 2), 0b11);
        let others = DistributorSgi::decode(0x0100_0001);
        assert_eq!(others.named_vcpus(0, 2), 0b10);
        assert_eq!(others.named_vcpus(1, 4), 0b1101);
        assert_eq!(DistributorSgi::decode(0x0200_0001).named_vcpus(1, 2), 0b10);
        assert_eq!(DistributorSgi::decode(0x0300_0001).named_vcpus(0, 8), 0);
        // A foreign-looking list (interfaces 2 and 3) reaches nobody in a 2-vCPU partition.
        assert_eq!(DistributorSgi::decode(0x000c_0001).named_vcpus(0, 2), 0);
        // A sender outside the eight interfaces still broadcasts to the rest.
        assert_eq!(others.named_vcpus(9, 8), 0xff);
        assert_eq!(DistributorSgi::decode(0x0200_0001).named_vcpus(9, 8), 0);
        assert_eq!(all.named_vcpus(0, 0), 0);
    }

    #[test]
    fn every_sgir_value_stays_inside_the_partition() {
        for vcpus in 0..=8 {
            for value in (0..=u32::MAX).step_by(0x1_0001) {
                let named = DistributorSgi::decode(value).named_vcpus(0, vcpus);
                assert_eq!(named & !vcpu_mask(vcpus), 0, "{value:#x} {vcpus}");
            }
        }
    }

    #[test]
    fn itargetsr_translates_to_own_cores_only() {
        // vCPU 0 on interface 2, vCPU 1 on interface 3.
        let interfaces = [2, 3];
        assert_eq!(targets_to_physical(0b01, &interfaces), 0b0100);
        assert_eq!(targets_to_physical(0b11, &interfaces), 0b1100);
        // Bits for vCPUs the partition lacks name no core.
        assert_eq!(targets_to_physical(0xfc, &interfaces), 0);
        assert_eq!(targets_to_physical(0xff, &interfaces), 0b1100);
        // Another partition's cores (0 and 1) are invisible to the guest.
        assert_eq!(targets_to_virtual(0b0011, &interfaces), 0);
        assert_eq!(targets_to_virtual(0b1111, &interfaces), 0b11);
        assert_eq!(targets_to_virtual(0b1000, &interfaces), 0b10);
        // An interface number no GICv2 has names nothing either way.
        assert_eq!(targets_to_physical(0b1, &[9]), 0);
        assert_eq!(targets_to_virtual(0xff, &[9]), 0);
        for byte in 0..=u8::MAX {
            assert_eq!(targets_to_physical(byte, &interfaces) & 0b0011, 0);
            assert_eq!(
                targets_to_virtual(targets_to_physical(byte, &interfaces), &interfaces),
                byte & 0b11
            );
        }
    }

    #[test]
    fn list_register_fields_sit_where_gicv2_puts_them() {
        let hardware = ListRegisterV2 {
            register: ListRegister::pending(33, 0xa0, true),
            source: 0,
        };
        // HW, Grp1, pending, priority 0xa0 >> 3 = 0x14, pINTID = vINTID = 33.
        assert_eq!(
            hardware.encode(),
            1 << 31 | 1 << 30 | 0b01 << 28 | 0x14 << 23 | 33 << 10 | 33
        );
        assert_eq!(ListRegisterV2::decode(hardware.encode()), hardware);
        let mut sgi = ListRegisterV2 {
            register: ListRegister::pending(3, 0x80, false),
            source: 5,
        };
        sgi.register.deactivation = Deactivation::Virtual {
            eoi_maintenance: true,
        };
        assert_eq!(
            sgi.encode(),
            1 << 30 | 0b01 << 28 | 0x10 << 23 | 1 << 19 | 5 << 10 | 3
        );
        assert_eq!(ListRegisterV2::decode(sgi.encode()), sgi);
        assert_eq!(
            ListRegisterV2::decode(0).register.state,
            ListRegisterState::Invalid
        );
    }

    #[test]
    fn list_register_decode_is_total_and_stable() {
        for value in (0..=u32::MAX).step_by(0x0001_0003) {
            let decoded = ListRegisterV2::decode(value);
            assert_eq!(ListRegisterV2::decode(decoded.encode()), decoded);
            assert!(decoded.register.virtual_intid < 1024);
            assert!(decoded.source < 8);
        }
    }
}

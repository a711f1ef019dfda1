//! Boot images: the arm64 Linux `Image` header, and where kernel, initrd and guest DT go in a partition.
//!
//! The Linux arm64 boot protocol (Documentation/arch/arm64/booting.rst)
//! wants the image `text_offset` bytes above a 2 MiB-aligned base, with
//! `image_size` bytes (BSS included) free from there, the DTB 8-byte aligned
//! and the initrd anywhere in RAM the kernel can see. Bulkhead puts the guest
//! DT in the last 2 MiB of the partition's first memory region and the initrd
//! directly below it, so both stay clear of a kernel loaded low.
#![forbid(unsafe_code)]

use alloc::format;

use crate::address::{is_aligned, Ipa, PAGE_SIZE};
use crate::config::{LayoutError, Partition};

/// The guest DT area: the last 2 MiB of the partition's first memory region.
pub const DTB_AREA: u64 = 2 << 20;
/// The image base (load address minus `text_offset`) must be 2 MiB aligned.
pub const IMAGE_BASE_ALIGN: u64 = 2 << 20;

/// Offset and value of the header's magic number, "ARM\x64" little-endian.
const MAGIC_OFFSET: usize = 0x38;
const MAGIC: u32 = 0x644d_5241;
const TEXT_OFFSET_OFFSET: usize = 0x08;
const IMAGE_SIZE_OFFSET: usize = 0x10;
const FLAGS_OFFSET: usize = 0x18;

/// The fields of an arm64 Linux `Image` header Bulkhead uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Where the image goes above a 2 MiB-aligned base (0 on current kernels).
    pub text_offset: u64,
    /// Bytes the kernel occupies once running, BSS included; 0 on kernels
    /// older than 3.17, which do not say.
    pub image_size: u64,
    /// Bit 0 endianness, bits 1-2 page size, bit 3 physical placement.
    pub flags: u64,
}

/// Parses an arm64 Linux Image header (magic "ARM\x64" at offset 0x38;
/// text_offset at 0x8, image_size at 0x10, flags at 0x18, all little-endian);
/// `None` if there is no header (bare-metal images without one are fine).
pub fn parse_image_header(bytes: &[u8]) -> Option<ImageHeader> {
    let u32_at = |offset: usize| -> Option<u32> {
        let field = bytes.get(offset..offset.checked_add(4)?)?;
        Some(u32::from_le_bytes(field.try_into().ok()?))
    };
    let u64_at = |offset: usize| -> Option<u64> {
        let field = bytes.get(offset..offset.checked_add(8)?)?;
        Some(u64::from_le_bytes(field.try_into().ok()?))
    };
    if u32_at(MAGIC_OFFSET)? != MAGIC {
        return None;
    }
    Some(ImageHeader {
        text_offset: u64_at(TEXT_OFFSET_OFFSET)?,
        image_size: u64_at(IMAGE_SIZE_OFFSET)?,
        flags: u64_at(FLAGS_OFFSET)?,
    })
}

/// Where a partition's boot images go, as IPAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlacement {
    /// The load address: the image is copied here and entered here.
    pub kernel: Ipa,
    /// Start of the guest DT (the start of the 2 MiB DT area).
    pub dtb: Ipa,
    /// Start of the initrd, if the partition has one.
    pub initrd: Option<Ipa>,
}

/// Where the kernel, guest DT (`dtb_size` bytes, <= 2 MiB: always the last
/// 2 MiB of the partition's first memory region) and initrd (4 KiB-aligned,
/// directly below the DT area) go.
///
/// The kernel occupies `[load_address, load_address + max(module size,
/// header image_size))`; with a header, `load_address - text_offset` must be
/// 2 MiB aligned. Errors name the partition node and `kernel`, `initrd` or
/// `memory`, like the validator's.
pub fn placement(
    partition: &Partition,
    header: Option<&ImageHeader>,
    dtb_size: u64,
) -> Result<BootPlacement, LayoutError> {
    let error = |property: &str, reason: alloc::string::String| {
        LayoutError::new(partition.node.as_str(), property, reason)
    };
    let first = partition.memory.first().ok_or_else(|| {
        error(
            "memory",
            alloc::string::String::from("has no region for the guest DT"),
        )
    })?;
    if dtb_size > DTB_AREA {
        return Err(error(
            "memory",
            format!("the guest device tree ({dtb_size:#x} bytes) is larger than its 2 MiB area"),
        ));
    }
    let first_end = first.ipa.0.checked_add(first.size).ok_or_else(|| {
        error(
            "memory",
            alloc::string::String::from("the first region wraps the IPA space"),
        )
    })?;
    if first.size < DTB_AREA {
        return Err(error(
            "memory",
            format!(
                "the first region ({:#x} bytes) is smaller than the 2 MiB guest device tree area at its end",
                first.size
            ),
        ));
    }
    let dtb = first_end - DTB_AREA;

    // The kernel: inside one region, clear of the DT area.
    let load = partition.load_address.0;
    let footprint = partition
        .kernel
        .size
        .max(header.map_or(0, |h| h.image_size));
    let kernel_span = format!("{load:#x}+{footprint:#x}");
    if let Some(header) = header {
        let aligned = load
            .checked_sub(header.text_offset)
            .is_some_and(|base| is_aligned(base, IMAGE_BASE_ALIGN));
        if !aligned {
            return Err(error(
                "kernel",
                format!(
                    "load address {load:#x} minus the image's text_offset {:#x} is not 2 MiB aligned",
                    header.text_offset
                ),
            ));
        }
    }
    let kernel_end = load
        .checked_add(footprint)
        .ok_or_else(|| error("kernel", format!("image {kernel_span} wraps the IPA space")))?;
    if partition
        .ipa_to_pa(partition.load_address, footprint)
        .is_none()
    {
        return Err(error(
            "kernel",
            format!("image {kernel_span} (its size in memory) is not inside one memory region"),
        ));
    }
    if load < first_end && kernel_end > dtb {
        return Err(error(
            "kernel",
            format!(
                "image {kernel_span} overlaps the guest device tree area {dtb:#x}+{DTB_AREA:#x}"
            ),
        ));
    }

    // The initrd: page aligned, just below the DT area, inside the first region.
    let initrd = match partition.initrd {
        None => None,
        Some(module) => {
            let start = dtb
                .checked_sub(module.size)
                .map(|start| start & !(PAGE_SIZE - 1))
                .filter(|&start| start >= first.ipa.0)
                .ok_or_else(|| {
                    error(
                        "initrd",
                        format!(
                            "module of {:#x} bytes does not fit below the guest device tree area at {dtb:#x} in the first memory region",
                            module.size
                        ),
                    )
                })?;
            if load < dtb && kernel_end > start {
                return Err(error(
                    "initrd",
                    format!(
                        "module placed at {start:#x}+{:#x} overlaps the kernel image {kernel_span}",
                        module.size
                    ),
                ));
            }
            Some(Ipa(start))
        }
    };
    Ok(BootPlacement {
        kernel: partition.load_address,
        dtb: Ipa(dtb),
        initrd,
    })
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::address::PhysAddr;
    use crate::config::{MemoryRegion, Module};

    fn header_bytes(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[0x8..0x10].copy_from_slice(&text_offset.to_le_bytes());
        bytes[0x10..0x18].copy_from_slice(&image_size.to_le_bytes());
        bytes[0x18..0x20].copy_from_slice(&flags.to_le_bytes());
        bytes[0x38..0x3c].copy_from_slice(b"ARM\x64");
        bytes
    }

    /// 256 MiB at IPA 0x4000_0000, kernel module of 0x100_0000 bytes.
    fn linux() -> Partition {
        Partition {
            id: 0,
            label: String::from("linux"),
            node: String::from("/chosen/bulkhead/partition@0"),
            cpus: vec![0, 1],
            memory: vec![MemoryRegion {
                pa: PhysAddr(0x5000_0000),
                ipa: Ipa(0x4000_0000),
                size: 0x1000_0000,
            }],
            devices: Vec::new(),
            kernel: Module {
                pa: PhysAddr(0x4a00_0000),
                size: 0x100_0000,
            },
            load_address: Ipa(0x4000_0000),
            initrd: Some(Module {
                pa: PhysAddr(0x4c00_0000),
                size: 0x12_3456,
            }),
            bootargs: None,
            checkpoint: None,
            manages: Vec::new(),
            pci_functions: Vec::new(),
            on_dma_fault: Default::default(),
            stage2_fault: Default::default(),
            channels: Vec::new(),
            virtual_console: false,
        }
    }

    #[test]
    fn parses_a_linux_header() {
        let header = parse_image_header(&header_bytes(0, 0x2a1_0000, 0xa)).unwrap();
        assert_eq!(
            header,
            ImageHeader {
                text_offset: 0,
                image_size: 0x2a1_0000,
                flags: 0xa
            }
        );
    }

    #[test]
    fn no_header_without_magic_or_bytes() {
        assert_eq!(parse_image_header(&[]), None);
        assert_eq!(parse_image_header(&[0u8; 0x3b]), None);
        assert_eq!(parse_image_header(&[0u8; 4096]), None);
        let mut bytes = header_bytes(0, 0, 0);
        bytes[0x38] = b'X';
        assert_eq!(parse_image_header(&bytes), None);
        // Every truncation before the end of the magic is no header.
        let bytes = header_bytes(0x8_0000, 1, 2);
        for length in 0..0x3c {
            assert_eq!(parse_image_header(&bytes[..length]), None);
        }
        assert!(parse_image_header(&bytes[..0x3c]).is_some());
    }

    #[test]
    fn places_kernel_initrd_and_dtb() {
        let header = ImageHeader {
            text_offset: 0,
            image_size: 0x200_0000,
            flags: 0xa,
        };
        let placed = placement(&linux(), Some(&header), 0x2000).unwrap();
        assert_eq!(placed.kernel, Ipa(0x4000_0000));
        assert_eq!(placed.dtb, Ipa(0x4fe0_0000));
        // 0x4fe0_0000 - 0x12_3456 rounded down to a page.
        assert_eq!(placed.initrd, Some(Ipa(0x4fcd_c000)));
        let mut bare = linux();
        bare.initrd = None;
        assert_eq!(placement(&bare, None, 0x1000).unwrap().initrd, None);
    }

    #[test]
    fn image_size_is_checked_against_memory() {
        let mut partition = linux();
        partition.initrd = None;
        let big = ImageHeader {
            text_offset: 0,
            image_size: 0x1000_0000,
            flags: 0,
        };
        let error = placement(&partition, Some(&big), 0x1000).unwrap_err();
        assert_eq!(error.node, "/chosen/bulkhead/partition@0");
        assert_eq!(error.property, "kernel");
        assert!(error.reason.contains("guest device tree area"), "{error}");
        let huge = ImageHeader {
            image_size: 0x2000_0000,
            ..big
        };
        let error = placement(&partition, Some(&huge), 0x1000).unwrap_err();
        assert!(
            error.reason.contains("not inside one memory region"),
            "{error}"
        );
    }

    #[test]
    fn linux_needs_a_2_mib_aligned_base() {
        let mut partition = linux();
        partition.load_address = Ipa(0x4008_0000);
        let header = ImageHeader {
            text_offset: 0,
            image_size: 0x100_0000,
            flags: 0,
        };
        let error = placement(&partition, Some(&header), 0x1000).unwrap_err();
        assert_eq!(error.property, "kernel");
        let old = ImageHeader {
            text_offset: 0x8_0000,
            ..header
        };
        assert!(placement(&partition, Some(&old), 0x1000).is_ok());
        // Bare-metal images without a header may go anywhere.
        assert!(placement(&partition, None, 0x1000).is_ok());
    }

    #[test]
    fn initrd_that_does_not_fit_is_refused() {
        let mut partition = linux();
        partition.initrd = Some(Module {
            pa: PhysAddr(0x4c00_0000),
            size: 0x1000_0000,
        });
        let error = placement(&partition, None, 0x1000).unwrap_err();
        assert_eq!(error.property, "initrd");
        // Fits below the DT area but runs into the kernel.
        partition.initrd = Some(Module {
            pa: PhysAddr(0x4c00_0000),
            size: 0x0f00_0000,
        });
        let error = placement(&partition, None, 0x1000).unwrap_err();
        assert_eq!(error.property, "initrd");
        assert!(error.reason.contains("overlaps the kernel"), "{error}");
    }

    #[test]
    fn dtb_area_must_fit() {
        let mut partition = linux();
        let error = placement(&partition, None, DTB_AREA + 1).unwrap_err();
        assert_eq!(error.property, "memory");
        partition.memory[0].size = 0x10_0000;
        partition.initrd = None;
        let error = placement(&partition, None, 0x1000).unwrap_err();
        assert_eq!(error.property, "memory");
        partition.memory.clear();
        assert!(placement(&partition, None, 0x1000).is_err());
    }
}

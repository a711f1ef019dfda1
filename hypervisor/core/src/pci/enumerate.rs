//! Boot-time enumeration: find functions, size their BARs, assign addresses, leave decode off.

use alloc::vec::Vec;
use core::cmp::Reverse;
use core::ops::RangeInclusive;

use super::address::{FunctionAddress, MAX_DEVICE, MAX_FUNCTION};
use super::config_space::ConfigSpace;
use super::error::EnumerationError;
use super::function::{Bar, BarKind, Function};
use super::registers::{
    BAR0, BAR_COUNT, BAR_IO, BAR_IO_ADDRESS, BAR_MEMORY_32, BAR_MEMORY_64, BAR_MEMORY_ADDRESS,
    BAR_MEMORY_BELOW_1M, BAR_MEMORY_TYPE, BAR_PREFETCHABLE, CLASS_REVISION, COMMAND,
    COMMAND_DECODE, EXPANSION_ROM, HEADER_ENDPOINT, HEADER_LAYOUT, HEADER_MULTI_FUNCTION,
    HEADER_TYPE_DWORD, ID, INTERRUPT,
};
use super::window::{Window, WindowAllocator, WindowKind, FOUR_GIB};

/// Finds every function on `buses`, sizes and assigns the memory BARs of
/// endpoints from `windows`, and leaves every function with memory, I/O and
/// bus-master decode off: Bulkhead enables nothing, the owner does.
///
/// BARs are placed largest first, each aligned to and occupying at least
/// 4 KiB, so that no two functions' BARs share a page (pages are mapped to
/// different partitions). 32-bit BARs are placed before 64-bit ones, since
/// they can only go into `Memory32` windows below 4 GiB; 64-bit BARs then go
/// into `Memory32` windows while they have room (reachable in a small IPA
/// space) and `Memory64` windows after. I/O BARs are listed, never assigned.
///
/// Bridges (type-1 headers) are listed but not descended into, and their
/// BARs are neither sized nor assigned: buses behind them are not supported.
/// Each endpoint's expansion ROM BAR is written 0; Interrupt Line is left alone.
pub fn enumerate(
    config: &mut impl ConfigSpace,
    buses: RangeInclusive<u8>,
    windows: &[Window],
) -> Result<Vec<Function>, EnumerationError> {
    let mut functions = Vec::new();
    for bus in buses {
        for device in 0..=MAX_DEVICE {
            let first = FunctionAddress {
                bus,
                device,
                function: 0,
            };
            // Per the specification, a device without function 0 has no functions.
            if !present(config, first) {
                continue;
            }
            let multi_function = header_type(config, first) & HEADER_MULTI_FUNCTION != 0;
            let last = if multi_function { MAX_FUNCTION } else { 0 };
            for function in 0..=last {
                let address = FunctionAddress {
                    bus,
                    device,
                    function,
                };
                if present(config, address) {
                    functions.push(probe(config, address)?);
                }
            }
        }
    }
    assign(config, &mut functions, windows)?;
    Ok(functions)
}

/// A function answers with a vendor ID other than all-ones.
fn present(config: &mut impl ConfigSpace, address: FunctionAddress) -> bool {
    config.read32(address, ID) & 0xFFFF != 0xFFFF
}

/// The header type byte, multi-function bit included.
fn header_type(config: &mut impl ConfigSpace, address: FunctionAddress) -> u8 {
    (config.read32(address, HEADER_TYPE_DWORD) >> 16) as u8
}

/// Offset of BAR number `index`.
pub(super) fn bar_offset(index: u8) -> u16 {
    BAR0 + 4 * u16::from(index)
}

/// Reads one function's identity, turns its decode off and sizes its BARs.
fn probe(
    config: &mut impl ConfigSpace,
    address: FunctionAddress,
) -> Result<Function, EnumerationError> {
    let id = config.read32(address, ID);
    let class_revision = config.read32(address, CLASS_REVISION);
    let header_type = header_type(config, address) & HEADER_LAYOUT;
    let interrupt_pin = (config.read32(address, INTERRUPT) >> 8) as u8;

    // Decode off before sizing, so an all-ones BAR never decodes anything.
    // The Status half is written 0: its error bits are write-1-to-clear.
    let command = config.read32(address, COMMAND) as u16;
    config.write32(address, COMMAND, u32::from(command & !COMMAND_DECODE));

    let bars = if header_type == HEADER_ENDPOINT {
        config.write32(address, EXPANSION_ROM, 0);
        size_bars(config, address)?
    } else {
        Vec::new()
    };
    Ok(Function {
        address,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        class_code: class_revision >> 8,
        header_type,
        interrupt_pin,
        bars,
    })
}

/// Writes all-ones to the BAR dword at `offset` and returns what it reads back.
fn probe_bar(config: &mut impl ConfigSpace, address: FunctionAddress, offset: u16) -> u32 {
    config.write32(address, offset, u32::MAX);
    config.read32(address, offset)
}

/// The lowest set bit of a size mask: the BAR's size (0 if the mask is 0).
fn size_of_mask(mask: u64) -> u64 {
    mask & mask.wrapping_neg()
}

/// Sizes the six BARs of a type-0 header, leaving memory BARs at 0
/// (unassigned) and every other BAR as it was.
fn size_bars(
    config: &mut impl ConfigSpace,
    address: FunctionAddress,
) -> Result<Vec<Bar>, EnumerationError> {
    let mut bars = Vec::new();
    let mut index = 0;
    while index < BAR_COUNT {
        let offset = bar_offset(index);
        let original = config.read32(address, offset);
        let probe = probe_bar(config, address, offset);
        if probe & BAR_IO != 0 {
            config.write32(address, offset, original);
            let mut mask = probe & BAR_IO_ADDRESS;
            if mask != 0 {
                // A 16-bit I/O decoder reads 0 in the upper half.
                if mask & 0xFFFF_0000 == 0 {
                    mask |= 0xFFFF_0000;
                }
                bars.push(Bar {
                    index,
                    kind: BarKind::Io,
                    prefetchable: false,
                    size: size_of_mask(u64::from(mask)),
                    address: 0,
                });
            }
            index += 1;
            continue;
        }
        let prefetchable = probe & BAR_PREFETCHABLE != 0;
        match probe & BAR_MEMORY_TYPE {
            BAR_MEMORY_32 | BAR_MEMORY_BELOW_1M => {
                let mask = u64::from(probe & BAR_MEMORY_ADDRESS);
                if mask == 0 {
                    // Unimplemented: reads 0 whatever is written.
                    config.write32(address, offset, original);
                } else {
                    config.write32(address, offset, 0);
                    bars.push(Bar {
                        index,
                        kind: BarKind::Memory32,
                        prefetchable,
                        size: size_of_mask(mask),
                        address: 0,
                    });
                }
                index += 1;
            }
            BAR_MEMORY_64 if index + 1 < BAR_COUNT => {
                let high_offset = bar_offset(index + 1);
                let original_high = config.read32(address, high_offset);
                let probe_high = probe_bar(config, address, high_offset);
                let mask = (u64::from(probe_high) << 32) | u64::from(probe & BAR_MEMORY_ADDRESS);
                if mask == 0 {
                    config.write32(address, offset, original);
                    config.write32(address, high_offset, original_high);
                } else {
                    config.write32(address, offset, 0);
                    config.write32(address, high_offset, 0);
                    bars.push(Bar {
                        index,
                        kind: BarKind::Memory64,
                        prefetchable,
                        size: size_of_mask(mask),
                        address: 0,
                    });
                }
                index += 2;
            }
            _ => {
                config.write32(address, offset, original);
                return Err(EnumerationError::MalformedBar {
                    function: address,
                    bar: index,
                    probe,
                });
            }
        }
    }
    Ok(bars)
}

/// Places every memory BAR in a window and writes its address to the function.
fn assign(
    config: &mut impl ConfigSpace,
    functions: &mut [Function],
    windows: &[Window],
) -> Result<(), EnumerationError> {
    let mut allocators: Vec<WindowAllocator> = windows.iter().map(WindowAllocator::new).collect();
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (function_position, function) in functions.iter().enumerate() {
        for (bar_position, bar) in function.bars.iter().enumerate() {
            if bar.kind != BarKind::Io {
                order.push((function_position, bar_position));
            }
        }
    }
    // 32-bit first (fewer places to go), then largest first; ties in bus order.
    order.sort_by_key(|&(function_position, bar_position)| {
        let bar = &functions[function_position].bars[bar_position];
        (
            bar.kind,
            Reverse(bar.footprint()),
            function_position,
            bar_position,
        )
    });

    for (function_position, bar_position) in order {
        let function = &mut functions[function_position];
        let address = function.address;
        let bar = &mut function.bars[bar_position];
        let footprint = bar.footprint();
        let placed = match bar.kind {
            BarKind::Memory32 => place(&mut allocators, WindowKind::Memory32, footprint, FOUR_GIB),
            _ => place(&mut allocators, WindowKind::Memory32, footprint, u64::MAX)
                .or_else(|| place(&mut allocators, WindowKind::Memory64, footprint, u64::MAX)),
        };
        let Some(base) = placed else {
            return Err(EnumerationError::WindowExhausted {
                function: address,
                bar: bar.index,
                size: bar.size,
                kind: bar.kind,
            });
        };
        bar.address = base;
        let offset = bar_offset(bar.index);
        config.write32(address, offset, base as u32);
        if bar.kind == BarKind::Memory64 {
            config.write32(address, offset + 4, (base >> 32) as u32);
        }
    }
    Ok(())
}

/// A `footprint`-aligned block in the first window of `kind` that has one below `limit`.
fn place(
    allocators: &mut [WindowAllocator],
    kind: WindowKind,
    footprint: u64,
    limit: u64,
) -> Option<u64> {
    allocators
        .iter_mut()
        .filter(|allocator| allocator.kind == kind)
        .find_map(|allocator| allocator.allocate(footprint, footprint, limit))
}

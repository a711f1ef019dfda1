//! The hardware edge: BARs mapped from sysfs, the PCI Command register, and uio doorbell waits.
//!
//! The only `unsafe` of the tool lives here, in [`MappedBar`]'s accesses.
//! Shared memory and trapped registers may be Device memory in this mapping,
//! so every access is one aligned u32 or u64 load or store; on aarch64 it is
//! written in assembly as a plain `ldr`/`str` of one register, never a pair
//! or a writeback form the compiler might pick, so that a trapped access
//! carries a valid syndrome (ISV) for the hypervisor to emulate, as Linux's
//! own `readl`/`writel` do.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulkhead_abi::ivshmem;
use memmap2::{MmapOptions, MmapRaw};

use crate::registers::Registers;
use crate::sysfs::{self, PciFunction, Resource};
use crate::transfer::Endpoint;

/// PCI Command register (config offset 4, 16 bits) and its bits we use.
const COMMAND: u64 = 0x04;
const COMMAND_MEMORY: u16 = 1 << 1;
const COMMAND_BUS_MASTER: u16 = 1 << 2;
const COMMAND_INTX_DISABLE: u16 = 1 << 10;

/// Linux's errno for an I/O error.
const EIO: i32 = 5;

/// `AT_PAGESZ` in the ELF auxiliary vector.
const AT_PAGESZ: u64 = 6;

/// The page size from an auxiliary vector (`/proc/self/auxv`: u64 key/value pairs).
pub fn page_size_from_auxv(auxv: &[u8]) -> Option<u64> {
    auxv.chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        (key == AT_PAGESZ && value.is_power_of_two()).then_some(value)
    })
}

fn page_size() -> u64 {
    std::fs::read("/proc/self/auxv")
        .ok()
        .and_then(|auxv| page_size_from_auxv(&auxv))
        .unwrap_or(4096)
}

/// Single-instruction MMIO accesses.
mod access {
    /// Defines the load and the store of one access width: on aarch64 one
    /// `ldr`/`str` of one register (`$load_asm`/`$store_asm`, whose operand
    /// modifier gives the width), elsewhere a volatile access.
    macro_rules! accessors {
        ($load:ident, $store:ident, $type:ty, $bytes:literal, $load_asm:literal, $store_asm:literal) => {
            #[doc = concat!("Loads the ", stringify!($type), " at `address`.")]
            ///
            /// # Safety
            #[doc = concat!("`address` must be ", $bytes, "-aligned and inside a live mapping.")]
            pub unsafe fn $load(address: *const $type) -> $type {
                #[cfg(target_arch = "aarch64")]
                {
                    let value: $type;
                    // SAFETY: the caller guarantees an aligned address in a live
                    // mapping; one `ldr` reads the value's bytes there and nothing else.
                    unsafe {
                        core::arch::asm!(
                            $load_asm,
                            address = in(reg) address,
                            value = out(reg) value,
                            options(nostack, preserves_flags)
                        );
                    }
                    value
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: the caller guarantees an aligned address in a live mapping.
                unsafe {
                    address.read_volatile()
                }
            }

            /// Stores `value` at `address`.
            ///
            /// # Safety
            #[doc = concat!("`address` must be ", $bytes, "-aligned and inside a live writable mapping.")]
            pub unsafe fn $store(address: *mut $type, value: $type) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the caller guarantees an aligned address in a live writable
                // mapping; one `str` writes the value's bytes there and nothing else.
                unsafe {
                    core::arch::asm!(
                        $store_asm,
                        address = in(reg) address,
                        value = in(reg) value,
                        options(nostack, preserves_flags)
                    );
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: the caller guarantees an aligned address in a live writable mapping.
                unsafe {
                    address.write_volatile(value)
                }
            }
        };
    }

    accessors!(
        read_u32,
        write_u32,
        u32,
        4,
        "ldr {value:w}, [{address}]",
        "str {value:w}, [{address}]"
    );
    accessors!(
        read_u64,
        write_u64,
        u64,
        8,
        "ldr {value}, [{address}]",
        "str {value}, [{address}]"
    );
}

/// One memory BAR mapped through `/sys/bus/pci/devices/<bdf>/resourceN`.
pub struct MappedBar {
    map: MmapRaw,
    /// Bytes of the BAR (what offsets are checked against).
    size: u64,
    writable: bool,
    /// For messages: `0000:00:1e.0 BAR2`.
    name: String,
}

impl MappedBar {
    /// Maps BAR `bar` of `function`, for reading and writing or only reading.
    pub fn open(function: &PciFunction, bar: usize, writable: bool) -> Result<MappedBar, String> {
        let Resource { start, size } = sysfs::resource(function, bar).map_err(|e| e.to_string())?;
        let path = function.dir.join(format!("resource{bar}"));
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
        // The kernel maps file offset 0 at the page holding the BAR's start,
        // so a BAR smaller than a page starts that far into the mapping.
        let mut options = MmapOptions::new();
        options
            .offset(start % page_size())
            .len(usize::try_from(size).map_err(|_| format!("{} is too large", path.display()))?);
        let map = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(|error| format!("cannot map {}: {error}", path.display()))?;
        Ok(MappedBar {
            map,
            size,
            writable,
            name: format!("{} BAR{bar}", function.address),
        })
    }

    /// Bytes of the BAR.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The address of `width` bytes at `offset`, after the checks that make
    /// an access there sound: inside the mapping, and aligned.
    fn address(&self, offset: u64, width: u64) -> *mut u8 {
        let inside = offset
            .checked_add(width)
            .is_some_and(|end| end <= self.size);
        let address = self.map.as_mut_ptr().wrapping_add(offset as usize);
        assert!(
            inside && (address as usize).is_multiple_of(width as usize),
            "{}: {width}-byte access at {offset:#x} is misaligned or outside {:#x} bytes",
            self.name,
            self.size
        );
        address
    }

    fn check_writable(&self) {
        assert!(self.writable, "{}: store to a read-only mapping", self.name);
    }

    /// Stores a u64 at `offset` (8-aligned).
    pub fn write_u64(&self, offset: u64, value: u64) {
        self.check_writable();
        let address = self.address(offset, 8).cast::<u64>();
        // SAFETY: `address` checked it is 8-aligned and inside the live
        // mapping (opened for writing, checked above), which `self` owns.
        unsafe { access::write_u64(address, value) }
    }
}

impl Registers for MappedBar {
    fn read_u32(&self, offset: u64) -> u32 {
        let address = self.address(offset, 4).cast::<u32>();
        // SAFETY: `address` checked it is 4-aligned and inside the live mapping `self` owns.
        unsafe { access::read_u32(address) }
    }

    fn read_u64(&self, offset: u64) -> u64 {
        let address = self.address(offset, 8).cast::<u64>();
        // SAFETY: `address` checked it is 8-aligned and inside the live mapping `self` owns.
        unsafe { access::read_u64(address) }
    }

    fn write_u32(&self, offset: u64, value: u32) {
        self.check_writable();
        let address = self.address(offset, 4).cast::<u32>();
        // SAFETY: `address` checked it is 4-aligned and inside the live
        // mapping (opened for writing, checked above), which `self` owns.
        unsafe { access::write_u32(address, value) }
    }
}

/// A function's configuration space (`/sys/bus/pci/devices/<bdf>/config`).
pub struct ConfigSpace {
    file: File,
    path: PathBuf,
}

impl ConfigSpace {
    pub fn open(function: &PciFunction) -> Result<ConfigSpace, String> {
        let path = function.dir.join("config");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
        Ok(ConfigSpace { file, path })
    }

    fn command(&self) -> Result<u16, String> {
        let mut bytes = [0u8; 2];
        self.file
            .read_exact_at(&mut bytes, COMMAND)
            .map_err(|error| format!("cannot read {}: {error}", self.path.display()))?;
        Ok(u16::from_le_bytes(bytes))
    }

    /// Command = (Command | set) & !clear.
    pub fn update_command(&self, set: u16, clear: u16) -> Result<(), String> {
        let value = (self.command()? | set) & !clear;
        self.file
            .write_all_at(&value.to_le_bytes(), COMMAND)
            .map_err(|error| format!("cannot write {}: {error}", self.path.display()))
    }

    /// Memory decoding on (a function no driver enabled decodes nothing).
    pub fn enable_memory(&self) -> Result<(), String> {
        self.update_command(COMMAND_MEMORY, 0)
    }
}

/// What `channels` shows of one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    pub id: u32,
    pub label: String,
    pub index: u32,
    pub endpoints: u32,
    pub size: u64,
    pub read_only: bool,
    pub address: String,
}

/// The ivshmem-style functions (1af4:1110 revision 1) under `root`.
pub fn channel_functions(root: &Path) -> Result<Vec<PciFunction>, String> {
    let functions = sysfs::scan(root).map_err(|e| e.to_string())?;
    Ok(
        sysfs::matching(&functions, ivshmem::VENDOR_ID, ivshmem::DEVICE_ID)
            .into_iter()
            .filter(|function| function.revision == ivshmem::REVISION)
            .collect(),
    )
}

/// Reads an endpoint's identity from its BAR0 (enabling memory decoding first).
pub fn channel_info(function: &PciFunction) -> Result<ChannelInfo, String> {
    ConfigSpace::open(function)?.enable_memory()?;
    let registers = MappedBar::open(function, 0, false)?;
    let memory = sysfs::resource(function, 2).map_err(|e| e.to_string())?;
    Ok(read_channel_info(
        &registers,
        memory.size,
        &function.address,
    ))
}

/// The identity registers of an endpoint.
pub fn read_channel_info(registers: &impl Registers, size: u64, address: &str) -> ChannelInfo {
    ChannelInfo {
        id: registers.read_u32(ivshmem::CHANNEL_ID),
        label: crate::registers::read_label(registers, ivshmem::LABEL, ivshmem::LABEL_SIZE),
        index: registers.read_u32(ivshmem::IV_POSITION),
        endpoints: registers.read_u32(ivshmem::ENDPOINTS),
        size,
        read_only: registers.read_u32(ivshmem::READ_ONLY) != 0,
        address: address.to_string(),
    }
}

/// A channel endpoint opened for a transfer: BAR0, BAR2 and the uio device
/// whose `read` blocks until the doorbell's INTx fires.
pub struct HardwareEndpoint {
    pub info: ChannelInfo,
    registers: MappedBar,
    memory: MappedBar,
    config: ConfigSpace,
    uio: File,
    uio_path: PathBuf,
}

impl HardwareEndpoint {
    /// Opens `function` (found by [`channel_functions`]) for a transfer:
    /// binds it to uio_pci_generic if needed, enables memory decoding, bus
    /// mastering and INTx, and lets every doorbell raise INTx.
    pub fn open(root: &Path, function: &PciFunction) -> Result<HardwareEndpoint, String> {
        let info = channel_info(function)?;
        if info.read_only {
            return Err(format!(
                "channel {} is read-only at this endpoint",
                info.label
            ));
        }
        let uio_name =
            sysfs::bind_uio(root, function, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        let device = Path::new("/dev").join(&uio_name);
        // Opened before the first look at shared memory: a doorbell from then
        // on makes the next read return at once.
        let uio = File::open(&device)
            .map_err(|error| format!("cannot open {}: {error}", device.display()))?;
        let config = ConfigSpace::open(function)?;
        config.update_command(COMMAND_MEMORY | COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE)?;
        let registers = MappedBar::open(function, 0, true)?;
        let memory = MappedBar::open(function, 2, true)?;
        registers.write_u32(ivshmem::INTR_MASK, u32::MAX);
        registers.read_u32(ivshmem::INTR_STATUS);
        Ok(HardwareEndpoint {
            info,
            registers,
            memory,
            config,
            uio,
            uio_path: device,
        })
    }
}

impl Endpoint for HardwareEndpoint {
    fn size(&self) -> u64 {
        self.memory.size()
    }

    fn index(&self) -> u32 {
        self.info.index
    }

    fn load(&self, offset: u64) -> u64 {
        self.memory.read_u64(offset)
    }

    fn store(&self, offset: u64, value: u64) {
        self.memory.write_u64(offset, value);
    }

    fn ring(&self, peer: u32) {
        self.registers.write_u32(ivshmem::DOORBELL, peer << 16);
    }

    fn wait(&self) -> std::io::Result<()> {
        let mut count = [0u8; 4];
        loop {
            match (&self.uio).read(&mut count) {
                Ok(4) => break,
                Ok(_) => return Err(std::io::Error::other("short read from the uio device")),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                // uio's read fails with EIO when the function has no IRQ.
                Err(error) if error.raw_os_error() == Some(EIO) => {
                    return Err(std::io::Error::other(format!(
                        "{} has no interrupt (the function's INTx is not routed)",
                        self.uio_path.display()
                    )))
                }
                Err(error) => return Err(error),
            }
        }
        // uio_pci_generic masked INTx in its handler: clear the doorbell,
        // then unmask (a doorbell in between raises INTx again).
        self.registers.read_u32(ivshmem::INTR_STATUS);
        self.config
            .update_command(0, COMMAND_INTX_DISABLE)
            .map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::fake::ByteRegisters;

    #[test]
    fn page_size_comes_from_the_auxiliary_vector() {
        let mut auxv = Vec::new();
        for (key, value) in [(33u64, 0xffff_0000u64), (AT_PAGESZ, 65536), (0, 0)] {
            auxv.extend_from_slice(&key.to_ne_bytes());
            auxv.extend_from_slice(&value.to_ne_bytes());
        }
        assert_eq!(page_size_from_auxv(&auxv), Some(65536));
        assert_eq!(page_size_from_auxv(&auxv[..16]), None);
        assert_eq!(page_size_from_auxv(&[]), None);
        #[cfg(target_os = "linux")]
        assert!(page_size() >= 4096);
    }

    #[test]
    fn a_small_bar_is_found_inside_its_page() {
        use crate::sysfs::tests::{add_function, Scratch};
        let scratch = Scratch::new("mapped-bar");
        // BAR0: 256 bytes at 0x100 into its page; BAR2: 8 KiB, page-aligned.
        let resources = "\
0x0000000010000100 0x00000000100001ff 0x0000000000040200
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000008000000000 0x0000008000001fff 0x000000000014220c
";
        let dir = add_function(&scratch.0, "0000:00:1e.0", 0x1af4, 0x1110, resources);
        std::fs::write(dir.join("resource0"), vec![0u8; 4096]).expect("resource0");
        std::fs::write(dir.join("resource2"), vec![0u8; 8192]).expect("resource2");
        let function = sysfs::scan(&scratch.0).expect("scan").remove(0);
        let registers = MappedBar::open(&function, 0, true).expect("BAR0");
        assert_eq!(registers.size(), 256);
        registers.write_u32(0x0c, 0xabcd_0123);
        assert_eq!(registers.read_u32(0x0c), 0xabcd_0123);
        let memory = MappedBar::open(&function, 2, true).expect("BAR2");
        memory.write_u64(0x1ff8, u64::MAX - 1);
        assert_eq!(memory.read_u64(0x1ff8), u64::MAX - 1);
        drop((registers, memory));
        let file = std::fs::read(dir.join("resource0")).expect("resource0");
        assert_eq!(file[0x10c..0x110], 0xabcd_0123u32.to_le_bytes());
        let read_only = MappedBar::open(&function, 2, false).expect("BAR2 read-only");
        assert_eq!(read_only.read_u64(0x1ff8), u64::MAX - 1);
    }

    #[test]
    #[should_panic(expected = "outside 0x100 bytes")]
    fn accesses_outside_a_bar_are_refused() {
        use crate::sysfs::tests::{add_function, Scratch};
        let scratch = Scratch::new("mapped-bar-outside");
        let dir = add_function(
            &scratch.0,
            "0000:00:1e.0",
            0x1af4,
            0x1110,
            "0x0000000010000000 0x00000000100000ff 0x0000000000040200\n",
        );
        std::fs::write(dir.join("resource0"), vec![0u8; 4096]).expect("resource0");
        let function = sysfs::scan(&scratch.0).expect("scan").remove(0);
        let registers = MappedBar::open(&function, 0, false).expect("BAR0");
        registers.read_u32(0x100);
    }

    #[test]
    fn channel_identity_registers() {
        let registers = ByteRegisters::new(ivshmem::REGISTERS_SIZE as usize);
        registers.set_u32(ivshmem::CHANNEL_ID, 4);
        registers.set_u32(ivshmem::IV_POSITION, 1);
        registers.set_u32(ivshmem::ENDPOINTS, 2);
        registers.set_bytes(ivshmem::LABEL, b"results");
        let info = read_channel_info(&registers, 1 << 20, "0000:00:1e.0");
        assert_eq!(
            info,
            ChannelInfo {
                id: 4,
                label: "results".into(),
                index: 1,
                endpoints: 2,
                size: 1 << 20,
                read_only: false,
                address: "0000:00:1e.0".into(),
            }
        );
        registers.set_u32(ivshmem::READ_ONLY, 1);
        assert!(read_channel_info(&registers, 1 << 20, "x").read_only);
    }
}

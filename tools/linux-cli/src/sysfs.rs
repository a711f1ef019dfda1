//! Finding PCI functions, their BARs and their uio devices under a sysfs root.
//!
//! Every function takes the root (`/sys` on a guest) so the tests run on a
//! directory tree they build themselves.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One PCI function as sysfs shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// `0000:00:1e.0`.
    pub address: String,
    /// `<root>/bus/pci/devices/<address>`.
    pub dir: PathBuf,
    pub vendor: u16,
    pub device: u16,
    pub revision: u8,
}

/// A memory BAR's place in the physical address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    pub start: u64,
    pub size: u64,
}

/// What went wrong looking at sysfs.
#[derive(Debug)]
pub enum SysfsError {
    /// A file that should be there could not be read or written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file held something that does not parse.
    Malformed { path: PathBuf, text: String },
    /// The function has no such memory BAR.
    NoBar { address: String, bar: usize },
    /// uio_pci_generic is not loaded, so no /dev/uioN can appear.
    NoUioDriver,
    /// The binding was asked for but no uio device showed up.
    NotBound { address: String },
}

impl fmt::Display for SysfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysfsError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            SysfsError::Malformed { path, text } => {
                write!(
                    f,
                    "{}: unexpected contents {:?}",
                    path.display(),
                    text.trim()
                )
            }
            SysfsError::NoBar { address, bar } => {
                write!(f, "PCI function {address} has no BAR{bar}")
            }
            SysfsError::NoUioDriver => write!(
                f,
                "uio_pci_generic is not loaded (insmod uio.ko, then uio_pci_generic.ko)"
            ),
            SysfsError::NotBound { address } => {
                write!(f, "PCI function {address} did not bind to uio_pci_generic")
            }
        }
    }
}

fn read(path: &Path) -> Result<String, SysfsError> {
    std::fs::read_to_string(path).map_err(|error| SysfsError::Io {
        path: path.to_path_buf(),
        error,
    })
}

fn read_hex(path: &Path) -> Result<u64, SysfsError> {
    let text = read(path)?;
    text.trim()
        .strip_prefix("0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| SysfsError::Malformed {
            path: path.to_path_buf(),
            text,
        })
}

fn devices_dir(root: &Path) -> PathBuf {
    root.join("bus/pci/devices")
}

/// Every PCI function, sorted by address; none if there is no PCI bus.
pub fn scan(root: &Path) -> Result<Vec<PciFunction>, SysfsError> {
    let dir = devices_dir(root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(SysfsError::Io { path: dir, error }),
    };
    let mut functions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| SysfsError::Io {
            path: dir.clone(),
            error,
        })?;
        let address = entry.file_name().to_string_lossy().into_owned();
        let path = dir.join(&address);
        let id = |name: &str| read_hex(&path.join(name));
        functions.push(PciFunction {
            vendor: id("vendor")? as u16,
            device: id("device")? as u16,
            revision: id("revision")? as u8,
            address,
            dir: path,
        });
    }
    functions.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(functions)
}

/// The functions with this vendor and device id.
pub fn matching(functions: &[PciFunction], vendor: u16, device: u16) -> Vec<PciFunction> {
    functions
        .iter()
        .filter(|function| function.vendor == vendor && function.device == device)
        .cloned()
        .collect()
}

/// Parses sysfs' `resource` file: one `start end flags` line per resource,
/// BARs first. An unimplemented BAR reads all zeros and gives `None`.
pub fn parse_resources(text: &str) -> Option<Vec<Option<Resource>>> {
    text.lines()
        .map(|line| {
            let mut fields = line
                .split_whitespace()
                .map(|field| u64::from_str_radix(field.strip_prefix("0x")?, 16).ok());
            let start = fields.next()??;
            let end = fields.next()??;
            Some((end > start).then(|| Resource {
                start,
                size: end - start + 1,
            }))
        })
        .collect()
}

/// Memory BAR `bar` of `function`.
pub fn resource(function: &PciFunction, bar: usize) -> Result<Resource, SysfsError> {
    let path = function.dir.join("resource");
    let text = read(&path)?;
    let resources = parse_resources(&text).ok_or_else(|| SysfsError::Malformed {
        path: path.clone(),
        text: text.clone(),
    })?;
    resources
        .get(bar)
        .copied()
        .flatten()
        .ok_or_else(|| SysfsError::NoBar {
            address: function.address.clone(),
            bar,
        })
}

/// `uioN` if `function` is bound to a uio driver.
pub fn uio_name(function: &PciFunction) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(function.dir.join("uio"))
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.starts_with("uio"))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The uio device of `function`, binding it to uio_pci_generic first if it
/// is not bound yet (new_id, or `bind` if the id is already known), then
/// waiting up to `patience` for `uioN` to appear in sysfs.
pub fn bind_uio(
    root: &Path,
    function: &PciFunction,
    patience: Duration,
) -> Result<String, SysfsError> {
    if let Some(name) = uio_name(function) {
        return Ok(name);
    }
    let driver = root.join("bus/pci/drivers/uio_pci_generic");
    if !driver.is_dir() {
        return Err(SysfsError::NoUioDriver);
    }
    let write = |name: &str, text: String| {
        let path = driver.join(name);
        std::fs::write(&path, text).map_err(|error| SysfsError::Io { path, error })
    };
    // new_id binds every unbound function with the id; it fails (EEXIST) if
    // the id was added before, and then `bind` names this one function. Either
    // write may also lose a race with another `bulkhead` binding the same
    // function, so only the uio device showing up (or not) decides.
    let new_id = write(
        "new_id",
        format!("{:04x} {:04x}", function.vendor, function.device),
    );
    if new_id.is_err() && !function.dir.join("driver").exists() {
        let _ = write("bind", function.address.clone());
    }
    let deadline = Instant::now() + patience;
    loop {
        if let Some(name) = uio_name(function) {
            return Ok(name);
        }
        if Instant::now() >= deadline {
            return Err(SysfsError::NotBound {
                address: function.address.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A scratch directory under the system's temp dir, removed on drop.
    pub struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("bulkhead-cli-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Adds a function to a fake sysfs tree.
    pub fn add_function(
        root: &Path,
        address: &str,
        vendor: u16,
        device: u16,
        resources: &str,
    ) -> PathBuf {
        let dir = devices_dir(root).join(address);
        std::fs::create_dir_all(&dir).expect("device dir");
        std::fs::write(dir.join("vendor"), format!("0x{vendor:04x}\n")).expect("vendor");
        std::fs::write(dir.join("device"), format!("0x{device:04x}\n")).expect("device");
        std::fs::write(dir.join("revision"), "0x01\n").expect("revision");
        std::fs::write(dir.join("resource"), resources).expect("resource");
        dir
    }

    const IVSHMEM_RESOURCES: &str = "\
0x0000000010001000 0x00000000100010ff 0x0000000000040200
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000008000000000 0x00000080000fffff 0x000000000014220c
0x0000000000000000 0x0000000000000000 0x0000000000000000
";

    #[test]
    fn scan_finds_functions_sorted() {
        let scratch = Scratch::new("scan");
        add_function(&scratch.0, "0000:00:1f.0", 0x1af4, 0x11bd, "");
        add_function(
            &scratch.0,
            "0000:00:1e.0",
            0x1af4,
            0x1110,
            IVSHMEM_RESOURCES,
        );
        add_function(&scratch.0, "0000:00:02.0", 0x1234, 0x11e8, "");
        let functions = scan(&scratch.0).expect("scan");
        let addresses: Vec<&str> = functions.iter().map(|f| f.address.as_str()).collect();
        assert_eq!(addresses, ["0000:00:02.0", "0000:00:1e.0", "0000:00:1f.0"]);
        let channels = matching(&functions, 0x1af4, 0x1110);
        assert_eq!(channels.len(), 1);
        assert_eq!(channels[0].revision, 1);
        assert_eq!(
            resource(&channels[0], 2).expect("BAR2"),
            Resource {
                start: 0x80_0000_0000,
                size: 1 << 20
            }
        );
        assert_eq!(
            resource(&channels[0], 0).expect("BAR0"),
            Resource {
                start: 0x1000_1000,
                size: 256
            }
        );
        assert!(matches!(
            resource(&channels[0], 1),
            Err(SysfsError::NoBar { bar: 1, .. })
        ));
        assert!(matches!(
            resource(&channels[0], 9),
            Err(SysfsError::NoBar { bar: 9, .. })
        ));
    }

    #[test]
    fn no_pci_bus_is_no_functions() {
        let scratch = Scratch::new("nobus");
        assert_eq!(scan(&scratch.0).expect("scan"), []);
    }

    #[test]
    fn malformed_files_are_named() {
        let scratch = Scratch::new("malformed");
        let dir = add_function(&scratch.0, "0000:00:01.0", 1, 2, "");
        std::fs::write(dir.join("vendor"), "vendor?\n").expect("write");
        let error = scan(&scratch.0).expect_err("malformed vendor");
        assert!(
            error
                .to_string()
                .ends_with("vendor: unexpected contents \"vendor?\""),
            "{error}"
        );
        assert_eq!(parse_resources("0x1 zz 0x0\n"), None);
    }

    #[test]
    fn uio_binding() {
        let scratch = Scratch::new("uio");
        let dir = add_function(
            &scratch.0,
            "0000:00:1e.0",
            0x1af4,
            0x1110,
            IVSHMEM_RESOURCES,
        );
        let function = scan(&scratch.0).expect("scan").remove(0);
        let patience = Duration::from_millis(50);
        assert!(matches!(
            bind_uio(&scratch.0, &function, patience),
            Err(SysfsError::NoUioDriver)
        ));
        let driver = scratch.0.join("bus/pci/drivers/uio_pci_generic");
        std::fs::create_dir_all(&driver).expect("driver dir");
        // A plain directory accepts the new_id write but nothing binds.
        assert!(matches!(
            bind_uio(&scratch.0, &function, patience),
            Err(SysfsError::NotBound { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(driver.join("new_id")).expect("new_id written"),
            "1af4 1110"
        );
        std::fs::create_dir_all(dir.join("uio/uio3")).expect("uio dir");
        assert_eq!(uio_name(&function).as_deref(), Some("uio3"));
        assert_eq!(
            bind_uio(&scratch.0, &function, patience).expect("bound"),
            "uio3"
        );
    }
}

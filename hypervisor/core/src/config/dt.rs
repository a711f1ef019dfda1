//! A small flattened-device-tree reader that never panics, whatever the bytes.
//!
//! The `fdt` crate panics on malformed blobs (`expect`, `assert_eq!` in its
//! node walker), and the DTB is user-controlled, so the validator reads it
//! here instead: the whole structure block is checked once, up front, into a
//! node table; every later lookup works on that table without indexing.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;
/// Deeper trees are refused; Linux uses the same bound.
const MAX_DEPTH: usize = 64;

/// Why a blob is not a well-formed flattened device tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// Shorter than the header, or `totalsize` is larger than the blob.
    Truncated,
    /// The magic number is not 0xd00dfeed.
    BadMagic(u32),
    /// Only version 17 (compatible back to 16/17) is read.
    UnsupportedVersion { version: u32, last_compatible: u32 },
    /// A header block offset/size points outside the blob.
    BlockOutOfBounds(&'static str),
    /// The structure block is cut short at this offset (inside the block).
    UnexpectedEnd(usize),
    /// An unknown token at this offset.
    BadToken { offset: usize, token: u32 },
    /// A name (node or property) is not NUL-terminated or not UTF-8.
    BadName(usize),
    /// END_NODE without a node, END inside a node, or a second root.
    Unbalanced(usize),
    /// Nesting deeper than `MAX_DEPTH` (64) levels.
    TooDeep(usize),
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtError::Truncated => write!(f, "the device tree blob is truncated"),
            DtError::BadMagic(magic) => {
                write!(f, "the device tree blob has magic {magic:#x}, not 0xd00dfeed")
            }
            DtError::UnsupportedVersion { version, last_compatible } => write!(
                f,
                "the device tree blob has version {version} (compatible with {last_compatible}); version 17 is required"
            ),
            DtError::BlockOutOfBounds(block) => {
                write!(f, "the device tree {block} block lies outside the blob")
            }
            DtError::UnexpectedEnd(offset) => {
                write!(f, "the device tree structure block ends early at offset {offset:#x}")
            }
            DtError::BadToken { offset, token } => {
                write!(f, "the device tree structure block has unknown token {token:#x} at offset {offset:#x}")
            }
            DtError::BadName(offset) => write!(
                f,
                "the device tree name at offset {offset:#x} is not a NUL-terminated UTF-8 string"
            ),
            DtError::Unbalanced(offset) => {
                write!(f, "the device tree nodes are not properly nested at offset {offset:#x}")
            }
            DtError::TooDeep(offset) => write!(
                f,
                "the device tree nests deeper than {MAX_DEPTH} levels at offset {offset:#x}"
            ),
        }
    }
}

/// One property: its name and raw value.
#[derive(Clone, Copy, Debug)]
pub struct Property<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

#[derive(Debug)]
struct NodeData<'a> {
    name: &'a str,
    parent: Option<usize>,
    properties: Vec<Property<'a>>,
    children: Vec<usize>,
}

/// A parsed, structurally valid device tree borrowing from its blob.
#[derive(Debug)]
pub struct DeviceTree<'a> {
    nodes: Vec<NodeData<'a>>,
}

/// A node of a [`DeviceTree`]; cheap to copy.
#[derive(Clone, Copy)]
pub struct Node<'t, 'a> {
    tree: &'t DeviceTree<'a>,
    index: usize,
    data: &'t NodeData<'a>,
}

/// Reads big-endian u32s out of a byte slice with bounds checks.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, DtError> {
        let value =
            be_u32_at(self.bytes, self.offset).ok_or(DtError::UnexpectedEnd(self.offset))?;
        self.offset = self.offset.saturating_add(4);
        Ok(value)
    }

    /// Takes `len` bytes and skips the padding to the next 4-byte boundary.
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DtError> {
        let end = self
            .offset
            .checked_add(len)
            .ok_or(DtError::UnexpectedEnd(self.offset))?;
        let value = self
            .bytes
            .get(self.offset..end)
            .ok_or(DtError::UnexpectedEnd(self.offset))?;
        self.offset = align4(end).ok_or(DtError::UnexpectedEnd(end))?;
        Ok(value)
    }

    /// A NUL-terminated UTF-8 name, then padding.
    fn name(&mut self) -> Result<&'a str, DtError> {
        let start = self.offset;
        let rest = self
            .bytes
            .get(start..)
            .ok_or(DtError::UnexpectedEnd(start))?;
        let name = cstr(rest).ok_or(DtError::BadName(start))?;
        // The name plus its NUL.
        self.bytes(name.len().saturating_add(1))?;
        Ok(name)
    }
}

fn align4(value: usize) -> Option<usize> {
    value.checked_add(3).map(|v| v & !3)
}

fn be_u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let slice = bytes.get(offset..end)?;
    let array: [u8; 4] = slice.try_into().ok()?;
    Some(u32::from_be_bytes(array))
}

/// The UTF-8 string before the first NUL, or `None` without a NUL.
fn cstr(bytes: &[u8]) -> Option<&str> {
    let nul = bytes.iter().position(|&b| b == 0)?;
    core::str::from_utf8(bytes.get(..nul)?).ok()
}

/// The sub-slice `[offset, offset + size)` of `blob`, if it fits.
fn block<'a>(
    blob: &'a [u8],
    offset: u32,
    size: u32,
    what: &'static str,
) -> Result<&'a [u8], DtError> {
    let start = usize::try_from(offset).map_err(|_| DtError::BlockOutOfBounds(what))?;
    let size = usize::try_from(size).map_err(|_| DtError::BlockOutOfBounds(what))?;
    let end = start
        .checked_add(size)
        .ok_or(DtError::BlockOutOfBounds(what))?;
    blob.get(start..end).ok_or(DtError::BlockOutOfBounds(what))
}

impl<'a> DeviceTree<'a> {
    /// Checks the header and the whole structure block and builds the node table.
    pub fn parse(blob: &'a [u8]) -> Result<Self, DtError> {
        let header = |index: usize| be_u32_at(blob, index * 4).ok_or(DtError::Truncated);
        if blob.len() < HEADER_SIZE {
            return Err(DtError::Truncated);
        }
        let magic = header(0)?;
        if magic != FDT_MAGIC {
            return Err(DtError::BadMagic(magic));
        }
        let total_size = usize::try_from(header(1)?).map_err(|_| DtError::Truncated)?;
        let blob = blob.get(..total_size).ok_or(DtError::Truncated)?;
        let (version, last_compatible) = (header(5)?, header(6)?);
        if version < 17 || last_compatible > 17 {
            return Err(DtError::UnsupportedVersion {
                version,
                last_compatible,
            });
        }
        let structure = block(blob, header(2)?, header(9)?, "structure")?;
        let strings = block(blob, header(3)?, header(8)?, "strings")?;
        Self::parse_structure(structure, strings)
    }

    fn parse_structure(structure: &'a [u8], strings: &'a [u8]) -> Result<Self, DtError> {
        let mut reader = Reader {
            bytes: structure,
            offset: 0,
        };
        let mut nodes: Vec<NodeData<'a>> = Vec::new();
        // Indices of the open nodes, innermost last.
        let mut open: Vec<usize> = Vec::new();
        loop {
            let offset = reader.offset;
            match reader.u32()? {
                FDT_BEGIN_NODE => {
                    let name = reader.name()?;
                    let parent = open.last().copied();
                    if parent.is_none() && !nodes.is_empty() {
                        return Err(DtError::Unbalanced(offset));
                    }
                    if open.len() >= MAX_DEPTH {
                        return Err(DtError::TooDeep(offset));
                    }
                    let index = nodes.len();
                    if let Some(parent) = parent.and_then(|p| nodes.get_mut(p)) {
                        parent.children.push(index);
                    }
                    nodes.push(NodeData {
                        name,
                        parent,
                        properties: Vec::new(),
                        children: Vec::new(),
                    });
                    open.push(index);
                }
                FDT_END_NODE => {
                    open.pop().ok_or(DtError::Unbalanced(offset))?;
                }
                FDT_PROP => {
                    let len = usize::try_from(reader.u32()?)
                        .map_err(|_| DtError::UnexpectedEnd(offset))?;
                    let name_offset =
                        usize::try_from(reader.u32()?).map_err(|_| DtError::BadName(offset))?;
                    let value = reader.bytes(len)?;
                    let name = strings
                        .get(name_offset..)
                        .and_then(cstr)
                        .ok_or(DtError::BadName(offset))?;
                    let node = open
                        .last()
                        .and_then(|&index| nodes.get_mut(index))
                        .ok_or(DtError::Unbalanced(offset))?;
                    node.properties.push(Property { name, value });
                }
                FDT_NOP => {}
                FDT_END => {
                    if !open.is_empty() || nodes.is_empty() {
                        return Err(DtError::Unbalanced(offset));
                    }
                    return Ok(DeviceTree { nodes });
                }
                token => return Err(DtError::BadToken { offset, token }),
            }
        }
    }

    fn node(&self, index: usize) -> Option<Node<'_, 'a>> {
        self.nodes.get(index).map(|data| Node {
            tree: self,
            index,
            data,
        })
    }

    /// The root node (`parse` guarantees there is one).
    pub fn root(&self) -> Option<Node<'_, 'a>> {
        self.node(0)
    }

    /// Every node, in blob order (parents before children).
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_, 'a>> + '_ {
        (0..self.nodes.len()).filter_map(move |index| self.node(index))
    }

    /// The node at an absolute path. A component without a unit address
    /// also matches a child `name@unit` when it is the only such child.
    pub fn find(&self, path: &str) -> Option<Node<'_, 'a>> {
        let relative = path.strip_prefix('/')?;
        let mut node = self.root()?;
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            node = node.child(component)?;
        }
        Some(node)
    }

    /// An absolute path, or an alias from `/aliases` (whose value is a path).
    pub fn resolve(&self, path_or_alias: &str) -> Option<Node<'_, 'a>> {
        if path_or_alias.starts_with('/') {
            return self.find(path_or_alias);
        }
        let (alias, rest) = match path_or_alias.split_once('/') {
            Some((alias, rest)) => (alias, Some(rest)),
            None => (path_or_alias, None),
        };
        let target = self.find("/aliases")?.property(alias)?.as_str()?;
        let node = self.find(target)?;
        match rest {
            Some(rest) => rest
                .split('/')
                .filter(|c| !c.is_empty())
                .try_fold(node, |n, c| n.child(c)),
            None => Some(node),
        }
    }

    /// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    pub fn by_phandle(&self, phandle: u32) -> Option<Node<'_, 'a>> {
        self.nodes().find(|node| {
            node.property("phandle")
                .or_else(|| node.property("linux,phandle"))
                .and_then(|p| p.as_u32())
                == Some(phandle)
        })
    }
}

impl<'t, 'a> Node<'t, 'a> {
    /// The node name including any unit address (`pl011@9000000`); empty for the root.
    pub fn name(&self) -> &'a str {
        self.data.name
    }

    /// The name without its unit address (`pl011`).
    pub fn base_name(&self) -> &'a str {
        self.data.name.split('@').next().unwrap_or(self.data.name)
    }

    pub fn parent(&self) -> Option<Node<'t, 'a>> {
        self.data.parent.and_then(|p| self.tree.node(p))
    }

    pub fn children(&self) -> impl Iterator<Item = Node<'t, 'a>> + 't {
        let tree = self.tree;
        self.data.children.iter().filter_map(move |&c| tree.node(c))
    }

    /// The child called exactly `name`, else the only child whose base name is `name`.
    pub fn child(&self, name: &str) -> Option<Node<'t, 'a>> {
        if let Some(child) = self.children().find(|c| c.name() == name) {
            return Some(child);
        }
        if name.contains('@') {
            return None;
        }
        let mut matches = self.children().filter(|c| c.base_name() == name);
        match (matches.next(), matches.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    pub fn property(&self, name: &str) -> Option<Property<'a>> {
        self.data
            .properties
            .iter()
            .find(|p| p.name == name)
            .copied()
    }

    pub fn properties(&self) -> impl Iterator<Item = Property<'a>> + 't {
        self.data.properties.iter().copied()
    }

    /// The absolute path, e.g. `/chosen/bulkhead/partition@0`.
    pub fn path(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        let mut node = Some(*self);
        while let Some(n) = node {
            if n.data.parent.is_some() {
                names.push(n.name());
            }
            node = n.parent();
        }
        if names.is_empty() {
            return String::from("/");
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// Whether `ancestor` is this node or one of its ancestors.
    pub fn is_within(&self, ancestor: &Node<'_, '_>) -> bool {
        let mut node = Some(*self);
        while let Some(n) = node {
            if n.index == ancestor.index {
                return true;
            }
            node = n.parent();
        }
        false
    }

    /// Whether `compatible` lists `value`.
    pub fn is_compatible(&self, value: &str) -> bool {
        self.property("compatible")
            .and_then(|p| p.as_str_list())
            .is_some_and(|list| list.contains(&value))
    }

    /// A `u32` cell property such as `#address-cells`.
    pub fn u32_property(&self, name: &str) -> Option<u32> {
        self.property(name).and_then(|p| p.as_u32())
    }

    /// The node's own position in its tree, for identity comparisons.
    pub fn id(&self) -> usize {
        self.index
    }
}

impl<'a> Property<'a> {
    /// The value as one big-endian u32 (exactly 4 bytes).
    pub fn as_u32(&self) -> Option<u32> {
        if self.value.len() != 4 {
            return None;
        }
        be_u32_at(self.value, 0)
    }

    /// The value as big-endian u32 cells (length a multiple of 4).
    pub fn as_cells(&self) -> Option<Vec<u32>> {
        if !self.value.len().is_multiple_of(4) {
            return None;
        }
        Some(
            self.value
                .chunks_exact(4)
                .filter_map(|c| c.try_into().ok().map(u32::from_be_bytes))
                .collect(),
        )
    }

    /// The value as one NUL-terminated UTF-8 string (no embedded NULs).
    pub fn as_str(&self) -> Option<&'a str> {
        match self.as_str_list()?.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The value as a list of NUL-terminated UTF-8 strings.
    pub fn as_str_list(&self) -> Option<Vec<&'a str>> {
        let body = self.value.strip_suffix(&[0])?;
        body.split(|&b| b == 0)
            .map(|s| core::str::from_utf8(s).ok())
            .collect()
    }
}

/// Joins `cells` (most significant first) into one number; `None` for more
/// than two cells with a non-zero high part.
pub fn cells_to_u64(cells: &[u32]) -> Option<u64> {
    cells.iter().try_fold(0u64, |acc, &cell| {
        if acc >> 32 != 0 {
            return None;
        }
        Some((acc << 32) | u64::from(cell))
    })
}

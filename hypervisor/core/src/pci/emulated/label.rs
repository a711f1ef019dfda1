//! A 32-byte NUL-padded label, as ivshmem and the control table show it in u32 words.

/// A label as the registers show it: UTF-8 bytes, NUL-padded to 32.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Label([u8; Label::SIZE]);

impl Label {
    /// Bytes of a label field (`abi::ivshmem::LABEL_SIZE`, `abi::control::entry::LABEL_SIZE`).
    pub const SIZE: usize = 32;

    /// `text`, cut at the last whole character that fits in 32 bytes.
    pub fn new(text: &str) -> Label {
        let mut end = text.len().min(Label::SIZE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; Label::SIZE];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        Label(bytes)
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; Label::SIZE] {
        &self.0
    }

    /// Little-endian u32 word `index` (0..8); 0 past the end.
    pub fn word(&self, index: usize) -> u32 {
        let start = index.saturating_mul(4);
        match self.0.get(start..start.saturating_add(4)) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }
}

impl core::fmt::Debug for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let end = self
            .0
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(Label::SIZE);
        write!(
            f,
            "{:?}",
            core::str::from_utf8(&self.0[..end]).unwrap_or("<not UTF-8>")
        )
    }
}

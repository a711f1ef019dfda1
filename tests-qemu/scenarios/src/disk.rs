//! The virtio disk's contents: generated at test time, so the checksum a guest prints can be checked.
//!
//! No image is committed: `cargo xtask` writes [`image`] to `target/images`
//! and the Linux scenario compares what `md5sum` prints in the guest with
//! [`image_md5`].

/// Size of the disk: 4 MiB (8,192 sectors).
pub const DISK_BYTES: usize = 4 << 20;

/// The disk's bytes: a splitmix64 stream, so every sector differs and a
/// misplaced or stale block changes the checksum.
pub fn image() -> Vec<u8> {
    let mut state: u64 = 0x6469_736b_2d69_6d67;
    let mut bytes = Vec::with_capacity(DISK_BYTES);
    while bytes.len() < DISK_BYTES {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        bytes.extend_from_slice(&z.to_le_bytes());
    }
    bytes
}

/// The MD5 digest of [`image`] in lowercase hex, as `md5sum` prints it.
pub fn image_md5() -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(image());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_is_deterministic_and_sized() {
        let image = super::image();
        assert_eq!(image.len(), super::DISK_BYTES);
        assert_eq!(image, super::image());
        assert_eq!(super::image_md5().len(), 32);
    }
}

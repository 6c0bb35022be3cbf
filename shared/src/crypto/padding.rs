//! Padding: the ciphertext's length reveals only a size class.
//!
//! AES-GCM hides content but not length, and the length of a short message
//! says a lot ("yes" versus "no"). So the serialized plaintext is followed by
//! one `0x80` byte and then `0x00` bytes up to the smallest bucket that fits.
//! The marker byte makes the padding unambiguous whatever the content ends
//! with (ISO/IEC 7816-4 style), and the bucket sizes double, so the overhead
//! is under 2x while an observer learns about two and a half bits.

/// The padded sizes, in bytes. A maximal message (1024 characters that all
/// need a six-byte `\u00XX` escape, a 32-character nick of the same, and the
/// other fields) serializes to 6,404 bytes, so the largest bucket always fits;
/// see `docs/crypto.md`.
pub const BUCKETS: [usize; 6] = [256, 512, 1024, 2048, 4096, 8192];

/// The largest bucket.
pub(crate) const MAX_BUCKET: usize = BUCKETS[BUCKETS.len() - 1];

/// The byte that ends the content and starts the padding.
const MARKER: u8 = 0x80;

/// The smallest bucket that holds `content_len` bytes and the marker.
pub(crate) fn bucket_for(content_len: usize) -> Option<usize> {
    BUCKETS.iter().copied().find(|&bucket| content_len < bucket)
}

/// Pads `buf[start..]` in place to its bucket; returns the bucket, or `None`
/// if the content is too large for any.
pub(crate) fn pad_in_place(buf: &mut Vec<u8>, start: usize) -> Option<usize> {
    let bucket = bucket_for(buf.len() - start)?;
    buf.push(MARKER);
    buf.resize(start + bucket, 0x00);
    Some(bucket)
}

/// The content of a padded buffer: trailing zeros stripped, then the marker
/// required and stripped. `None` if there is no marker.
///
/// Any bucket is accepted, not only the smallest that fits: a writer may pad
/// more to hide more, and a reader has no reason to refuse that.
pub(crate) fn unpad(padded: &[u8]) -> Option<&[u8]> {
    let last = padded.iter().rposition(|&byte| byte != 0x00)?;
    (padded[last] == MARKER).then(|| &padded[..last])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_marker_needs_a_byte_of_its_own() {
        assert_eq!(bucket_for(0), Some(256));
        assert_eq!(bucket_for(255), Some(256));
        assert_eq!(bucket_for(256), Some(512));
        assert_eq!(bucket_for(8191), Some(8192));
        assert_eq!(bucket_for(8192), None);
    }

    #[test]
    fn unpadding_requires_the_marker() {
        assert_eq!(unpad(&[b'{', b'}', 0x80, 0, 0]), Some(&b"{}"[..]));
        assert_eq!(unpad(&[b'{', b'}', 0x80]), Some(&b"{}"[..]));
        assert_eq!(unpad(&[b'{', b'}', 0, 0]), None);
        assert_eq!(unpad(&[0, 0, 0]), None);
        assert_eq!(unpad(&[]), None);
        // Only the last non-zero byte is the marker; an earlier 0x80 is content.
        assert_eq!(unpad(&[0x80, 0x80, 0]), Some(&[0x80][..]));
    }

    proptest! {
        #[test]
        fn padding_round_trips_to_the_smallest_bucket(
            prefix in proptest::collection::vec(any::<u8>(), 0..16),
            content in proptest::collection::vec(any::<u8>(), 0..8192),
        ) {
            let mut buf = prefix.clone();
            buf.extend_from_slice(&content);
            let bucket = pad_in_place(&mut buf, prefix.len());
            prop_assert_eq!(bucket, bucket_for(content.len()));
            if let Some(bucket) = bucket {
                prop_assert!(BUCKETS.contains(&bucket));
                prop_assert_eq!(buf.len(), prefix.len() + bucket);
                let smaller = BUCKETS.iter().filter(|&&b| b < bucket);
                for &b in smaller {
                    prop_assert!(content.len() >= b);
                }
                prop_assert_eq!(unpad(&buf[prefix.len()..]), Some(&content[..]));
            }
        }
    }
}

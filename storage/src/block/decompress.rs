//! Bounded zstd decompression for objects read from the store (a corrupt or hostile object
//! must not make the reader allocate without limit).

use std::io::Read;

/// zstd-decompresses at most `limit` bytes; more is an error (a corrupt or hostile object).
pub(crate) fn decompress_bounded(compressed: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::new(compressed)?;
    let mut out = Vec::new();
    let read = decoder.take(limit as u64 + 1).read_to_end(&mut out)?;
    if read > limit {
        return Err(std::io::Error::other(format!(
            "decompressed size exceeds {limit} bytes"
        )));
    }
    Ok(out)
}

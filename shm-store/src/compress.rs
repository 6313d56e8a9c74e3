//! Per-entry compression (see "Compression" in `layout.rs`): a value is
//! stored as its original length (8 bytes, little endian) followed by one
//! zstd frame (with its content checksum). Both directions run with no stripe lock held; each thread
//! keeps one zstd context per direction, reused across calls.

use crate::layout::ZSTD_PREFIX;
use crate::stripe::zstd_raw_len;
use std::cell::RefCell;
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::{CParameter, ResetDirective};

thread_local! {
    /// The level the context is set to, and the context.
    static COMPRESSOR: RefCell<Option<(i32, Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `value` compressed at `level` with its length prefix, if that is
/// shorter than `value` itself (`None`: store it raw).
pub(crate) fn compress(value: &[u8], level: i32) -> Option<Vec<u8>> {
    // The frame must leave the whole at least one byte shorter than the
    // value: zstd stops with an error when it needs more room than this.
    let room = value.len().checked_sub(ZSTD_PREFIX + 1)?;
    let mut frame = Vec::with_capacity(room);
    COMPRESSOR.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        let (current, compressor) = match &mut *cell {
            Some(c) => c,
            none => {
                let mut c = Compressor::new(level).ok()?;
                // A 4-byte checksum of the content ends every frame, so
                // that damage to the bytes is found, not returned.
                c.set_parameter(CParameter::ChecksumFlag(true)).ok()?;
                none.insert((level, c))
            }
        };
        if *current != level {
            compressor.set_compression_level(level).ok()?;
            *current = level;
        }
        let done = compressor.compress_to_buffer(value, &mut frame);
        if done.is_err() {
            // A frame that did not fit stays open in the context: drop it,
            // so the context takes parameters and frames again.
            compressor
                .context_mut()
                .reset(ResetDirective::SessionOnly)
                .ok()?;
        }
        done.ok()
    })?;
    let mut stored = Vec::with_capacity(ZSTD_PREFIX + frame.len());
    stored.extend_from_slice(&(value.len() as u64).to_le_bytes());
    stored.extend_from_slice(&frame);
    Some(stored)
}

/// The original bytes of a compressed value's `stored` bytes, at most
/// `max` of them; a description of what is wrong if they are not a
/// length prefix and a frame that decompresses to exactly that length.
pub(crate) fn decompress(stored: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let raw_len =
        zstd_raw_len(stored).ok_or_else(|| "shorter than its length prefix".to_string())?;
    if raw_len > max as u64 {
        return Err(format!(
            "it claims {raw_len} bytes, over the store's value limit of {max}"
        ));
    }
    let raw_len = raw_len as usize;
    let mut out = Vec::with_capacity(raw_len);
    DECOMPRESSOR
        .with(|cell| {
            let mut cell = cell
                .try_borrow_mut()
                .map_err(|_| std::io::Error::other("decompressor in use"))?;
            let decompressor = match &mut *cell {
                Some(d) => d,
                none => none.insert(Decompressor::new()?),
            };
            // Writes at most the buffer's capacity: a frame that would
            // expand further is refused, not followed.
            let done = decompressor.decompress_to_buffer(&stored[ZSTD_PREFIX..], &mut out);
            if done.is_err() {
                // Whatever state the failure left, the next read starts afresh.
                *cell = None;
            }
            done
        })
        .map_err(|e| format!("zstd: {e}"))?;
    if out.len() != raw_len {
        return Err(format!(
            "it decompresses to {} bytes, not the {raw_len} it records",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let text = b"session|a:1:{s:4:\"user\";s:5:\"alice\";}".repeat(100);
        let stored = compress(&text, 3).expect("compressible");
        assert!(stored.len() < text.len());
        assert_eq!(decompress(&stored, usize::MAX).unwrap(), text);
        // The prefix caps the output, and the store's limit caps the prefix.
        assert!(decompress(&stored, text.len() - 1).is_err());
        let mut short = stored.clone();
        short[..8].copy_from_slice(&((text.len() - 1) as u64).to_le_bytes());
        assert!(decompress(&short, usize::MAX).is_err());
        let mut long = stored.clone();
        long[..8].copy_from_slice(&((text.len() + 1) as u64).to_le_bytes());
        assert!(decompress(&long, usize::MAX).is_err());
        assert!(decompress(&stored[..4], usize::MAX).is_err());
        let mut garbage = stored;
        garbage[12..20].fill(0xff);
        assert!(decompress(&garbage, usize::MAX).is_err());
        // Not worth it: incompressible or tiny values stay raw.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(compress(&noise, 3).is_none());
        assert!(compress(b"abc", 3).is_none());
        // The thread's context works after a refusal, at another level too.
        assert_eq!(
            decompress(&compress(&text, 3).unwrap(), usize::MAX).unwrap(),
            text
        );
        assert_eq!(
            decompress(&compress(&text, 19).unwrap(), usize::MAX).unwrap(),
            text
        );
    }
}

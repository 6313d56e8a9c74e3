//! Owns the entry kinds' encodings (integer, compressed, manifest), the compression counters and
//! `drop_entry`. Touches one entry's block and slot, through `heap.rs` and `index.rs`.

use super::view::StripeView;
use super::{Former, Kind};
use crate::layout::{
    value_offset, Manifest, MANIFEST_COMPRESSED, STATE_INT, STATE_LARGE, STATE_PART, STATE_ZSTD,
    ZSTD_PREFIX,
};

/// The strict decimal integer of `incr_by`: optional sign, digits, nothing else.
#[inline]
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The manifest in a large entry's value; `None` if it is not one.
pub(crate) fn parse_manifest(bytes: &[u8]) -> Option<Manifest> {
    (bytes.len() == crate::layout::MANIFEST_SIZE)
        .then(|| bytemuck::pod_read_unaligned::<Manifest>(bytes))
        .filter(|m| m.magic == crate::layout::MANIFEST_MAGIC)
}

/// The original length a compressed value's stored bytes begin with.
pub(crate) fn zstd_raw_len(stored: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(
        stored.get(..ZSTD_PREFIX)?.try_into().ok()?,
    ))
}

impl StripeView<'_> {
    /// Where an integer entry keeps its number (`None` for another kind).
    pub(super) fn int_range(&self, off: u32) -> Option<std::ops::Range<usize>> {
        let h = self.hdr(off);
        let start = off as usize + value_offset(STATE_INT, h.key_len_or_prev) as usize;
        (h.state == STATE_INT).then_some(start..start + 8)
    }

    /// The integer of an integer entry.
    pub(super) fn int_of(&self, off: u32) -> Option<i64> {
        let word: &[u8; 8] = self.heap.get(self.int_range(off)?)?.try_into().ok()?;
        Some(i64::from_ne_bytes(*word))
    }

    /// Runs `f` on a live entry's value as users see it: an integer
    /// entry's rendered as decimal text.
    pub(super) fn with_value_text<R>(&self, off: u32, f: impl FnOnce(&[u8]) -> R) -> R {
        match self.int_of(off) {
            Some(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            None => f(self.value_of(off)),
        }
    }

    /// What the live entry in slot `i` is.
    pub(super) fn former(&self, i: usize) -> Former {
        let off = self.slots()[i].block;
        match self.hdr(off).state {
            STATE_LARGE => parse_manifest(self.value_of(off)).map_or(Former::Inline, Former::Large),
            _ => Former::Inline,
        }
    }

    pub(super) fn kind_of(&self, i: usize) -> Kind {
        match self.hdr(self.slots()[i].block).state {
            STATE_LARGE => Kind::Large,
            STATE_INT => Kind::Int,
            STATE_ZSTD => Kind::Zstd,
            _ => Kind::Inline,
        }
    }

    /// The original and stored lengths of the value of the live block at
    /// `off`, if it is compressed.
    pub(super) fn compressed_lengths(&self, off: u32) -> Option<(u64, u64)> {
        match self.hdr(off).state {
            STATE_ZSTD => {
                let stored = self.value_of(off);
                Some((zstd_raw_len(stored).unwrap_or(0), stored.len() as u64))
            }
            STATE_LARGE => parse_manifest(self.value_of(off))
                .filter(|m| m.flags & MANIFEST_COMPRESSED != 0)
                .map(|m| (m.raw_len, m.total_len)),
            _ => None,
        }
    }

    /// Adds (or, `add` false, takes away) the live block at `off`, in
    /// `state`, to the compression counters, if its value is compressed
    /// (the state tells most blocks apart without reading them). Wrapping
    /// both ways, so an add and its take-away cancel whatever the figures.
    pub(super) fn count_compressed(&mut self, off: u32, state: u32, add: bool) {
        if !matches!(state, STATE_ZSTD | STATE_LARGE) {
            return;
        }
        let Some((raw, stored)) = self.compressed_lengths(off) else {
            return;
        };
        let m = &mut *self.meta;
        let op = |c: &mut u64, n: u64| {
            *c = if add {
                c.wrapping_add(n)
            } else {
                c.wrapping_sub(n)
            }
        };
        op(&mut m.compressed_entries, 1);
        op(&mut m.compressed_raw_bytes, raw);
        op(&mut m.compressed_stored_bytes, stored);
    }

    pub(super) fn set_compressed_counts(&mut self, (entries, raw, stored): (u64, u64, u64)) {
        self.meta.compressed_entries = entries;
        self.meta.compressed_raw_bytes = raw;
        self.meta.compressed_stored_bytes = stored;
    }

    /// The compression counters recounted from the indexed entries.
    pub(super) fn recount_compressed(&self) -> (u64, u64, u64) {
        self.slots()
            .iter()
            .filter(|s| !s.is_empty() && self.check_slot_block(s.block))
            .filter_map(|s| self.compressed_lengths(s.block))
            .fold((0u64, 0u64, 0u64), |(e, r, st), (raw, stored)| {
                (
                    e.wrapping_add(1),
                    r.wrapping_add(raw),
                    st.wrapping_add(stored),
                )
            })
    }

    /// Removes the entry in slot `i`: the block is retired first (the
    /// commit; it is freed later, see [`StripeView::retire_block`]), then
    /// the slot.
    pub(super) fn drop_entry(&mut self, i: usize) {
        let off = self.slots()[i].block;
        if !self.check_slot_block(off) {
            return;
        }
        self.drop_checked(i, off, self.hdr(off).state);
    }

    /// [`StripeView::drop_entry`] of slot `i`, whose block `off` (in
    /// `state`) a probe (`find_slot`) has checked already.
    pub(super) fn drop_checked(&mut self, i: usize, off: u32, state: u32) {
        self.drop_checked_inline(i, off, state);
    }

    /// [`StripeView::drop_checked`] inlined, for `del`, where it is the
    /// whole work (its call and frame were a tenth of the call).
    #[inline(always)]
    pub(super) fn drop_checked_inline(&mut self, i: usize, off: u32, state: u32) {
        let Some(entries) = self.meta.entries.checked_sub(1) else {
            self.note("entry count below the entries indexed:", 0u64);
            return;
        };
        let part = state == STATE_PART;
        if !part {
            self.note_change(self.slots()[i].hash);
        }
        self.count_compressed(off, state, false);
        self.retire_block(off);
        self.remove_slot(i);
        self.meta.entries = entries;
        self.meta.parts = self.meta.parts.saturating_sub(part as u32);
    }
}

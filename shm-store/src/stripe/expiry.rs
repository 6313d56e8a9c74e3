//! Owns expiry: the sweep a write does on its way, the full reclaim, `meta.min_expiry`. Touches
//! the sweep cursor and the expiration counter; removes entries only through `drop_entry`.

use super::view::{bump, StripeView};
use crate::layout::BlockHeader;

/// Expired slots a write examines on its way (the incremental sweep).
const SWEEP_STEP: usize = 16;

pub(super) fn is_expired(h: &BlockHeader, now: u64) -> bool {
    h.expires_at != 0 && h.expires_at <= now
}

impl StripeView<'_> {
    /// The incremental sweep: a few slots from a moving cursor, expired
    /// entries reclaimed.
    #[inline]
    pub(super) fn sweep_step(&mut self, now: u64) {
        if self.meta.min_expiry > now {
            return; // nothing can have expired yet
        }
        self.sweep_slots(now);
    }

    /// The body of [`StripeView::sweep_step`], out of the common path.
    #[inline(never)]
    fn sweep_slots(&mut self, now: u64) {
        let mask = self.mask();
        for _ in 0..SWEEP_STEP {
            if self.is_damaged() {
                return;
            }
            let i = self.meta.sweep_cursor as usize & mask;
            let s = self.slots()[i];
            if !s.is_empty() && is_expired(self.hdr(s.block), now) {
                // A later entry may shift into slot i: look at it again.
                self.drop_entry(i);
                bump(&mut self.meta.expirations);
            } else {
                self.meta.sweep_cursor = ((i + 1) & mask) as u32;
            }
        }
    }

    /// Whether some entry of the stripe may have an expiry. When not, no
    /// operation compares an expiry with the time, which need not be read.
    pub(crate) fn has_expiring(&self) -> bool {
        self.meta.min_expiry != u64::MAX
    }

    pub(super) fn note_expiry(&mut self, expires_at: u64) {
        if expires_at != 0 {
            self.meta.min_expiry = self.meta.min_expiry.min(expires_at);
        }
    }

    /// Reclaims every expired entry of the stripe, if its earliest expiry
    /// says there may be one; `true` if any went. The scan either frees
    /// something or makes the bound exact, so it does not repeat for nothing.
    /// The blocks of entries removed before (the dead chain) go back to
    /// the free lists too.
    pub(crate) fn reclaim_expired(&mut self, now: u64) -> bool {
        self.drain_dead();
        if self.meta.min_expiry > now {
            return false;
        }
        let before = self.meta.entries;
        for i in 0..self.slots().len() {
            // A later entry may shift into slot i: check it again.
            while !self.slots()[i].is_empty() && is_expired(self.hdr(self.slots()[i].block), now) {
                if self.is_damaged() {
                    return false;
                }
                self.drop_entry(i);
                bump(&mut self.meta.expirations);
            }
        }
        self.meta.min_expiry = self
            .slots()
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| self.hdr(s.block).expires_at)
            .filter(|&at| at != 0)
            .min()
            .unwrap_or(u64::MAX);
        self.drain_dead();
        self.meta.entries < before
    }
}

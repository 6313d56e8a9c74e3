//! Owns what the files' unit tests share: a stripe over owned memory, a key, a write context.
//! Compiled for tests only.

use super::{Ctx, Key, Spare, StripeView};
use crate::config::EvictionPolicy;
use crate::layout::{hash_key, Slot, StripeMeta};

pub(super) struct Owned {
    pub(super) meta: StripeMeta,
    pub(super) slots: Vec<Slot>,
    pub(super) heap: Vec<u8>,
}

impl Owned {
    pub(super) fn new(slots: usize, heap: usize) -> Self {
        let mut o = Owned {
            meta: bytemuck::Zeroable::zeroed(),
            slots: vec![Slot::EMPTY; slots],
            heap: vec![0; heap],
        };
        o.view().format();
        o
    }
    pub(super) fn view(&mut self) -> StripeView<'_> {
        StripeView::new(&mut self.meta, &mut self.slots, &mut self.heap)
    }
}

pub(super) fn key(b: &[u8]) -> Key<'_> {
    Key {
        hash: hash_key(b),
        bytes: b,
        part: false,
    }
}

pub(super) const CTX: Ctx = Ctx {
    now: 1000,
    policy: EvictionPolicy::AllKeysLru,
    spare: Spare {
        writing: None,
        replaced: None,
        key: None,
    },
};

//! Stripe access: locking (and taking over a dead or garbled lock), the guard,
//! [`SharedStripe`] for lock-free reads. Touches the mapping, stripe locks, watch table.

use super::Segment;
use crate::error::{Result, StoreError};
use crate::layout::{
    ChangeSeq, LockWake, Slot, StripeMeta, CHANGE_SEQ_OFFSET, LOCK_WAKE_OFFSET, MUTEX_AREA,
    SEGMENT_HEADER_SIZE, SLOT_SIZE, STRIPE_HEADER_SIZE,
};
use crate::shared_mutex::{Acquired, LockError, Owner, StripeLock};
use crate::stripe::StripeView;
use std::sync::atomic::Ordering;

/// A stripe whose lock this thread holds; unlocks on drop.
pub(crate) struct StripeGuard<'a> {
    lock: StripeLock,
    owner: Owner,
    change: &'a ChangeSeq,
    stripe: usize,
    segment: &'a Segment,
    pub view: StripeView<'a>,
}

impl StripeGuard<'_> {
    /// If an operation found damage in the stripe: rebuilds it (so the next
    /// operation works) and reports the damage.
    #[inline]
    pub(crate) fn repair_if_damaged(&mut self) -> Result<()> {
        // What was read or written on pages the file no longer has means
        // nothing: no repair, the store is unusable.
        self.segment.check_mapped()?;
        match self.view.take_damage() {
            None => Ok(()),
            Some(damage) => Err(self.repair(damage)),
        }
    }

    #[cold]
    #[inline(never)]
    fn repair(&mut self, damage: impl std::fmt::Display) -> StoreError {
        self.view.rebuild();
        StoreError::Damaged {
            stripe: self.stripe,
            path: self.segment.path.to_path_buf(),
            detail: damage.to_string(),
        }
    }
}

impl Drop for StripeGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() || !self.view.changes.is_empty() {
            return self.release_after_changes();
        }
        self.release();
    }
}

impl StripeGuard<'_> {
    /// Makes the change sequence even again and unlocks.
    #[inline(always)]
    fn release(&mut self) {
        // Every change of this holder is written before the sequence is
        // even again. Only the lock holder writes the word: no atomic
        // read-modify-write is needed.
        let seq = self.change.seq.load(Ordering::Relaxed);
        self.change
            .seq
            .store(seq.wrapping_add(1), Ordering::Release);
        // SAFETY: the guard exists only while this thread holds the lock
        // (see `lock_stripe`), and is dropped once.
        unsafe { self.lock.unlock(self.owner) };
    }

    /// The drop of a guard that changed watched keys, or of one dropped by
    /// a panic (apart, so that the common drop is a few instructions).
    #[cold]
    #[inline(never)]
    fn release_after_changes(&mut self) {
        if std::thread::panicking() {
            // A panic may have left the stripe half updated: repair it
            // before anyone else sees it, as if this holder had died.
            self.view.rebuild();
        }
        // Watched keys written: their versions are bumped before the
        // stripe is unlocked, their waiters woken after (see "Watches").
        let changes = &self.view.changes;
        let wakes = (!changes.is_empty())
            .then(|| self.segment.watches().bump(self.stripe, changes.hashes()));
        self.release();
        if let Some(wakes) = wakes {
            wakes.wake();
        }
    }
}

/// One stripe's bytes as a reader without the lock sees them: any byte may
/// change under it at any time (a lock holder of this or another process
/// writes). Every access is bounds-checked against the stripe, so nothing a
/// racing or damaged writer leaves can take a reader outside the mapping;
/// words are loaded atomically, byte ranges copied out, and whatever is read
/// means something only once [`SharedStripe::unchanged_since`] confirms that
/// no holder changed the stripe meanwhile (the argument is in `layout.rs`,
/// "Lock-free reads").
pub(crate) struct SharedStripe<'a> {
    base: *mut u8,
    len: usize,
    change: &'a ChangeSeq,
    /// Set once the file lost pages under the mapping (see `bus`): then
    /// nothing read validates, and readers go to the locked path, which
    /// reports it.
    lost: &'static std::sync::atomic::AtomicBool,
    _mapping: std::marker::PhantomData<&'a Segment>,
}

impl SharedStripe<'_> {
    /// The change sequence to validate against, or `None` while a holder
    /// may be changing the stripe (odd).
    #[inline]
    pub(crate) fn begin(&self) -> Option<u32> {
        let seq = self.change.seq.load(Ordering::Acquire);
        seq.is_multiple_of(2).then_some(seq)
    }

    /// Spins (at most `spins` times) while a holder may be changing the
    /// stripe; `true` once the sequence is even. A holder changes a stripe
    /// for a microsecond or two: waiting here is far cheaper than queueing
    /// on its mutex (a futex sleep and wake-up), which a reader only does
    /// once the spin is over (a holder that died leaves it odd for good).
    pub(crate) fn wait_even(&self, spins: u32) -> bool {
        for _ in 0..spins {
            if self.change.seq.load(Ordering::Relaxed).is_multiple_of(2) {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Whether no lock holder changed the stripe since [`SharedStripe::begin`]
    /// returned `seq`: everything read in between is then what the stripe
    /// held at one instant.
    #[inline]
    pub(crate) fn unchanged_since(&self, seq: u32) -> bool {
        // Orders every read above before the second load of the sequence.
        std::sync::atomic::fence(Ordering::Acquire);
        self.change.seq.load(Ordering::Relaxed) == seq && !self.lost.load(Ordering::Acquire)
    }

    /// Pointer to `n` bytes at `off`, if they lie inside the stripe and
    /// `off` is a multiple of `align`.
    #[inline]
    fn at(&self, off: usize, n: usize, align: usize) -> Option<*mut u8> {
        (off.is_multiple_of(align) && off.checked_add(n)? <= self.len)
            // SAFETY: off + n <= len, the stripe's length inside the mapping.
            .then(|| unsafe { self.base.add(off) })
    }

    /// A copy of the `T` at `off` (aligned for `T`, inside the stripe),
    /// read in one piece: a slot, a block header, an integer entry's
    /// number. Like any copy from the stripe it may be torn by a concurrent
    /// writer: every field is checked before use and the whole validated
    /// by the change sequence.
    #[inline]
    pub(crate) fn read<T: bytemuck::Pod>(&self, off: usize) -> Option<T> {
        let p = self.at(off, std::mem::size_of::<T>(), std::mem::align_of::<T>())?;
        // SAFETY: in bounds and aligned for `T` (checked by `at`); `T` is
        // plain data, valid for any bit pattern; a racing store can only
        // make the copy stale, which the caller's validation detects.
        Some(unsafe { p.cast::<T>().cast_const().read_volatile() })
    }

    /// Stores the 4-byte word at `off` (aligned, inside the stripe)
    /// atomically; `false` if out of bounds. For advisory words only (an
    /// LRU stamp), which no reader or rebuild relies on.
    #[inline]
    pub(crate) fn set_u32(&self, off: usize, value: u32) -> bool {
        let Some(p) = self.at(off, 4, 4) else {
            return false;
        };
        // SAFETY: in bounds and aligned (checked by `at`), in a mapping that
        // outlives `self`; the word is plain data, valid for any value.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(p.cast()) }.store(value, Ordering::Relaxed);
        true
    }

    /// Copies `out.len()` bytes from `off` into `out`; `false` (nothing
    /// copied) if they do not lie inside the stripe. The bytes may be torn
    /// by a concurrent writer: validate before using them.
    pub(crate) fn copy_out(&self, off: usize, out: &mut [u8]) -> bool {
        // SAFETY: the same bytes seen as possibly uninitialised;
        // `copy_out_uninit` only ever writes initialised bytes into them,
        // so `out` stays initialised whatever it does.
        let out = unsafe { &mut *(std::ptr::from_mut(out) as *mut [std::mem::MaybeUninit<u8>]) };
        self.copy_out_uninit(off, out)
    }

    /// [`SharedStripe::copy_out`] into a buffer that need not be
    /// initialised (a fresh PHP string): on `true` all of `out` is written.
    #[inline]
    pub(crate) fn copy_out_uninit(
        &self,
        off: usize,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> bool {
        let Some(p) = self.at(off, out.len(), 1) else {
            return false;
        };
        // SAFETY: the source lies inside the mapping (checked by `at`); the
        // destination is the caller's exclusive buffer, which cannot be in
        // the segment's mapping (never handed out as a Rust slice), so they
        // do not overlap. No reference to the shared bytes is formed; the
        // copy may race with a lock holder's stores, and its result is used
        // only once the change sequence confirms it untorn (the seqlock
        // argument in layout.rs; as in the kernel's seqlocks, the copy is a
        // plain memcpy). Any bytes may be written into `MaybeUninit<u8>`.
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast_const(), out.as_mut_ptr().cast::<u8>(), out.len())
        };
        true
    }

    /// Whether the bytes at `off` equal `expected` (`false` if out of bounds).
    #[inline]
    pub(crate) fn bytes_eq(&self, off: usize, expected: &[u8]) -> bool {
        let n = expected.len();
        let Some(p) = self.at(off, n, 1) else {
            return false;
        };
        // A short key (most are) with no call: from 4 bytes on, in two
        // overlapping words from each side; below, its first, middle and
        // last bytes, which are all of them.
        if (1..=16).contains(&n) {
            // SAFETY: as for memcmp below, reads of the n bytes at `p`
            // (each byte or word starts at p or after, and ends by p + n);
            // unaligned plain loads that may race with a lock holder's
            // stores, relied on only once validated.
            let shared = unsafe {
                match n {
                    1..=3 => [
                        p.read() as u64
                            | (p.add(n / 2).read() as u64) << 8
                            | (p.add(n - 1).read() as u64) << 16,
                        0,
                    ],
                    4..=7 => [
                        p.cast::<u32>().read_unaligned() as u64,
                        p.add(n - 4).cast::<u32>().read_unaligned() as u64,
                    ],
                    _ => [
                        p.cast::<u64>().read_unaligned(),
                        p.add(n - 8).cast::<u64>().read_unaligned(),
                    ],
                }
            };
            let want = match n {
                1..=3 => [
                    expected[0] as u64
                        | (expected[n / 2] as u64) << 8
                        | (expected[n - 1] as u64) << 16,
                    0,
                ],
                4..=7 => [
                    u32::from_ne_bytes(expected[..4].try_into().expect("4 bytes")) as u64,
                    u32::from_ne_bytes(expected[n - 4..].try_into().expect("4 bytes")) as u64,
                ],
                _ => [
                    u64::from_ne_bytes(expected[..8].try_into().expect("8 bytes")),
                    u64::from_ne_bytes(expected[n - 8..].try_into().expect("8 bytes")),
                ],
            };
            return (shared[0] ^ want[0]) | (shared[1] ^ want[1]) == 0;
        }
        // SAFETY: `at` checked that off + expected.len() lies inside the
        // stripe; `expected` is the caller's own slice. memcmp reads the
        // shared bytes through the raw pointer, like the plain copy of
        // `copy_out_uninit` (no Rust reference to them is formed): it may
        // race with a lock holder's stores, and its answer is relied on
        // only once the change sequence confirms the read untorn.
        unsafe {
            libc::memcmp(
                p.cast_const().cast(),
                expected.as_ptr().cast(),
                expected.len(),
            ) == 0
        }
    }
}

impl Segment {
    pub(super) fn unusable(&self, i: usize, e: LockError) -> StoreError {
        StoreError::LockUnusable {
            stripe: i,
            name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    #[inline]
    pub(super) fn stripe_base(&self, i: usize) -> *mut u8 {
        assert!(
            i < self.geometry.stripes as usize,
            "stripe {i} out of range"
        );
        let offset = SEGMENT_HEADER_SIZE + i * self.geometry.stripe_stride as usize;
        // SAFETY: offset + stride <= total_size == the mapping's length
        // (checked by geometry_of / Geometry::for_config).
        unsafe { self.map.as_mut_ptr().add(offset) }
    }

    pub(super) fn stripe_lock(&self, i: usize) -> StripeLock {
        self.lock_at(self.stripe_base(i))
    }

    /// The lock of the stripe at `base` (a [`Segment::stripe_base`]).
    #[inline(always)]
    fn lock_at(&self, base: *mut u8) -> StripeLock {
        // SAFETY: the lock area starts the stripe header, page aligned, and
        // the mapping lives as long as `self`; callers use the handle only
        // while borrowing `self`; its words are only accessed atomically
        // (a StripeView starts after MUTEX_AREA).
        unsafe { StripeLock::from_ptr(base) }
    }

    /// Stripe `i`'s change sequence and watch count.
    #[inline]
    pub(crate) fn change_seq(&self, i: usize) -> &ChangeSeq {
        self.change_seq_at(self.stripe_base(i))
    }

    /// The change sequence of the stripe at `base` (a
    /// [`Segment::stripe_base`]).
    #[inline(always)]
    fn change_seq_at(&self, base: *mut u8) -> &ChangeSeq {
        // SAFETY: as for `lock_wake`: a 64-byte aligned word inside the
        // stripe header (`base` is a stripe's start in the mapping, which
        // lives as long as `self`), only ever accessed atomically.
        unsafe { &*base.add(CHANGE_SEQ_OFFSET).cast::<ChangeSeq>() }
    }

    /// The wake-up words of stripe `i`'s advisory locks.
    pub(crate) fn lock_wake(&self, i: usize) -> &LockWake {
        // SAFETY: LOCK_WAKE_OFFSET + size_of::<LockWake>() lies inside the
        // page-aligned stripe header and is 64-byte aligned; atomics have
        // the layout of the plain integers the file holds, and these words
        // are only ever accessed atomically (never through a StripeView), so
        // shared references to them from many threads and processes are sound.
        unsafe { &*self.stripe_base(i).add(LOCK_WAKE_OFFSET).cast::<LockWake>() }
    }

    /// Stripe `i` for a lock-free read (see [`SharedStripe`]).
    #[inline]
    pub(crate) fn shared_stripe(&self, i: usize) -> SharedStripe<'_> {
        SharedStripe {
            base: self.stripe_base(i),
            len: self.geometry.stripe_stride as usize,
            change: self.change_seq(i),
            lost: self.lost,
            _mapping: std::marker::PhantomData,
        }
    }

    /// # Safety
    /// The caller holds stripe `i`'s lock (or is its exclusive initialiser)
    /// for as long as the returned view lives, and has no other view of it.
    // Inlined, as `guard` is (see there).
    #[inline(always)]
    pub(super) unsafe fn view(&self, i: usize) -> StripeView<'_> {
        // SAFETY: the caller's contract, for the stripe at its base.
        unsafe { self.view_at(self.stripe_base(i)) }
    }

    /// # Safety
    /// `base` is a [`Segment::stripe_base`], and the caller holds that
    /// stripe's lock as [`Segment::view`] requires.
    #[inline(always)]
    unsafe fn view_at(&self, base: *mut u8) -> StripeView<'_> {
        let slots = self.geometry.slots_per_stripe as usize;
        // SAFETY: the three regions are disjoint, inside the stripe, suitably
        // aligned (page-aligned stripe, 64-byte mutex area, 4 KiB header), and
        // every bit pattern is valid for these plain-data types. The lock
        // guarantees no other thread or process touches them meanwhile.
        unsafe {
            StripeView::new(
                &mut *base.add(MUTEX_AREA).cast::<StripeMeta>(),
                std::slice::from_raw_parts_mut(base.add(STRIPE_HEADER_SIZE).cast::<Slot>(), slots),
                std::slice::from_raw_parts_mut(
                    base.add(STRIPE_HEADER_SIZE + slots * SLOT_SIZE),
                    self.geometry.heap_size as usize,
                ),
            )
        }
    }

    /// Locks stripe `i`. If the previous holder died, the stripe is rebuilt
    /// before the guard is returned.
    #[inline]
    pub(crate) fn lock_stripe(&self, i: usize) -> Result<StripeGuard<'_>> {
        let lock = self.stripe_lock(i);
        let (acquired, owner) = lock
            .lock(self.lock_timeout)
            .map_err(|e| self.lock_failed(i, e))?;
        if self.lost.load(Ordering::Acquire) {
            return Err(self.lost_under(lock, owner));
        }
        if acquired == Acquired::OwnerDied {
            return self.guard_rebuilt(i, owner);
        }
        Ok(self.guard_clean(i, owner))
    }

    /// Locks stripe `i` like [`Segment::lock_stripe`], runs `op` on the
    /// guard, then repairs what `op` found damaged
    /// ([`StripeGuard::repair_if_damaged`]: the result, computed from
    /// damaged data, is dropped, and so is any from a segment whose file
    /// lost pages); the lock is released when `op` returns (or unwinds).
    ///
    /// The guard is built in place and only lent to `op`: returned by
    /// `lock_stripe`, a guard (some 180 bytes, its view included) goes
    /// through memory as a `Result` and is copied again where the caller
    /// keeps it, about 60 moves per lock (callgrind); the writes that cost
    /// least (`incr`, `del`) take their lock through here.
    ///
    /// Unlike `lock_stripe` it does not look whether the file lost pages
    /// before `op` runs, only after: `op` may then have read zeros or
    /// written to the zero pages that replaced the lost ones (see `bus`),
    /// which are nobody's data, and what it found is dropped for
    /// [`StoreError::Truncated`] all the same; a lock whose own page was
    /// lost reads as garbled and its error is the truncation too
    /// (`lock_failed`).
    #[inline(always)]
    pub(crate) fn with_stripe<R>(
        &self,
        i: usize,
        op: impl FnOnce(&mut StripeGuard<'_>) -> R,
    ) -> Result<R> {
        // The stripe's place is computed (its index checked) once.
        let base = self.stripe_base(i);
        let (acquired, owner) = self
            .lock_at(base)
            .lock(self.lock_timeout)
            .map_err(|e| self.lock_failed(i, e))?;
        // SAFETY: `base` is stripe i's, whose lock this thread just took.
        let mut guard = unsafe { self.guard_clean_at(i, base, owner) };
        if acquired == Acquired::OwnerDied {
            // As `guard_rebuilt`, on the guard where it is.
            rebuild_after_holder_died(&mut guard);
        }
        let out = op(&mut guard);
        guard.repair_if_damaged()?;
        Ok(out)
    }

    /// The error for a lock attempt that failed: a lock read as zeros from
    /// a page the file lost is "garbled", but the cause is the truncation.
    #[cold]
    fn lock_failed(&self, i: usize, e: LockError) -> StoreError {
        self.check_mapped()
            .err()
            .unwrap_or_else(|| self.unusable(i, e))
    }

    /// Releases a lock just taken on a segment whose file lost pages:
    /// nothing to guard.
    #[cold]
    fn lost_under(&self, lock: StripeLock, owner: Owner) -> StoreError {
        // SAFETY: the caller took the lock just before, with this owner.
        unsafe { lock.unlock(owner) };
        self.truncated()
    }

    /// `Err(Truncated)` once the segment's file lost pages under this
    /// process's mapping (someone truncated it: the SIGBUS guard put zero
    /// pages in their place, see `bus`). Every operation that locks a
    /// stripe, or reads one, checks it: what it read means nothing, and
    /// the store cannot be used again until it is removed and created
    /// anew.
    #[inline]
    pub(crate) fn check_mapped(&self) -> Result<()> {
        match self.lost.load(Ordering::Acquire) {
            false => Ok(()),
            true => Err(self.truncated()),
        }
    }

    #[cold]
    fn truncated(&self) -> StoreError {
        StoreError::Truncated {
            path: self.path.clone(),
            file_len: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            expected: self.geometry.total_size,
        }
    }

    // Inlined into its callers, and `view` into it, so that the guard and
    // its view are built where they are returned, not built and then copied
    // (a memcpy on every lock, seen in callgrind).
    #[inline(always)]
    fn guard_clean(&self, i: usize, owner: Owner) -> StripeGuard<'_> {
        // SAFETY: the base of stripe i, whose lock the caller holds.
        unsafe { self.guard_clean_at(i, self.stripe_base(i), owner) }
    }

    /// [`Segment::guard_clean`] of the stripe at `base`.
    ///
    /// # Safety
    /// `base` is `self.stripe_base(i)`, and this thread holds stripe i's
    /// lock, taken with `owner`.
    #[inline(always)]
    unsafe fn guard_clean_at(&self, i: usize, base: *mut u8, owner: Owner) -> StripeGuard<'_> {
        let change = self.change_seq_at(base);
        // Odd from here until the guard is dropped; a holder that died left
        // it odd already (its changes are repaired, not undone).
        let seq = change.seq.load(Ordering::Relaxed);
        if seq.is_multiple_of(2) {
            change.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        }
        // The odd value is visible before any change this holder makes.
        std::sync::atomic::fence(Ordering::Release);
        let mut guard = StripeGuard {
            lock: self.lock_at(base),
            owner,
            change,
            stripe: i,
            segment: self,
            // SAFETY: the caller holds stripe i's lock; the guard releases
            // it when it is dropped, and the view cannot be used past the guard.
            view: unsafe { self.view_at(base) },
        };
        // Whether to note the keys this holder changes, for the watch
        // table: nobody watching anything in the stripe costs this one load
        // of a word in the line just written. (A waiter that registers
        // meanwhile takes this lock once before it reads: see "Watches".)
        guard.view.changes.watching = change.watched.load(Ordering::Relaxed) != 0;
        guard
    }

    /// The guard of a stripe whose previous holder died: rebuilt. Apart
    /// (and not inlined): a guard whose view is lent to a call (`rebuild`)
    /// is built on the stack and copied where it is returned, which only
    /// this rare path pays.
    /// [`Segment::guard_clean`], or [`Segment::guard_rebuilt`] after a
    /// holder that died.
    fn guard_after(&self, i: usize, owner: Owner, acquired: Acquired) -> Result<StripeGuard<'_>> {
        match acquired {
            Acquired::Clean => Ok(self.guard_clean(i, owner)),
            Acquired::OwnerDied => self.guard_rebuilt(i, owner),
        }
    }

    #[cold]
    #[inline(never)]
    fn guard_rebuilt(&self, i: usize, owner: Owner) -> Result<StripeGuard<'_>> {
        let mut guard = self.guard_clean(i, owner);
        rebuild_after_holder_died(&mut guard);
        Ok(guard)
    }

    /// Locks stripe `i` like [`Segment::lock_stripe`]; if its lock is
    /// unusable (not obtained in time, or garbled bytes) and the lock word
    /// names no live thread, re-initialises the lock and takes it. The
    /// second value says whether the lock was taken over (the caller then
    /// rebuilds the stripe). Refused with [`StoreError::LockHeld`] when a
    /// live thread (or one of another pid namespace, which cannot be
    /// judged) is named as holder.
    ///
    /// What this cannot see: a process that is about to take the lock at
    /// this instant; the operator runs this (`ephpm-shm verify --repair`)
    /// when no process is stuck in the store.
    pub(crate) fn take_over_stripe(&self, i: usize) -> Result<(StripeGuard<'_>, Option<String>)> {
        self.check_mapped()?;
        let lock = self.stripe_lock(i);
        let reason = match lock.lock(self.lock_timeout) {
            Ok((acquired, owner)) => return Ok((self.guard_after(i, owner, acquired)?, None)),
            Err(e) => e.to_string(),
        };
        if let Some(tid) = lock.live_holder() {
            return Err(StoreError::LockHeld {
                stripe: i,
                name: self.name.clone(),
                tid,
            });
        }
        // SAFETY: the lock could not be taken within the bound, and no live
        // thread is named as its holder (a garbled word names none that
        // means anything): nobody is inside the critical section, so
        // re-initialising the lock does not break anyone's exclusion.
        // Waiters asleep on the old word are woken and look again.
        unsafe { lock.init() };
        let (acquired, owner) = lock
            .lock(self.lock_timeout)
            .map_err(|e| self.unusable(i, e))?;
        Ok((self.guard_after(i, owner, acquired)?, Some(reason)))
    }
}

/// Rebuilds the stripe of a guard just taken from a holder that died (its
/// changes are repaired, not undone). Apart: only that rare path pays.
#[cold]
#[inline(never)]
fn rebuild_after_holder_died(guard: &mut StripeGuard<'_>) {
    guard.view.rebuild();
}

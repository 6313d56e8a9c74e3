//! Synchronisation between processes through the segment: the stripe lock
//! ([`StripeLock`], an owner word taken by compare-and-swap), the robust,
//! process-shared pthread mutex of the watch table ([`RobustMutex`]), and
//! futex waits and wake-ups on a shared word (for the advisory locks'
//! waiters).
//!
//! Both locks survive their holder's death: the next locker takes the lock
//! and is told ([`Acquired::OwnerDied`]), and repairs what the dead holder
//! may have left half done. For the pthread mutex the kernel's robust list
//! does it (`EOWNERDEAD`); for the stripe lock a waiter that has waited a
//! while tests whether the thread named in the word is still alive (see
//! [`StripeLock`] and "Stripe lock" in `layout.rs`).
//!
//! A lock whose bytes were overwritten (a stray write, a bug) can look held
//! by a thread that does not exist, or not look like a lock at all: a lock
//! attempt then fails at once with [`LockError::Garbled`], or waits at most
//! a bound and fails with [`LockError::TimedOut`], instead of hanging;
//! `ephpm-shm verify --repair` re-initialises such a lock once no live
//! thread is named as its holder.

use crate::layout::{
    STRIPE_LOCK_KIND, STRIPE_LOCK_KIND_OFFSET, STRIPE_LOCK_RECORD_NS_OFFSET,
    STRIPE_LOCK_RECORD_OFFSET, STRIPE_LOCK_WORD_OFFSET,
};
use crate::process::{pid_namespace, thread_alive, thread_id, thread_stat};
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    Clean,
    /// The previous holder died holding it: the guarded data must be repaired.
    OwnerDied,
}

/// Why a lock could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockError {
    /// Not obtained within the bound: a holder that never lets go, or a lock
    /// word that names a thread which is not there.
    TimedOut(Duration),
    /// Not obtained within the bound from a holder of another pid
    /// namespace (its thread id means nothing here: whether it is alive
    /// cannot be told).
    Foreign {
        /// The holder's thread id, in its own namespace.
        tid: u32,
        /// The bound waited.
        waited: Duration,
    },
    /// Its bytes do not describe a lock (a stray write).
    Garbled,
    /// Another pthread error (for example `ENOTRECOVERABLE`).
    Pthread(i32),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::TimedOut(d) => write!(f, "not obtained within {} s", d.as_secs_f64()),
            LockError::Foreign { tid, waited } => write!(
                f,
                "not obtained within {} s from its holder, thread {tid} of another pid \
                 namespace (whether it is alive cannot be seen from this one)",
                waited.as_secs_f64()
            ),
            LockError::Garbled => write!(
                f,
                "its bytes are not a robust shared mutex (a word no locker writes)"
            ),
            LockError::Pthread(e) => write!(f, "{}", io::Error::from_raw_os_error(*e)),
        }
    }
}

/// glibc's layout of `pthread_mutex_t` on 64-bit Linux (stable ABI): the
/// lock word (the holder's thread id in its low 30 bits) at offset 0 and
/// the kind at offset 16.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
mod glibc {
    pub(super) const KIND_OFFSET: usize = 16;
    /// Type bits, robust, priority inherit and protect: only "robust normal".
    pub(super) const KIND_CHECKED_MASK: i32 = 0x7f;
    pub(super) const KIND_ROBUST_NORMAL: i32 = 16;
    pub(super) const KIND_PSHARED: i32 = 128;
    /// Bits above the elision flags are never set by glibc.
    pub(super) const KIND_UNUSED: i32 = !0x3ff;
    pub(super) const TID_MASK: i32 = 0x3fff_ffff;
}

/// Spins on a busy stripe lock before sleeping: a holder keeps it for a
/// microsecond or two.
const SPINS: u32 = 64;
/// How long a waiter sleeps before it first asks whether the holder is
/// alive, and then between two such tests (each reads `/proc`).
const FIRST_CHECK: Duration = Duration::from_millis(2);
const SLICE: Duration = Duration::from_millis(20);
/// Set in the word while someone may sleep on it: the unlocker wakes one.
const WAITERS: u64 = 1 << 31;
/// The holder's thread id: below `PID_MAX_LIMIT` (2^22 on 64-bit Linux).
const TID_MASK: u64 = (1 << 22) - 1;
/// Bits of the word's low half that no valid word sets.
const INVALID_BITS: u64 = 0xffff_ffff & !TID_MASK & !WAITERS;
/// The futex is the word's low half (the thread id and the waiters bit).
const LOW_HALF: usize = if cfg!(target_endian = "little") { 0 } else { 4 };

/// Whether a lock word cannot have been written by a locker.
fn garbled(word: u64) -> bool {
    word & INVALID_BITS != 0 || (word != 0 && word & TID_MASK == 0)
}

/// The 32-bit start stamp of a thread that started `start` clock ticks
/// after boot: never 0 (0 is "unknown").
fn stamp_of(start: u64) -> u32 {
    (start as u32).max(1)
}

/// Who this thread is, as a stripe lock's word and record name it.
#[derive(Clone, Copy)]
struct Me {
    /// The owner word: start stamp in the high half, thread id in the low.
    word: u64,
    /// This process's pid namespace (the inode of `/proc/self/ns/pid`), 0
    /// if unknown.
    ns: u64,
}

thread_local! {
    /// This thread's identity, computed on its first lock; reset in a
    /// forked child (whose only thread has a new id).
    static ME: Cell<Me> = const { Cell::new(Me { word: 0, ns: 0 }) };
}

#[inline]
fn me() -> Me {
    let me = ME.get();
    if me.word != 0 {
        return me;
    }
    identify()
}

#[cold]
fn identify() -> Me {
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    static FORGOTTEN_AT_FORK: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    AT_FORK.call_once(|| {
        // SAFETY: registers a child handler that only resets a thread-local
        // `Cell` of the forking thread (no lock, no allocation, no
        // destructor), which is what a fork child may do.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_identity)) };
        FORGOTTEN_AT_FORK.store(rc == 0, Ordering::Relaxed);
    });
    let tid = thread_id();
    let stamp = thread_stat(tid).map_or(0, |s| stamp_of(s.start));
    let me = Me {
        word: (u64::from(stamp) << 32) | u64::from(tid),
        ns: pid_namespace().unwrap_or(0),
    };
    // Cached only if a fork child forgets it (pthread_atfork fails only for
    // lack of memory); else looked up on every lock, slow but right.
    if FORGOTTEN_AT_FORK.load(Ordering::Relaxed) {
        ME.set(me);
    }
    me
}

extern "C" fn forget_identity() {
    ME.set(Me { word: 0, ns: 0 });
}

/// What a waiter concludes about the thread a lock word names.
enum Holder {
    Alive,
    Dead,
    /// Recorded as a thread of another pid namespace.
    Foreign(u32),
}

/// Proof that this thread took a [`StripeLock`]: its identity as the word
/// names it (without the waiters bit), for [`StripeLock::unlock`].
#[derive(Clone, Copy)]
pub(crate) struct Owner(u64);

/// A stripe's lock: an owner word in shared memory, taken and released by
/// one compare-and-swap each when nobody else wants it.
///
/// The area (the first bytes of a stripe header, see "Stripe lock" in
/// `layout.rs`) holds the word (0 when free; else the holder's thread id,
/// the waiters bit, and in the high half the holder thread's start stamp),
/// the holder's record (a copy of its word and its pid namespace, written
/// just after the compare-and-swap) and a kind word. A locker that finds
/// the lock busy spins briefly, then sleeps on the word's low half (a
/// futex), at most a slice at a time; after each slice it tests whether
/// the named thread still exists with the same start time, and takes the
/// lock over from one that does not ([`Acquired::OwnerDied`]).
#[derive(Clone, Copy)]
pub(crate) struct StripeLock {
    area: *mut u8,
}

impl StripeLock {
    /// # Safety
    /// `area` must be 8-byte aligned, the start of a lock area of the
    /// layout's size inside a `MAP_SHARED` mapping that stays mapped while
    /// this handle is used, whose words are only accessed atomically.
    pub(crate) unsafe fn from_ptr(area: *mut u8) -> Self {
        StripeLock { area }
    }

    #[inline(always)]
    fn at(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: the offsets used are those of the layout's lock area,
        // 8-byte aligned words inside it (constructor contract), accessed
        // only atomically by every process.
        unsafe { AtomicU64::from_ptr(self.area.add(offset).cast()) }
    }

    #[inline(always)]
    fn word(&self) -> &AtomicU64 {
        self.at(STRIPE_LOCK_WORD_OFFSET)
    }

    fn futex(&self) -> *const u32 {
        // SAFETY: the word's low half lies inside the word (see `at`).
        unsafe { self.area.add(STRIPE_LOCK_WORD_OFFSET + LOW_HALF).cast() }
    }

    /// Makes the lock free and well formed.
    ///
    /// # Safety
    /// No other thread or process may hold this lock or take it during the
    /// call: the segment is not yet marked ready, or the lock is being
    /// taken over from a holder that is gone (`Segment::take_over_stripe`).
    pub(crate) unsafe fn init(&self) {
        self.at(STRIPE_LOCK_RECORD_OFFSET)
            .store(0, Ordering::Relaxed);
        self.at(STRIPE_LOCK_RECORD_NS_OFFSET)
            .store(0, Ordering::Relaxed);
        self.at(STRIPE_LOCK_KIND_OFFSET)
            .store(STRIPE_LOCK_KIND, Ordering::Relaxed);
        self.word().store(0, Ordering::Release);
        // Sleepers on the old word (a garbled one) look again.
        futex_wake(self.futex(), i32::MAX);
    }

    /// The thread the word names as holder, if it may be alive: alive in
    /// this pid namespace with the recorded start time, or of another
    /// namespace (which cannot be told). `None` if free, garbled, or the
    /// named thread is gone.
    pub(crate) fn live_holder(&self) -> Option<u32> {
        let w = self.word().load(Ordering::Acquire) & !WAITERS;
        if w == 0 || garbled(w) {
            return None;
        }
        // Called after a lock attempt waited its whole bound: a word still
        // without its record has been seen for long enough.
        match self.judge(w, &mut Some(w)) {
            Holder::Alive | Holder::Foreign(_) => Some((w & TID_MASK) as u32),
            Holder::Dead => None,
        }
    }

    /// Takes the lock, waiting at most `timeout`.
    #[inline(always)]
    pub(crate) fn lock(&self, timeout: Duration) -> Result<(Acquired, Owner), LockError> {
        let me = me();
        if self.at(STRIPE_LOCK_KIND_OFFSET).load(Ordering::Relaxed) != STRIPE_LOCK_KIND {
            return Err(LockError::Garbled);
        }
        let acquired =
            match self
                .word()
                .compare_exchange(0, me.word, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => Acquired::Clean,
                Err(_) => self.lock_slow(me, timeout)?,
            };
        // The record: namespace first, then the word it belongs to, so a
        // waiter that sees the word recorded (Acquire) sees the namespace.
        self.at(STRIPE_LOCK_RECORD_NS_OFFSET)
            .store(me.ns, Ordering::Relaxed);
        self.at(STRIPE_LOCK_RECORD_OFFSET)
            .store(me.word, Ordering::Release);
        Ok((acquired, Owner(me.word)))
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, me: Me, timeout: Duration) -> Result<Acquired, LockError> {
        let word = self.word();
        for _ in 0..SPINS {
            let w = word.load(Ordering::Relaxed);
            if w == 0 {
                if word
                    .compare_exchange(0, me.word, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(Acquired::Clean);
                }
            } else if garbled(w) {
                return Err(LockError::Garbled);
            }
            std::hint::spin_loop();
        }
        // Taken from here on with the waiters bit: others may sleep too.
        let mine = me.word | WAITERS;
        let start = Instant::now();
        // A bound too far to represent is no bound.
        let deadline = start.checked_add(timeout);
        let mut check_at = start + FIRST_CHECK.min(timeout / 2);
        let mut unrecorded = None;
        let mut foreign = None;
        loop {
            let w = word.load(Ordering::Relaxed);
            if w == 0 {
                match word.compare_exchange(0, mine, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Ok(Acquired::Clean),
                    Err(_) => continue,
                }
            }
            if garbled(w) {
                return Err(LockError::Garbled);
            }
            if w & WAITERS == 0
                && word
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let w = w | WAITERS;
            let now = Instant::now();
            if now >= check_at {
                match self.judge(w & !WAITERS, &mut unrecorded) {
                    Holder::Dead => {
                        // No ABA: the word names a thread judged dead by its
                        // id and start time; only that thread writes that
                        // word, and it will not come back.
                        match word.compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed) {
                            Ok(_) => return Ok(Acquired::OwnerDied),
                            Err(_) => continue,
                        }
                    }
                    Holder::Foreign(tid) => foreign = Some(tid),
                    Holder::Alive => foreign = None,
                }
                check_at = now + SLICE;
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(match foreign {
                    Some(tid) => LockError::Foreign {
                        tid,
                        waited: timeout,
                    },
                    None => LockError::TimedOut(timeout),
                });
            }
            futex_wait(
                self.futex(),
                w as u32,
                deadline
                    .map_or(check_at, |d| check_at.min(d))
                    .saturating_duration_since(now),
            );
        }
    }

    /// Whether the holder the word `w` (without the waiters bit) names is
    /// alive. `unrecorded` is a word seen without its record at the
    /// previous test (a slice ago).
    fn judge(&self, w: u64, unrecorded: &mut Option<u64>) -> Holder {
        let tid = (w & TID_MASK) as u32;
        let stamp = (w >> 32) as u32;
        let recorded = self.at(STRIPE_LOCK_RECORD_OFFSET).load(Ordering::Acquire) == w;
        if recorded {
            let ns = self
                .at(STRIPE_LOCK_RECORD_NS_OFFSET)
                .load(Ordering::Relaxed);
            let here = me().ns;
            if ns != 0 && here != 0 && ns != here {
                return Holder::Foreign(tid);
            }
        }
        let alive_here = match thread_stat(tid) {
            // A stamp of 0 is a holder that could not read its start time:
            // any thread of that id counts.
            Ok(s) => s.running && (stamp == 0 || stamp_of(s.start) == stamp),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            // No /proc: the thread's existence is all that can be told.
            Err(_) => thread_alive(tid),
        };
        if alive_here || recorded || stamp == 0 {
            return if alive_here {
                Holder::Alive
            } else {
                Holder::Dead
            };
        }
        // Not recorded, no such thread here: it died between its
        // compare-and-swap and its record, or it is a thread of another
        // namespace that is about to write its record. Dead only if the same
        // word is still without a record a slice later.
        if *unrecorded == Some(w) {
            Holder::Dead
        } else {
            *unrecorded = Some(w);
            Holder::Alive
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread holds the lock, taken by [`StripeLock::lock`]
    /// which returned `owner`.
    #[inline(always)]
    pub(crate) unsafe fn unlock(&self, owner: Owner) {
        // With the waiters bit set this fails, and the slow path clears the
        // word and wakes a sleeper.
        if self
            .word()
            .compare_exchange(owner.0, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(owner);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, owner: Owner) {
        let word = self.word();
        let mut cur = word.load(Ordering::Relaxed);
        // Ours, with or without the waiters bit (a waiter may set it).
        while cur & !WAITERS == owner.0 & !WAITERS {
            match word.compare_exchange(cur, 0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if cur & WAITERS != 0 {
                        futex_wake(self.futex(), 1);
                    }
                    return;
                }
                Err(now) => cur = now,
            }
        }
        // Not ours any more: stray bytes, or a waiter judged this thread
        // dead (see "what it cannot see"); its lock is left alone.
    }
}

/// A [`RobustMutex`] this thread holds (from [`RobustMutex::hold`]);
/// dropping it unlocks.
pub(crate) struct Held {
    mutex: RobustMutex,
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: a Held exists only while this thread holds the mutex
        // (made by `hold` after a successful lock), and is dropped once.
        unsafe { self.mutex.unlock() };
    }
}

/// A handle on a `pthread_mutex_t` in shared memory. Copies are fine: the
/// mutex itself is in the mapping, the handle is just its address.
#[derive(Clone, Copy)]
pub(crate) struct RobustMutex {
    raw: *mut libc::pthread_mutex_t,
}

impl RobustMutex {
    /// # Safety
    /// `raw` must be aligned for `pthread_mutex_t`, inside a `MAP_SHARED`
    /// mapping that stays mapped while this handle is used, and either
    /// initialised by [`RobustMutex::init`] or about to be.
    pub(crate) unsafe fn from_ptr(raw: *mut libc::pthread_mutex_t) -> Self {
        RobustMutex { raw }
    }

    /// Initialises the mutex as process-shared and robust.
    ///
    /// # Safety
    /// No other thread or process may hold this mutex or use it during the
    /// call: the segment is not yet marked ready, or the lock is being
    /// taken over from a holder that is gone (`Segment::take_over_stripe`).
    pub(crate) unsafe fn init(&self) -> io::Result<()> {
        let check = |rc: i32| match rc {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        };
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: attr is a valid place for the attribute object; it is
        // destroyed below after the mutex is initialised from it. `self.raw`
        // is valid and unshared per this function's contract.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let result = (|| {
                check(libc::pthread_mutexattr_setpshared(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_PROCESS_SHARED,
                ))?;
                check(libc::pthread_mutexattr_setrobust(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_MUTEX_ROBUST,
                ))?;
                check(libc::pthread_mutex_init(self.raw, attr.as_ptr()))
            })();
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Whether the mutex's constant bytes are those of a robust,
    /// process-shared normal mutex (where the layout is known; elsewhere
    /// always `true`). glibc takes other paths (priority inheritance,
    /// error checking) for other kinds, some of which abort the process on
    /// a lock word that makes no sense to them.
    pub(crate) fn looks_initialised(&self) -> bool {
        #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
        {
            // SAFETY: the kind word lies inside the mutex (constructor
            // contract), is 4-byte aligned, and is only read here: a racy
            // read of a word nobody writes after init is harmless.
            let kind = unsafe { self.word(glibc::KIND_OFFSET) }.load(Ordering::Relaxed);
            kind & glibc::KIND_CHECKED_MASK == glibc::KIND_ROBUST_NORMAL
                && kind & glibc::KIND_PSHARED != 0
                && kind & glibc::KIND_UNUSED == 0
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
        true
    }

    /// The thread id that the lock word names as holder, if any (where the
    /// layout is known).
    pub(crate) fn holder(&self) -> Option<u32> {
        #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
        {
            // SAFETY: as in `looks_initialised`; the lock word is accessed
            // atomically by every locker, an atomic load is what they do too.
            let word = unsafe { self.word(0) }.load(Ordering::Relaxed);
            let tid = word & glibc::TID_MASK;
            (tid != 0).then_some(tid as u32)
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
        None
    }

    /// # Safety
    /// `offset + 4 <= size_of::<pthread_mutex_t>()` and 4-byte aligned.
    #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
    unsafe fn word(&self, offset: usize) -> &AtomicI32 {
        // SAFETY: per the contract the word is inside the live mapping and
        // aligned; AtomicI32 has the layout of i32.
        unsafe { &*self.raw.cast::<u8>().add(offset).cast::<AtomicI32>() }
    }

    /// Takes the lock, waiting at most `timeout`.
    pub(crate) fn lock(&self, timeout: Duration) -> Result<Acquired, LockError> {
        if !self.looks_initialised() {
            return Err(LockError::Garbled);
        }
        // SAFETY: `raw` is a valid, initialised shared mutex (constructor
        // contract; its kind was checked above).
        let rc = match unsafe { libc::pthread_mutex_trylock(self.raw) } {
            // Busy: wait, up to the deadline (the clock is read only then).
            libc::EBUSY => {
                // pthread_mutex_timedlock takes an absolute CLOCK_REALTIME deadline.
                let deadline = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    + timeout;
                let deadline = libc::timespec {
                    tv_sec: deadline.as_secs() as libc::time_t,
                    tv_nsec: deadline.subsec_nanos() as libc::c_long,
                };
                // SAFETY: as above; the timespec lives for the call.
                unsafe { libc::pthread_mutex_timedlock(self.raw, &deadline) }
            }
            rc => rc,
        };
        match rc {
            0 => Ok(Acquired::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the lock (EOWNERDEAD returns it locked); marking
                // it consistent is what lets a later unlock keep it usable.
                let rc = unsafe { libc::pthread_mutex_consistent(self.raw) };
                match rc {
                    0 => Ok(Acquired::OwnerDied),
                    e => {
                        // Not left held: the next locker gets ENOTRECOVERABLE
                        // (a clear error) instead of waiting for us.
                        // SAFETY: this thread holds the lock (EOWNERDEAD above).
                        unsafe { self.unlock() };
                        Err(LockError::Pthread(e))
                    }
                }
            }
            libc::ETIMEDOUT => Err(LockError::TimedOut(timeout)),
            e => Err(LockError::Pthread(e)),
        }
    }

    /// Takes the lock like [`RobustMutex::lock`], held by the returned
    /// guard until it is dropped.
    pub(crate) fn hold(&self, timeout: Duration) -> Result<(Held, Acquired), LockError> {
        let acquired = self.lock(timeout)?;
        Ok((Held { mutex: *self }, acquired))
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread holds the lock, taken by [`RobustMutex::lock`]
    /// (unlocking a mutex held by someone else breaks their exclusion).
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (this function's contract).
        unsafe {
            libc::pthread_mutex_unlock(self.raw);
        }
    }
}

/// Sleeps while `word` holds `expected`, at most `timeout`, or until a
/// [`wake_all`] on the same word from any process. Returns at once if the
/// word already differs; may also return early (signal, spurious wake-up),
/// so callers re-check their condition.
pub(crate) fn wait_while(word: &AtomicU32, expected: u32, timeout: Duration) {
    futex_wait(word.as_ptr(), expected, timeout);
}

/// Wakes every process sleeping in [`wait_while`] on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    futex_wake(word.as_ptr(), i32::MAX);
}

/// `FUTEX_WAIT` on the `u32` at `word` (an aligned word of a shared
/// mapping, or of this process's memory).
fn futex_wait(word: *const u32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the kernel checks the address itself (EFAULT, never a write,
    // if it were not mapped); callers pass an aligned u32 of a live mapping.
    // FUTEX_WAIT (not the private variant) keys the wait on the underlying
    // page, so processes mapping the same segment meet on it. The kernel
    // only reads the word and the timespec. Errors (EAGAIN when the value
    // changed, EINTR, ETIMEDOUT) all mean "re-check", which callers do.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        );
    }
}

/// `FUTEX_WAKE` of at most `n` sleepers on `word`.
fn futex_wake(word: *const u32, n: i32) {
    // SAFETY: as for `futex_wait`; FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, n);
    }
}

/// `CLOCK_MONOTONIC` in milliseconds: one clock for every process of the
/// machine (watch leases are compared across processes), never set back.
pub(crate) fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call; the kernel
    // (vDSO) only writes it. CLOCK_MONOTONIC cannot fail on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

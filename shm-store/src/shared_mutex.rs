//! Synchronisation between processes through the segment: a robust,
//! process-shared pthread mutex per stripe, and futex waits and wake-ups on
//! a shared word (for the advisory locks' waiters).
//!
//! Robust means: when the holder dies (SIGKILL included), the kernel marks
//! the lock and the next `pthread_mutex_lock` returns `EOWNERDEAD` instead of
//! blocking forever; we then call `pthread_mutex_consistent` and the caller
//! repairs what the dead holder may have left half done.
//!
//! A mutex whose bytes were overwritten (a stray write, a bug) can look held
//! by a thread that does not exist, or not look like a mutex at all: a lock
//! attempt then waits at most a bound and fails with [`LockError`] instead
//! of hanging; `ephpm-shm verify --repair` re-initialises such a mutex
//! ([`RobustMutex::init`]) once no live thread is named as its holder.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

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
    /// Its bytes do not describe a robust, process-shared mutex.
    Garbled,
    /// Another pthread error (for example `ENOTRECOVERABLE`).
    Pthread(i32),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::TimedOut(d) => write!(f, "not obtained within {} s", d.as_secs_f64()),
            LockError::Garbled => write!(f, "its bytes are not a robust shared mutex"),
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
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call;
    // FUTEX_WAIT (not the private variant) keys the wait on the underlying
    // page, so processes mapping the same segment meet on it. The kernel
    // only reads the word and the timespec. Errors (EAGAIN when the value
    // changed, EINTR, ETIMEDOUT) all mean "re-check", which callers do.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        );
    }
}

/// Wakes every process sleeping in [`wait_while`] on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    // SAFETY: as for `wait_while`; FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
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

//! Synchronisation between processes through the segment: a robust,
//! process-shared pthread mutex per stripe, and futex waits and wake-ups on
//! a shared word (for the advisory locks' waiters).
//!
//! Robust means: when the holder dies (SIGKILL included), the kernel marks
//! the lock and the next `pthread_mutex_lock` returns `EOWNERDEAD` instead of
//! blocking forever; we then call `pthread_mutex_consistent` and the caller
//! repairs what the dead holder may have left half done.

use crate::error::StoreError;
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    Clean,
    /// The previous holder died holding it: the guarded data must be repaired.
    OwnerDied,
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
    /// No other thread or process may use this mutex during or before the
    /// call (the segment is not yet marked ready).
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

    /// Blocks until the lock is held by this thread.
    pub(crate) fn lock(&self) -> Result<Acquired, StoreError> {
        // SAFETY: `raw` is a valid, initialised shared mutex (constructor contract).
        match unsafe { libc::pthread_mutex_lock(self.raw) } {
            0 => Ok(Acquired::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the lock (EOWNERDEAD returns it locked); marking
                // it consistent is what lets a later unlock keep it usable.
                let rc = unsafe { libc::pthread_mutex_consistent(self.raw) };
                match rc {
                    0 => Ok(Acquired::OwnerDied),
                    e => Err(StoreError::LockFailed(e)),
                }
            }
            e => Err(StoreError::LockFailed(e)),
        }
    }

    /// Releases a lock taken by [`RobustMutex::lock`] on this thread.
    pub(crate) fn unlock(&self) {
        // SAFETY: only called by the guard that holds the lock.
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

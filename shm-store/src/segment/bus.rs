//! The SIGBUS guard: a segment file truncated under its mapping costs an
//! error, not the process. Touches signal handlers, atomics and the mapping.
//!
//! The SIGBUS guard. A segment is a plain file that any process of its
//! user can truncate (`truncate`, a `cp` over it, an editor): the kernel
//! then sends SIGBUS to every process that touches a mapped page past
//! the new end, which kills it. File seals, which would forbid that,
//! exist only for memfd files, not for a file opened by name; a lease
//! (`F_SETLEASE`) only delays a truncation by `lease-break-time`. So the
//! guard makes the fault survivable instead (as the JVM does for its
//! mapped buffers): a handler finds the faulting address in a mapped
//! segment, maps private zero pages over the rest of that mapping with
//! `MAP_FIXED` (nothing past the new end of the file was readable
//! anyway) and returns, so the access completes on zeros, and it flags
//! the mapping as lost. The store checks the flag after every locked
//! operation and before any lock-free read is trusted, and then fails
//! with [`StoreError::Truncated`](crate::StoreError::Truncated): the
//! process keeps running, and so do
//! the others, each of which meets the lost pages in its own time.
//! A SIGBUS for any other address, or with another cause (a signal
//! someone sent, a hardware memory error), goes to the handler that was
//! there before (or the default action: death, as without the guard).
//!
//! The handler touches only atomics and makes system calls: `sigaction`
//! and `raise` (async-signal-safe) and `mmap` (not on POSIX's list, but
//! on Linux glibc's wrapper is the bare system call, taking no lock). It
//! allocates nothing. The registry is a fixed table of atomics; a
//! process with more segments mapped at once than it holds goes without
//! the guard for the extra ones.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Mappings guarded at once per process.
const SLOTS: usize = 256;
/// `start` of a slot being claimed or released.
const BUSY: usize = usize::MAX;

/// One guarded mapping: `[start, end)`, and whether its file lost
/// pages under it. `start` 0: a free slot.
struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    lost: AtomicBool,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        lost: AtomicBool::new(false),
    }
}; SLOTS];

/// For mappings the guard does not hold.
static NEVER_LOST: AtomicBool = AtomicBool::new(false);

/// The flag of a mapping's entry, or one never set without an entry.
pub(super) fn lost_flag(guarded: Option<&Guarded>) -> &'static AtomicBool {
    guarded.map_or(&NEVER_LOST, |g| &g.slot.lost)
}

/// The action that was in place when the handler was installed (read
/// by the handler; set once, never freed), null before.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
/// Whether the handler is installed: once per process, on the first
/// mapping, and left in place (with no mapping in the table it only
/// chains), so the action it chains to is never freed under it.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// A mapping's slot in the table, released on drop.
pub(crate) struct Guarded {
    slot: &'static Slot,
}

/// Puts `map`'s range under the guard, installing the handler if it
/// is not; `None` if the table is full or the handler cannot be
/// installed.
pub(super) fn guard(map: &memmap2::MmapRaw) -> Option<Guarded> {
    let start = map.as_ptr() as usize;
    let end = start.checked_add(map.len())?;
    if start == 0 || start == BUSY || !*INSTALLED.get_or_init(install) {
        return None;
    }
    let slot = TABLE.iter().find(|s| {
        s.start
            .compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    })?;
    slot.lost.store(false, Ordering::Relaxed);
    slot.end.store(end, Ordering::Relaxed);
    // The range is complete before the handler can match it.
    slot.start.store(start, Ordering::Release);
    Some(Guarded { slot })
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Unmatched first, then emptied, then free for the next.
        self.slot.start.store(BUSY, Ordering::Release);
        self.slot.end.store(0, Ordering::Relaxed);
        self.slot.start.store(0, Ordering::Release);
    }
}

/// Installs the handler, keeping the previous action to chain to.
fn install() -> bool {
    // SAFETY: all-zero bytes are a valid `sigaction` (no handler, no
    // flags, an empty mask).
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: queries the current action into a local.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
        return false;
    }
    PREVIOUS.store(Box::into_raw(Box::new(previous)), Ordering::Release);
    // SAFETY: as above, zero bytes are a valid `sigaction`.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs a handler that is async-signal-safe (see the
    // module docs) and lives as long as the program (a static fn).
    unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0 }
}

/// The handler: a fault inside a guarded mapping is turned into zero
/// pages and a flag; anything else goes to the previous action.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: the same siginfo.
    let code = unsafe { (*info).si_code };
    // An access past the end of the mapped file (not a signal someone
    // sent, nor a hardware memory error, which keep their meaning).
    if code == libc::BUS_ADRERR {
        for slot in &TABLE {
            let start = slot.start.load(Ordering::Acquire);
            let end = slot.end.load(Ordering::Relaxed);
            if start == 0 || start == BUSY || addr < start || addr >= end {
                continue;
            }
            let page = addr & !(crate::layout::PAGE - 1);
            // SAFETY: [page, end) lies inside a mapping this process
            // made and has not unmapped (its slot is taken); every page
            // in it is past the file's end (the fault says so for this
            // one, and the file is only ever shorter beyond it), so
            // nothing readable is replaced. Zero pages are valid bytes
            // for every type the store reads from the segment.
            let mapped = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    end - page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                slot.lost.store(true, Ordering::Release);
                return;
            }
            break;
        }
    }
    chain(sig, info, ctx);
}

/// Hands the signal to the action that was there before the guard.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let previous = PREVIOUS.load(Ordering::Acquire);
    // SAFETY: non-null, it is the action read by `install`, never freed.
    let previous = (!previous.is_null()).then(|| unsafe { *previous });
    match previous {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: with SA_SIGINFO the field holds a
                // three-argument handler, called as the kernel would.
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                handler(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO it holds a one-argument handler.
                let handler: extern "C" fn(libc::c_int) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                handler(sig);
            }
        }
        _ => {
            // The default action: death. Restored, then the faulting
            // access runs again (or a sent signal is sent again, and
            // delivered once this handler returns).
            // SAFETY: zero bytes are a valid `sigaction`; SIG_DFL is 0.
            let default: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: sigaction and raise are async-signal-safe.
            unsafe {
                libc::sigaction(sig, &default, std::ptr::null_mut());
                // SAFETY: reads the kernel's siginfo, as above.
                if (*info).si_code <= 0 {
                    libc::raise(sig);
                }
            }
        }
    }
}

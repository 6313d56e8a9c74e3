//! The native session save handler `ephpm` (`session.save_handler = ephpm`).
//!
//! Sessions are stored under the keys of the composer package's default
//! (`php_session:<id>`, TTL `session.gc_maxlifetime`), so a site can switch
//! between the two handlers without logging anyone out.
//!
//! Locking (`ephpm_kv.session_locking`, on by default): `read` takes the
//! advisory lock `php_session:lock:<id>` with `shm_store::Store::lock` and
//! `close` releases it, so requests of one session run one at a time from
//! `session_start()` to `session_write_close()` or the end of the request.
//! Only the owner releases; a waiter takes over the lock of a dead worker
//! at once and is woken within microseconds of a release; a wait longer
//! than `ephpm_kv.session_lock_wait_ms` fails `session_start()` with a
//! warning and nothing of that request is written to the session.
//!
//! The lock has no TTL: a live request keeps it however long it runs.
//! Only a waiter in another pid namespace, which cannot see whether the
//! owner still runs, takes it over after [`LOCK_TTL`]. A lock lost all the
//! same (`ephpm_kv_flush_all()`, an eviction, such a takeover) makes
//! `write`, `touch` and `destroy` refuse with a warning ("session lock not
//! held"): they never overwrite what another request may have written.
//!
//! Nothing here calls into the engine: each callback puts its warnings
//! into a [`zend::Diagnostics`], raised by `zend::session_module` once the callback has
//! returned and `OPEN` is no longer borrowed, so that an error handler
//! that throws, exits or fails fatally finds every state put back. A lock
//! still held at the end of the request is released by [`end_of_request`].

use crate::{open_store, settings, zend};
use shm_store::{HeldLock, LockOutcome, Store};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use zend::Diagnostics;

/// Data keys: the composer handler's default prefix.
const DATA_PREFIX: &[u8] = b"php_session:";
/// Lock keys: the composer handler's lock prefix for that data prefix.
const LOCK_PREFIX: &[u8] = b"php_session:lock:";
/// A lock whose owner cannot be checked (a process in another pid
/// namespace sharing the segment) is taken over after this; any other is
/// kept as long as its owner runs and taken over as soon as it is gone.
const LOCK_TTL: Duration = Duration::from_secs(300);

/// Between `open` and `close`: the session store, and the lock if held.
struct OpenSession {
    store: &'static Store,
    lock: Option<HeldLock<'static>>,
}

thread_local! {
    static OPEN: RefCell<Option<OpenSession>> = const { RefCell::new(None) };
    /// The store of the last `open` in this request: `session_regenerate_id`
    /// draws the new id while the handler is closed.
    static LAST_STORE: Cell<Option<&'static Store>> = const { Cell::new(None) };
}

fn key(prefix: &[u8], id: &[u8]) -> Vec<u8> {
    [prefix, id].concat()
}

fn ttl(max_lifetime: i64) -> Option<Duration> {
    (max_lifetime > 0).then(|| Duration::from_secs(max_lifetime as u64))
}

/// The start of a session id, enough to tell sessions apart in a log
/// without writing a usable id into it.
fn short(id: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&id[..id.len().min(6)]).into_owned();
    if id.len() > 6 {
        shown + "…"
    } else {
        shown
    }
}

fn warn(d: &mut Diagnostics, message: &str) {
    d.warn(&format!("ephpm: {message}"));
}

/// Runs `op` on the open session's store; `None` (with a warning) if the
/// handler is not open. `op` must not call into the engine (it cannot: its
/// warnings go into `d`).
fn with_open<R>(
    d: &mut Diagnostics,
    op: impl FnOnce(&mut OpenSession, &mut Diagnostics) -> Option<R>,
) -> Option<R> {
    OPEN.with(|open| match open.try_borrow_mut() {
        Ok(mut open) => match open.as_mut() {
            Some(session) => op(session, d),
            None => {
                warn(d, "the session handler is not open");
                None
            }
        },
        // Not possible while no callback calls into the engine; a warning,
        // not a panic, should it ever be.
        Err(_) => {
            warn(d, "the session handler is busy (please report it)");
            None
        }
    })
}

/// Whether this request may change session `id`: without locking, always;
/// with it, only while the key of its lock still holds this request's
/// record (else a warning, and the caller refuses).
fn lock_still_held(session: &OpenSession, id: &[u8], what: &str, d: &mut Diagnostics) -> bool {
    let Some(lock) = &session.lock else {
        return true;
    };
    if lock.key() != key(LOCK_PREFIX, id) {
        return true;
    }
    match lock.is_held() {
        Ok(true) => true,
        Ok(false) => {
            warn(
                d,
                &format!(
                    "session lock not held: the lock on session {} was lost \
                     (flushed, evicted or taken over); not {what} it, as \
                     another request may have written it meanwhile",
                    short(id)
                ),
            );
            false
        }
        Err(e) => {
            warn(
                d,
                &format!("cannot check the lock on session {}: {e}", short(id)),
            );
            false
        }
    }
}

fn session_store(save_path: &str) -> Result<&'static Store, String> {
    if settings::names_main_store(save_path) {
        // The request's store, resolved once per request for the
        // ephpm_kv_* functions and the session alike.
        return crate::store();
    }
    open_store(settings::session_store(
        crate::configured_store()?,
        save_path,
    )?)
}

/// Releases the lock of the open session, if any.
fn release(session: &mut OpenSession, d: &mut Diagnostics) -> bool {
    let Some(lock) = session.lock.take() else {
        return true;
    };
    let id = lock.key()[LOCK_PREFIX.len()..].to_vec();
    match lock.release() {
        Ok(true) => true,
        Ok(false) => {
            warn(
                d,
                &format!(
                    "the lock on session {} was lost before it was released \
                     (flushed, evicted or taken over)",
                    short(&id)
                ),
            );
            true
        }
        Err(e) => {
            warn(
                d,
                &format!("cannot release the lock on session {}: {e}", short(&id)),
            );
            false
        }
    }
}

/// Takes the session's lock unless this request holds it already.
fn lock(session: &mut OpenSession, id: &[u8], wait: Duration, d: &mut Diagnostics) -> bool {
    let lock_key = key(LOCK_PREFIX, id);
    if session.lock.as_ref().is_some_and(|l| l.key() == lock_key) {
        return true;
    }
    release(session, d);
    match session.store.lock(&lock_key, wait, Some(LOCK_TTL)) {
        Ok(LockOutcome::Acquired(lock)) => {
            session.lock = Some(lock);
            true
        }
        Ok(LockOutcome::TimedOut { holder_pid }) => {
            let holder = holder_pid.map_or_else(
                || "another request".to_string(),
                |pid| format!("the request in pid {pid}"),
            );
            warn(
                d,
                &format!(
                    "gave up waiting for the lock on session {} after {} ms \
                     (ephpm_kv.session_lock_wait_ms), held by {holder}; the session \
                     is not started and this request writes nothing to it",
                    short(id),
                    wait.as_millis()
                ),
            );
            false
        }
        Err(e) => {
            warn(d, &format!("cannot lock session {}: {e}", short(id)));
            false
        }
    }
}

fn store_result<T>(
    d: &mut Diagnostics,
    what: &str,
    id: &[u8],
    result: shm_store::Result<T>,
) -> Option<T> {
    result
        .map_err(|e| warn(d, &format!("cannot {what} session {}: {e}", short(id))))
        .ok()
}

pub(crate) struct Handler;

impl zend::SaveHandler for Handler {
    fn open(save_path: &str, d: &mut Diagnostics) -> bool {
        match session_store(save_path) {
            Ok(store) => {
                LAST_STORE.with(|last| last.set(Some(store)));
                with_state(d, |open| {
                    // A second open without close keeps any lock held.
                    if open.as_ref().is_none_or(|s| !std::ptr::eq(s.store, store)) {
                        *open = Some(OpenSession { store, lock: None });
                    }
                    Some(())
                })
                .is_some()
            }
            Err(message) => {
                warn(d, &message);
                false
            }
        }
    }

    fn close(d: &mut Diagnostics) -> bool {
        with_state(d, |open| Some(open.take()))
            .flatten()
            .as_mut()
            .is_none_or(|session| release(session, d))
    }

    fn read(id: &[u8], _max_lifetime: i64, d: &mut Diagnostics) -> Option<Vec<u8>> {
        let wait = match settings::session_lock_wait(|s| zend::ini_value(s.name)) {
            Ok(wait) => wait,
            Err(message) => {
                warn(d, &message);
                return None;
            }
        };
        with_open(d, |session, d| {
            if let Some(wait) = wait {
                if !lock(session, id, wait, d) {
                    return None;
                }
            }
            let data = match session.store.get(&key(DATA_PREFIX, id)) {
                // Removed by the store: the session starts empty, with a warning.
                Err(e @ shm_store::StoreError::Corrupt { .. }) => {
                    warn(d, &format!("session {} was lost: {e}", short(id)));
                    Ok(None)
                }
                other => other,
            };
            let data = store_result(d, "read", id, data)?.unwrap_or_default();
            // Refused before PHP's string is allocated: session_start()
            // fails with a warning (and ext/session closes the handler,
            // which releases the lock) instead of the request ending.
            let fits = crate::string_fits(data.len(), || format!("session {}", short(id)));
            match fits {
                Ok(()) => Some(data),
                Err(message) => {
                    warn(d, &message);
                    None
                }
            }
        })
    }

    fn write(id: &[u8], data: &[u8], max_lifetime: i64, d: &mut Diagnostics) -> bool {
        with_open(d, |session, d| {
            if !lock_still_held(session, id, "writing", d) {
                return None;
            }
            let written = session
                .store
                .set(&key(DATA_PREFIX, id), data, ttl(max_lifetime));
            store_result(d, "write", id, written)
        })
        .is_some()
    }

    fn destroy(id: &[u8], d: &mut Diagnostics) -> bool {
        with_open(d, |session, d| {
            if !lock_still_held(session, id, "destroying", d) {
                return None;
            }
            let deleted = session.store.del(&key(DATA_PREFIX, id));
            store_result(d, "destroy", id, deleted)
        })
        .is_some()
    }

    fn exists(id: &[u8], d: &mut Diagnostics) -> bool {
        let store = OPEN
            .with(|open| open.try_borrow().ok()?.as_ref().map(|s| s.store))
            .or_else(|| LAST_STORE.with(Cell::get));
        store.is_some_and(|store| {
            store_result(d, "look up", id, store.exists(&key(DATA_PREFIX, id))).unwrap_or(false)
        })
    }

    fn touch(id: &[u8], data: &[u8], max_lifetime: i64, d: &mut Diagnostics) -> bool {
        with_open(d, |session, d| {
            if !lock_still_held(session, id, "refreshing", d) {
                return None;
            }
            let data_key = key(DATA_PREFIX, id);
            let refreshed = match ttl(max_lifetime) {
                Some(ttl) => store_result(d, "refresh", id, session.store.expire(&data_key, ttl))?,
                None => false,
            };
            // Gone meanwhile (evicted, expired) or no TTL: write it again.
            if refreshed {
                return Some(());
            }
            let written = session.store.set(&data_key, data, ttl(max_lifetime));
            store_result(d, "write", id, written)
        })
        .is_some()
    }
}

/// Runs `op` on the `OPEN` slot itself (open or not).
fn with_state<R>(
    d: &mut Diagnostics,
    op: impl FnOnce(&mut Option<OpenSession>) -> Option<R>,
) -> Option<R> {
    OPEN.with(|open| match open.try_borrow_mut() {
        Ok(mut open) => op(&mut open),
        Err(_) => {
            warn(d, "the session handler is busy (please report it)");
            None
        }
    })
}

/// End of request, after every module's shutdown (ext/session has closed
/// the session by then): a lock still held, after a fatal error in the
/// middle of a session callback for instance, is released here, silently
/// (PHP's output is gone by now).
pub(crate) fn end_of_request() {
    // `take` out of the cell first: the lock is released (dropped) with no
    // borrow live.
    let left = OPEN.with(|open| open.try_borrow_mut().ok().and_then(|mut o| o.take()));
    drop(left);
    LAST_STORE.with(|last| last.set(None));
}

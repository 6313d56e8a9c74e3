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

use crate::{open_store, settings, zend};
use shm_store::{HeldLock, LockOutcome, Store};
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Data keys: the composer handler's default prefix.
const DATA_PREFIX: &[u8] = b"php_session:";
/// Lock keys: the composer handler's lock prefix for that data prefix.
const LOCK_PREFIX: &[u8] = b"php_session:lock:";
/// A lock whose owner cannot be checked (a process in another pid
/// namespace sharing the segment) ends after this; any other is taken over
/// as soon as its owner is gone.
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

fn warn(message: &str) {
    zend::warn(&format!("ephpm: {message}"));
}

/// Runs `op` on the open session's store; `None` (with a warning) if the
/// handler is not open.
fn with_open<R>(op: impl FnOnce(&mut OpenSession) -> Option<R>) -> Option<R> {
    OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(session) => op(session),
        None => {
            warn("the session handler is not open");
            None
        }
    })
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
fn release(session: &mut OpenSession) -> bool {
    let Some(lock) = session.lock.take() else {
        return true;
    };
    let id = lock.key()[LOCK_PREFIX.len()..].to_vec();
    match lock.release() {
        Ok(true) => true,
        Ok(false) => {
            warn(&format!(
                "the lock on session {} had expired before it was released; \
                 another request may have used the session meanwhile",
                short(&id)
            ));
            true
        }
        Err(e) => {
            warn(&format!(
                "cannot release the lock on session {}: {e}",
                short(&id)
            ));
            false
        }
    }
}

/// Takes the session's lock unless this request holds it already.
fn lock(session: &mut OpenSession, id: &[u8], wait: Duration) -> bool {
    let lock_key = key(LOCK_PREFIX, id);
    if session.lock.as_ref().is_some_and(|l| l.key() == lock_key) {
        return true;
    }
    release(session);
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
            warn(&format!(
                "gave up waiting for the lock on session {} after {} ms \
                 (ephpm_kv.session_lock_wait_ms), held by {holder}; the session \
                 is not started and this request writes nothing to it",
                short(id),
                wait.as_millis()
            ));
            false
        }
        Err(e) => {
            warn(&format!("cannot lock session {}: {e}", short(id)));
            false
        }
    }
}

fn store_result<T>(what: &str, id: &[u8], result: shm_store::Result<T>) -> Option<T> {
    result
        .map_err(|e| warn(&format!("cannot {what} session {}: {e}", short(id))))
        .ok()
}

pub struct Handler;

impl zend::SaveHandler for Handler {
    fn open(save_path: &str) -> bool {
        match session_store(save_path) {
            Ok(store) => {
                LAST_STORE.with(|last| last.set(Some(store)));
                OPEN.with(|open| {
                    // A second open without close keeps any lock held.
                    let mut open = open.borrow_mut();
                    if open.as_ref().is_none_or(|s| !std::ptr::eq(s.store, store)) {
                        *open = Some(OpenSession { store, lock: None });
                    }
                });
                true
            }
            Err(message) => {
                warn(&message);
                false
            }
        }
    }

    fn close() -> bool {
        OPEN.with(|open| open.borrow_mut().take())
            .as_mut()
            .is_none_or(release)
    }

    fn read(id: &[u8], _max_lifetime: i64) -> Option<Vec<u8>> {
        let wait = match settings::session_lock_wait(|s| zend::ini_value(s.name)) {
            Ok(wait) => wait,
            Err(message) => {
                warn(&message);
                return None;
            }
        };
        with_open(|session| {
            if let Some(wait) = wait {
                if !lock(session, id, wait) {
                    return None;
                }
            }
            let data = session.store.get(&key(DATA_PREFIX, id));
            store_result("read", id, data).map(Option::unwrap_or_default)
        })
    }

    fn write(id: &[u8], data: &[u8], max_lifetime: i64) -> bool {
        with_open(|session| {
            let written = session
                .store
                .set(&key(DATA_PREFIX, id), data, ttl(max_lifetime));
            store_result("write", id, written)
        })
        .is_some()
    }

    fn destroy(id: &[u8]) -> bool {
        with_open(|session| store_result("destroy", id, session.store.del(&key(DATA_PREFIX, id))))
            .is_some()
    }

    fn exists(id: &[u8]) -> bool {
        let store = OPEN
            .with(|open| open.borrow().as_ref().map(|s| s.store))
            .or_else(|| LAST_STORE.with(Cell::get));
        store.is_some_and(|store| {
            store_result("look up", id, store.exists(&key(DATA_PREFIX, id))).unwrap_or(false)
        })
    }

    fn touch(id: &[u8], data: &[u8], max_lifetime: i64) -> bool {
        with_open(|session| {
            let data_key = key(DATA_PREFIX, id);
            let refreshed = match ttl(max_lifetime) {
                Some(ttl) => store_result("refresh", id, session.store.expire(&data_key, ttl))?,
                None => false,
            };
            // Gone meanwhile (evicted, expired) or no TTL: write it again.
            if refreshed {
                return Some(());
            }
            store_result(
                "write",
                id,
                session.store.set(&data_key, data, ttl(max_lifetime)),
            )
        })
        .is_some()
    }
}

/// End of request, after every module's shutdown (ext/session has closed
/// the session by then): a lock still held, after a fatal error in the
/// middle of a session callback for instance, is released here, silently
/// (PHP's output is gone by now).
pub fn end_of_request() {
    drop(OPEN.with(|open| open.borrow_mut().take()));
    LAST_STORE.with(|last| last.set(None));
}

//! Which store a request uses, opened once per process and configuration
//! (a `'static` handle), and the locks `apcu_entry` holds during a request.

use crate::settings::{self, Place, Serializer};
use crate::zend;
use shm_store::{HeldLock, Store, StoreConfig};
use std::cell::{Cell, RefCell};
use std::sync::{Mutex, OnceLock};

/// Every shared store this process opened, by configuration. Stores stay
/// mapped until the process exits.
static OPENED: Mutex<Vec<(StoreConfig, &'static Store)>> = Mutex::new(Vec::new());

/// php-cli's private store (no `apc.name`): made once per process.
static PRIVATE: OnceLock<Result<&'static Store, String>> = OnceLock::new();

/// What the settings of this request give.
#[derive(Clone, Copy)]
pub(crate) enum Current {
    /// The API is disabled: every function fails quietly.
    Disabled,
    /// This store.
    Store(&'static Store, Serializer),
}

thread_local! {
    /// The store of this request once resolved (reset by RINIT).
    static THIS_REQUEST: Cell<Option<Current>> = const { Cell::new(None) };
    /// Why there is no store, if opening it failed this request.
    static FAILED: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The locks `apcu_entry` holds now (released at the latest when the request ends).
    static ENTRY_LOCKS: RefCell<Vec<HeldLock<'static>>> = const { RefCell::new(Vec::new()) };
}

/// The serializer `apc.serializer` names (php when it names none this
/// module knows, or igbinary is not loaded; MINIT warns of both).
pub(crate) fn serializer() -> Serializer {
    match settings::serializer(&zend::ini_value(settings::SERIALIZER.name)) {
        Ok(Serializer::Igbinary) if zend::registered_module("igbinary").is_some() => {
            Serializer::Igbinary
        }
        _ => Serializer::Php,
    }
}

/// Where the settings put this process's store.
pub(crate) fn place() -> Result<Place, String> {
    settings::resolve(&zend::sapi_name(), |s| zend::ini_value(s.name))
}

/// The store of this request (opened on first use in the worker, never in
/// php-fpm's master), `Disabled`, or why it is unavailable.
#[inline]
pub(crate) fn current() -> Result<Current, String> {
    match THIS_REQUEST.get() {
        Some(current) => Ok(current),
        None => resolve(),
    }
}

/// [`current`] on the first call of a request: the settings read, the
/// store opened (or why not), the outcome kept for the request.
#[cold]
#[inline(never)]
fn resolve() -> Result<Current, String> {
    if let Some(e) = FAILED.with(|f| f.borrow().clone()) {
        return Err(e);
    }
    let resolved = place().and_then(|place| match place {
        Place::Disabled => Ok(Current::Disabled),
        Place::Shared(config) => open_shared(config).map(|s| Current::Store(s, serializer())),
        Place::Private(config) => open_private(config).map(|s| Current::Store(s, serializer())),
    });
    match &resolved {
        Ok(current) => THIS_REQUEST.set(Some(*current)),
        Err(e) => FAILED.with(|f| *f.borrow_mut() = Some(e.clone())),
    }
    resolved
}

/// Whether the API is enabled by the settings (without opening anything).
pub(crate) fn enabled() -> bool {
    matches!(place(), Ok(Place::Shared(_) | Place::Private(_)))
}

fn open_shared(config: StoreConfig) -> Result<&'static Store, String> {
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, store)) = opened.iter().find(|(c, _)| *c == config) {
        return Ok(store);
    }
    let store = Store::open(&config)
        .map_err(|e| format!("the APCu store {:?} is unavailable: {e}", config.name))?;
    let store: &'static Store = Box::leak(Box::new(store));
    opened.push((config, store));
    Ok(store)
}

/// A store only this process sees: made in a fresh directory of its own
/// (in /dev/shm, else the temporary directory), which is removed at once;
/// the mapping stays until the process exits.
fn open_private(config: StoreConfig) -> Result<&'static Store, String> {
    PRIVATE
        .get_or_init(|| {
            let mut problems = Vec::new();
            for parent in [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()] {
                match open_private_in(&parent, &config) {
                    Ok(store) => return Ok(&*Box::leak(Box::new(store))),
                    Err(e) => problems.push(e),
                }
            }
            Err(format!(
                "the private APCu store of this process is unavailable: {}",
                problems.join("; ")
            ))
        })
        .clone()
}

fn open_private_in(parent: &std::path::Path, config: &StoreConfig) -> Result<Store, String> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = parent.join(format!("ephpm-apcu-cli.{}.{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let opened = Store::open(&config.clone().dir(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    opened.map_err(|e| format!("{}: {e}", dir.display()))
}

/// Resets the per-request state (RINIT).
pub(crate) fn request_start() {
    THIS_REQUEST.set(None);
    FAILED.with(|f| f.borrow_mut().take());
}

/// Releases every lock still held and flushes the hit counts (request end).
pub(crate) fn request_end() {
    let held = ENTRY_LOCKS.with(|l| std::mem::take(&mut *l.borrow_mut()));
    drop(held);
    let opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    for (_, store) in opened.iter() {
        store.flush_stats();
    }
    drop(opened);
    if let Some(Ok(store)) = PRIVATE.get() {
        store.flush_stats();
    }
}

/// The lock key of `apcu_entry` on `key` (store keys starting with
/// [`RESERVED_PREFIX`] are this module's, hidden from the API).
pub(crate) fn entry_lock_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(ENTRY_LOCK_PREFIX.len() + key.len());
    k.extend_from_slice(ENTRY_LOCK_PREFIX);
    k.extend_from_slice(key);
    k
}

/// The prefix of [`entry_lock_key`].
const ENTRY_LOCK_PREFIX: &[u8] = b"\0apcu.entry\0";

/// Store keys of this module's own (a user key never starts so).
pub(crate) const RESERVED_PREFIX: &[u8] = b"\0apcu.";

/// Where the empty key (which APCu takes and the store does not) is kept.
pub(crate) const EMPTY_KEY: &[u8] = b"\0apcu.empty";

/// Keeps `lock` in request state while user code runs.
pub(crate) fn park_lock(lock: HeldLock<'static>) {
    ENTRY_LOCKS.with(|l| l.borrow_mut().push(lock));
}

/// Whether this request holds the entry lock `lock_key` now.
pub(crate) fn holds_lock(lock_key: &[u8]) -> bool {
    ENTRY_LOCKS.with(|l| l.borrow().iter().any(|h| h.key() == lock_key))
}

/// Takes the parked lock `lock_key` back (to release it).
pub(crate) fn unpark_lock(lock_key: &[u8]) -> Option<HeldLock<'static>> {
    ENTRY_LOCKS.with(|l| {
        let mut locks = l.borrow_mut();
        let i = locks.iter().rposition(|h| h.key() == lock_key)?;
        Some(locks.remove(i))
    })
}

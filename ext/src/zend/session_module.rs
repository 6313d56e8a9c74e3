//! The session module ABI: ext/session's `ps_module` table, filled with
//! callbacks that run a [`SaveHandler`] in safe terms and raise its
//! warnings only after it has returned.

use super::{engine, resume_bailout, Bailout, Diagnostics, ZendLong, SUCCESS};
use ext_php_rs::ffi::{zend_result, zend_string, ZEND_MODULE_API_NO};
use ext_php_rs::types::ZendStr;
use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// ext/session, which this module requires (so it is started first).
extern "C" {
    fn php_session_register_module(module: *const PsModule) -> c_int;
    fn php_session_create_id(mod_data: *mut *mut c_void) -> *mut zend_string;
}

/// The callbacks of a session save handler, in safe terms. Ids and data
/// are PHP's strings as bytes; a `false`/`None` result makes PHP's session
/// function fail. A callback never calls into the engine: it puts what to
/// warn about into `d`, and the warnings are raised after it has returned.
pub(crate) trait SaveHandler {
    fn open(save_path: &str, d: &mut Diagnostics) -> bool;
    fn close(d: &mut Diagnostics) -> bool;
    /// The session's data, empty for a new session.
    fn read(id: &[u8], max_lifetime: i64, d: &mut Diagnostics) -> Option<Vec<u8>>;
    fn write(id: &[u8], data: &[u8], max_lifetime: i64, d: &mut Diagnostics) -> bool;
    fn destroy(id: &[u8], d: &mut Diagnostics) -> bool;
    /// Whether a session with this id exists (`session.use_strict_mode`).
    fn exists(id: &[u8], d: &mut Diagnostics) -> bool;
    /// Keeps an unchanged session alive (`session.lazy_write`).
    fn touch(id: &[u8], data: &[u8], max_lifetime: i64, d: &mut Diagnostics) -> bool;
}

/// Whether ext/session passes `open` its save path and session name as
/// `zend_string *` rather than C strings: PHP 8.6 changed `PS_OPEN_ARGS`
/// in ext/session/php_session.h (`const char *save_path, const char
/// *session_name` up to 8.5, `zend_string *save_path, zend_string
/// *session_name` from 8.6) without a new `PHP_SESSION_API` (20161017 in
/// both), so the module API number tells: 20250925 is PHP 8.5's, any later
/// one is 8.6's development or release (20260924).
const OPEN_TAKES_ZEND_STRINGS: bool = ZEND_MODULE_API_NO > 20250925;

/// `ps_module` of ext/session/php_session.h (PHP 8.x).
#[repr(C)]
struct PsModule {
    name: *const c_char,
    /// The two pointers are C strings or `zend_string`s, as
    /// [`OPEN_TAKES_ZEND_STRINGS`] says (the same ABI either way).
    open: unsafe extern "C" fn(*mut *mut c_void, *const c_void, *const c_void) -> zend_result,
    close: unsafe extern "C" fn(*mut *mut c_void) -> zend_result,
    read: unsafe extern "C" fn(
        *mut *mut c_void,
        *mut zend_string,
        *mut *mut zend_string,
        ZendLong,
    ) -> zend_result,
    write: unsafe extern "C" fn(
        *mut *mut c_void,
        *mut zend_string,
        *mut zend_string,
        ZendLong,
    ) -> zend_result,
    destroy: unsafe extern "C" fn(*mut *mut c_void, *mut zend_string) -> zend_result,
    gc: unsafe extern "C" fn(*mut *mut c_void, ZendLong, *mut ZendLong) -> ZendLong,
    create_sid: unsafe extern "C" fn(*mut *mut c_void) -> *mut zend_string,
    validate_sid: unsafe extern "C" fn(*mut *mut c_void, *mut zend_string) -> zend_result,
    update_timestamp: unsafe extern "C" fn(
        *mut *mut c_void,
        *mut zend_string,
        *mut zend_string,
        ZendLong,
    ) -> zend_result,
}

const FAILURE: zend_result = -1;

/// What ext/session sees as the handler's open state: any non-null pointer
/// (PHP's own `SessionHandler` class refuses to forward calls while it is null).
static OPEN_MARKER: u8 = 0;

fn result(ok: bool) -> zend_result {
    if ok {
        SUCCESS
    } else {
        FAILURE
    }
}

/// Runs a callback; a panic becomes a warning and `failure`, never an
/// unwind into PHP.
fn guarded<R>(d: &mut Diagnostics, failure: R, callback: impl FnOnce(&mut Diagnostics) -> R) -> R {
    match catch_unwind(AssertUnwindSafe(|| callback(d))) {
        Ok(r) => r,
        Err(_) => {
            d.warn("internal error in the ephpm session handler (please report it)");
            failure
        }
    }
}

/// Raises a callback's warnings (and runs `then`, an allocation for
/// PHP) once the callback has returned; a bailout in there is resumed
/// after the warnings are dropped.
///
/// # Safety
/// Called by a session callback that the engine called, as its last step,
/// with nothing else on its frame to drop.
unsafe fn finish<R>(d: Diagnostics, then: impl FnOnce() -> R) -> R {
    let done = engine(|| {
        d.raise();
        then()
    });
    drop(d);
    match done {
        Ok(r) => r,
        // SAFETY: per the contract; `d` is dropped.
        Err(Bailout) => unsafe { resume_bailout() },
    }
}

/// # Safety
/// `s` is a valid zend_string that outlives the returned slice.
unsafe fn zstr<'a>(s: *mut zend_string) -> &'a [u8] {
    // SAFETY: per the contract; ZendStr is zend_string.
    unsafe { (*s).as_bytes() }
}

unsafe extern "C" fn ps_open<H: SaveHandler>(
    mod_data: *mut *mut c_void,
    save_path: *const c_void,
    _session_name: *const c_void,
) -> zend_result {
    let path: Cow<'_, str> = if OPEN_TAKES_ZEND_STRINGS {
        // SAFETY: ext/session of PHP 8.6 on passes its current
        // session.save_path as a zend_string, valid during the call.
        String::from_utf8_lossy(unsafe { zstr(save_path.cast_mut().cast()) })
    } else {
        // SAFETY: ext/session up to PHP 8.5 passes its current
        // session.save_path as a C string, valid during the call.
        unsafe { CStr::from_ptr(save_path.cast()) }.to_string_lossy()
    };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::open(&path, d));
    drop(path);
    if ok {
        // SAFETY: mod_data is ext/session's slot for this handler.
        unsafe { *mod_data = ptr::addr_of!(OPEN_MARKER).cast_mut().cast() };
    }
    // SAFETY: the last step; `path` is dropped.
    unsafe { finish(d, || result(ok)) }
}

unsafe extern "C" fn ps_close<H: SaveHandler>(mod_data: *mut *mut c_void) -> zend_result {
    // SAFETY: as in ps_open.
    unsafe { *mod_data = ptr::null_mut() };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::close(d));
    // SAFETY: the last step.
    unsafe { finish(d, || result(ok)) }
}

unsafe extern "C" fn ps_read<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
    val: *mut *mut zend_string,
    max_lifetime: ZendLong,
) -> zend_result {
    // SAFETY: ext/session passes the session id, valid during the call.
    let id = unsafe { zstr(key) };
    let mut d = Diagnostics::default();
    let data = guarded(&mut d, None, |d| H::read(id, max_lifetime, d));
    let raised = engine(|| d.raise());
    drop(d);
    if raised.is_err() {
        drop(data);
        // SAFETY: the warnings and the data are dropped; `id` only borrows.
        unsafe { resume_bailout() }
    }
    let Some(data) = data else {
        return FAILURE;
    };
    // The string for PHP is allocated only now, after the warnings, with
    // no store lock or Rust state taken: a memory_limit failure here ends
    // the request and leaves nothing held.
    let made = engine(|| ZendStr::new(&data, false).into_raw());
    drop(data);
    match made {
        Ok(string) => {
            // SAFETY: `val` is where ext/session expects a new string it owns.
            unsafe { *val = string };
            SUCCESS
        }
        // SAFETY: the data is dropped.
        Err(Bailout) => unsafe { resume_bailout() },
    }
}

unsafe extern "C" fn ps_write<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
    val: *mut zend_string,
    max_lifetime: ZendLong,
) -> zend_result {
    // SAFETY: both strings are ext/session's, valid during the call.
    let (id, data) = unsafe { (zstr(key), zstr(val)) };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::write(id, data, max_lifetime, d));
    // SAFETY: the last step.
    unsafe { finish(d, || result(ok)) }
}

unsafe extern "C" fn ps_destroy<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
) -> zend_result {
    // SAFETY: as in ps_read.
    let id = unsafe { zstr(key) };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::destroy(id, d));
    // SAFETY: the last step.
    unsafe { finish(d, || result(ok)) }
}

/// Nothing to collect: the store expires sessions by their TTL.
unsafe extern "C" fn ps_gc(
    _mod_data: *mut *mut c_void,
    _max_lifetime: ZendLong,
    deleted: *mut ZendLong,
) -> ZendLong {
    if !deleted.is_null() {
        // SAFETY: ext/session passes a valid counter or null.
        unsafe { *deleted = 0 };
    }
    0
}

/// PHP's own id generator (honouring `session.sid_length` and
/// `session.sid_bits_per_character`), drawn again if the id is taken.
unsafe extern "C" fn ps_create_sid<H: SaveHandler>(mod_data: *mut *mut c_void) -> *mut zend_string {
    for _ in 0..3 {
        // SAFETY: forwards ext/session's own arguments to its generator.
        let id = match engine(|| unsafe { php_session_create_id(mod_data) }) {
            Ok(id) if !id.is_null() => id,
            Ok(null) => return null,
            // SAFETY: nothing of ours is held here.
            Err(Bailout) => unsafe { resume_bailout() },
        };
        let mut d = Diagnostics::default();
        // SAFETY: a non-null result is a new string that we own.
        let taken = guarded(&mut d, false, |d| H::exists(unsafe { zstr(id) }, d));
        // SAFETY: a step on a clean frame (`d` is moved in); on a bailout
        // the id string is left to the engine's request memory.
        let taken = unsafe { finish(d, || taken) };
        if !taken {
            return id;
        }
        // SAFETY: ours, and not handed to anyone.
        unsafe { ext_php_rs::ffi::ext_php_rs_zend_string_release(id) };
    }
    // SAFETY: as above; three collisions in a row mean a broken generator,
    // which PHP then reports itself.
    unsafe { php_session_create_id(mod_data) }
}

unsafe extern "C" fn ps_validate_sid<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
) -> zend_result {
    // SAFETY: as in ps_read.
    let id = unsafe { zstr(key) };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::exists(id, d));
    // SAFETY: the last step.
    unsafe { finish(d, || result(ok)) }
}

unsafe extern "C" fn ps_update_timestamp<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
    val: *mut zend_string,
    max_lifetime: ZendLong,
) -> zend_result {
    // SAFETY: as in ps_write.
    let (id, data) = unsafe { (zstr(key), zstr(val)) };
    let mut d = Diagnostics::default();
    let ok = guarded(&mut d, false, |d| H::touch(id, data, max_lifetime, d));
    // SAFETY: the last step.
    unsafe { finish(d, || result(ok)) }
}

/// Makes `session.save_handler = <name>` use `H`; called from MINIT (after
/// ext/session's, which the module entry requires).
pub(crate) fn register_session_module<H: SaveHandler>(name: &'static CStr) -> bool {
    let module: &'static PsModule = Box::leak(Box::new(PsModule {
        name: name.as_ptr(),
        open: ps_open::<H>,
        close: ps_close::<H>,
        read: ps_read::<H>,
        write: ps_write::<H>,
        destroy: ps_destroy::<H>,
        gc: ps_gc,
        create_sid: ps_create_sid::<H>,
        validate_sid: ps_validate_sid::<H>,
        update_timestamp: ps_update_timestamp::<H>,
    }));
    // SAFETY: the module description is leaked, so it lives as long as
    // ext/session keeps the pointer (the whole process).
    unsafe { php_session_register_module(module) == SUCCESS }
}

//! Everything of this module that touches the Zend engine through raw
//! pointers or foreign functions: the function entry points, arguments,
//! warnings and exceptions, ini lookups, the module registry, phpinfo.
//! The only module with `unsafe`. The rest of the crate uses ext-php-rs's
//! safe types (`Zval`, `ZendHashTable`, `ZendStr`) and the calls here.
//!
//! The engine boundary: a call into the engine that can run PHP code (a
//! warning reaches the user's error handler; a serializer runs `__sleep`,
//! `__serialize`; a callback is user code) or allocate (memory_limit) may
//! end in a bailout, a `longjmp` that skips Rust frames without running
//! their destructors. Every such call goes through [`engine`] (ext-php-rs's
//! `try_catch`), which turns the bailout into [`Bailout`]; that travels up
//! like any error, dropping what the frames own (store locks, borrows,
//! buffers), and [`entry`], the function the engine called, resumes it
//! once nothing of ours is left on the stack. No store lock or `RefCell`
//! borrow is held across an [`engine`] call (the callers keep to that).

pub(crate) mod class;

use ext_php_rs::ffi::{
    php_error_docref, php_info_print_table_end, php_info_print_table_row,
    php_info_print_table_start, zend_hash_str_find, zend_module_entry, zend_reference, E_WARNING,
};
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use ext_php_rs::zend::{ExecuteData, Function, ModuleEntry, SapiModule};
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

extern "C" {
    /// The loaded modules by lowercase name (Zend/zend_API.c).
    static mut module_registry: ZendHashTable;
    fn zend_ini_string_ex(
        name: *const c_char,
        len: usize,
        orig: c_int,
        exists: *mut bool,
    ) -> *mut c_char;
    fn display_ini_entries(module: *mut zend_module_entry);
    /// Zend/zend_execute.c: assigns to a reference, checking the types of
    /// the typed properties it is bound to (a `TypeError` if one refuses).
    /// Zend/zend_execute_API.c: the running function's name.
    fn get_active_function_name() -> *const c_char;
    fn zend_try_assign_typed_ref_bool(reference: *mut zend_reference, value: bool) -> c_int;
}

/// The engine bailed out during a call into it: returned up to [`entry`],
/// which resumes the bailout.
#[derive(Debug)]
#[must_use]
pub(crate) struct Bailout;

/// Runs one call into the engine under `zend_try`.
pub(crate) fn engine<R>(call: impl FnOnce() -> R) -> Result<R, Bailout> {
    match ext_php_rs::zend::try_catch(AssertUnwindSafe(call)) {
        Ok(r) => Ok(r),
        Err(ext_php_rs::zend::CatchError::Bailout) => Err(Bailout),
        // A panic in our own closure: carried on to `entry`'s catch_unwind.
        Err(other) => std::panic::panic_any(other.to_string()),
    }
}

/// Re-raises a bailout that [`engine`] caught.
///
/// # Safety
/// Called by an entry point that the engine called, with every value of
/// its own frame that has a destructor dropped already.
unsafe fn resume_bailout() -> ! {
    // SAFETY: per the contract, no Rust frame that the jump skips owns
    // anything; the engine's own `zend_try` is the target.
    unsafe { ext_php_rs::zend::bailout() }
}

/// A PHP function's body: its arguments and return slot.
pub(crate) type Body = fn(&Args<'_>, &mut Zval) -> Result<(), Bailout>;

/// The entry point of every PHP function of this module: runs `body`; a
/// Rust panic becomes a warning, a bailout is resumed after `body` has
/// returned (and dropped all it had).
pub(crate) fn entry(ex: &mut ExecuteData, rv: &mut Zval, body: Body) {
    let args = Args::new(ex);
    let done = catch_unwind(AssertUnwindSafe(|| body(&args, rv)));
    let bailed = match done {
        Ok(Ok(())) => false,
        Ok(Err(Bailout)) => true,
        Err(_) => warn("internal error in ephpm-apcu (please report it)").is_err(),
    };
    if bailed {
        // SAFETY: `body` has returned; this frame holds borrows only.
        unsafe { resume_bailout() }
    }
}

/// Bytes of this many at most are returned through a [`Pending`].
pub(crate) const PENDING_MAX: usize = 256;

/// A string a body leaves for its entry point ([`entry_pending`]) to
/// return: bytes in a buffer on the entry point's frame, with no
/// destructor, so the allocation of the PHP string can happen there with
/// nothing of Rust's left to skip.
pub(crate) struct Pending {
    buf: [u8; PENDING_MAX],
    range: Option<(usize, usize)>,
}

impl Pending {
    /// The buffer to read a value into.
    pub(crate) fn buffer(&mut self) -> &mut [u8; PENDING_MAX] {
        &mut self.buf
    }

    /// Makes `buffer()[start..end]` the return value (the body leaves
    /// the return slot untouched).
    pub(crate) fn return_string(&mut self, start: usize, end: usize) {
        self.range = Some((start, end));
    }
}

/// A PHP function's body that may return a string through a [`Pending`].
pub(crate) type PendingBody = fn(&Args<'_>, &mut Zval, &mut Pending) -> Result<(), Bailout>;

/// The entry point of a function with a [`PendingBody`] (`apcu_fetch`):
/// as [`entry`], then the string the body left is made in the return slot.
/// That allocation is not under `zend_try`: made on this frame, after the
/// body returned and dropped all it had, where only borrows of the
/// engine's and plain bytes are left, so a bailout (memory_limit) skips
/// nothing that needed dropping, as [`resume_bailout`] does (the same
/// exception ephpm_kv's reads make on their hot path). It saves the
/// `zend_try` of a hit, about a fifth of a small fetch.
pub(crate) fn entry_pending(ex: &mut ExecuteData, rv: &mut Zval, body: PendingBody) {
    let args = Args::new(ex);
    let mut pending = Pending {
        buf: [0; PENDING_MAX],
        range: None,
    };
    let done = catch_unwind(AssertUnwindSafe(|| body(&args, rv, &mut pending)));
    let bailed = match done {
        Ok(Ok(())) => false,
        Ok(Err(Bailout)) => true,
        Err(panic) => {
            drop(panic);
            pending.range = None;
            warn("internal error in ephpm-apcu (please report it)").is_err()
        }
    };
    if bailed {
        // SAFETY: `body` has returned; this frame holds borrows and bytes only.
        unsafe { resume_bailout() }
    }
    if let Some(bytes) = pending
        .range
        .and_then(|(start, end)| pending.buf.get(start..end))
    {
        // The return slot is empty (the body left it for this), so setting
        // it releases nothing; a bailout in the allocation skips this
        // frame, which owns nothing with a destructor (see above).
        let string = ZendStr::new(bytes, false);
        if rv.is_null() {
            // In place (ext-php-rs's setter checks the old value, out of
            // line): a string made by zend_string_init is refcounted.
            // SAFETY: the gc header of a live string.
            let interned = unsafe { string.gc.u.type_info } & ext_php_rs::ffi::GC_IMMUTABLE != 0;
            rv.u1.type_info = match interned {
                true => ext_php_rs::flags::ZvalTypeFlags::InternedStringEx.bits(),
                false => ext_php_rs::flags::ZvalTypeFlags::StringEx.bits(),
            };
            rv.value.str_ = string.into_raw();
        } else {
            rv.set_zend_string(string);
        }
    }
}

/// The arguments of one call, as the engine passed them.
pub(crate) struct Args<'a> {
    ex: &'a ExecuteData,
    count: usize,
}

impl<'a> Args<'a> {
    fn new(ex: &'a mut ExecuteData) -> Args<'a> {
        // SAFETY: `This.u2` of a function's frame holds its argument count
        // (ZEND_CALL_NUM_ARGS), which is what ext-php-rs's parser reads.
        let count = unsafe { ex.This.u2.num_args } as usize;
        Args { ex, count }
    }

    /// Argument `i` (from 0), if passed; a by-reference parameter's is the
    /// reference (see [`Args::assign_ref_bool`]).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a Zval> {
        if i >= self.count {
            return None;
        }
        // SAFETY: `i` is below the argument count, so ZEND_CALL_ARG(i + 1)
        // is an initialised argument slot of this live frame, which
        // outlives the call's `Args`; it is only read through this borrow.
        unsafe { self.ex.zend_call_arg(i).map(|z| &*z) }
    }

    /// Sets the variable behind by-reference argument `i` (if passed) to
    /// `value`, as `ZEND_TRY_ASSIGN_REF_BOOL` does: a typed property bound
    /// to it that refuses a bool throws a `TypeError` and keeps its value.
    /// (Releasing the old value may run a destructor, hence [`engine`].)
    #[inline]
    pub(crate) fn assign_ref_bool(&self, i: usize, value: bool) -> Result<(), Bailout> {
        match self.get(i) {
            Some(arg) if arg.is_reference() => Self::assign_bool(arg, value),
            _ => Ok(()),
        }
    }

    /// [`Args::assign_ref_bool`] of a passed argument (out of line: only
    /// a call that passes the parameter needs it).
    #[inline(never)]
    fn assign_bool(arg: &Zval, value: bool) -> Result<(), Bailout> {
        if !arg.is_reference() {
            return Ok(());
        }
        // SAFETY: a reference zval's value is its `zend_reference`.
        let reference = unsafe { arg.value.ref_ };
        engine(move || {
            // SAFETY: the live reference of a by-reference parameter, which
            // the callee may assign to (ZEND_TRY_ASSIGN_REF_BOOL).
            unsafe { zend_try_assign_typed_ref_bool(reference, value) };
        })
    }

    /// `ArgumentCountError` unless between `min` and `max` arguments were
    /// passed: `Ok(false)` when it was thrown.
    #[inline]
    pub(crate) fn counted(&self, min: usize, max: usize) -> Result<bool, Bailout> {
        if (min..=max).contains(&self.count) {
            return Ok(true);
        }
        Self::wrong_count(min, max)
    }

    /// [`Args::counted`]'s error.
    #[cold]
    #[inline(never)]
    fn wrong_count(min: usize, max: usize) -> Result<bool, Bailout> {
        engine(|| {
            // SAFETY: throws PHP's own ArgumentCountError for the function
            // running now.
            unsafe { ext_php_rs::ffi::zend_wrong_parameters_count_error(min as u32, max as u32) }
        })?;
        Ok(false)
    }
}

fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).expect("NULs replaced")
}

/// Raises one `E_WARNING` (prefixed by PHP with the current function's name).
pub(crate) fn warn(message: &str) -> Result<(), Bailout> {
    let text = c_message(message);
    engine(|| warn_now(&text))
}

fn warn_now(text: &CStr) {
    // SAFETY: the format is a literal "%s" and its one argument a valid C string.
    unsafe {
        php_error_docref(
            ptr::null(),
            E_WARNING as c_int,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    }
}

/// Throws a `TypeError` (`type_error`) or `ValueError` with `message`.
pub(crate) fn throw(type_error: bool, message: &str) -> Result<(), Bailout> {
    let ce = if type_error {
        ext_php_rs::zend::ce::type_error()
    } else {
        ext_php_rs::zend::ce::value_error()
    };
    engine(|| {
        let _ = ext_php_rs::exception::throw(ce, message);
    })
}

/// Whether an exception is pending: `EG(exception)` read in place
/// (ext-php-rs's `ExecutorGlobals::has_exception` takes its globals lock
/// first, a third of the instructions of a store's own work here).
pub(crate) fn exception_pending() -> bool {
    // SAFETY: the executor globals of this thread, which the engine
    // initialises before any module function runs; only `exception`, a
    // pointer, is read, by this thread, which is the one running PHP.
    unsafe {
        ext_php_rs::ffi::ext_php_rs_executor_globals()
            .as_ref()
            .is_some_and(|eg| !eg.exception.is_null())
    }
}

/// Calls the PHP function `name` (an internal one: `serialize`, ...) with
/// `args`; `None` if there is no such function or it threw.
pub(crate) fn call_function(name: &'static str, args: &[&Zval]) -> Result<Option<Zval>, Bailout> {
    let Some(function) = internal_function(name) else {
        return Ok(None);
    };
    let params: Vec<&dyn ext_php_rs::convert::IntoZvalDyn> = args
        .iter()
        .map(|z| *z as &dyn ext_php_rs::convert::IntoZvalDyn)
        .collect();
    let result = engine(|| function.try_call(params))?;
    Ok(result.ok().filter(|_| !exception_pending()))
}

thread_local! {
    /// The internal functions looked up so far (the serializers,
    /// `preg_match`): an internal function lives as long as the process.
    static FUNCTIONS: std::cell::RefCell<Vec<(&'static str, Function)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The internal function `name`, looked up once per thread.
fn internal_function(name: &'static str) -> Option<Function> {
    let cached = FUNCTIONS.with(|f| {
        f.borrow()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, function)| *function)
    });
    if cached.is_some() {
        return cached;
    }
    let function = Function::try_from_function(name)?;
    // Only PHP's own functions are kept (a user function of that name
    // cannot exist beside an internal one, but is not cached either way).
    if function.function_type().ok() == Some(ext_php_rs::flags::FunctionType::Internal) {
        FUNCTIONS.with(|f| f.borrow_mut().push((name, function)));
    }
    Some(function)
}

/// Calls the callable `callable` with `args`; `None` if it threw.
pub(crate) fn call(callable: &Zval, args: &[&Zval]) -> Result<Option<Zval>, Bailout> {
    let params: Vec<&dyn ext_php_rs::convert::IntoZvalDyn> = args
        .iter()
        .map(|z| *z as &dyn ext_php_rs::convert::IntoZvalDyn)
        .collect();
    let result = engine(|| callable.try_call(params))?;
    Ok(result.ok().filter(|_| !exception_pending()))
}

/// The name of the PHP function running now (for messages).
pub(crate) fn active_function_name() -> String {
    // SAFETY: reads the executor's current function; the name is a string
    // of the function table (or null outside a call), copied at once.
    unsafe {
        let name = get_active_function_name();
        if name.is_null() {
            return "apcu".into();
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}

/// Current value of an ini setting, or an empty string if it has none.
pub(crate) fn ini_value(name: &str) -> String {
    let mut exists = false;
    // SAFETY: name is a valid buffer of `len` bytes; the returned pointer, if
    // not null, is a NUL-terminated string owned by the ini table, copied at once.
    unsafe {
        let value = zend_ini_string_ex(name.as_ptr().cast(), name.len(), 0, &mut exists);
        if value.is_null() {
            return String::new();
        }
        CStr::from_ptr(value).to_string_lossy().into_owned()
    }
}

/// The SAPI's name (`cli`, `fpm-fcgi`, `apache2handler`, ...).
pub(crate) fn sapi_name() -> String {
    let sapi = SapiModule::get();
    if sapi.name.is_null() {
        return String::new();
    }
    // SAFETY: the SAPI's name is a static C string set before any module loads.
    unsafe { CStr::from_ptr(sapi.name) }
        .to_string_lossy()
        .into_owned()
}

/// The version of an already-registered module named `name` (lowercase),
/// if one is.
pub(crate) fn registered_module(name: &str) -> Option<String> {
    // SAFETY: the registry is initialised before any extension is loaded
    // and is only changed by this thread during startup; the entry found is
    // a `zend_module_entry` pointer (ZEND_HASH_PTR) whose version is a
    // static C string or null.
    unsafe {
        let found = zend_hash_str_find(&raw mut module_registry, name.as_ptr().cast(), name.len());
        let module = found.as_ref()?.ptr::<zend_module_entry>()?;
        let version = (*module).version;
        Some(if version.is_null() {
            String::new()
        } else {
            CStr::from_ptr(version).to_string_lossy().into_owned()
        })
    }
}

/// Raises a warning at startup or while loading (no user code runs at
/// startup; under `dl()` a bailout is resumed by the caller, see [`entry`]).
pub(crate) fn warn_at_startup(message: &str) -> Result<(), Bailout> {
    warn(message)
}

/// The entry point PHP looks up when it loads the library. PHP refuses a
/// second module named `apcu` (APCu's own apcu.so loaded first): nothing of
/// ours is registered before that check, and the warning says which
/// library is skipped.
#[no_mangle]
pub(crate) extern "C" fn get_module() -> *mut ModuleEntry {
    if let Some(version) = registered_module("apcu") {
        let message = crate::skipped_beside(&version);
        drop(version);
        let warned = warn_at_startup(&message);
        drop(message);
        if let Err(bailout) = warned {
            // SAFETY: this is the engine's entry point, and every value of
            // its frame with a destructor was dropped above.
            unsafe { resume(bailout) }
        }
    }
    crate::module_entry()
}

/// Resumes a bailout that happened in an entry point other than [`entry`]
/// (`get_module`, MINIT).
///
/// # Safety
/// As for [`resume_bailout`].
pub(crate) unsafe fn resume(bailout: Bailout) -> ! {
    drop(bailout);
    // SAFETY: the caller's contract.
    unsafe { resume_bailout() }
}

/// Moves `value` into `ht` at int key `key` (replacing what is there);
/// `value` is left null, owning nothing.
#[inline]
pub(crate) fn move_into_index(ht: &mut ZendHashTable, key: i64, value: &mut Zval) {
    // SAFETY: `ht` is a live array we own; the engine copies the zval's
    // bytes into the bucket, taking over what it holds (the refcount it
    // had); the slot is then overwritten without a release, as its
    // content belongs to the array now.
    unsafe {
        ext_php_rs::ffi::zend_hash_index_update(ht, key as u64, value);
        ptr::write(value, Zval::new());
    }
}

/// Moves `value` into `ht` at string key `key` (bytes; never a numeric
/// string, which PHP keeps as an int key); `value` is left null.
#[inline]
pub(crate) fn move_into_key(ht: &mut ZendHashTable, key: &[u8], value: &mut Zval) {
    // SAFETY: as in `move_into_index`; `key` is a valid buffer of its
    // length, which the engine copies into a key string of its own.
    unsafe {
        ext_php_rs::ffi::zend_hash_str_update(ht, key.as_ptr().cast(), key.len(), value);
        ptr::write(value, Zval::new());
    }
}

/// phpinfo()'s rows for this module, set by the module's startup.
pub(crate) type InfoRows = fn() -> Vec<(String, String)>;
static INFO_ROWS: std::sync::OnceLock<InfoRows> = std::sync::OnceLock::new();

/// Sets the function that gives phpinfo()'s rows.
pub(crate) fn set_info_rows(rows: InfoRows) {
    let _ = INFO_ROWS.set(rows);
}

/// The engine's MINFO entry point: the rows (computed with nothing of the
/// engine's involved), then the table and the ini settings.
pub(crate) unsafe extern "C" fn info_entry(module: *mut ModuleEntry) {
    let rows: Vec<(CString, CString)> = INFO_ROWS
        .get()
        .map(|rows| catch_unwind(rows).unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .map(|(label, value)| (c_message(&label), c_message(&value)))
        .collect();
    let printed = engine(|| {
        // SAFETY: phpinfo calls this with output active; the strings are
        // valid C strings for each call; `module` is ours.
        unsafe {
            php_info_print_table_start();
            for (label, value) in &rows {
                php_info_print_table_row(2, label.as_ptr(), value.as_ptr());
            }
            php_info_print_table_end();
            display_ini_entries(module.cast());
        }
    });
    drop(rows);
    if let Err(bailout) = printed {
        // SAFETY: `rows` is dropped; the frame holds nothing else.
        unsafe { resume(bailout) }
    }
}

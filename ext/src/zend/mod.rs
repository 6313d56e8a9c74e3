//! Everything that touches the Zend engine directly: the module entry, the
//! function table with exact arginfo, warnings, `ValueError`s, ini lookups
//! and return values here; PHP's own argument parsing in [`args`]; the
//! session module ABI (`ps_module`) in [`session_module`]. The only
//! modules with `unsafe`.

mod args;
mod session_module;

pub(crate) use args::{Args, Parsed};
pub(crate) use session_module::{register_session_module, SaveHandler};

use ext_php_rs::ffi::{
    _zend_module_dep, zend_execute_data, zend_function_entry, zend_internal_arg_info,
    zend_module_entry, zend_result, zend_string, zend_type, zval, E_WARNING, USING_ZTS, ZEND_DEBUG,
    ZEND_MODULE_API_NO,
};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use ext_php_rs::zend::IniEntryDef;
use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

pub(crate) type ZendLong = i64;

// Exported by the PHP binary; resolved when the extension is loaded.
extern "C" {
    fn zend_parse_parameters(num_args: u32, type_spec: *const c_char, ...) -> c_int;
    fn zend_argument_value_error(arg_num: u32, format: *const c_char, ...);
    fn php_error_docref(docref: *const c_char, type_: c_int, format: *const c_char, ...);
    fn zend_ini_string_ex(
        name: *const c_char,
        len: usize,
        orig: c_int,
        exists: *mut bool,
    ) -> *mut c_char;
    fn display_ini_entries(module: *mut zend_module_entry);
    fn php_info_print_table_start();
    fn php_info_print_table_end();
    fn php_info_print_table_row(num_cols: c_int, ...);
}

const SUCCESS: c_int = 0;

/// Type bytes of `zval.u1.v.type_` (Zend/zend_types.h).
const IS_LONG: u8 = 4;
const IS_STRING: u8 = 6;

// Type bits of `zend_type.type_mask` (Zend/zend_type_info.h).
pub(crate) const MAY_BE_NULL: u32 = 1 << 1;
pub(crate) const MAY_BE_FALSE: u32 = 1 << 2;
pub(crate) const MAY_BE_BOOL: u32 = (1 << 2) | (1 << 3);
pub(crate) const MAY_BE_LONG: u32 = 1 << 4;
pub(crate) const MAY_BE_STRING: u32 = 1 << 6;
pub(crate) const MAY_BE_ARRAY: u32 = 1 << 7;

/// A function's PHP signature, as Reflection shows it.
pub(crate) struct Signature {
    pub name: &'static CStr,
    pub handler: Handler,
    pub returns: u32,
    pub required: usize,
    /// Name, type mask, default value (as PHP source) of each parameter.
    pub params: &'static [(&'static CStr, u32, Option<&'static CStr>)],
}

pub(crate) type Handler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

/// A Zend struct of the bindings for the PHP being built against, all
/// zero: null pointers, `None` callbacks, zero counts. Each struct below
/// starts from one and sets only the fields this extension uses, so a field
/// that another PHP version adds (PHP 8.4's `doc_comment` and
/// `frameless_function_infos` in `zend_function_entry`) or renames (a ZTS
/// PHP's `globals_id_ptr` for NTS's `globals_ptr` in `zend_module_entry`)
/// keeps its zero/null default with no change here.
trait AllZero: Sized {
    fn all_zero() -> Self {
        // SAFETY: implemented only for bindgen's plain C structs of the Zend
        // API below, whose fields are integers, raw pointers and
        // `Option<extern "C" fn>`, for all of which all-zero bytes are a
        // valid value (0, null, None); it is also what PHP's own C code
        // gets for the fields it leaves out of an initializer.
        unsafe { std::mem::zeroed() }
    }
}
impl AllZero for zend_type {}
impl AllZero for zend_internal_arg_info {}
impl AllZero for zend_function_entry {}
impl AllZero for _zend_module_dep {}
impl AllZero for zend_module_entry {}

fn zend_type(mask: u32) -> zend_type {
    let mut t = zend_type::all_zero();
    t.type_mask = mask;
    t
}

fn arg_info(name: *const c_char, mask: u32, default: *const c_char) -> zend_internal_arg_info {
    let mut info = zend_internal_arg_info::all_zero();
    info.name = name;
    info.type_ = zend_type(mask);
    info.default_value = default;
    info
}

fn function_entry(sig: &Signature) -> zend_function_entry {
    // The first arginfo record describes the return type and holds the
    // number of required parameters in its name field (Zend's convention).
    let mut info = vec![arg_info(
        sig.required as *const c_char,
        sig.returns,
        ptr::null(),
    )];
    info.extend(sig.params.iter().map(|(name, mask, default)| {
        arg_info(
            name.as_ptr(),
            *mask,
            default.map_or(ptr::null(), |d| d.as_ptr()),
        )
    }));
    // The engine keeps pointing at the arginfo for the life of the process.
    let info: &'static [zend_internal_arg_info] = Box::leak(info.into_boxed_slice());
    let mut entry = zend_function_entry::all_zero();
    entry.fname = sig.name.as_ptr();
    entry.handler = Some(sig.handler);
    entry.arg_info = info.as_ptr();
    entry.num_args = sig.params.len() as u32;
    entry
}

pub(crate) type StartupFn = unsafe extern "C" fn(c_int, c_int) -> c_int;
/// The rows of the module's phpinfo() table.
pub(crate) type InfoFn = fn() -> Vec<(String, String)>;
pub(crate) type PostDeactivateFn = unsafe extern "C" fn() -> zend_result;

/// The module's lifecycle callbacks.
pub(crate) struct Hooks {
    pub minit: StartupFn,
    pub rinit: StartupFn,
    /// After every module's request shutdown.
    pub post_deactivate: PostDeactivateFn,
    pub minfo: InfoFn,
}

/// `ZEND_MOD_REQUIRED` in a module's dependency list.
const MODULE_DEP_REQUIRED: u8 = 1;

/// Builds the module entry that PHP's `get_module` returns; leaked, as PHP
/// uses it until the process ends. `requires` names the modules PHP must
/// start before this one.
pub(crate) fn module_entry(
    name: &'static CStr,
    version: &'static CStr,
    functions: &[Signature],
    requires: &[&'static CStr],
    hooks: Hooks,
) -> *mut zend_module_entry {
    let _ = INFO_ROWS.set(hooks.minfo);
    let mut table: Vec<zend_function_entry> = functions.iter().map(function_entry).collect();
    // The list ends with an all-null entry.
    table.push(zend_function_entry::all_zero());
    let table: &'static [zend_function_entry] = Box::leak(table.into_boxed_slice());
    let dep = |name: *const c_char, type_| {
        let mut dep = _zend_module_dep::all_zero();
        dep.name = name;
        dep.type_ = type_;
        dep
    };
    let mut deps: Vec<_> = requires
        .iter()
        .map(|name| dep(name.as_ptr(), MODULE_DEP_REQUIRED))
        .collect();
    deps.push(_zend_module_dep::all_zero());
    let deps: &'static [_zend_module_dep] = Box::leak(deps.into_boxed_slice());
    // STANDARD_MODULE_HEADER and STANDARD_MODULE_PROPERTIES of
    // Zend/zend_modules.h: the size, API number, debug and ZTS flags and
    // build id of the PHP the bindings describe (which PHP checks against
    // its own when it loads the extension); no module globals, so
    // `globals_ptr` (NTS) or `globals_id_ptr` (ZTS) stays null.
    let mut entry = zend_module_entry::all_zero();
    entry.size = std::mem::size_of::<zend_module_entry>() as u16;
    entry.zend_api = ZEND_MODULE_API_NO;
    entry.zend_debug = ZEND_DEBUG as u8;
    entry.zts = USING_ZTS as u8;
    entry.deps = deps.as_ptr();
    entry.name = name.as_ptr();
    entry.functions = table.as_ptr();
    entry.module_startup_func = Some(hooks.minit);
    entry.request_startup_func = Some(hooks.rinit);
    entry.info_func = Some(info_entry);
    entry.version = version.as_ptr();
    entry.post_deactivate_func = Some(hooks.post_deactivate);
    // SAFETY: returns a pointer to a static string compiled into the glue.
    entry.build_id = unsafe { ext_php_rs::ffi::ext_php_rs_php_build_id() };
    Box::leak(Box::new(entry))
}

/// Registers the ini settings `(name, default, changeable at run time)`;
/// called from MINIT. The others can only be set in php.ini or by
/// php-fpm's `php_admin_value`.
pub(crate) fn register_ini(settings: &[(&'static str, &'static str, bool)], module_number: c_int) {
    let leak = |s: &str| -> &'static CStr {
        Box::leak(CString::new(s).expect("no NUL").into_boxed_c_str())
    };
    let mut defs: Vec<IniEntryDef> = settings
        .iter()
        .map(|&(name, default, runtime)| {
            let permission = if runtime {
                IniEntryPermission::All
            } else {
                IniEntryPermission::System
            };
            IniEntryDef::new(leak(name), leak(default), permission)
        })
        .collect();
    defs.push(IniEntryDef::end());
    let defs: &'static [IniEntryDef] = Box::leak(defs.into_boxed_slice());
    IniEntryDef::register(defs, module_number);
}

/// Current value of an ini setting (after php.ini, `-d`, php-fpm's
/// `php_admin_value`), or an empty string if it is unknown.
pub(crate) fn ini_value(name: &str) -> String {
    let mut exists = false;
    // SAFETY: name is a valid buffer of `len` bytes; the returned pointer, if
    // not null, is a NUL-terminated string owned by the ini table that we copy
    // at once.
    unsafe {
        let value = zend_ini_string_ex(name.as_ptr().cast(), name.len(), 0, &mut exists);
        if value.is_null() {
            return String::new();
        }
        CStr::from_ptr(value).to_string_lossy().into_owned()
    }
}

extern "C" {
    /// `zend_memory_usage(bool real_usage)` of Zend/zend_alloc.h.
    fn zend_memory_usage(real_usage: bool) -> usize;
}

/// The bytes this request may still allocate before `memory_limit`, or
/// `None` without a limit (`-1`). Reads the allocator's counter and the
/// setting only: nothing is allocated, nothing can fail.
pub(crate) fn memory_room() -> Option<u64> {
    let limit = ini_value("memory_limit");
    let limit = shm_store::parse_size(&limit).ok().filter(|&l| l > 0)?;
    // SAFETY: reads the request allocator's size counter; no allocation.
    let used = unsafe { zend_memory_usage(true) } as u64;
    Some(limit.saturating_sub(used))
}

fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).expect("NULs replaced")
}

// ------------------------------------------------- the engine boundary
//
// A call into the engine that can run PHP code (a warning reaches the
// user's error handler, which may throw, `exit()` or hit a fatal error) or
// allocate (a memory_limit failure) may end in a bailout: a `longjmp` to the
// engine's last `zend_try`, which skips every Rust frame in between without
// running its destructors. So such calls are made only here, in two kinds
// of places: argument parsing, before any Rust state is taken, and the
// delivery of an outcome (warnings, exceptions, return values), after the
// handler's Rust work is done and all its state put back. Each is wrapped
// in `zend_try` (ext-php-rs's `try_catch`); a bailout comes back as
// [`Bailout`], travels up through the Rust frames like any error (dropping
// what they own), and the entry point that the engine called re-raises it
// once nothing of ours is left on the stack. The exceptions, on a hit's hot
// path, are allocations of a return string without `zend_try`, made where
// no Rust frame up to the entry point owns anything with a destructor (so
// a bailout skips nothing that needed dropping): [`deliver_parked`], the
// small read's string in [`read_handler`] (allocated from inside the
// store's lock-free look, which holds no lock and nothing with a
// destructor meanwhile) and the one-copy read ([`read_into`]).

/// The engine bailed out during a call into it: the caller returns it up
/// to the entry point, which resumes the bailout.
#[derive(Debug)]
#[must_use]
pub(crate) struct Bailout;

/// Runs one call into the engine under `zend_try`.
fn engine<R>(call: impl FnOnce() -> R) -> Result<R, Bailout> {
    match ext_php_rs::zend::try_catch(AssertUnwindSafe(call)) {
        Ok(r) => Ok(r),
        Err(ext_php_rs::zend::CatchError::Bailout) => Err(Bailout),
        // A panic in our own closure: unwound inside it already; carried on
        // in Rust to the entry point's `catch_unwind`.
        Err(other) => std::panic::panic_any(other.to_string()),
    }
}

/// Re-raises a bailout that [`engine`] caught.
///
/// # Safety
/// Called by an entry point that the engine called (a function handler, a
/// session callback, phpinfo), with every value of its own frame that has
/// a destructor dropped already: the `longjmp` skips this frame.
unsafe fn resume_bailout() -> ! {
    // SAFETY: per the contract, no Rust frame that the jump skips owns
    // anything; the engine's own `zend_try` is the target.
    unsafe { ext_php_rs::zend::bailout() }
}

/// Warnings to raise once a callback's Rust work is done.
/// (Kept as C strings: nothing is allocated by Rust while they are raised.)
#[derive(Debug, Default)]
pub(crate) struct Diagnostics(Vec<CString>);

impl Diagnostics {
    pub(crate) fn warn(&mut self, message: &str) {
        self.0.push(c_message(message));
    }

    /// Raises each warning (`E_WARNING`, prefixed by PHP with the current
    /// function's name); a caller of [`engine`].
    fn raise(&self) {
        for message in &self.0 {
            warn_now(message);
        }
    }
}

/// Raises one `E_WARNING`; only inside [`engine`] (or at startup).
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

/// Raises warnings at module startup (MINIT), where no user code runs.
pub(crate) fn warn_at_startup(message: &str) {
    warn_now(&c_message(message));
}

/// What a PHP function leaves: an error to raise, then its return value.
pub(crate) struct Outcome {
    pub raise: Option<Raise>,
    pub reply: Reply,
}

impl Outcome {
    pub(crate) fn reply(reply: Reply) -> Outcome {
        Outcome { raise: None, reply }
    }
}

pub(crate) enum Raise {
    /// One `E_WARNING`.
    Warning(String),
    /// `ValueError: f(): Argument #N ($name) <message>`.
    ValueError(u32, String),
}

/// A PHP function's return value.
pub(crate) enum Reply {
    /// An exception is pending (from argument parsing): leave it as it is.
    Pending,
    Null,
    Bool(bool),
    Long(i64),
    Bytes(Vec<u8>),
    /// An array with string keys.
    Array(Vec<(&'static str, Item)>),
    /// A list (keys `0..n`).
    List(Vec<Item>),
}

/// A scalar [`Reply`], as [`deliver`] stores it without the engine.
#[derive(Clone, Copy)]
enum Scalar {
    Null,
    Bool(bool),
    Long(i64),
}

/// A value of a [`Reply::Array`].
pub(crate) enum Item {
    Long(i64),
    Text(String),
    Bool(bool),
    Null,
    /// A binary-safe string (a stored value).
    Bytes(Vec<u8>),
    /// A nested array with string keys.
    Map(Vec<(&'static str, Item)>),
    /// A nested list (keys `0..n`).
    List(Vec<Item>),
}

impl Item {
    fn to_zval(&self) -> Zval {
        let mut z = Zval::new();
        match self {
            Item::Long(n) => z.set_long(*n),
            Item::Text(t) => z.set_zend_string(ZendStr::new(t, false)),
            Item::Bool(b) => z.set_bool(*b),
            Item::Null => z.set_null(),
            Item::Bytes(b) => z.set_zend_string(ZendStr::new(b, false)),
            Item::Map(entries) => z.set_hashtable(map_table(entries)),
            Item::List(items) => z.set_hashtable(list_table(items)),
        }
        z
    }
}

/// A PHP list of `items`.
fn list_table(items: &[Item]) -> ext_php_rs::boxed::ZBox<ZendHashTable> {
    let mut table = ZendHashTable::new();
    for item in items {
        // Appending to a fresh list cannot fail.
        let _ = table.push(item.to_zval());
    }
    table
}

/// A PHP array with the string keys of `entries`, in their order.
fn map_table(entries: &[(&'static str, Item)]) -> ext_php_rs::boxed::ZBox<ZendHashTable> {
    let mut table = ZendHashTable::new();
    for (key, item) in entries {
        // Inserting into a fresh table with string keys cannot fail.
        let _ = table.insert(*key, item.to_zval());
    }
    table
}

impl Reply {
    /// Stores the value in the return slot, inside [`engine`] (a scalar
    /// with nothing to raise is stored by [`deliver`] directly: it
    /// allocates nothing, and the engine's fresh `NULL` return slot has
    /// nothing to release).
    fn deliver(&self, rv: &mut Zval) {
        match self {
            Reply::Pending => {}
            Reply::Null => rv.set_null(),
            Reply::Bool(b) => rv.set_bool(*b),
            Reply::Long(n) => rv.set_long(*n),
            Reply::Bytes(b) => rv.set_zend_string(ZendStr::new(b, false)),
            Reply::Array(entries) => rv.set_hashtable(map_table(entries)),
            Reply::List(items) => rv.set_hashtable(list_table(items)),
        }
    }
}

/// A PHP function in safe terms: [`handler`] makes its engine entry point.
pub(crate) trait Function {
    /// The return value of a failure (and of a panic).
    fn failure() -> Reply;
    /// Parses the arguments with [`Args`], does the Rust work, and says
    /// what to raise and return; never calls into the engine otherwise.
    fn body(args: &Args<'_>) -> Result<Outcome, Bailout>;
}

thread_local! {
    /// The bytes of a return value while PHP's string is allocated from
    /// them (see [`deliver_parked`]).
    static DELIVERING: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// Sets `slot` to a PHP string with the bytes of `buffer`, which is moved
/// into [`DELIVERING`] first: the allocation may bail out (memory_limit),
/// and the jump then skips this frame with nothing in it to drop; the
/// buffer then stays parked until the next delivery replaces it (else it
/// is dropped as soon as PHP has its copy).
///
/// # Safety
/// The caller's frames up to the engine's entry point own nothing with a
/// destructor (the jump skips them), as in [`resume_bailout`].
unsafe fn deliver_parked(slot: &mut Zval, buffer: Vec<u8>) {
    let (ptr, len) = (buffer.as_ptr(), buffer.len());
    // Moving a Vec leaves its heap bytes where they are.
    drop(DELIVERING.with(|parked| parked.replace(Some(buffer))));
    // SAFETY: `ptr` and `len` describe the parked buffer, which nothing
    // changes until this function returns.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    slot.set_zend_string(ZendStr::new(bytes, false));
    drop(DELIVERING.with(Cell::take));
}

/// The engine's entry point for the PHP function `F`.
///
/// # Safety
/// Called by the engine only, as a function handler.
pub(crate) unsafe extern "C" fn handler<F: Function>(ex: *mut zend_execute_data, rv: *mut zval) {
    // SAFETY: the engine's own pointers, and this call is the handler's
    // whole body.
    unsafe { call_function(ex, rv, F::failure, F::body) }
}

/// The body of a PHP function's handler: runs `body` (which parses its
/// arguments with [`Args`] and does its Rust work), then raises its error
/// and sets its return value.
///
/// # Safety
/// `ex` and `rv` are the pointers the engine passed to the handler, and
/// this call is the handler's whole body (nothing else on its frame).
unsafe fn call_function(
    ex: *mut zend_execute_data,
    rv: *mut zval,
    failure: fn() -> Reply,
    body: impl FnOnce(&Args<'_>) -> Result<Outcome, Bailout>,
) {
    // SAFETY: per the contract, valid for the whole call.
    let args = unsafe { Args::new(ex) };
    // SAFETY: per the contract; `args` only borrows the engine's frame.
    let outcome = unsafe { run(failure, || body(&args)) };
    // SAFETY: the return slot the engine passed; `Zval` is `zval`.
    let slot = unsafe { &mut *rv.cast::<Zval>() };
    // SAFETY: the last step of the handler, whose frame owns nothing else.
    unsafe { deliver(slot, outcome) }
}

/// The outcome of a Rust panic in a handler's work.
fn internal_error(failure: fn() -> Reply) -> Outcome {
    Outcome {
        raise: Some(Raise::Warning(
            "internal error in ephpm_kv (please report it)".into(),
        )),
        reply: failure(),
    }
}

/// Runs a handler's Rust `work`: a panic becomes [`internal_error`]; a
/// bailout (from argument parsing) is resumed once `work` has returned.
///
/// # Safety
/// As for [`resume_bailout`]: the caller's frames up to the engine's entry
/// point own nothing with a destructor.
unsafe fn run<T>(failure: fn() -> Reply, work: impl FnOnce() -> Result<T, Bailout>) -> T
where
    T: From<Outcome>,
{
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(done)) => done,
        // SAFETY: `work` has returned, dropping all it had; the rest is
        // the caller's contract.
        Ok(Err(Bailout)) => unsafe { resume_bailout() },
        Err(_) => internal_error(failure).into(),
    }
}

/// Raises an outcome's error and sets its return value in `slot`.
///
/// # Safety
/// The last step of a handler's entry point, whose frames own nothing
/// else with a destructor; `slot` is its return slot.
// Inlined into the entry points, the outcome is read where `run` left it
// instead of being passed through memory to a frame of its own (some 14
// instructions a call, callgrind).
#[inline(always)]
unsafe fn deliver(slot: &mut Zval, outcome: Outcome) {
    // Nothing to raise and a scalar: no call into the engine at all, and
    // no drop glue (the reply is read in place and the outcome forgotten:
    // a scalar reply with nothing to raise owns nothing).
    if outcome.raise.is_none() {
        let scalar = match outcome.reply {
            Reply::Pending => Some(None),
            Reply::Null => Some(Some(Scalar::Null)),
            Reply::Bool(b) => Some(Some(Scalar::Bool(b))),
            Reply::Long(n) => Some(Some(Scalar::Long(n))),
            _ => None,
        };
        if let Some(scalar) = scalar {
            std::mem::forget(outcome);
            // A null slot (as the engine passes the return slot) holds
            // nothing to release: a scalar is then its value word and its
            // type written, as ZVAL_LONG does, without the bindings'
            // setters, which look what the old value needs released first
            // (a call and some 15 instructions a return, callgrind).
            use ext_php_rs::ffi::{IS_FALSE, IS_LONG, IS_NULL, IS_TRUE};
            let Some(scalar) = scalar else {
                return;
            };
            if !slot.is_null() {
                match scalar {
                    Scalar::Null => slot.set_null(),
                    Scalar::Bool(b) => slot.set_bool(b),
                    Scalar::Long(n) => slot.set_long(n),
                }
                return;
            }
            slot.u1.type_info = match scalar {
                Scalar::Null => IS_NULL,
                Scalar::Bool(true) => IS_TRUE,
                Scalar::Bool(false) => IS_FALSE,
                Scalar::Long(n) => {
                    slot.value.lval = n;
                    IS_LONG
                }
            };
            return;
        }
    }
    let outcome = match outcome {
        // A string only (a value read under the lock, or gathered from a
        // large value's parts): copied into PHP's string with no
        // `zend_try`, the buffer parked where a bailout cannot lose it.
        Outcome {
            raise: None,
            reply: Reply::Bytes(buffer),
        } => {
            // SAFETY: the buffer moves into `DELIVERING`, nothing of this
            // frame owns anything, and only this thread touches the slot.
            unsafe { deliver_parked(slot, buffer) };
            return;
        }
        other => other,
    };
    let raise = outcome.raise.as_ref().map(|raise| match raise {
        Raise::Warning(message) => (None, c_message(message)),
        Raise::ValueError(arg, message) => (Some(*arg), c_message(message)),
    });
    let delivered = engine(|| {
        match &raise {
            Some((None, text)) => warn_now(text),
            // SAFETY: as for `warn_now`.
            Some((Some(arg), text)) => unsafe {
                zend_argument_value_error(*arg, c"%s".as_ptr(), text.as_ptr())
            },
            None => {}
        }
        outcome.reply.deliver(slot);
    });
    drop(raise);
    drop(outcome);
    if delivered.is_err() {
        // SAFETY: the outcome is consumed and dropped; the rest is the
        // caller's contract.
        unsafe { resume_bailout() }
    }
}

// ------------------------------------------ string results in one copy
//
// A value read from the store reaches PHP with one copy, straight into the
// `zend_string` that PHP returns: the store says how long the value is
// ([`Reader::begin`], with no lock held afterwards), PHP's string of that
// length is allocated, and the store copies the value into it
// ([`Reader::finish`]), saying whether it changed meanwhile; then it begins
// again (the string is kept if the length is the same). The allocation is
// made without a `zend_try` (on a hit's hot path): if it ends the request
// (memory_limit), the jump skips the frames in between, which therefore
// own nothing with a destructor at that moment: the reader has none
// (checked at compile time), the previous string is released before a new
// one is allocated, and no store lock or Rust borrow is held.

/// How a read begins (again).
pub(crate) enum Begun {
    /// The value is this long: [`Reader::finish`] copies it into PHP's
    /// string of that length.
    Len(usize),
    /// The call ends with this outcome: no value, a value read another way
    /// ([`Reply::Bytes`]), or a failure.
    Done(Outcome),
}

/// Reads one value for a [`ReadFunction`].
pub(crate) trait Reader {
    /// Attempt `attempt` (0, 1, ...: each after a `finish` that failed).
    fn begin(&mut self, attempt: u32) -> Begun;
    /// Copies the value seen by the last `begin` into `out`, exactly as
    /// long as it said, writing every byte; `false` if the value changed
    /// since (begin again; `out`'s bytes are then not to be relied on).
    fn finish(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> bool;
}

/// Values up to this long are read by one look at the store, which asks
/// for PHP's string once it knows the length ([`ReadFunction::open`]'s
/// `alloc`), copies the value into it and validates the look and the copy
/// at once. 4 KiB holds the usual session or cache value; a racing
/// writer can make a look ask for a string of up to this many bytes that
/// is then freed (the look fails its validation), so it stays small.
pub(crate) const SMALL: usize = 4096;

/// A PHP function that returns a value read by a [`Reader`] as a string
/// (or whatever [`Begun::Done`] says); [`read_handler`] makes its entry point.
pub(crate) trait ReadFunction {
    /// A bailout may skip it: it must not need dropping.
    type Reader<'a>: Reader;
    /// The return value of a failure (and of a panic).
    fn failure() -> Reply;
    /// Parses the arguments with [`Args`] and reads a value of up to
    /// [`SMALL`] bytes into the string that `alloc` makes for it (`true`:
    /// it holds the value, every byte written; the common case), or else
    /// (`false`) makes the reader (its first `begin` done), or says how the
    /// call ends, in `opened` (written in place: a large result would be
    /// copied on its way out); never calls into the engine otherwise.
    /// `alloc` allocates with no `zend_try` (it may bail out): it is called
    /// at most once, before `opened` is written, and while nothing of
    /// `open`'s own that needs dropping is live; the string it makes has
    /// exactly the length it is given.
    fn open<'a, 'b>(
        args: &Args<'a>,
        alloc: impl FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>,
        opened: &mut Option<Opened<Self::Reader<'a>>>,
    ) -> Result<bool, Bailout>;
}

/// What [`ReadFunction::open`] gives.
pub(crate) enum Opened<R> {
    /// The value is this long: the reader's `finish` copies it (then
    /// `begin` is called again with attempt 2, 3, ... if it changed).
    Reader(R, usize),
    Done(Outcome),
}

impl<R> From<Outcome> for Opened<R> {
    fn from(outcome: Outcome) -> Self {
        Opened::Done(outcome)
    }
}

/// The engine's entry point for the PHP function `F` (a [`ReadFunction`]).
///
/// # Safety
/// Called by the engine only, as a function handler.
pub(crate) unsafe extern "C" fn read_handler<F: ReadFunction>(
    ex: *mut zend_execute_data,
    rv: *mut zval,
) {
    // A bailout during the string's allocation skips the reader.
    const { assert!(!std::mem::needs_drop::<F::Reader<'static>>()) };
    // SAFETY: the engine's own pointers, valid for the whole call.
    let args = unsafe { Args::new(ex) };
    // The small value's string, once `alloc` made it: a plain pointer.
    let mut string: Option<NewString> = None;
    let alloc = |len: usize| {
        if len > SMALL {
            return None;
        }
        // SAFETY: the frames from here up to the engine's entry point own
        // nothing with a destructor: the store's look holds plain data and
        // no lock (`Store::read_small_quick_in`), `open` nothing that needs
        // dropping (its contract), `catch_unwind` no destructor, and this
        // frame borrows and plain values, `opened` still empty (written
        // after the call, per `open`'s contract) and `string` empty
        // (`alloc` runs once).
        let made = unsafe { NewString::alloc(len) }?;
        string = Some(made);
        Some(made.bytes())
    };
    // Written in place by the closure: what `catch_unwind` itself returns
    // stays two words (a large result would be copied out of it).
    let mut opened = None;
    let caught = catch_unwind(AssertUnwindSafe(|| F::open(&args, alloc, &mut opened)));
    let small = match caught {
        Ok(Ok(small)) => small,
        Ok(Err(Bailout)) => {
            release(string);
            drop(opened);
            // SAFETY: `open` has returned, dropping all it had; `opened`
            // is dropped, `string` released, and this frame holds borrows
            // besides.
            unsafe { resume_bailout() }
        }
        Err(_) => {
            opened = Some(Opened::Done(internal_error(F::failure)));
            false
        }
    };
    // SAFETY: the return slot the engine passed; `Zval` is `zval`.
    let slot = unsafe { &mut *rv.cast::<Zval>() };
    if let (true, Some(made)) = (small, string) {
        // `open` says the value is in the string (every byte written).
        made.into_zval(slot);
        return;
    }
    // No value in it: the look went on another way (or failed).
    release(string);
    // A bailout in the allocations below skips `opened`: it then holds
    // nothing or the reader (which needs no drop), nothing to free.
    let outcome = match opened {
        // `open` said the value was in the string, which it was not.
        None if small => internal_error(F::failure),
        None => return,
        Some(Opened::Reader(reader, len)) => {
            // SAFETY: the reader needs no drop; this frame holds borrows
            // and bytes only.
            match unsafe { read_into(slot, reader, len, F::failure) } {
                None => return,
                Some(outcome) => outcome,
            }
        }
        Some(Opened::Done(outcome)) => outcome,
    };
    // SAFETY: the last step; nothing else is on this frame.
    unsafe { deliver(slot, outcome) }
}

/// A PHP function that answers a question with a bool (`ephpm_kv_exists`):
/// [`test_handler`] makes its entry point, which writes the answer into
/// the return slot in place.
pub(crate) trait TestFunction {
    /// The return value of a failure (and of a panic).
    fn failure() -> Reply;
    /// Parses the arguments with [`Args`] and answers, or says how the
    /// call ends; never calls into the engine otherwise.
    fn test(args: &Args<'_>) -> Result<Tested, Bailout>;
}

/// What [`TestFunction::test`] gives.
pub(crate) enum Tested {
    /// The answer, with nothing to raise.
    Bool(bool),
    Done(Outcome),
}

impl From<Outcome> for Tested {
    fn from(outcome: Outcome) -> Self {
        Tested::Done(outcome)
    }
}

/// The engine's entry point for the PHP function `F` (a [`TestFunction`]).
///
/// # Safety
/// Called by the engine only, as a function handler.
pub(crate) unsafe extern "C" fn test_handler<F: TestFunction>(
    ex: *mut zend_execute_data,
    rv: *mut zval,
) {
    // SAFETY: the engine's own pointers, valid for the whole call.
    let args = unsafe { Args::new(ex) };
    // SAFETY: this frame holds only borrows of the engine's.
    let tested = unsafe { run(F::failure, || F::test(&args)) };
    // SAFETY: the return slot the engine passed; `Zval` is `zval`.
    let slot = unsafe { &mut *rv.cast::<Zval>() };
    match tested {
        // In place: a null slot (as the engine passes the return slot)
        // holds nothing to release, which is all the setter checks first.
        Tested::Bool(b) if slot.is_null() => {
            slot.u1.type_info = if b {
                ext_php_rs::ffi::IS_TRUE
            } else {
                ext_php_rs::ffi::IS_FALSE
            };
        }
        Tested::Bool(b) => slot.set_bool(b),
        // SAFETY: the last step; nothing else is on this frame.
        Tested::Done(outcome) => unsafe { deliver(slot, outcome) },
    }
}

/// Runs `reader`, whose value was last seen `len` bytes long, until the
/// value is in a PHP string set in `slot` (`None`) or it says how the call
/// ends instead (a panic in it: [`internal_error`]).
///
/// # Safety
/// The caller's frames up to the engine's entry point own nothing with a
/// destructor, and neither does `reader`: the allocation of the string may
/// bail out and skip them all.
#[cold]
#[inline(never)]
unsafe fn read_into<R: Reader>(
    slot: &mut Zval,
    mut reader: R,
    mut len: usize,
    failure: fn() -> Reply,
) -> Option<Outcome> {
    // Ours until it is in `slot`: released on every other way out.
    let mut string: Option<NewString> = None;
    // The attempts before this one: `open`'s look, and its first `begin`.
    let mut attempt = 2;
    loop {
        let target = match string {
            Some(s) if s.len() == len => s,
            other => {
                // Released first: if the allocation below bails out, there
                // is no string of ours left to leak.
                release(other);
                string = None;
                // SAFETY: nothing on this frame or the caller's needs
                // dropping (the contract), and `string` is empty.
                match unsafe { NewString::alloc(len) } {
                    Some(s) => *string.insert(s),
                    None => return Some(internal_error(failure)),
                }
            }
        };
        let copied = catch_unwind(AssertUnwindSafe(|| reader.finish(target.bytes())));
        match copied {
            Ok(true) => {
                target.into_zval(slot);
                return None;
            }
            Ok(false) => {}
            Err(_) => {
                release(string);
                return Some(internal_error(failure));
            }
        }
        len = match catch_unwind(AssertUnwindSafe(|| reader.begin(attempt))) {
            Ok(Begun::Len(len)) => len,
            Ok(Begun::Done(outcome)) => {
                release(string);
                return Some(outcome);
            }
            Err(_) => {
                release(string);
                return Some(internal_error(failure));
            }
        };
        attempt += 1;
    }
}

/// A `zend_string` made by [`NewString::alloc`] and not handed to PHP yet:
/// a plain pointer (so a bailout that skips it skips no destructor), given
/// to PHP with [`NewString::into_zval`] or released with [`release`].
#[derive(Clone, Copy)]
struct NewString(ptr::NonNull<zend_string>);

/// `GC_STRING` of Zend/zend_types.h: `IS_STRING | GC_NOT_COLLECTABLE`
/// (`1 << 4`, shifted by `GC_FLAGS_SHIFT`, 0), a string in request memory.
const GC_STRING: u32 = IS_STRING as u32 | (1 << 4);

impl NewString {
    /// A string of `len` bytes in request memory, as the engine's
    /// `zend_string_alloc` makes it (refcount 1, no hash, the terminating
    /// NUL written); its `len` bytes are left for the reader to write (see
    /// `bytes`). `None` if `len` cannot be a string's length.
    ///
    /// # Safety
    /// The allocation ends the request with a bailout when it exceeds
    /// memory_limit: the caller's frames up to the engine's entry point
    /// own nothing with a destructor.
    #[inline]
    unsafe fn alloc(len: usize) -> Option<NewString> {
        let header = std::mem::offset_of!(zend_string, val);
        // Header, bytes, the terminating NUL; rounded as the engine rounds.
        let size = header.checked_add(len)?.checked_add(1 + 7)? & !7;
        let layout = std::alloc::Layout::from_size_align(size, 8).ok()?;
        let raw = ext_php_rs::alloc::emalloc(layout).cast::<zend_string>();
        let raw = ptr::NonNull::new(raw)?;
        // SAFETY: `raw` is a fresh allocation of `size` bytes, aligned for
        // `zend_string`, which has room for the header and `len + 1`
        // bytes from `val` on.
        unsafe {
            let s = raw.as_ptr();
            (*s).gc.refcount = 1;
            (*s).gc.u.type_info = GC_STRING;
            (*s).h = 0;
            (*s).len = len;
            let val = ptr::addr_of_mut!((*s).val).cast::<u8>();
            val.add(len).write(0);
        }
        Some(NewString(raw))
    }

    #[inline]
    fn len(self) -> usize {
        // SAFETY: a live string of ours (not handed to PHP).
        unsafe { (*self.0.as_ptr()).len }
    }

    /// The string's bytes, to fill before it goes to PHP (all of them:
    /// it goes to PHP only after a reader's `finish` wrote every byte).
    #[inline]
    fn bytes<'a>(self) -> &'a mut [std::mem::MaybeUninit<u8>] {
        // SAFETY: a live string of ours, which nothing else sees until
        // `into_zval` or `release`; `len` bytes from `val` on, allocated by
        // `alloc` (possibly uninitialised, hence `MaybeUninit`); the slice
        // is used before either.
        unsafe {
            let s = self.0.as_ptr();
            std::slice::from_raw_parts_mut(
                ptr::addr_of_mut!((*s).val).cast::<std::mem::MaybeUninit<u8>>(),
                (*s).len,
            )
        }
    }

    /// Hands the string to PHP as the value of `slot`.
    #[inline]
    fn into_zval(self, slot: &mut Zval) {
        if slot.is_null() {
            // Written in place: a null slot (as the engine passes the
            // return slot) holds nothing to release, which is all
            // ext-php-rs's setter would check first, out of line.
            slot.value.str_ = self.0.as_ptr();
            slot.u1.type_info = ext_php_rs::flags::ZvalTypeFlags::StringEx.bits();
            return;
        }
        // SAFETY: a string made by `alloc`, which PHP now owns.
        slot.set_zend_string(unsafe { ext_php_rs::boxed::ZBox::from_raw(self.0.as_ptr()) });
    }
}

/// Frees a string of ours that PHP did not get (a plain `efree`, which
/// cannot bail out).
fn release(string: Option<NewString>) {
    if let Some(s) = string {
        // SAFETY: made by `NewString::alloc`, not handed to PHP, and not
        // used after this.
        unsafe { ext_php_rs::ffi::ext_php_rs_zend_string_release(s.0.as_ptr()) };
    }
}

/// The module's phpinfo() rows, set by [`module_entry`].
static INFO_ROWS: std::sync::OnceLock<InfoFn> = std::sync::OnceLock::new();

/// The engine's MINFO entry point: the rows (computed with nothing of the
/// engine's involved), then [`print_info`].
unsafe extern "C" fn info_entry(module: *mut zend_module_entry) {
    let rows = INFO_ROWS
        .get()
        .map(|rows| catch_unwind(rows).unwrap_or_default())
        .unwrap_or_default();
    // SAFETY: the whole body of the info function, with its module entry.
    unsafe { print_info(module, rows) }
}

/// phpinfo(): a two-column table of `rows`, then the ini settings. Output
/// can run PHP code (an output handler), so this is an [`engine`] call.
///
/// # Safety
/// Called as the whole body of the module's info function, with `module`
/// the module entry it was given.
unsafe fn print_info(module: *mut zend_module_entry, rows: Vec<(String, String)>) {
    let rows: Vec<(CString, CString)> = rows
        .into_iter()
        .map(|(label, value)| (c_message(&label), c_message(&value)))
        .collect();
    let printed = engine(|| {
        // SAFETY: phpinfo calls this with output active; the strings are
        // valid C strings for the duration of each call; `module` is ours.
        unsafe {
            php_info_print_table_start();
            for (label, value) in &rows {
                php_info_print_table_row(2, label.as_ptr(), value.as_ptr());
            }
            php_info_print_table_end();
            display_ini_entries(module);
        }
    });
    drop(rows);
    if printed.is_err() {
        // SAFETY: `rows` is dropped, and the caller's frame holds nothing
        // else (the contract).
        unsafe { resume_bailout() }
    }
}

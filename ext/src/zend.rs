//! Everything that touches the Zend engine directly: the module entry, the
//! function table with exact arginfo, PHP's own argument parsing, warnings,
//! `ValueError`s, ini lookups and return values. The only module with
//! `unsafe`.

use ext_php_rs::ffi::{
    _zend_module_dep, zend_execute_data, zend_function_entry, zend_internal_arg_info,
    zend_module_entry, zend_result, zend_string, zend_type, zval, E_WARNING, USING_ZTS, ZEND_DEBUG,
    ZEND_MODULE_API_NO,
};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use ext_php_rs::zend::IniEntryDef;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

pub type ZendLong = i64;

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
    // ext/session, which this module requires (so it is started first).
    fn php_session_register_module(module: *const PsModule) -> c_int;
    fn php_session_create_id(mod_data: *mut *mut c_void) -> *mut zend_string;
}

const SUCCESS: c_int = 0;

// Type bits of `zend_type.type_mask` (Zend/zend_type_info.h).
pub const MAY_BE_NULL: u32 = 1 << 1;
pub const MAY_BE_FALSE: u32 = 1 << 2;
pub const MAY_BE_BOOL: u32 = (1 << 2) | (1 << 3);
pub const MAY_BE_LONG: u32 = 1 << 4;
pub const MAY_BE_STRING: u32 = 1 << 6;
pub const MAY_BE_ARRAY: u32 = 1 << 7;

/// A function's PHP signature, as Reflection shows it.
pub struct Signature {
    pub name: &'static CStr,
    pub handler: Handler,
    pub returns: u32,
    pub required: usize,
    /// Name, type mask, default value (as PHP source) of each parameter.
    pub params: &'static [(&'static CStr, u32, Option<&'static CStr>)],
}

pub type Handler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

fn zend_type(mask: u32) -> zend_type {
    zend_type {
        ptr: ptr::null_mut(),
        type_mask: mask,
    }
}

fn function_entry(sig: &Signature) -> zend_function_entry {
    // The first arginfo record describes the return type and holds the
    // number of required parameters in its name field (Zend's convention).
    let mut info = vec![zend_internal_arg_info {
        name: sig.required as *const c_char,
        type_: zend_type(sig.returns),
        default_value: ptr::null(),
    }];
    info.extend(
        sig.params
            .iter()
            .map(|(name, mask, default)| zend_internal_arg_info {
                name: name.as_ptr(),
                type_: zend_type(*mask),
                default_value: default.map_or(ptr::null(), |d| d.as_ptr()),
            }),
    );
    // The engine keeps pointing at the arginfo for the life of the process.
    let info: &'static [zend_internal_arg_info] = Box::leak(info.into_boxed_slice());
    zend_function_entry {
        fname: sig.name.as_ptr(),
        handler: Some(sig.handler),
        arg_info: info.as_ptr(),
        num_args: sig.params.len() as u32,
        flags: 0,
    }
}

pub type StartupFn = unsafe extern "C" fn(c_int, c_int) -> c_int;
pub type InfoFn = unsafe extern "C" fn(*mut zend_module_entry);
pub type PostDeactivateFn = unsafe extern "C" fn() -> zend_result;

/// The module's lifecycle callbacks.
pub struct Hooks {
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
pub fn module_entry(
    name: &'static CStr,
    version: &'static CStr,
    functions: &[Signature],
    requires: &[&'static CStr],
    hooks: Hooks,
) -> *mut zend_module_entry {
    let mut table: Vec<zend_function_entry> = functions.iter().map(function_entry).collect();
    table.push(zend_function_entry {
        fname: ptr::null(),
        handler: None,
        arg_info: ptr::null(),
        num_args: 0,
        flags: 0,
    });
    let table: &'static [zend_function_entry] = Box::leak(table.into_boxed_slice());
    let dep = |name: *const c_char, type_| _zend_module_dep {
        name,
        rel: ptr::null(),
        version: ptr::null(),
        type_,
    };
    let mut deps: Vec<_> = requires
        .iter()
        .map(|name| dep(name.as_ptr(), MODULE_DEP_REQUIRED))
        .collect();
    deps.push(dep(ptr::null(), 0));
    let deps: &'static [_zend_module_dep] = Box::leak(deps.into_boxed_slice());
    let entry = zend_module_entry {
        size: std::mem::size_of::<zend_module_entry>() as u16,
        zend_api: ZEND_MODULE_API_NO,
        zend_debug: ZEND_DEBUG as u8,
        zts: USING_ZTS as u8,
        ini_entry: ptr::null(),
        deps: deps.as_ptr(),
        name: name.as_ptr(),
        functions: table.as_ptr(),
        module_startup_func: Some(hooks.minit),
        module_shutdown_func: None,
        request_startup_func: Some(hooks.rinit),
        request_shutdown_func: None,
        info_func: Some(hooks.minfo),
        version: version.as_ptr(),
        globals_size: 0,
        globals_ptr: ptr::null_mut(),
        globals_ctor: None,
        globals_dtor: None,
        post_deactivate_func: Some(hooks.post_deactivate),
        module_started: 0,
        type_: 0,
        handle: ptr::null_mut(),
        module_number: 0,
        // SAFETY: returns a pointer to a static string compiled into the glue.
        build_id: unsafe { ext_php_rs::ffi::ext_php_rs_php_build_id() },
    };
    Box::leak(Box::new(entry))
}

/// Registers the ini settings `(name, default, changeable at run time)`;
/// called from MINIT. The others can only be set in php.ini or by
/// php-fpm's `php_admin_value`.
pub fn register_ini(settings: &[(&'static str, &'static str, bool)], module_number: c_int) {
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
pub fn ini_value(name: &str) -> String {
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

fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).expect("NULs replaced")
}

/// Raises one `E_WARNING`, prefixed by PHP with the current function's name.
pub fn warn(message: &str) {
    let text = c_message(message);
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

/// Throws `ValueError: f(): Argument #N ($name) <message>`.
pub fn throw_value_error(arg_num: u32, message: &str) {
    let text = c_message(message);
    // SAFETY: as for `warn`.
    unsafe { zend_argument_value_error(arg_num, c"%s".as_ptr(), text.as_ptr()) }
}

/// The arguments of the current call, parsed by PHP's own rules (so weak
/// mode coerces `5` to `"5"`, strict mode throws `TypeError`, and a wrong
/// count throws `ArgumentCountError`). `None` means an exception is pending:
/// return at once.
pub struct Args<'a> {
    ex: &'a zend_execute_data,
}

impl<'a> Args<'a> {
    /// # Safety
    /// `ex` is the execute data the engine passed to the running handler.
    pub unsafe fn new(ex: *mut zend_execute_data) -> Args<'a> {
        // SAFETY: per the contract, valid for the whole call.
        Args {
            ex: unsafe { &*ex },
        }
    }

    fn count(&self) -> u32 {
        // SAFETY: for a call frame, `This.u2` holds the number of arguments.
        unsafe { self.ex.This.u2.num_args }
    }

    /// `()`
    pub fn none(&self) -> Option<()> {
        // SAFETY: the spec "" takes no output pointers.
        (unsafe { zend_parse_parameters(self.count(), c"".as_ptr()) } == SUCCESS).then_some(())
    }

    /// `(string $a)`
    pub fn string(&self) -> Option<&'a [u8]> {
        let (mut p, mut len) = (ptr::null_mut::<c_char>(), 0usize);
        // SAFETY: "s" writes a char* and a size_t through the two pointers.
        let ok = unsafe { zend_parse_parameters(self.count(), c"s".as_ptr(), &mut p, &mut len) };
        (ok == SUCCESS).then(|| bytes(p, len))
    }

    /// `(string $a, int $b)` or, with a default, `(string $a, int $b = default)`
    pub fn string_long(&self, default: Option<ZendLong>) -> Option<(&'a [u8], ZendLong)> {
        let (mut p, mut len, mut n) = (ptr::null_mut::<c_char>(), 0usize, default.unwrap_or(0));
        let spec = if default.is_some() { c"s|l" } else { c"sl" };
        // SAFETY: "s" then "l" write a char*, a size_t and a zend_long.
        let ok =
            unsafe { zend_parse_parameters(self.count(), spec.as_ptr(), &mut p, &mut len, &mut n) };
        (ok == SUCCESS).then(|| (bytes(p, len), n))
    }

    /// `(string $a, string $b)`
    pub fn string_string(&self) -> Option<(&'a [u8], &'a [u8])> {
        let (mut p1, mut l1) = (ptr::null_mut::<c_char>(), 0usize);
        let (mut p2, mut l2) = (ptr::null_mut::<c_char>(), 0usize);
        // SAFETY: "ss" writes two (char*, size_t) pairs.
        let ok = unsafe {
            zend_parse_parameters(
                self.count(),
                c"ss".as_ptr(),
                &mut p1,
                &mut l1,
                &mut p2,
                &mut l2,
            )
        };
        (ok == SUCCESS).then(|| (bytes(p1, l1), bytes(p2, l2)))
    }

    /// `(string $a, string $b, int $c = default)`
    pub fn string_string_long(&self, default: ZendLong) -> Option<(&'a [u8], &'a [u8], ZendLong)> {
        let (mut p1, mut l1) = (ptr::null_mut::<c_char>(), 0usize);
        let (mut p2, mut l2, mut n) = (ptr::null_mut::<c_char>(), 0usize, default);
        // SAFETY: "ss|l" writes two (char*, size_t) pairs and a zend_long.
        let ok = unsafe {
            zend_parse_parameters(
                self.count(),
                c"ss|l".as_ptr(),
                &mut p1,
                &mut l1,
                &mut p2,
                &mut l2,
                &mut n,
            )
        };
        (ok == SUCCESS).then(|| (bytes(p1, l1), bytes(p2, l2), n))
    }
}

fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: zend_parse_parameters points `p` at `len` bytes of an argument
    // string that lives until the handler returns.
    unsafe { std::slice::from_raw_parts(p.cast(), len) }
}

/// The return value slot of the current call.
pub struct Return<'a>(&'a mut Zval);

impl Return<'_> {
    /// # Safety
    /// `rv` is the return value pointer the engine passed to the handler.
    pub unsafe fn new<'a>(rv: *mut zval) -> Return<'a> {
        // SAFETY: per the contract; `Zval` is the same type as `zval`.
        Return(unsafe { &mut *rv })
    }
    pub fn null(self) {
        self.0.set_null();
    }
    pub fn bool(self, b: bool) {
        self.0.set_bool(b);
    }
    pub fn long(self, n: i64) {
        self.0.set_long(n);
    }
    pub fn bytes(self, b: &[u8]) {
        self.0.set_zend_string(ZendStr::new(b, false));
    }
    pub fn array(self, entries: Vec<(&str, Zval)>) {
        let mut table = ZendHashTable::new();
        for (key, value) in entries {
            // Inserting into a fresh table with string keys cannot fail.
            let _ = table.insert(key, value);
        }
        self.0.set_hashtable(table);
    }
}

pub fn zval_long(n: i64) -> Zval {
    let mut z = Zval::new();
    z.set_long(n);
    z
}

pub fn zval_string(s: &str) -> Zval {
    let mut z = Zval::new();
    z.set_zend_string(ZendStr::new(s, false));
    z
}

pub fn zval_bool(b: bool) -> Zval {
    let mut z = Zval::new();
    z.set_bool(b);
    z
}

/// phpinfo(): a two-column table of `rows`, then the ini settings.
pub fn print_info(module: *mut zend_module_entry, rows: &[(String, String)]) {
    // SAFETY: phpinfo calls this with output active; the strings are valid C
    // strings for the duration of each call; `module` is our module entry.
    unsafe {
        php_info_print_table_start();
        for (label, value) in rows {
            let (l, v) = (c_message(label), c_message(value));
            php_info_print_table_row(2, l.as_ptr(), v.as_ptr());
        }
        php_info_print_table_end();
        display_ini_entries(module);
    }
}

// ------------------------------------------------------------ sessions

/// The callbacks of a session save handler, in safe terms. Ids and data
/// are PHP's strings as bytes; a `false`/`None` result makes PHP's session
/// function fail (the handler raises its own warning first).
pub trait SaveHandler {
    fn open(save_path: &str) -> bool;
    fn close() -> bool;
    /// The session's data, empty for a new session.
    fn read(id: &[u8], max_lifetime: i64) -> Option<Vec<u8>>;
    fn write(id: &[u8], data: &[u8], max_lifetime: i64) -> bool;
    fn destroy(id: &[u8]) -> bool;
    /// Whether a session with this id exists (`session.use_strict_mode`).
    fn exists(id: &[u8]) -> bool;
    /// Keeps an unchanged session alive (`session.lazy_write`).
    fn touch(id: &[u8], data: &[u8], max_lifetime: i64) -> bool;
}

/// `ps_module` of ext/session/php_session.h (PHP 8.x).
#[repr(C)]
struct PsModule {
    name: *const c_char,
    open: unsafe extern "C" fn(*mut *mut c_void, *const c_char, *const c_char) -> zend_result,
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

/// Runs a callback; a panic becomes a warning and a failure, never an
/// unwind into PHP.
fn guarded<R>(failure: R, callback: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(callback)).unwrap_or_else(|_| {
        warn("internal error in the ephpm session handler (please report it)");
        failure
    })
}

/// # Safety
/// `s` is a valid zend_string that outlives the returned slice.
unsafe fn zstr<'a>(s: *mut zend_string) -> &'a [u8] {
    // SAFETY: per the contract; ZendStr is zend_string.
    unsafe { (*s).as_bytes() }
}

unsafe extern "C" fn ps_open<H: SaveHandler>(
    mod_data: *mut *mut c_void,
    save_path: *const c_char,
    _session_name: *const c_char,
) -> zend_result {
    // SAFETY: ext/session passes its current session.save_path, a C string.
    let path = unsafe { CStr::from_ptr(save_path) }.to_string_lossy();
    let ok = guarded(false, || H::open(&path));
    if ok {
        // SAFETY: mod_data is ext/session's slot for this handler.
        unsafe { *mod_data = ptr::addr_of!(OPEN_MARKER).cast_mut().cast() };
    }
    result(ok)
}

unsafe extern "C" fn ps_close<H: SaveHandler>(mod_data: *mut *mut c_void) -> zend_result {
    // SAFETY: as in ps_open.
    unsafe { *mod_data = ptr::null_mut() };
    result(guarded(false, H::close))
}

unsafe extern "C" fn ps_read<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
    val: *mut *mut zend_string,
    max_lifetime: ZendLong,
) -> zend_result {
    // SAFETY: ext/session passes the session id, valid during the call.
    let id = unsafe { zstr(key) };
    match guarded(None, || H::read(id, max_lifetime)) {
        Some(data) => {
            // Allocated only now, outside every store lock: a memory_limit
            // failure here ends the request without leaving a lock held.
            // SAFETY: `val` is where ext/session expects a new string it owns.
            unsafe { *val = ZendStr::new(&data, false).into_raw() };
            SUCCESS
        }
        None => FAILURE,
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
    result(guarded(false, || H::write(id, data, max_lifetime)))
}

unsafe extern "C" fn ps_destroy<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
) -> zend_result {
    // SAFETY: as in ps_read.
    let id = unsafe { zstr(key) };
    result(guarded(false, || H::destroy(id)))
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
        let id = unsafe { php_session_create_id(mod_data) };
        // SAFETY: a non-null result is a new string that we own.
        if id.is_null() || !guarded(false, || H::exists(unsafe { zstr(id) })) {
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
    result(guarded(false, || H::exists(id)))
}

unsafe extern "C" fn ps_update_timestamp<H: SaveHandler>(
    _mod_data: *mut *mut c_void,
    key: *mut zend_string,
    val: *mut zend_string,
    max_lifetime: ZendLong,
) -> zend_result {
    // SAFETY: as in ps_write.
    let (id, data) = unsafe { (zstr(key), zstr(val)) };
    result(guarded(false, || H::touch(id, data, max_lifetime)))
}

/// Makes `session.save_handler = <name>` use `H`; called from MINIT (after
/// ext/session's, which the module entry requires).
pub fn register_session_module<H: SaveHandler>(name: &'static CStr) -> bool {
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

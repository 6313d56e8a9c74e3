//! Everything that touches the Zend engine directly: the module entry, the
//! function table with exact arginfo, PHP's own argument parsing, warnings,
//! `ValueError`s, ini lookups and return values. The only module with
//! `unsafe`.

use ext_php_rs::ffi::{
    zend_execute_data, zend_function_entry, zend_internal_arg_info, zend_module_entry, zend_type,
    zval, E_WARNING, USING_ZTS, ZEND_DEBUG, ZEND_MODULE_API_NO,
};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};
use ext_php_rs::zend::IniEntryDef;
use std::ffi::{c_char, c_int, CStr, CString};
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

/// Builds the module entry that PHP's `get_module` returns; leaked, as PHP
/// uses it until the process ends.
pub fn module_entry(
    name: &'static CStr,
    version: &'static CStr,
    functions: &[Signature],
    minit: StartupFn,
    rinit: StartupFn,
    minfo: InfoFn,
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
    let entry = zend_module_entry {
        size: std::mem::size_of::<zend_module_entry>() as u16,
        zend_api: ZEND_MODULE_API_NO,
        zend_debug: ZEND_DEBUG as u8,
        zts: USING_ZTS as u8,
        ini_entry: ptr::null(),
        deps: ptr::null(),
        name: name.as_ptr(),
        functions: table.as_ptr(),
        module_startup_func: Some(minit),
        module_shutdown_func: None,
        request_startup_func: Some(rinit),
        request_shutdown_func: None,
        info_func: Some(minfo),
        version: version.as_ptr(),
        globals_size: 0,
        globals_ptr: ptr::null_mut(),
        globals_ctor: None,
        globals_dtor: None,
        post_deactivate_func: None,
        module_started: 0,
        type_: 0,
        handle: ptr::null_mut(),
        module_number: 0,
        // SAFETY: returns a pointer to a static string compiled into the glue.
        build_id: unsafe { ext_php_rs::ffi::ext_php_rs_php_build_id() },
    };
    Box::leak(Box::new(entry))
}

/// Registers the ini settings `(name, default)`; called from MINIT.
pub fn register_ini(settings: &[(&'static str, &'static str)], module_number: c_int) {
    let leak = |s: &str| -> &'static CStr {
        Box::leak(CString::new(s).expect("no NUL").into_boxed_c_str())
    };
    let mut defs: Vec<IniEntryDef> = settings
        .iter()
        .map(|(name, default)| {
            IniEntryDef::new(leak(name), leak(default), IniEntryPermission::System)
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

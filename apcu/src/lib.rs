//! The `apcu` PHP module of ePHPm: APCu's user API (`apcu_*` functions,
//! the `apc.*` settings, module name `apcu`) over a `shm-store` segment
//! shared by every worker of a php-fpm pool, every Apache child and the
//! CLI, so APCu caches (Symfony, Laravel, Drupal, WordPress, Composer) get
//! one store for all of them by loading this library instead of APCu's.
//!
//! Module map:
//! - [`settings`]: the `apc.*` settings and the store they name;
//! - [`store`]: the store of a request, opened once per process, and the
//!   locks `apcu_entry` holds;
//! - [`value`]: how a PHP value is stored (ints as the store's integers,
//!   a tag byte for the rest, a compact array format, the serializer);
//! - [`api`]: the functions;
//! - [`iterator`]: class `APCUIterator` (its engine side in `zend::class`);
//! - [`zend`]: the engine's edge (entry points, warnings, ini, phpinfo),
//!   the only module with `unsafe`.
//!
//! Built on ext-php-rs's own module, function and ini builders; the
//! design decisions are in `apcu/README.md`.

mod api;
mod iterator;
mod settings;
mod store;
mod value;
mod zend;

use ext_php_rs::args::Arg;
use ext_php_rs::builders::{FunctionBuilder, ModuleBuilder, ModuleStartup};
use ext_php_rs::flags::{DataType, IniEntryPermission};
use ext_php_rs::types::Zval;
use ext_php_rs::zend::{ExecuteData, IniEntryDef, ModuleEntry, StaticModuleEntry};
use std::ffi::CString;
use std::sync::Mutex;

/// The version `phpversion('apcu')` reports: the APCu release whose API
/// this module implements (code that checks APCu's version by
/// `version_compare` sees the API it expects).
pub const APCU_VERSION: &str = "5.1.22";

/// This library's own version (phpinfo shows it).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One PHP function's entry point: the engine calls it, it runs the body.
macro_rules! php_fn {
    ($name:ident => $body:path) => {
        extern "C" fn $name(ex: &mut ExecuteData, rv: &mut Zval) {
            zend::entry(ex, rv, $body)
        }
    };
    ($name:ident => pending $body:path) => {
        extern "C" fn $name(ex: &mut ExecuteData, rv: &mut Zval) {
            zend::entry_pending(ex, rv, $body)
        }
    };
}

php_fn!(apcu_enabled => api::enabled);
php_fn!(apcu_store => api::store_fn);
php_fn!(apcu_add => api::add);
php_fn!(apcu_fetch => pending api::fetch);
php_fn!(apcu_exists => api::exists);
php_fn!(apcu_delete => api::delete);
php_fn!(apcu_inc => api::inc);
php_fn!(apcu_dec => api::dec);
php_fn!(apcu_cas => api::cas);
php_fn!(apcu_entry => api::entry);
php_fn!(apcu_clear_cache => api::clear_cache);
php_fn!(apcu_cache_info => api::cache_info);
php_fn!(apcu_sma_info => api::sma_info);
php_fn!(apcu_key_info => api::key_info);

/// The functions with their signatures (as `php_apc.stub.php` has them).
fn functions() -> Vec<FunctionBuilder<'static>> {
    let arg = |name: &str, ty| Arg::new(name, ty);
    let mixed = |name: &str| Arg::new(name, DataType::Mixed);
    let optional_int = |name: &str, default: &str| Arg::new(name, DataType::Long).default(default);
    let success = || {
        Arg::new("success", DataType::Mixed)
            .as_ref()
            .default("null")
    };
    vec![
        FunctionBuilder::new("apcu_clear_cache", apcu_clear_cache).returns(
            DataType::Bool,
            false,
            false,
        ),
        FunctionBuilder::new("apcu_cache_info", apcu_cache_info)
            .not_required()
            .arg(arg("limited", DataType::Bool).default("false"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_key_info", apcu_key_info)
            .arg(arg("key", DataType::String))
            .returns(DataType::Array, false, true),
        FunctionBuilder::new("apcu_sma_info", apcu_sma_info)
            .not_required()
            .arg(arg("limited", DataType::Bool).default("false"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_enabled", apcu_enabled).returns(DataType::Bool, false, false),
        FunctionBuilder::new("apcu_store", apcu_store)
            .arg(mixed("key"))
            .not_required()
            .arg(mixed("value"))
            .arg(optional_int("ttl", "0"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_add", apcu_add)
            .arg(mixed("key"))
            .not_required()
            .arg(mixed("value"))
            .arg(optional_int("ttl", "0"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_inc", apcu_inc)
            .arg(arg("key", DataType::String))
            .not_required()
            .arg(optional_int("step", "1"))
            .arg(success())
            .arg(optional_int("ttl", "0"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_dec", apcu_dec)
            .arg(arg("key", DataType::String))
            .not_required()
            .arg(optional_int("step", "1"))
            .arg(success())
            .arg(optional_int("ttl", "0"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_cas", apcu_cas)
            .arg(arg("key", DataType::String))
            .arg(arg("old", DataType::Long))
            .arg(arg("new", DataType::Long))
            .returns(DataType::Bool, false, false),
        FunctionBuilder::new("apcu_fetch", apcu_fetch)
            .arg(mixed("key"))
            .not_required()
            .arg(success())
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_exists", apcu_exists)
            .arg(mixed("key"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_delete", apcu_delete)
            .arg(mixed("key"))
            .returns(DataType::Mixed, false, false),
        FunctionBuilder::new("apcu_entry", apcu_entry)
            .arg(arg("key", DataType::String))
            .arg(arg("callback", DataType::Callable))
            .not_required()
            .arg(optional_int("ttl", "0"))
            .returns(DataType::Mixed, false, false),
    ]
}

/// What MINIT still has to register (classes, constants) from the builder.
static STARTUP: Mutex<Option<ModuleStartup>> = Mutex::new(None);

extern "C" fn minit(ty: i32, module_number: i32) -> i32 {
    let defs: Vec<IniEntryDef> = settings::ALL
        .iter()
        .map(|s| {
            let permission = if s.runtime {
                IniEntryPermission::All
            } else {
                IniEntryPermission::System
            };
            let leak = |t: &str| &*Box::leak(CString::new(t).expect("no NUL").into_boxed_c_str());
            IniEntryDef::new(leak(s.name), leak(s.default), permission)
        })
        .chain([IniEntryDef::end()])
        .collect();
    IniEntryDef::register(Box::leak(defs.into_boxed_slice()), module_number);
    let startup = STARTUP.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(startup) = startup {
        if let Err(e) = startup.startup(ty, module_number) {
            let _ = zend::warn_at_startup(&format!("apcu (ephpm-apcu): startup failed: {e}"));
            return 1;
        }
    }
    if let Err(e) = zend::class::register(module_number) {
        let _ = zend::warn_at_startup(&format!("apcu (ephpm-apcu): startup failed: {e}"));
        return 1;
    }
    zend::set_info_rows(info_rows);
    // Bad settings are reported now; the store is opened by the first
    // request of each worker (never by php-fpm's master, which may be root).
    let mut problems = Vec::new();
    if let Err(e) = store::place() {
        problems.push(e);
    }
    match settings::serializer(&zend::ini_value(settings::SERIALIZER.name)) {
        Err(e) => problems.push(e),
        Ok(settings::Serializer::Igbinary) if zend::registered_module("igbinary").is_none() => {
            problems.push(
                "apc.serializer = igbinary, but the igbinary extension is not loaded: \
                 values are stored with php's serializer"
                    .into(),
            )
        }
        Ok(_) => {}
    }
    for problem in problems {
        let _ = zend::warn_at_startup(&format!("apcu (ephpm-apcu): {problem}"));
    }
    0
}

extern "C" fn rinit(_ty: i32, _module_number: i32) -> i32 {
    store::request_start();
    0
}

/// After every module's request shutdown: `apcu_entry` locks still held
/// (a callback that bailed out) are released, hit counts flushed.
extern "C" fn post_deactivate() -> i32 {
    let _ = std::panic::catch_unwind(store::request_end);
    0
}

/// phpinfo()'s rows.
fn info_rows() -> Vec<(String, String)> {
    let mut rows = vec![
        (
            "APCu Support".into(),
            if store::enabled() {
                "Enabled"
            } else {
                "Disabled"
            }
            .into(),
        ),
        ("Version".into(), APCU_VERSION.into()),
        (
            "Implementation".into(),
            format!("ephpm-apcu {VERSION} (shm-store)"),
        ),
        (
            "Serialization Support".into(),
            match store::serializer() {
                settings::Serializer::Php => "php".into(),
                settings::Serializer::Igbinary => "igbinary".into(),
            },
        ),
    ];
    match store::place() {
        Ok(settings::Place::Disabled) => {}
        Ok(settings::Place::Private(c)) => rows.push((
            "Store".into(),
            format!(
                "private to this process ({} bytes; php-cli without apc.name)",
                c.size
            ),
        )),
        Ok(settings::Place::Shared(c)) => {
            rows.push(("Store".into(), format!("{} ({} bytes)", c.name, c.size)))
        }
        Err(e) => rows.push(("Error".into(), e)),
    }
    rows
}

/// The warning when a module named `apcu` (APCu's own apcu.so, loaded
/// first) is registered already: PHP then refuses ours, and this says which
/// library is skipped (`zend::get_module` raises it).
pub(crate) fn skipped_beside(version: &str) -> String {
    format!(
        "apcu (ephpm-apcu {VERSION}): a module named apcu (version {version}, APCu's apcu.so) \
         is already loaded: this library, ephpm-apcu's libephpm_apcu.so, is skipped; \
         load only one of them"
    )
}

/// The module entry, built once (`zend::get_module` returns it).
pub(crate) fn module_entry() -> *mut ModuleEntry {
    static MODULE: StaticModuleEntry = StaticModuleEntry::new();
    MODULE.get_or_init(|| {
        let builder = functions()
            .into_iter()
            .fold(
                ModuleBuilder::new("apcu", APCU_VERSION),
                ModuleBuilder::function,
            )
            .startup_function(minit)
            .request_startup_function(rinit)
            .post_deactivate_function(post_deactivate)
            .info_function(zend::info_entry);
        let (entry, startup, owned) = builder.try_into().expect("a valid module definition");
        *STARTUP.lock().unwrap_or_else(|e| e.into_inner()) = Some(startup);
        (entry, owned)
    })
}

//! The engine side of class `APCUIterator`: its object (a
//! `ZendClassObject` of ext-php-rs holding the iterator's state), the
//! class and its methods registered at MINIT with ext-php-rs's
//! `ClassBuilder`, `$this` of a method call, and APCu's fatal errors. The
//! methods' bodies are in [`crate::iterator`]; they run through
//! [`super::entry`] as the functions do.
//!
//! The state lives in a `Cell` of the object: a method takes it out, works
//! on it (calling into the engine: regex matching, values, zvals) with no
//! borrow of the object live, and puts it back. A call on the same object
//! from user code meanwhile (an error handler) finds no state and throws
//! APCu's "uninitialized" error; the state of a call that bailed out is
//! dropped with its frame.

use super::{engine, entry, Args, Bailout};
use crate::iterator::{self, State};
use ext_php_rs::args::Arg;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::builders::{ClassBuilder, FunctionBuilder};
use ext_php_rs::class::{ClassEntryInfo, ClassMetadata, ConstructorMeta, RegisteredClass};
use ext_php_rs::constant::IntoConst;
use ext_php_rs::convert::IntoZvalDyn;
use ext_php_rs::describe::DocComments;
use ext_php_rs::ffi::{php_error_docref, E_ERROR};
use ext_php_rs::flags::{ConstantFlags, DataType, MethodFlags};
use ext_php_rs::types::{ZendClassObject, ZendObject, ZendStr, Zval};
use ext_php_rs::zend::{ClassEntry, ExecuteData};
use std::cell::Cell;
use std::ffi::c_int;
use std::ptr;
use std::sync::OnceLock;

/// The Rust part of an `APCUIterator` object: its state once a
/// constructor has set it (`None` before: a subclass whose constructor
/// does not call the parent's, or while a method has it out).
#[derive(Default)]
pub(crate) struct IterObject {
    state: Cell<Option<Box<State>>>,
}

impl IterObject {
    /// Takes the state out (`None` if there is none now).
    pub(crate) fn take(&self) -> Option<Box<State>> {
        self.state.take()
    }

    /// Puts a state (back) in; one that is there already (set meanwhile
    /// by user code) is dropped.
    pub(crate) fn put(&self, state: Box<State>) -> Result<(), Bailout> {
        let old = self.state.replace(Some(state));
        // Its zvals may hold objects whose destructors run now.
        match old {
            Some(old) => engine(move || drop(old)),
            None => Ok(()),
        }
    }
}

/// The class's metadata: its class entry and object handlers
/// (ext-php-rs's, with the state dropped when the object is freed).
static META: ClassMetadata<IterObject> = ClassMetadata::new(&[]);

impl RegisteredClass for IterObject {
    const CLASS_NAME: &'static str = "APCUIterator";
    const BUILDER_MODIFIER: Option<fn(ClassBuilder) -> ClassBuilder> = None;
    const EXTENDS: Option<ClassEntryInfo> = None;
    const IMPLEMENTS: &'static [ClassEntryInfo] = &[];

    fn get_metadata() -> &'static ClassMetadata<Self> {
        &META
    }

    fn method_builders() -> Vec<(FunctionBuilder<'static>, MethodFlags)> {
        Vec::new()
    }

    fn constructor() -> Option<ConstructorMeta<Self>> {
        None
    }

    fn constants() -> &'static [(
        &'static str,
        &'static dyn IntoZvalDyn,
        DocComments,
        ConstantFlags,
    )] {
        &[]
    }
}

/// The engine's `create_object` of the class and its subclasses: an object
/// of class `ce` with no state yet.
extern "C" fn create_object(ce: *mut ClassEntry) -> *mut ZendObject {
    // SAFETY: `ce` is the class being instantiated (this class or a
    // subclass, which inherits this handler), alive while its objects are;
    // the object is initialised with a value at once.
    let mut object = unsafe { ZendClassObject::<IterObject>::new_uninit(ce.as_ref()) };
    object.initialize(IterObject::default());
    let object = object.into_raw();
    // SAFETY: `into_raw` gives the engine the object, valid and owned by it
    // from now on; its `zend_object` is what the engine expects back.
    unsafe { (*object).get_mut_zend_obj() }
}

/// The `APCUIterator` object of a zval (an instance of the class or of a
/// subclass), if it is one.
pub(crate) fn iterator_of(z: &Zval) -> Option<&IterObject> {
    let object = z.dereference().object()?;
    ZendClassObject::<IterObject>::from_zend_obj(object).map(|o| &**o)
}

/// `$this` of a method call, if it is an `APCUIterator`.
pub(crate) fn this<'a>(args: &Args<'a>) -> Option<&'a IterObject> {
    iterator_of(&args.ex.This)
}

/// Raises APCu's `E_ERROR` (`apc_error`): the engine bails out (the
/// request ends, as with APCu), returned as [`Bailout`].
pub(crate) fn fatal(message: &str) -> Result<(), Bailout> {
    let text = super::c_message(message);
    engine(|| {
        // SAFETY: the format is a literal "%s" and its argument a valid C string.
        unsafe { php_error_docref(ptr::null(), E_ERROR as c_int, c"%s".as_ptr(), text.as_ptr()) }
    })
}

/// Throws an `Error` with `message`.
pub(crate) fn throw_error(message: &str) -> Result<(), Bailout> {
    engine(|| {
        let _ = ext_php_rs::exception::throw(ext_php_rs::zend::ce::error(), message);
    })
}

/// An entry's field names and the type `"user"`, interned for the life of
/// the process (as APCu interns them): an entry's array takes its keys
/// from here with no allocation.
pub(crate) const INTERNED: [&str; 12] = [
    "type",
    "key",
    "value",
    "num_hits",
    "mtime",
    "creation_time",
    "deletion_time",
    "access_time",
    "ref_count",
    "mem_size",
    "ttl",
    "user",
];

static INTERNED_STRINGS: OnceLock<[&'static ZendStr; 12]> = OnceLock::new();

/// Interns [`INTERNED`] (MINIT: the engine's permanent interned strings).
fn intern() {
    let strings = INTERNED.map(|text| {
        let string = ZendStr::new_interned(text, true).into_raw();
        // SAFETY: a permanent interned string lives, unchanged, as long as
        // the process; the engine never frees or counts references to it.
        unsafe { &*string }
    });
    let _ = INTERNED_STRINGS.set(strings);
}

/// The interned [`INTERNED`]`[i]`, once MINIT has made them.
pub(crate) fn interned(i: usize) -> Option<&'static ZendStr> {
    INTERNED_STRINGS.get()?.get(i).copied()
}

/// A zval of the interned [`INTERNED`]`[i]`, once MINIT has made them.
pub(crate) fn interned_zval(i: usize) -> Option<Zval> {
    let string = interned(i)?;
    let mut z = Zval::new();
    // SAFETY: a permanent interned string: `set_zend_string` marks the zval
    // not reference-counted (the string is immutable), so neither the zval
    // nor anything copying it frees it.
    z.set_zend_string(unsafe { ZBox::from_raw(ptr::from_ref(string).cast_mut()) });
    Some(z)
}

macro_rules! method {
    ($name:ident => $body:path) => {
        extern "C" fn $name(ex: &mut ExecuteData, rv: &mut Zval) {
            entry(ex, rv, $body)
        }
    };
}

method!(construct => iterator::construct);
method!(rewind => iterator::rewind);
method!(valid => iterator::valid);
method!(current => iterator::current);
method!(key => iterator::key);
method!(next => iterator::next);
method!(total_hits => iterator::total_hits);
method!(total_size => iterator::total_size);
method!(total_count => iterator::total_count);

/// Registers the class (with its methods, as `apc_iterator.stub.php` has
/// them, implementing `Iterator`) and the `APC_ITER_*`/`APC_LIST_*`
/// constants. Called by MINIT.
pub(crate) fn register(module_number: i32) -> Result<(), String> {
    intern();
    let none = |name: &str, handler, ty| {
        (
            FunctionBuilder::new(name, handler).returns(ty, false, false),
            MethodFlags::Public,
        )
    };
    let constructor = FunctionBuilder::new("__construct", construct)
        .not_required()
        .arg(Arg::new("search", DataType::Mixed).default("null"))
        .arg(Arg::new("format", DataType::Long).default("APC_ITER_ALL"))
        .arg(Arg::new("chunk_size", DataType::Long).default("0"))
        .arg(Arg::new("list", DataType::Long).default("APC_LIST_ACTIVE"));
    let methods = [
        (constructor, MethodFlags::Public),
        none("rewind", rewind, DataType::Void),
        none("next", next, DataType::Void),
        none("valid", valid, DataType::Bool),
        none("key", key, DataType::Mixed),
        none("current", current, DataType::Mixed),
        none("getTotalHits", total_hits, DataType::Long),
        none("getTotalSize", total_size, DataType::Long),
        none("getTotalCount", total_count, DataType::Long),
    ];
    methods
        .into_iter()
        .fold(ClassBuilder::new(IterObject::CLASS_NAME), |b, (m, f)| {
            b.method(m, f)
        })
        .implements((ext_php_rs::zend::ce::iterator, "Iterator"))
        .registration(|ce, arg_info| {
            ce.__bindgen_anon_2.create_object = Some(create_object);
            META.set_ce(ce);
            META.set_arg_info(arg_info);
        })
        .register()
        .map_err(|e| format!("class APCUIterator: {e}"))?;
    for (name, value) in iterator::CONSTANTS {
        value
            .register_constant(name, module_number)
            .map_err(|e| format!("constant {name}: {e}"))?;
    }
    Ok(())
}

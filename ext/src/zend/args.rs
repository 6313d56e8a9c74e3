//! A call's arguments, parsed by PHP's own `zend_parse_parameters` (or
//! read directly when they already have the exact types).

use super::{engine, zend_parse_parameters, Bailout, ZendLong, IS_LONG, IS_STRING, SUCCESS};
use ext_php_rs::ffi::{zend_execute_data, zval};
use std::ffi::c_char;
use std::ptr;

/// The arguments of the current call, parsed by PHP's own rules (so weak
/// mode coerces `5` to `"5"`, strict mode throws `TypeError`, and a wrong
/// count throws `ArgumentCountError`). Parsing can run PHP code (a
/// deprecation reaching an error handler, `__toString`), so each parse is
/// an [`engine`] call: `Err(Bailout)` to return at once, `Ok(None)` means an
/// exception is pending.
pub(crate) struct Args<'a> {
    ex: &'a zend_execute_data,
}

pub(crate) type Parsed<T> = Result<Option<T>, Bailout>;

impl<'a> Args<'a> {
    /// # Safety
    /// `ex` is the execute data the engine passed to the running handler.
    pub(super) unsafe fn new(ex: *mut zend_execute_data) -> Args<'a> {
        Args {
            // SAFETY: per the contract, valid for the whole call.
            ex: unsafe { &*ex },
        }
    }

    fn count(&self) -> u32 {
        // SAFETY: for a call frame, `This.u2` holds the number of arguments.
        unsafe { self.ex.This.u2.num_args }
    }

    /// Argument `n` (from 0), which must be below [`Args::count`]: the
    /// engine's `ZEND_CALL_ARG(ex, n + 1)`, the frame's slots that follow
    /// the `zend_execute_data` itself.
    fn arg(&self, n: u32) -> &'a zval {
        const FRAME_SLOTS: usize =
            std::mem::size_of::<zend_execute_data>().div_ceil(std::mem::size_of::<zval>());
        debug_assert!(n < self.count());
        let frame: *const zend_execute_data = self.ex;
        // SAFETY: the engine lays the `count()` arguments of a call out as
        // zvals right after its execute data (`ZEND_CALL_FRAME_SLOT`), all
        // initialised before the handler runs and alive until it returns.
        unsafe { &*frame.cast::<zval>().add(FRAME_SLOTS + n as usize) }
    }

    /// The arguments as they are, when their count is in `required..=kinds.len()`
    /// and each is exactly of its kind (`b's'` string, `b'l'` int): then
    /// parsing could not convert, warn, throw or run any PHP code, and
    /// needs no call into the engine. `None`: leave it to PHP's parser.
    fn exact<const N: usize>(&self, kinds: [u8; N], required: usize) -> Option<[Exact<'a>; N]> {
        let count = self.count() as usize;
        if count < required || count > N {
            return None;
        }
        let mut out = [Exact::Absent; N];
        for (i, kind) in kinds.iter().enumerate().take(count) {
            let z = self.arg(i as u32);
            // SAFETY: the type byte of an initialised zval.
            let type_ = unsafe { z.u1.v.type_ };
            out[i] = match (kind, type_) {
                // SAFETY: a zval of type IS_STRING holds a live zend_string,
                // which outlives the call like the argument itself.
                (b's', IS_STRING) => Exact::Bytes(unsafe { (*z.value.str_).as_bytes() }),
                // SAFETY: a zval of type IS_LONG holds a zend_long.
                (b'l', IS_LONG) => Exact::Long(unsafe { z.value.lval }),
                _ => return None,
            };
        }
        Some(out)
    }

    /// `()`
    pub(crate) fn none(&self) -> Parsed<()> {
        let n = self.count();
        // SAFETY: the spec "" takes no output pointers.
        engine(|| (unsafe { zend_parse_parameters(n, c"".as_ptr()) } == SUCCESS).then_some(()))
    }

    /// `(string $a)`; the exact case inline (the hot path of a read).
    #[inline]
    pub(crate) fn string(&self) -> Parsed<&'a [u8]> {
        match self.string_exact() {
            Some(a) => Ok(Some(a)),
            None => self.string_parsed(),
        }
    }

    /// `(string $a)` when the call passed exactly one string (no parser,
    /// no coercion, nothing to raise); `None` otherwise: then parse with
    /// [`Args::string`]. Two words, in registers.
    #[inline(always)]
    pub(crate) fn string_exact(&self) -> Option<&'a [u8]> {
        if self.count() == 1 {
            let z = self.arg(0);
            // SAFETY: the type byte of an initialised zval.
            if unsafe { z.u1.v.type_ } == IS_STRING {
                // SAFETY: a zval of type IS_STRING holds a live
                // zend_string, which outlives the call like the argument.
                return Some(unsafe { (*z.value.str_).as_bytes() });
            }
        }
        None
    }

    /// [`Args::string`] through PHP's parser.
    #[inline(never)]
    fn string_parsed(&self) -> Parsed<&'a [u8]> {
        let (mut p, mut len) = (ptr::null_mut::<c_char>(), 0usize);
        let n = self.count();
        // SAFETY: "s" writes a char* and a size_t through the two pointers.
        let ok = engine(|| unsafe { zend_parse_parameters(n, c"s".as_ptr(), &mut p, &mut len) })?;
        Ok((ok == SUCCESS).then(|| bytes(p, len)))
    }

    /// `(string $a, int $b)` or, with a default, `(string $a, int $b = default)`
    pub(crate) fn string_long(&self, default: Option<ZendLong>) -> Parsed<(&'a [u8], ZendLong)> {
        match self.exact([b's', b'l'], if default.is_some() { 1 } else { 2 }) {
            Some([Exact::Bytes(a), Exact::Long(b)]) => return Ok(Some((a, b))),
            Some([Exact::Bytes(a), Exact::Absent]) => return Ok(default.map(|b| (a, b))),
            _ => {}
        }
        let (mut p, mut len, mut v) = (ptr::null_mut::<c_char>(), 0usize, default.unwrap_or(0));
        let spec = if default.is_some() { c"s|l" } else { c"sl" };
        let n = self.count();
        // SAFETY: "s" then "l" write a char*, a size_t and a zend_long.
        let ok = engine(|| unsafe {
            zend_parse_parameters(n, spec.as_ptr(), &mut p, &mut len, &mut v)
        })?;
        Ok((ok == SUCCESS).then(|| (bytes(p, len), v)))
    }

    /// `(string $a, int $b, int $c)`
    pub(crate) fn string_long_long(&self) -> Parsed<(&'a [u8], ZendLong, ZendLong)> {
        if let Some([Exact::Bytes(a), Exact::Long(b), Exact::Long(c)]) =
            self.exact([b's', b'l', b'l'], 3)
        {
            return Ok(Some((a, b, c)));
        }
        let (mut p, mut len, mut b, mut c) = (ptr::null_mut::<c_char>(), 0usize, 0, 0);
        let n = self.count();
        // SAFETY: "sll" writes a char*, a size_t and two zend_longs.
        let ok = engine(|| unsafe {
            zend_parse_parameters(n, c"sll".as_ptr(), &mut p, &mut len, &mut b, &mut c)
        })?;
        Ok((ok == SUCCESS).then(|| (bytes(p, len), b, c)))
    }

    /// `(string $a, string $b)`
    pub(crate) fn string_string(&self) -> Parsed<(&'a [u8], &'a [u8])> {
        if let Some([Exact::Bytes(a), Exact::Bytes(b)]) = self.exact([b's', b's'], 2) {
            return Ok(Some((a, b)));
        }
        let (mut p1, mut l1) = (ptr::null_mut::<c_char>(), 0usize);
        let (mut p2, mut l2) = (ptr::null_mut::<c_char>(), 0usize);
        let n = self.count();
        // SAFETY: "ss" writes two (char*, size_t) pairs.
        let ok = engine(|| unsafe {
            zend_parse_parameters(n, c"ss".as_ptr(), &mut p1, &mut l1, &mut p2, &mut l2)
        })?;
        Ok((ok == SUCCESS).then(|| (bytes(p1, l1), bytes(p2, l2))))
    }

    /// `(int $a = default, string $b = default, int $c = default)`
    pub(crate) fn long_string_long(
        &self,
        default: (ZendLong, &'a [u8], ZendLong),
    ) -> Parsed<(ZendLong, &'a [u8], ZendLong)> {
        if let Some(exact) = self.exact([b'l', b's', b'l'], 0) {
            let mut out = default;
            for (i, arg) in exact.into_iter().enumerate() {
                match (i, arg) {
                    (0, Exact::Long(a)) => out.0 = a,
                    (1, Exact::Bytes(b)) => out.1 = b,
                    (2, Exact::Long(c)) => out.2 = c,
                    _ => {}
                }
            }
            return Ok(Some(out));
        }
        let (mut a, mut c) = (default.0, default.2);
        let (mut p, mut len) = (
            default.1.as_ptr().cast::<c_char>().cast_mut(),
            default.1.len(),
        );
        let n = self.count();
        // SAFETY: "|lsl" writes a zend_long, a (char*, size_t) pair and a
        // zend_long, each only when its argument was passed.
        let ok = engine(|| unsafe {
            zend_parse_parameters(n, c"|lsl".as_ptr(), &mut a, &mut p, &mut len, &mut c)
        })?;
        Ok((ok == SUCCESS).then(|| (a, bytes(p, len), c)))
    }

    /// `(string $a, string $b, int $c)`, or with a default for `$c`
    pub(crate) fn string_string_long(
        &self,
        default: Option<ZendLong>,
    ) -> Parsed<(&'a [u8], &'a [u8], ZendLong)> {
        match self.exact([b's', b's', b'l'], if default.is_some() { 2 } else { 3 }) {
            Some([Exact::Bytes(a), Exact::Bytes(b), Exact::Long(c)]) => return Ok(Some((a, b, c))),
            Some([Exact::Bytes(a), Exact::Bytes(b), Exact::Absent]) => {
                return Ok(default.map(|c| (a, b, c)))
            }
            _ => {}
        }
        let (mut p1, mut l1) = (ptr::null_mut::<c_char>(), 0usize);
        let (mut p2, mut l2) = (ptr::null_mut::<c_char>(), 0usize);
        let mut v = default.unwrap_or(0);
        let spec = if default.is_some() { c"ss|l" } else { c"ssl" };
        let n = self.count();
        // SAFETY: "ss" then "l" write two (char*, size_t) pairs and a zend_long.
        let ok = engine(|| unsafe {
            zend_parse_parameters(n, spec.as_ptr(), &mut p1, &mut l1, &mut p2, &mut l2, &mut v)
        })?;
        Ok((ok == SUCCESS).then(|| (bytes(p1, l1), bytes(p2, l2), v)))
    }
}

/// An argument read by [`Args::exact`].
#[derive(Clone, Copy)]
enum Exact<'a> {
    /// Not passed (an optional parameter).
    Absent,
    Bytes(&'a [u8]),
    Long(ZendLong),
}

fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: zend_parse_parameters points `p` at `len` bytes of an argument
    // string that lives until the handler returns.
    unsafe { std::slice::from_raw_parts(p.cast(), len) }
}

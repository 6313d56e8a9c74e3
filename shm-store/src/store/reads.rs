//! `Store`'s reads (`get` and its forms, `read_begin`/`read_finish`, `exists`,
//! `ttl`, hit counts): uses `read`'s lock-free probe, the stripes, large values.

use crate::compress;
use crate::error::{Result, StoreError};
use crate::layout::{hash_key, Manifest};
use crate::read;
use crate::segment;
use crate::stripe::{Entry, Kind};
use crate::{Store, Ttl};

/// A handle flushes its counts by itself after this many reads.
const FLUSH_EVERY: u64 = 4096;

impl Store {
    fn note_locked_read(&self) {
        self.pending
            .locked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many reads and `exists` calls of this handle took the stripe
    /// lock instead of the lock-free path: those that met a stripe being
    /// changed [`READ_ATTEMPTS`] times, an expired entry or a large value.
    pub fn locked_reads(&self) -> u64 {
        self.pending
            .locked
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self, hit: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = match hit {
            true => &self.pending.hits,
            false => &self.pending.misses,
        };
        if counter.fetch_add(1, Relaxed) + 1 >= FLUSH_EVERY {
            self.flush_stats();
        }
    }

    /// Runs `read` on the value of a live key (a copy of it: values are
    /// read without the stripe lock, see [`Store::read_begin`]).
    pub fn get_with<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let mut value = Vec::new();
        Ok(self.get_into(key, &mut value)?.then(|| read(&value)))
    }

    /// Copies the value of a live key into `out` (cleared first); `false`
    /// if there is none.
    pub fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        let mut attempt = 0;
        loop {
            match self.read_begin(key, attempt)? {
                ReadStart::Missing => {
                    out.clear();
                    return Ok(false);
                }
                ReadStart::Copied(value) => {
                    *out = value;
                    return Ok(true);
                }
                ReadStart::Ready(ticket) => {
                    out.resize(ticket.len(), 0);
                    if self.read_finish(&ticket, out) {
                        return Ok(true);
                    }
                }
            }
            attempt += 1;
        }
    }

    /// The locked read: under the stripe lock (which reclaims an expired
    /// entry), or gathered from a large value's parts.
    fn get_locked(&self, key: &[u8]) -> Result<Option<Stored>> {
        let mut out = Vec::new();
        let found = self.with_key(key, |g, k| {
            g.view
                .get(k, || self.clock.now_ms(), |v| out.extend_from_slice(v))
        })?;
        match found {
            None => Ok(None),
            Some(Entry::Inline(())) => Ok(Some(Stored::Raw(out))),
            Some(Entry::Zstd(())) => Ok(Some(Stored::Zstd(out))),
            Some(Entry::Large(manifest)) => self.read_large(key, manifest),
        }
    }

    /// The original bytes of what a read copied out (with no lock held).
    /// A compressed value that does not decompress is removed (exactly
    /// the write that was read, by its stored bytes) and reported as
    /// [`StoreError::Corrupt`].
    fn unpack(&self, key: &[u8], stored: Stored) -> Result<Vec<u8>> {
        let max = self.segment.geometry().max_value_len as usize;
        let (bytes, manifest) = match stored {
            Stored::Raw(value) => return Ok(value),
            Stored::Zstd(bytes) => (bytes, None),
            Stored::ZstdLarge(bytes, manifest) => (bytes, Some(manifest)),
        };
        let reason = match compress::decompress(&bytes, max) {
            Ok(value) => return Ok(value),
            Err(reason) => reason,
        };
        let now = self.clock.now_ms();
        match manifest {
            None => {
                self.with_key(key, |g, k| g.view.del_corrupt(k, &bytes, Kind::Zstd, now))?;
            }
            Some(manifest) => {
                let record = bytemuck::bytes_of(&manifest);
                if self.with_key(key, |g, k| g.view.del_corrupt(k, record, Kind::Large, now))? {
                    self.drop_parts(&manifest);
                }
            }
        }
        Err(StoreError::Corrupt { reason })
    }

    /// Ends a read that copied `stored` out: decompressed if need be,
    /// counted as a hit or a miss.
    fn read_out(&self, key: &[u8], stored: Option<Stored>) -> Result<ReadStart> {
        let Some(stored) = stored else {
            self.count(false);
            return Ok(ReadStart::Missing);
        };
        let value = self.unpack(key, stored);
        self.count(value.is_ok());
        value.map(ReadStart::Copied)
    }

    /// The stripes' shape, for lock-free reads.
    fn shape(&self) -> read::Shape {
        let g = self.segment.geometry();
        read::Shape {
            slots: g.slots_per_stripe as usize,
            heap_len: g.heap_size as usize,
        }
    }

    /// Lock-free looks at `key` in its stripe while it is busy, up to
    /// [`READ_ATTEMPTS`] in all (counting the `attempt` earlier ones).
    fn probe(&self, key: &[u8], hash: u64, stripe: usize, attempt: u32) -> read::Probe {
        let shared = self.segment.shared_stripe(stripe);
        let now = || self.clock.now_ms();
        let mut probe = read::Probe::Busy;
        for _ in attempt..READ_ATTEMPTS {
            probe = read::probe(&shared, self.shape(), key, hash, &now);
            if probe != read::Probe::Busy || !shared.wait_even(READ_SPINS) {
                break;
            }
        }
        probe
    }

    /// Begins a read of `key` that copies its value once, straight into the
    /// caller's buffer (PHP's string): no lock is held between this call and
    /// [`Store::read_finish`], so the caller may allocate in between. Call
    /// with `attempt` 0, then 1, 2, ... each time `read_finish` says the value
    /// changed meanwhile; from [`READ_ATTEMPTS`] on the value is read under
    /// the stripe lock and returned as [`ReadStart::Copied`].
    pub fn read_begin(&self, key: &[u8], attempt: u32) -> Result<ReadStart> {
        self.check_key(key)?;
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        match self.probe(key, hash, stripe, attempt) {
            read::Probe::Missing => {
                self.count(false);
                Ok(ReadStart::Missing)
            }
            read::Probe::Found(seen) if seen.kind == read::Kind::Zstd => {
                // The stored bytes, copied lock-free like any value, then
                // decompressed: the caller gets the original as a copy.
                let ticket = ReadTicket { stripe, seen };
                let mut bytes = vec![0; ticket.len()];
                let copied = self.finish(&ticket, bytes.len(), |fill| match fill {
                    Fill::Copy(shared, at) => shared.copy_out(at, &mut bytes),
                    Fill::Text(_) => false,
                });
                let stored = match copied {
                    true => Some(Stored::Zstd(bytes)),
                    false => {
                        self.note_locked_read();
                        self.get_locked(key)?
                    }
                };
                self.read_out(key, stored)
            }
            read::Probe::Found(seen) => Ok(ReadStart::Ready(ReadTicket { stripe, seen })),
            read::Probe::Busy | read::Probe::Locked => {
                self.note_locked_read();
                let stored = self.get_locked(key)?;
                self.read_out(key, stored)
            }
        }
    }

    /// Copies the value a [`ReadStart::Ready`] ticket describes into `out`
    /// (exactly `ticket.len()` bytes); `true` if `out` now holds the value,
    /// `false` if it changed since (begin again with the next attempt).
    /// A hit is counted once, by the call that returns `true`.
    pub fn read_finish(&self, ticket: &ReadTicket, out: &mut [u8]) -> bool {
        let done = self.finish(ticket, out.len(), |fill| match fill {
            Fill::Copy(shared, at) => shared.copy_out(at, out),
            Fill::Text(text) => {
                out.copy_from_slice(text);
                true
            }
        });
        if done {
            self.count(true);
        }
        done
    }

    /// [`Store::read_finish`] into memory that need not be initialised (a
    /// string just allocated for the value): on `true` every byte of `out`
    /// has been written, on `false` none may be relied on.
    pub fn read_finish_uninit(
        &self,
        ticket: &ReadTicket,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> bool {
        let done = self.finish(ticket, out.len(), |fill| match fill {
            Fill::Copy(shared, at) => shared.copy_out_uninit(at, out),
            Fill::Text(text) => {
                for (slot, &byte) in out.iter_mut().zip(text) {
                    slot.write(byte);
                }
                true
            }
        });
        if done {
            self.count(true);
        }
        done
    }

    /// The copies of a ticket's value: `fill` writes the `len` bytes (the
    /// caller counts the hit).
    fn finish(
        &self,
        ticket: &ReadTicket,
        len: usize,
        fill: impl FnOnce(Fill<'_, '_>) -> bool,
    ) -> bool {
        let shared = self.segment.shared_stripe(ticket.stripe);
        let seen = &ticket.seen;
        let mut digits = itoa::Buffer::new();
        let copied = match seen.kind {
            // Read and validated with the probe: only rendered here.
            read::Kind::Int => {
                let text = digits.format(seen.int).as_bytes();
                len == text.len() && fill(Fill::Text(text))
            }
            read::Kind::Raw | read::Kind::Zstd => {
                len == seen.len
                    && fill(Fill::Copy(&shared, seen.value_at))
                    && shared.unchanged_since(seen.seq)
            }
        };
        if !copied {
            return false;
        }
        seen.stamp(&shared);
        true
    }

    /// Reads the value of `key` lock-free straight into `buf` when it
    /// fits there: one look at the stripe, one copy, one validation of
    /// both (the common case of a small value, with no allocation in
    /// between). Otherwise it says how the read goes on:
    /// [`SmallRead::Begun`] is what [`Store::read_begin`] returned for
    /// attempt 1 (a value longer than `buf`, already validated, or one
    /// that needs another way: a stripe being changed, a compressed or
    /// large value, an expired entry); continue with `read_finish` and
    /// attempts 2, 3, ...
    #[inline]
    pub fn read_small(&self, key: &[u8], buf: &mut [u8]) -> Result<SmallRead> {
        self.read_small_in(key, buf)
    }

    /// The common case of [`Store::read_small`] alone, for a caller that
    /// keeps the rest out of line: one look found the value, copied into
    /// `buf` (`Some(Some(len))`, its length) or no live entry
    /// (`Some(None)`); otherwise `None`, and [`Store::read_small_rest`]
    /// goes on (a longer value, a stripe being changed, a key the store
    /// does not take, ...; a longer value that the look validated leaves
    /// its ticket in `longer`, for `read_small_rest`). Two words, returned
    /// in registers.
    #[inline]
    pub fn read_small_quick(
        &self,
        key: &[u8],
        buf: &mut [u8],
        longer: &mut Option<ReadTicket>,
    ) -> Option<Option<usize>> {
        quick(self.read_small_look(key, buf), longer)
    }

    /// [`Store::read_small_quick`] that copies the value once, straight into
    /// memory the caller makes for it: when the look finds a value of at
    /// most `room` bytes, `alloc(len)` is called (at most once) for `len`
    /// bytes, the value copied into them, and the look and the copy
    /// validated together. `Some(Some(len))`: what `alloc` gave holds the
    /// value, every byte written. `Some(None)`: no live entry (`alloc` not
    /// called). `None`: go on with [`Store::read_small_rest`] (and
    /// `longer`, as for [`Store::read_small_quick`]); what `alloc` gave, if
    /// it was called, holds nothing to rely on (the caller frees it).
    ///
    /// `alloc` may also not return (PHP's allocator ends the request with a
    /// `longjmp` past this call when memory_limit is exceeded): while it
    /// runs the store holds no lock and no value with a destructor (the
    /// look's state is plain data, see the assertion below), and it has
    /// changed nothing (the hit is counted after the copy validates).
    #[inline]
    pub fn read_small_quick_in<'b>(
        &self,
        key: &[u8],
        room: usize,
        alloc: impl FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>,
        longer: &mut Option<ReadTicket>,
    ) -> Option<Option<usize>> {
        const {
            assert!(!std::mem::needs_drop::<segment::SharedStripe<'static>>());
            assert!(!std::mem::needs_drop::<read::Seen>());
            assert!(!std::mem::needs_drop::<itoa::Buffer>());
        }
        let mut buf = Alloc {
            room,
            alloc: Some(alloc),
        };
        quick(self.read_small_look(key, &mut buf), longer)
    }

    /// What [`Store::read_small`] does when its first look found
    /// neither a small value nor a miss (see [`Store::read_small_quick`]):
    /// the read goes on as from attempt 1 of [`Store::read_begin`] (with
    /// the ticket of a longer value the look validated, `longer`, at once):
    /// never [`SmallRead::Copied`] (it has no buffer).
    #[cold]
    #[inline(never)]
    pub fn read_small_rest(&self, key: &[u8], longer: Option<ReadTicket>) -> Result<SmallRead> {
        match longer {
            Some(ticket) => Ok(SmallRead::Begun(ReadStart::Ready(ticket))),
            None => self.read_small_slow(key),
        }
    }

    #[inline(always)]
    fn read_small_in<B: SmallBuf + ?Sized>(&self, key: &[u8], buf: &mut B) -> Result<SmallRead> {
        match self.read_small_look(key, buf) {
            Ok(read) => Ok(read),
            Err(()) => self.read_small_slow(key),
        }
    }

    /// One lock-free look and copy: `Err` if it found neither a small value
    /// nor a miss (or the key is not one the store takes).
    #[inline(always)]
    fn read_small_look<B: SmallBuf + ?Sized>(
        &self,
        key: &[u8],
        buf: &mut B,
    ) -> std::result::Result<SmallRead, ()> {
        if self.check_key(key).is_err() {
            return Err(());
        }
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        let shared = self.segment.shared_stripe(stripe);
        if let Some(seq) = shared.begin() {
            let now = || self.clock.now_ms();
            match read::find(&shared, self.shape(), key, hash, &now, seq) {
                read::Probe::Missing if shared.unchanged_since(seq) => {
                    self.count(false);
                    return Ok(SmallRead::Missing);
                }
                read::Probe::Found(seen) if seen.kind != read::Kind::Zstd => {
                    if seen.len <= buf.room() {
                        let copied = match seen.kind {
                            read::Kind::Int => {
                                let mut digits = itoa::Buffer::new();
                                // `len` is the text's length (see `read::entry`).
                                buf.put(digits.format(seen.int).as_bytes())
                            }
                            _ => buf.copy(&shared, seen.value_at, seen.len),
                        };
                        // The look and the copy validated at once: what
                        // both read is what the stripe held at one instant.
                        if copied && shared.unchanged_since(seq) {
                            seen.stamp(&shared);
                            self.count(true);
                            return Ok(SmallRead::Copied(seen.len));
                        }
                    } else if shared.unchanged_since(seq) {
                        return Ok(SmallRead::Begun(ReadStart::Ready(ReadTicket {
                            stripe,
                            seen,
                        })));
                    }
                }
                _ => {}
            }
        }
        Err(())
    }

    #[cold]
    #[inline(never)]
    fn read_small_slow(&self, key: &[u8]) -> Result<SmallRead> {
        Ok(match self.read_begin(key, 1)? {
            ReadStart::Missing => SmallRead::Missing,
            begun => SmallRead::Begun(begun),
        })
    }

    /// Adds this handle's hit and miss counts into the segment, so that
    /// [`Store::stats`] (in any process) includes them. Called at the end of
    /// each request, every few thousand reads, and when the handle is dropped.
    pub fn flush_stats(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.segment.counters();
        let hits = self.pending.hits.swap(0, Relaxed);
        let misses = self.pending.misses.swap(0, Relaxed);
        if hits > 0 {
            counters.hits.fetch_add(hits, Relaxed);
        }
        if misses > 0 {
            counters.misses.fetch_add(misses, Relaxed);
        }
    }

    /// The value of a live key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.get_into(key, &mut out)?.then_some(out))
    }

    /// Whether a live entry has `key`; without the stripe lock, like a
    /// read, and copying nothing.
    #[inline]
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let hash = hash_key(key);
        let stripe = self.stripe_of_hash(hash);
        let shared = self.segment.shared_stripe(stripe);
        if let Some(seq) = shared.begin() {
            let now = || self.clock.now_ms();
            let found = match read::find(&shared, self.shape(), key, hash, &now, seq) {
                read::Probe::Missing => Some(false),
                read::Probe::Found(_) => Some(true),
                read::Probe::Busy | read::Probe::Locked => None,
            };
            if let Some(found) = found.filter(|_| shared.unchanged_since(seq)) {
                return Ok(found);
            }
        }
        self.exists_slow(key, hash, stripe)
    }

    /// [`Store::exists`] once its first look met a stripe being changed,
    /// or an entry that needs the lock.
    #[cold]
    #[inline(never)]
    fn exists_slow(&self, key: &[u8], hash: u64, stripe: usize) -> Result<bool> {
        match self.probe(key, hash, stripe, 1) {
            read::Probe::Missing => Ok(false),
            read::Probe::Found(_) => Ok(true),
            read::Probe::Busy | read::Probe::Locked => {
                self.note_locked_read();
                self.with_key(key, |g, k| g.view.exists(k, || self.clock.now_ms()))
            }
        }
    }

    /// Remaining lifetime of a key.
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        let now = self.clock.now_ms();
        self.with_key(key, |g, k| g.view.ttl(k, now))
    }
}

/// A value as a read copied it out of the segment, before decompression.
pub(crate) enum Stored {
    /// The value itself.
    Raw(Vec<u8>),
    /// A compressed inline entry's stored bytes.
    Zstd(Vec<u8>),
    /// A compressed large value's stream, gathered from the parts the
    /// manifest names.
    ZstdLarge(Vec<u8>, Manifest),
}

/// A buffer [`Store::read_small`] copies into: initialised or not.
trait SmallBuf {
    fn room(&self) -> usize;
    /// Copies `len` bytes (at most `room`) from the stripe at `at` into
    /// the buffer's start; `false` if they do not lie inside the stripe.
    fn copy(&mut self, shared: &segment::SharedStripe<'_>, at: usize, len: usize) -> bool;
    /// Writes `text` (at most `room` bytes) at the buffer's start.
    fn put(&mut self, text: &[u8]) -> bool;
}

impl SmallBuf for [u8] {
    #[inline(always)]
    fn room(&self) -> usize {
        self.len()
    }
    #[inline(always)]
    fn copy(&mut self, shared: &segment::SharedStripe<'_>, at: usize, len: usize) -> bool {
        self.get_mut(..len)
            .is_some_and(|out| shared.copy_out(at, out))
    }
    #[inline(always)]
    fn put(&mut self, text: &[u8]) -> bool {
        self.get_mut(..text.len())
            .map(|out| out.copy_from_slice(text))
            .is_some()
    }
}

/// What a quick read returns for what its look found (see
/// [`Store::read_small_quick`]).
#[inline(always)]
fn quick(
    look: std::result::Result<SmallRead, ()>,
    longer: &mut Option<ReadTicket>,
) -> Option<Option<usize>> {
    match look {
        Ok(SmallRead::Copied(len)) => Some(Some(len)),
        Ok(SmallRead::Missing) => Some(None),
        Ok(SmallRead::Begun(ReadStart::Ready(ticket))) => {
            hand_on(longer, ticket);
            None
        }
        _ => None,
    }
}

/// Keeps a longer value's ticket for `read_small_rest`: out of line, so
/// that the quick read's common case does not carry it.
#[cold]
#[inline(never)]
fn hand_on(longer: &mut Option<ReadTicket>, ticket: ReadTicket) {
    *longer = Some(ticket);
}

/// A buffer [`Store::read_small_quick_in`] asks its caller for once it
/// knows the value's length.
struct Alloc<F> {
    room: usize,
    /// Taken by the one call.
    alloc: Option<F>,
}

impl<'b, F: FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>> Alloc<F> {
    /// The caller's `len` bytes (`None` if it has none, or gave another
    /// length, or was asked already).
    #[inline(always)]
    fn take(&mut self, len: usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]> {
        self.alloc
            .take()
            .and_then(|alloc| alloc(len))
            .filter(|out| out.len() == len)
    }
}

impl<'b, F: FnOnce(usize) -> Option<&'b mut [std::mem::MaybeUninit<u8>]>> SmallBuf for Alloc<F> {
    #[inline(always)]
    fn room(&self) -> usize {
        self.room
    }
    #[inline(always)]
    fn copy(&mut self, shared: &segment::SharedStripe<'_>, at: usize, len: usize) -> bool {
        self.take(len)
            .is_some_and(|out| shared.copy_out_uninit(at, out))
    }
    #[inline(always)]
    fn put(&mut self, text: &[u8]) -> bool {
        match self.take(text.len()) {
            Some(out) => {
                for (slot, &byte) in out.iter_mut().zip(text) {
                    slot.write(byte);
                }
                true
            }
            None => false,
        }
    }
}

/// Where the bytes of a value come from, for [`Store::finish`].
enum Fill<'a, 's> {
    /// From the stripe, at this offset.
    Copy(&'a segment::SharedStripe<'s>, usize),
    /// An integer entry's decimal text.
    Text(&'a [u8]),
}

/// How many times a lock-free read spins for a stripe being changed to be
/// left alone (some microseconds) before it takes the stripe lock.
const READ_SPINS: u32 = 512;

/// Tries a lock-free read makes before [`Store::read_begin`] takes the
/// stripe lock instead.
pub const READ_ATTEMPTS: u32 = 4;

/// What [`Store::read_small`] did.
#[derive(Debug)]
pub enum SmallRead {
    /// No live entry has the key.
    Missing,
    /// The value is the first this many bytes of the buffer.
    Copied(usize),
    /// The value did not fit in the buffer, or needs another way: go on as
    /// after [`Store::read_begin`] returned this for attempt 1 (never
    /// [`ReadStart::Missing`]).
    Begun(ReadStart),
}

/// How a read begins (see [`Store::read_begin`]).
#[derive(Debug)]
pub enum ReadStart {
    /// No live entry has the key.
    Missing,
    /// The value's length is known: make room for it, then copy it with
    /// [`Store::read_finish`].
    Ready(ReadTicket),
    /// The value, already read another way (under the stripe lock, or
    /// gathered from a large value's parts).
    Copied(Vec<u8>),
}

/// Where a value was seen by [`Store::read_begin`]; only meaningful to
/// [`Store::read_finish`] on the same handle.
#[derive(Debug, Clone)]
pub struct ReadTicket {
    stripe: usize,
    seen: read::Seen,
}

impl ReadTicket {
    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        self.seen.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.seen.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::SmallRead;
    use crate::{Store, StoreConfig};
    use std::mem::MaybeUninit;

    /// `read_small_quick_in` asks for the exact length of a value that fits
    /// its room (raw or an integer's text), only then, and at most once;
    /// a miss asks nothing; a longer value, a key the store refuses or a
    /// caller with no memory go on with `read_small_rest`, which agrees
    /// with `get`. `read_small_quick` copies what `get` returns.
    #[test]
    fn quick_reads_ask_for_the_length_and_agree_with_get() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::new("quick").dir(dir.path()).size(1 << 20)).unwrap();
        let room = 64;
        let mut keys = Vec::new();
        for len in [0usize, 1, 7, 63, 64, 65, 200] {
            let key = format!("s{len}").into_bytes();
            let value: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            store.set(&key, &value, None).unwrap();
            keys.push(key);
        }
        store.incr_by(b"n", -1234567).unwrap();
        keys.push(b"n".to_vec());
        keys.push(b"absent".to_vec());
        keys.push(vec![b'x'; 100_000]); // longer than any key may be
        for key in &keys {
            let expected = store.get(key).ok().flatten();
            let mut backing = vec![MaybeUninit::<u8>::uninit(); 256];
            let mut asked = Vec::new();
            let mut longer = None;
            let quick = store.read_small_quick_in(
                key,
                room,
                |len| {
                    asked.push(len);
                    backing.get_mut(..len)
                },
                &mut longer,
            );
            match &expected {
                None => {
                    assert!(asked.is_empty(), "{key:?}");
                    if key.len() < 100 {
                        assert_eq!(quick, Some(None), "{key:?}");
                    } else {
                        assert_eq!(quick, None);
                        assert!(longer.is_none());
                        assert!(store.read_small_rest(key, longer).is_err());
                    }
                }
                Some(value) if value.len() <= room => {
                    assert_eq!(quick, Some(Some(value.len())), "{key:?}");
                    assert_eq!(asked, [value.len()], "{key:?}");
                }
                Some(value) => {
                    assert_eq!(quick, None, "{key:?}");
                    assert!(asked.is_empty(), "{key:?}");
                    // Validated by the look, handed on.
                    assert_eq!(longer.as_ref().map(|t| t.len()), Some(value.len()));
                    let Ok(SmallRead::Begun(start)) = store.read_small_rest(key, longer) else {
                        panic!("{key:?}: not begun");
                    };
                    let crate::ReadStart::Ready(ticket) = start else {
                        panic!("{key:?}: not ready");
                    };
                    let mut out = vec![0; ticket.len()];
                    assert!(store.read_finish(&ticket, &mut out));
                    assert_eq!(&out, value);
                }
            }
            // A caller with no memory for it: nothing read, go on.
            if expected.as_ref().is_some_and(|v| v.len() <= room) {
                let quick = store.read_small_quick_in(key, room, |_| None, &mut None);
                assert_eq!(quick, None);
            }
            // Into an initialised buffer: the bytes `get` returns.
            let mut buf = [0u8; 64];
            match (store.read_small_quick(key, &mut buf, &mut None), &expected) {
                (Some(Some(len)), Some(value)) => assert_eq!(&buf[..len], &value[..]),
                (Some(None), None) => {}
                (None, Some(value)) => assert!(value.len() > room),
                (None, None) => assert!(key.len() >= 100),
                (quick, _) => panic!("{key:?}: {quick:?}"),
            }
        }
        assert_eq!(store.get(b"n").unwrap().unwrap(), b"-1234567");
    }
}

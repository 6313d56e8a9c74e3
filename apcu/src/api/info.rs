//! `apcu_enabled`, `apcu_clear_cache`, `apcu_cache_info`, `apcu_sma_info` and `apcu_key_info`:
//! the whole-cache calls and reports; touches the store's listing and statistics, builds PHP arrays.

use super::*;

pub(crate) fn enabled(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 0)? {
        return Ok(());
    }
    set_bool(rv, store::enabled())
}

pub(crate) fn clear_cache(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 0)? {
        return Ok(());
    }
    if let Some((s, _)) = store()? {
        if let Err(e) = s.flush_all() {
            zend::warn(&e.to_string())?;
            return set_bool(rv, false);
        }
    }
    set_bool(rv, true)
}

fn bool_param(args: &Args<'_>, i: usize) -> bool {
    args.get(i)
        .is_some_and(|z| z.dereference().coerce_to_bool())
}

fn double_zval(n: u64) -> Zval {
    let mut z = Zval::new();
    z.set_double(n as f64);
    z
}

/// An array of `(key, value)` pairs.
pub(crate) fn assoc(pairs: Vec<(&'static str, Zval)>) -> Result<Zval, Bailout> {
    let mut z = Zval::new();
    engine(|| {
        let mut ht = ZendHashTable::with_capacity(pairs.len() as u32);
        for (k, v) in pairs {
            let _ = ht.insert(k, v);
        }
        z.set_hashtable(ht);
    })?;
    Ok(z)
}

fn secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

pub(crate) fn cache_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 1)? {
        return Ok(());
    }
    let limited = bool_param(args, 0);
    let Some((s, _)) = store()? else {
        zend::warn(
            "No APC info available.  Perhaps APC is not enabled? Check apc.enabled in your ini file",
        )?;
        return set_bool(rv, false);
    };
    let stats = match s.stats() {
        Ok(stats) => stats,
        Err(e) => {
            zend::warn(&e.to_string())?;
            return set_bool(rv, false);
        }
    };
    let g = s.geometry();
    let mut entries = Vec::new();
    let mut entry_locks = 0i64;
    if !limited {
        let _ = s.scan(|e| match listed_key(&e.key) {
            Some(key) => entries.push((key.to_vec(), e.stored_len, e.ttl)),
            None => entry_locks += 1,
        });
    }
    let t = &stats.total;
    let mut pairs = vec![
        (
            "num_slots",
            long_zval(i64::from(g.slots_per_stripe) * i64::from(g.stripes)),
        ),
        (
            "ttl",
            long_zval(zend::ini_value("apc.ttl").trim().parse().unwrap_or(0)),
        ),
        ("num_hits", double_zval(t.hits)),
        ("num_misses", double_zval(t.misses)),
        ("num_inserts", double_zval(0)),
        (
            "num_entries",
            long_zval(i64::try_from(t.entries).unwrap_or(i64::MAX)),
        ),
        ("expunges", double_zval(t.evictions)),
        ("start_time", long_zval(secs(s.created_unix_ms()))),
        ("mem_size", double_zval(t.bytes_used)),
        ("memory_type", text_zval(b"mmap")?),
    ];
    if !limited {
        let mut list = Zval::new();
        engine(|| list.set_hashtable(ZendHashTable::with_capacity(entries.len() as u32)))?;
        for (key, size, ttl) in entries {
            let link = assoc(vec![
                ("info", text_zval(&key)?),
                ("ttl", long_zval(ttl_seconds(ttl))),
                ("num_hits", double_zval(0)),
                ("mtime", long_zval(0)),
                ("creation_time", long_zval(0)),
                ("deletion_time", long_zval(0)),
                ("access_time", long_zval(0)),
                ("ref_count", long_zval(0)),
                ("mem_size", long_zval(size as i64)),
            ])?;
            push(&mut list, link)?;
        }
        pairs.push(("cache_list", list));
        pairs.push(("deleted_list", assoc(Vec::new())?));
        pairs.push(("slot_distribution", assoc(Vec::new())?));
        // This module's own: `apcu_entry` callbacks running now (their locks).
        pairs.push(("entry_locks", long_zval(entry_locks)));
    }
    let info = assoc(pairs)?;
    set_zval(rv, info)
}

pub(crate) fn sma_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(0, 1)? {
        return Ok(());
    }
    let limited = bool_param(args, 0);
    let Some((s, _)) = store()? else {
        zend::warn("No APC SMA info available.  Perhaps APC is disabled via apc.enabled?")?;
        return set_bool(rv, false);
    };
    let free = s.stats().map(|st| st.total.bytes_free).unwrap_or(0);
    let mut pairs = vec![
        ("num_seg", long_zval(1)),
        ("seg_size", double_zval(s.geometry().total_size)),
        ("avail_mem", double_zval(free)),
    ];
    if !limited {
        // One list for the one segment; its free space as one block.
        let block = assoc(vec![
            ("size", long_zval(free as i64)),
            ("offset", long_zval(0)),
        ])?;
        let mut seg = Zval::new();
        engine(|| seg.set_hashtable(ZendHashTable::new()))?;
        push(&mut seg, block)?;
        let mut lists = Zval::new();
        engine(|| lists.set_hashtable(ZendHashTable::new()))?;
        push(&mut lists, seg)?;
        pairs.push(("block_lists", lists));
    }
    let info = assoc(pairs)?;
    set_zval(rv, info)
}

pub(crate) fn key_info(args: &Args<'_>, rv: &mut Zval) -> Done {
    if !args.counted(1, 1)? {
        return Ok(());
    }
    let Some(key) = string_param(args, 0, "key")? else {
        return Ok(());
    };
    let ttl = match store()? {
        Some((s, _)) if !reserved(&key) => s.ttl(skey(&key)).unwrap_or(Ttl::Missing),
        _ => Ttl::Missing,
    };
    if matches!(ttl, Ttl::Missing) {
        rv.set_null();
        return Ok(());
    }
    let info = assoc(vec![
        ("hits", long_zval(0)),
        ("access_time", long_zval(0)),
        ("mtime", long_zval(0)),
        ("creation_time", long_zval(0)),
        ("deletion_time", long_zval(0)),
        ("ttl", long_zval(ttl_seconds(ttl))),
        ("refs", long_zval(0)),
    ])?;
    set_zval(rv, info)
}

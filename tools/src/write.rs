//! The subcommands that change a store's keys: set, del, expire and flush.

use crate::fail::{key_not_found, Fail, Res};
use shm_store::Store;
use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

/// `set`: `value` is the value, or `-` to read it from stdin.
pub(crate) fn set(store: &Store, key: &str, value: String, ttl: Option<u64>) -> Res {
    let value = if value == "-" {
        let mut buf = Vec::new();
        io::stdin().read_to_end(&mut buf)?;
        buf
    } else {
        value.into_bytes()
    };
    store.set(key.as_bytes(), &value, ttl.map(Duration::from_secs))?;
    Ok(())
}

pub(crate) fn del(store: &Store, name: &str, key: &str) -> Res {
    if store.del(key.as_bytes())? {
        Ok(())
    } else {
        Err(key_not_found(key, name))
    }
}

pub(crate) fn expire(store: &Store, name: &str, key: &str, secs: u64) -> Res {
    if store.expire(key.as_bytes(), Duration::from_secs(secs))? {
        Ok(())
    } else {
        Err(key_not_found(key, name))
    }
}

/// `flush`: asks on stderr first unless `yes`.
pub(crate) fn flush(store: &Store, name: &str, yes: bool) -> Res {
    let n = store.stats()?.entries;
    if !yes {
        eprint!("flush all {n} keys of {name}? [y/N] ");
        io::stderr().flush()?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        let answer = line.trim().to_ascii_lowercase();
        if answer != "y" && answer != "yes" {
            return Err(Fail::not_found("flush declined, nothing deleted"));
        }
    }
    store.flush_all()?;
    println!("flushed {n} keys of {name}");
    Ok(())
}

//! Where the stores are: the segment file name prefix, and attaching to a store by name.

use crate::fail::Res;
use shm_store::Store;
use std::path::Path;

pub(crate) const FILE_PREFIX: &str = "ephpm_kv.";

pub(crate) fn attach(dir: &Path, name: &str) -> Res<Store> {
    Ok(Store::attach(dir, name)?)
}

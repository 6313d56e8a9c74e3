//! Who can reach `serve`. The segment is `0600` in a `0700` directory, and
//! the server must not give other local users what that denies them:
//! told nothing, it listens only on a unix socket beside the segment (in
//! that directory, itself `0600`); TCP, which has no owner check, is
//! refused without a password, loopback included, unless the operator
//! says out loud that every local user may in. The password comes from a
//! file or the environment, where `ps` does not show it.

use crate::fail::{Fail, Res};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable that can hold the password.
pub(crate) const PASSWORD_ENV: &str = "EPHPM_SHM_REQUIREPASS";

/// The flag that lets a loopback address be served without a password.
pub(crate) const INSECURE_FLAG: &str = "--insecure-open-to-local-users";

/// The socket `serve` listens on when given neither `--listen` nor
/// `--unix`: `ephpm_serve.<name>.sock` beside the segment, in the store's
/// directory (not named `ephpm_kv.*`, which `list` takes for stores).
pub(crate) fn default_socket(segment: &Path, name: &str) -> PathBuf {
    segment.with_file_name(format!("ephpm_serve.{name}.sock"))
}

/// The password clients must give: `--requirepass-file`, else
/// `--requirepass` (with a warning: every local user sees it in `ps`),
/// else `$EPHPM_SHM_REQUIREPASS`; none of them is no password.
pub(crate) fn password(arg: Option<String>, file: Option<&Path>) -> Res<Option<String>> {
    if let Some(path) = file {
        return from_file(path).map(Some);
    }
    if let Some(pass) = arg {
        if pass.is_empty() {
            return Err(Fail::other("--requirepass must not be empty"));
        }
        eprintln!(
            "ephpm-shm serve: warning: a password given with --requirepass is visible to every \
             local user (ps, /proc/<pid>/cmdline); give it with --requirepass-file or \
             {PASSWORD_ENV} instead"
        );
        return Ok(Some(pass));
    }
    match std::env::var_os(PASSWORD_ENV) {
        None => Ok(None),
        Some(v) if v.is_empty() => Err(Fail::other(format!(
            "{PASSWORD_ENV} is set but empty: unset it, or give it the password"
        ))),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| Fail::other(format!("{PASSWORD_ENV} is not valid UTF-8"))),
    }
}

/// The first line of `path` (its line end stripped), from a file that
/// only its owner can read or write.
fn from_file(path: &Path) -> Res<String> {
    let shown = path.display();
    let mut file = std::fs::File::open(path)
        .map_err(|e| Fail::other(format!("cannot open the password file {shown}: {e}")))?;
    let md = file
        .metadata()
        .map_err(|e| Fail::other(format!("cannot stat the password file {shown}: {e}")))?;
    if !md.is_file() {
        return Err(Fail::other(format!(
            "the password file {shown} is not a regular file"
        )));
    }
    if md.mode() & 0o066 != 0 {
        return Err(Fail::other(format!(
            "the password file {shown} has mode {:o}, which lets other users read or change it: \
             run `chmod 600 {shown}`",
            md.mode() & 0o777
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Fail::other(format!("cannot read the password file {shown}: {e}")))?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(Fail::other(format!(
            "the password file {shown} has no password on its first line"
        )));
    }
    String::from_utf8(line.to_vec())
        .map_err(|_| Fail::other(format!("the password file {shown} is not valid UTF-8")))
}

/// Whether TCP on `addr` may be served: with a password always; without
/// one only on loopback and with [`INSECURE_FLAG`] (warned about).
pub(crate) fn check_tcp(addr: SocketAddr, password: bool, insecure: bool, name: &str) -> Res {
    const GIVE: &str = "give a password (--requirepass-file PATH or \
                        EPHPM_SHM_REQUIREPASS; --requirepass shows it in ps)";
    if password {
        return Ok(());
    }
    if !addr.ip().is_loopback() {
        return Err(Fail::other(format!(
            "refusing to listen on {addr} without a password: a non-loopback address needs one; \
             {GIVE}"
        )));
    }
    if !insecure {
        return Err(Fail::other(format!(
            "refusing to listen on {addr} without a password: TCP has no owner check, so every \
             local user could read and write store {name} through it (its segment is 0600); \
             {GIVE}, or drop --listen to serve on the owner's unix socket only, or pass \
             {INSECURE_FLAG} if every local user may"
        )));
    }
    eprintln!(
        "ephpm-shm serve: WARNING: {addr} has no password ({INSECURE_FLAG}): every local user \
         can read and write store {name} through it"
    );
    Ok(())
}

//! Process identity: the effective uid, thread ids and liveness, a process's
//! or thread's start time and pid namespace (`/proc`). Touches nothing of
//! the crate; its system calls go through rustix's safe wrappers, so it
//! holds no `unsafe`.

use rustix::io::Errno;
use rustix::process::Pid;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The calling thread's id (in this process's pid namespace).
pub(crate) fn thread_id() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// Whether a thread (of this pid namespace) with this id exists.
pub(crate) fn thread_alive(tid: u32) -> bool {
    let Some(tid) = i32::try_from(tid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // kill(tid, 0): signal 0 only checks that the target exists; kill
    // accepts the id of any thread and checks its thread group.
    match rustix::process::test_kill_process(tid) {
        Ok(()) => true,
        Err(e) => e == Errno::PERM,
    }
}

/// What `/proc/<pid>/stat` says of a process: whether it can still run
/// (not a zombie) and when it started.
pub(crate) struct ProcessStat {
    pub(crate) running: bool,
    pub(crate) start: u64,
}

pub(crate) fn process_stat(pid: u32) -> std::io::Result<ProcessStat> {
    stat_file(&format!("/proc/{pid}/stat"))
}

fn stat_file(path: &str) -> std::io::Result<ProcessStat> {
    let text = std::fs::read_to_string(path)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected /proc format");
    // The command name, in parentheses, may itself hold spaces and ')'.
    let after_name = &text[text.rfind(')').ok_or_else(bad)? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 3 (state) and 22 (starttime) of proc(5), counted from 1.
    let state = fields.first().ok_or_else(bad)?;
    let start = fields
        .get(19)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(ProcessStat {
        running: !matches!(*state, "Z" | "X" | "x"),
        start,
    })
}

/// What `/proc/<tid>/task/<tid>/stat` says of one thread (of this pid
/// namespace): whether it can still run and when it started (clock ticks
/// since boot). `NotFound` once the thread is gone and reaped.
pub(crate) fn thread_stat(tid: u32) -> std::io::Result<ProcessStat> {
    stat_file(&format!("/proc/{tid}/task/{tid}/stat"))
}

pub(crate) fn pid_namespace() -> std::io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/pid")?.ino())
}

/// This process as an owner, without the token; recomputed after a fork.
pub(crate) fn this_process() -> Option<(u32, u64, u64)> {
    static CACHE: Mutex<Option<(u32, u64, u64)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match *cache {
        Some(me) if me.0 == pid => Some(me),
        _ => {
            let me = (pid, process_stat(pid).ok()?.start, pid_namespace().ok()?);
            *cache = Some(me);
            Some(me)
        }
    }
}

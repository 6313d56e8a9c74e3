//! Servers started by the tests: php-fpm (pools written by the test), nginx
//! in front of it, and Apache prefork with mod_php, each loading the built
//! extension through a php.ini written by the test.
//!
//! Everything lives in a [`Site`]: a temporary directory (configs, logs,
//! unix sockets, the PHP pages) plus a temporary segment directory. Servers
//! listen on unix sockets there or on 127.0.0.1 with a port picked by
//! binding port 0. Each server runs in its own process group and is stopped
//! by PID in `Drop`, also when the test panics: the stop signal first, then
//! `SIGKILL` to the whole group after a grace period. Their logs are printed
//! when a test fails.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Every HTTP request of a test gives up after this long: a hung store
/// fails the test instead of hanging it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after its stop signal.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Segment size the tests use (small: several tests run at once).
pub const SEGMENT_SIZE: &str = "16M";
/// Workers of every php-fpm pool (`pm = static`).
pub const FPM_WORKERS: usize = 4;

/// Whether the tests run as root (then pools and Apache children can run as
/// another user).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A system user (for pools and Apache children, and php-cli run as them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl User {
    /// Looks a user up in the system's user database; panics if absent.
    pub fn lookup(name: &str) -> User {
        let c_name = CString::new(name).expect("user names have no NUL");
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives it.
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        assert!(rc == 0 && !result.is_null(), "user {name} does not exist");
        User {
            name: name.to_string(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }
    }

    /// The user the tests run as.
    pub fn current() -> User {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives it.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        assert!(rc == 0 && !result.is_null(), "uid {uid} has no user name");
        // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        User {
            name: name.to_string_lossy().into_owned(),
            uid,
            gid: pwd.pw_gid,
        }
    }

    /// The unprivileged user web servers run as on Debian.
    pub fn www_data() -> User {
        User::lookup("www-data")
    }
}

/// A temporary site: configs, logs, sockets and pages (`www/`) in one
/// directory, segments in another (in `/dev/shm` when there is one, mode
/// 1777 so pools running as another user can create theirs there).
pub struct Site {
    root: TempDir,
    shm: TempDir,
}

/// Answers `pong`: servers are ready when it does.
const PING_PAGE: &str = "<?php echo 'pong';\n";

/// One `ephpm_kv_*` call per request, chosen by the query string; prints
/// `<pid> <result as JSON>`. `sleep_ms` delays the answer so concurrent
/// requests are served by different workers at once.
pub const KV_PAGE: &str = r#"<?php
$op = $_GET['op'] ?? 'pid';
$key = $_GET['key'] ?? '';
$value = $_GET['value'] ?? '';
if (isset($_GET['sleep_ms'])) {
    usleep((int) $_GET['sleep_ms'] * 1000);
}
$result = match ($op) {
    'pid' => null,
    'get' => ephpm_kv_get($key),
    'set' => ephpm_kv_set($key, $value, (int) ($_GET['ttl'] ?? 0)),
    'setnx' => ephpm_kv_setnx($key, $value),
    'del' => ephpm_kv_del($key),
    'exists' => ephpm_kv_exists($key),
    'incr' => ephpm_kv_incr($key),
    'stats' => ephpm_kv_stats(),
};
echo getmypid(), ' ', json_encode($result), "\n";
"#;

impl Site {
    /// A new site in a temp dir: a document root and a segment directory, removed when dropped.
    pub fn new() -> Site {
        let root = tempfile::Builder::new()
            .prefix("ephpm-servers-")
            .tempdir()
            .expect("temporary directory");
        let shm_parent = Path::new("/dev/shm");
        let shm = if shm_parent.is_dir() {
            tempfile::Builder::new()
                .prefix("ephpm-servers-")
                .tempdir_in(shm_parent)
        } else {
            tempfile::Builder::new()
                .prefix("ephpm-servers-shm-")
                .tempdir()
        }
        .expect("temporary segment directory");
        // Workers running as www-data read the pages and create segments.
        chmod(root.path(), 0o755);
        chmod(shm.path(), 0o1777);
        let site = Site { root, shm };
        fs::create_dir(site.www()).expect("www/");
        chmod(&site.www(), 0o755);
        site.page("__ping.php", PING_PAGE);
        site.page("kv.php", KV_PAGE);
        site
    }

    /// The site's directory.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// The document root of every server of this site.
    pub fn www(&self) -> PathBuf {
        self.root.path().join("www")
    }

    /// The segment directory (`ephpm_kv.dir`).
    pub fn shm_dir(&self) -> &Path {
        self.shm.path()
    }

    /// The segment file of store `name`.
    pub fn segment(&self, name: &str) -> PathBuf {
        self.shm.path().join(format!("ephpm_kv.{name}"))
    }

    /// Writes a PHP page into the document root (world-readable).
    pub fn page(&self, name: &str, php: &str) {
        let path = self.www().join(name);
        fs::write(&path, php).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        chmod(&path, 0o644);
    }

    /// A php.ini that loads the built extension with its segments in this
    /// site and store `kv_name` by default. PHP warnings go into the page,
    /// so an unexpected warning shows up in a test's comparison.
    ///
    /// `session.use_strict_mode` is pinned off, PHP's default up to 8.5:
    /// PHP 8.6 turns it on by default (RFC session_security_defaults), and
    /// the tests that name a session id themselves (engine_boundary.rs's
    /// pages call `session_id()` with ids the store has not seen) rely on
    /// an unknown id being taken as given. The test of strict mode
    /// (`browser::strict_mode_rejects_unknown_id`) turns it on in its page.
    pub fn write_php_ini(&self, path: &Path, kv_name: &str) {
        let so = crate::ext_so();
        self.write_php_ini_loading(path, kv_name, Some(&so));
    }

    /// [`Site::write_php_ini`], loading the extension from `so`, or not at
    /// all (`None`: the one the system's conf.d enables).
    fn write_php_ini_loading(&self, path: &Path, kv_name: &str, so: Option<&Path>) {
        let extension = so.map_or(String::new(), |so| format!("extension={}\n", so.display()));
        let ini = format!(
            "{extension}\
             ephpm_kv.dir={dir}\n\
             ephpm_kv.name={kv_name}\n\
             ephpm_kv.size={SEGMENT_SIZE}\n\
             error_reporting=E_ALL\n\
             display_errors=On\n\
             html_errors=Off\n\
             log_errors=Off\n\
             session.use_strict_mode=0\n",
            dir = self.shm_dir().display(),
        );
        write_file(path, &ini);
    }

    /// php-cli with the extension and this site's segment directory, store
    /// `kv_name`, run as `user` (or as the current user).
    pub fn php_cli(&self, kv_name: &str, user: Option<&User>) -> Command {
        let mut cmd = crate::php_cli(self.shm_dir());
        cmd.arg("-d")
            .arg(format!("ephpm_kv.name={kv_name}"))
            .arg("-d")
            .arg(format!("ephpm_kv.size={SEGMENT_SIZE}"))
            .arg("-d")
            .arg("display_errors=stderr")
            .current_dir(self.path());
        if let Some(user) = user {
            cmd.uid(user.uid).gid(user.gid).env("HOME", "/");
        }
        cmd
    }

    /// Runs `php -r code` (see [`Site::php_cli`]) and returns its output;
    /// panics when it fails or writes to stderr.
    pub fn php_run(&self, kv_name: &str, user: Option<&User>, code: &str) -> String {
        let out = self
            .php_cli(kv_name, user)
            .arg("-r")
            .arg(code)
            .output()
            .expect("running php-cli");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "php -r {code:?} failed ({}): {stderr}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("php-cli output is UTF-8")
    }
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Owner uid and permission bits of a file.
pub fn owner_and_mode(path: &Path) -> (u32, u32) {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (meta.uid(), meta.mode() & 0o7777)
}

/// The real uid of a running process (from `/proc/<pid>/status`).
pub fn process_uid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// PIDs of the live (not zombie) children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && state != Some("Z") && state != Some("X") {
            children.push(pid);
        }
    }
    children.sort_unstable();
    children
}

/// Sends `signal` to `pid`; false if there is no such process.
pub fn signal(pid: u32, signal: libc::c_int) -> bool {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Polls `ready` every 50 ms until it returns `Some`, or panics after
/// `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// One server process, leader of its own process group.
pub struct Server {
    name: String,
    child: Child,
    /// Logs printed when the test fails.
    logs: Vec<PathBuf>,
    stop_signal: libc::c_int,
    stopped: bool,
}

impl Server {
    /// Starts `cmd` in a new process group, stdout and stderr to
    /// `<log_dir>/<name>.out`. The server gets `SIGTERM` if the test process
    /// dies without dropping it.
    pub(crate) fn spawn(
        name: &str,
        cmd: &mut Command,
        log_dir: &Path,
        mut logs: Vec<PathBuf>,
        stop_signal: libc::c_int,
    ) -> Server {
        let out_path = log_dir.join(format!("{name}.out"));
        let out = fs::File::create(&out_path).expect("server output file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs in the hook.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        logs.insert(0, out_path);
        Server {
            name: name.to_string(),
            child,
            logs,
            stop_signal,
            stopped: false,
        }
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (it is then reaped).
    pub fn has_exited(&mut self) -> bool {
        self.stopped || matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The logs, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for log in &self.logs {
            let content = fs::read_to_string(log).unwrap_or_else(|e| format!("({e})"));
            let tail: Vec<&str> = content.lines().rev().take(60).collect();
            text.push_str(&format!("--- {} ({}):\n", self.name, log.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Panics with the logs if the server has exited.
    fn assert_running(&mut self) {
        if self.has_exited() {
            panic!("{} exited early\n{}", self.name, self.logs());
        }
    }

    /// Stops the server with `signal`, then `SIGKILL` after the grace period;
    /// finally kills whatever is left of its process group. Returns whether
    /// it exited within the grace period.
    pub fn stop_with(&mut self, signal: libc::c_int) -> bool {
        if self.stopped {
            return true;
        }
        self.stopped = true;
        let pid = self.pid();
        let pgid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
        let mut graceful = true;
        if matches!(self.child.try_wait(), Ok(None)) {
            crate::servers::signal(pid, signal);
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                graceful = false;
                eprintln!("{} (pid {pid}) ignored signal {signal}: SIGKILL", self.name);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Workers or children that outlived their parent.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        graceful
    }

    /// Waits until the server accepts connections on 127.0.0.1:`port`;
    /// `false` if it exits first (e.g. the port was taken).
    pub fn wait_listening(&mut self, port: u16, what: &str) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for(START_TIMEOUT, what, || {
            if self.has_exited() {
                Some(false)
            } else if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                Some(true)
            } else {
                None
            }
        })
    }

    /// Stops it with its stop signal; `false` if it had to be killed.
    pub fn stop(&mut self) -> bool {
        self.stop_with(self.stop_signal)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.logs());
        }
        self.stop();
    }
}

/// A php-fpm pool written by the test: `pm = static` with [`FPM_WORKERS`]
/// workers, listening on `<site>/fpm/<name>.sock`.
#[derive(Clone, Debug)]
pub struct Pool {
    /// The pool's name (its section and socket).
    pub name: String,
    /// `user`/`group` of the workers; `None` runs them as the master's user
    /// (root: with `php-fpm -R`).
    pub user: Option<User>,
    /// `php_admin_value[ephpm_kv.name]`, if any.
    pub kv_name: Option<String>,
    /// Further lines of the pool section.
    pub lines: Vec<String>,
    /// `pm.max_children` (`pm = static`): [`FPM_WORKERS`] unless set.
    pub workers: usize,
}

impl Pool {
    /// A pool `name` with the defaults.
    pub fn new(name: &str) -> Pool {
        Pool {
            name: name.to_string(),
            user: None,
            kv_name: None,
            lines: Vec::new(),
            workers: FPM_WORKERS,
        }
    }

    /// Runs `n` workers (one: every request of the pool hits the same process).
    pub fn workers(mut self, n: usize) -> Pool {
        self.workers = n;
        self
    }

    /// Runs the workers as `user`.
    pub fn user(mut self, user: User) -> Pool {
        self.user = Some(user);
        self
    }

    /// Gives the pool its own store.
    pub fn kv_name(mut self, name: &str) -> Pool {
        self.kv_name = Some(name.to_string());
        self
    }

    /// Adds a line to the pool section.
    pub fn line(mut self, line: &str) -> Pool {
        self.lines.push(line.to_string());
        self
    }
}

/// php-fpm in the foreground (`-F`), with its own php.ini (`-c`) and pool
/// configuration (`-y`); the system's conf.d is read only by
/// [`Fpm::start_installed`].
pub struct Fpm {
    server: Server,
    dir: PathBuf,
    pools: Vec<Pool>,
    installed: bool,
}

impl Fpm {
    /// Starts php-fpm with `pools` (store `default_kv_name` unless a pool
    /// says otherwise) and waits until every worker is up.
    pub fn start(site: &Site, default_kv_name: &str, pools: Vec<Pool>) -> Fpm {
        Fpm::start_with_ini(site, default_kv_name, pools, "")
    }

    /// [`Fpm::start`] with the extension the system has installed: the
    /// php.ini sets only this site's store, and php-fpm reads Debian's
    /// conf.d (`/etc/php/<X.Y>/fpm/conf.d`), which must load ephpm_kv.
    pub fn start_installed(site: &Site, default_kv_name: &str, pools: Vec<Pool>) -> Fpm {
        Fpm::start_configured(site, default_kv_name, pools, "", true)
    }

    /// [`Fpm::start`] with `extra_ini` appended to the php.ini (e.g. the
    /// `extension=` lines of Debian's phpredis and igbinary).
    pub fn start_with_ini(
        site: &Site,
        default_kv_name: &str,
        pools: Vec<Pool>,
        extra_ini: &str,
    ) -> Fpm {
        Fpm::start_configured(site, default_kv_name, pools, extra_ini, false)
    }

    fn start_configured(
        site: &Site,
        default_kv_name: &str,
        pools: Vec<Pool>,
        extra_ini: &str,
        installed: bool,
    ) -> Fpm {
        assert!(!pools.is_empty());
        let dir = site.path().join("fpm");
        fs::create_dir_all(&dir).expect("fpm/");
        chmod(&dir, 0o755);
        let so = (!installed).then(crate::ext_so);
        site.write_php_ini_loading(&dir.join("php.ini"), default_kv_name, so.as_deref());
        if !extra_ini.is_empty() {
            let ini_path = dir.join("php.ini");
            let ini = fs::read_to_string(&ini_path).expect("php.ini");
            write_file(&ini_path, &format!("{ini}{extra_ini}\n"));
        }
        let mut conf = format!(
            "[global]\n\
             pid = {dir}/php-fpm.pid\n\
             error_log = {dir}/php-fpm.log\n\
             log_level = notice\n\
             daemonize = no\n\
             process_control_timeout = 5s\n",
            dir = dir.display()
        );
        for pool in &pools {
            conf.push_str(&format!(
                "\n[{name}]\n\
                 listen = {sock}\n\
                 listen.mode = 0666\n\
                 pm = static\n\
                 pm.max_children = {workers}\n\
                 catch_workers_output = yes\n\
                 decorate_workers_output = no\n",
                name = pool.name,
                workers = pool.workers,
                sock = dir.join(format!("{}.sock", pool.name)).display(),
            ));
            if let Some(user) = &pool.user {
                conf.push_str(&format!("user = {}\ngroup = {}\n", user.name, user.name));
            }
            if let Some(kv_name) = &pool.kv_name {
                conf.push_str(&format!("php_admin_value[ephpm_kv.name] = {kv_name}\n"));
            }
            for line in &pool.lines {
                conf.push_str(line);
                conf.push('\n');
            }
        }
        write_file(&dir.join("php-fpm.conf"), &conf);
        let server = Fpm::spawn(&dir, installed);
        let mut fpm = Fpm {
            server,
            dir,
            pools,
            installed,
        };
        fpm.wait_workers(&BTreeSet::new());
        fpm
    }

    fn spawn(dir: &Path, installed: bool) -> Server {
        let mut cmd = Command::new(crate::php::php().fpm());
        cmd.arg("-F")
            .arg("-y")
            .arg(dir.join("php-fpm.conf"))
            .arg("-c")
            .arg(dir.join("php.ini"));
        if !installed {
            // Only our php.ini: not the system's conf.d (which may load the
            // installed ephpm_kv.so a second time).
            cmd.env("PHP_INI_SCAN_DIR", "");
        }
        if is_root() {
            cmd.arg("-R");
        }
        Server::spawn(
            "php-fpm",
            &mut cmd,
            dir,
            vec![dir.join("php-fpm.log")],
            libc::SIGTERM,
        )
    }

    /// Waits until the master has all its workers, none of them in `old`,
    /// and every pool's socket exists.
    fn wait_workers(&mut self, old: &BTreeSet<u32>) -> Vec<u32> {
        let want: usize = self.pools.iter().map(|p| p.workers).sum();
        let sockets: Vec<PathBuf> = self.pools.iter().map(|p| self.socket(&p.name)).collect();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.server.assert_running();
            let workers = self.workers();
            if workers.len() == want
                && workers.iter().all(|w| !old.contains(w))
                && sockets.iter().all(|s| s.exists())
            {
                return workers;
            }
            assert!(
                Instant::now() < deadline,
                "php-fpm: {want} workers not up after {START_TIMEOUT:?} (have {workers:?})\n{}",
                self.server.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The master's PID.
    pub fn master_pid(&self) -> u32 {
        self.server.pid()
    }

    /// The master's workers (all pools).
    pub fn workers(&self) -> Vec<u32> {
        children_of(self.master_pid())
    }

    /// The unix socket of pool `name`.
    pub fn socket(&self, pool: &str) -> PathBuf {
        self.dir.join(format!("{pool}.sock"))
    }

    /// The pools it runs.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// The logs (master log and output), for messages.
    pub fn logs(&self) -> String {
        self.server.logs()
    }

    /// Reloads with `SIGUSR2` (the master re-executes itself, keeping its
    /// PID and sockets) and waits until a whole new set of workers is up.
    /// Returns the new workers.
    pub fn reload(&mut self) -> Vec<u32> {
        let old: BTreeSet<u32> = self.workers().into_iter().collect();
        assert!(
            signal(self.master_pid(), libc::SIGUSR2),
            "php-fpm master is gone"
        );
        self.wait_workers(&old)
    }

    /// Stops php-fpm gracefully (`SIGQUIT`) and starts it again with the
    /// same configuration: a new master and new workers.
    pub fn restart(&mut self) {
        assert!(
            self.server.stop_with(libc::SIGQUIT),
            "php-fpm did not stop on SIGQUIT within {STOP_GRACE:?}\n{}",
            self.server.logs()
        );
        self.server = Fpm::spawn(&self.dir, self.installed);
        self.wait_workers(&BTreeSet::new());
    }
}

/// An HTTP response of the tiny client.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
}

/// `GET path` over HTTP/1.0 with a bounded total time.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending GET {path} to {addr}: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "GET {path} on {addr}: no complete answer within {timeout:?}"
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("GET {path} on {addr}: reading: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path} on {addr}: malformed answer {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path} on {addr}: bad status line in {head:?}"))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// Percent-encodes a query-string component.
pub fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What `kv.php` answered: the worker's PID and the result as JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvReply {
    /// The worker that answered.
    pub pid: u32,
    /// The operation's result, as JSON.
    pub json: String,
}

/// Where a site's pages are served: an address and a path prefix (nginx
/// routes `/<pool>/` to a php-fpm pool; Apache serves `/`).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The path in front of every page (`/<pool>/`, or empty).
    pub prefix: String,
}

impl Endpoint {
    /// `GET <prefix><page_and_query>` with [`REQUEST_TIMEOUT`].
    pub fn try_get(&self, page_and_query: &str) -> Result<Response, String> {
        self.try_get_within(page_and_query, REQUEST_TIMEOUT)
    }

    /// `GET <prefix><page_and_query>`, waiting at most `timeout`.
    pub fn try_get_within(
        &self,
        page_and_query: &str,
        timeout: Duration,
    ) -> Result<Response, String> {
        http_get(
            self.addr,
            &format!("{}{page_and_query}", self.prefix),
            timeout,
        )
    }

    /// The body of a page that must answer 200 within [`REQUEST_TIMEOUT`].
    pub fn page(&self, page_and_query: &str) -> String {
        let response = self
            .try_get(page_and_query)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            response.status, 200,
            "GET {}{page_and_query}: {}",
            self.prefix, response.body
        );
        response.body
    }

    /// One `kv.php` call: `op` on `key` (with `value` for set/setnx).
    pub fn kv(&self, op: &str, key: &str, value: &str) -> KvReply {
        let body = self.page(&format!(
            "kv.php?op={op}&key={}&value={}",
            urlencode(key),
            urlencode(value)
        ));
        parse_kv(&body)
    }

    /// Waits until the server answers `__ping.php` with `pong`.
    pub fn wait_serving(&self, what: &str) {
        wait_for(START_TIMEOUT, what, || {
            match self.try_get_within("__ping.php", Duration::from_secs(2)) {
                Ok(r) if r.status == 200 && r.body == "pong" => Some(()),
                _ => None,
            }
        });
    }

    /// Runs `concurrency` requests of `page_and_query` at once and returns
    /// their bodies (in thread order); every one must answer 200.
    pub fn concurrent_pages(&self, concurrency: usize, page_and_query: &str) -> Vec<String> {
        let threads: Vec<_> = (0..concurrency)
            .map(|_| {
                let endpoint = self.clone();
                let page = page_and_query.to_string();
                thread::spawn(move || endpoint.page(&page))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    }

    /// Rounds of `want` concurrent slow requests (each one occupies a
    /// worker for `sleep_ms`) until `want` distinct workers have answered
    /// `page_and_query` in one round (its first word is the worker's PID).
    /// Returns every body of that round; panics after 10 rounds.
    pub fn on_distinct_workers(&self, want: usize, page_and_query: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let bodies = self.concurrent_pages(want, page_and_query);
            let pids: BTreeSet<u32> = bodies.iter().map(|b| first_pid(b)).collect();
            if pids.len() == want {
                return bodies;
            }
            seen.push(pids);
        }
        panic!("{want} concurrent requests never reached {want} distinct workers: {seen:?}");
    }
}

/// The PID a page printed first.
pub fn first_pid(body: &str) -> u32 {
    body.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("expected a PID first in {body:?}"))
}

/// Parses `kv.php`'s `<pid> <json>` answer.
pub fn parse_kv(body: &str) -> KvReply {
    let (pid, json) = body
        .trim_end()
        .split_once(' ')
        .unwrap_or_else(|| panic!("kv.php answered {body:?}"));
    KvReply {
        pid: pid
            .parse()
            .unwrap_or_else(|_| panic!("kv.php answered {body:?}")),
        json: json.to_string(),
    }
}

/// An integer field of a flat JSON object (`ephpm_kv_stats()`), if present.
pub fn json_int(json: &str, field: &str) -> Option<i64> {
    let start = json.find(&format!("\"{field}\":"))? + field.len() + 3;
    let digits: String = json[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// nginx in front of php-fpm: `/<pool>/<page>.php` goes to pool `<pool>`.
pub struct Nginx {
    server: Server,
    port: u16,
}

impl Nginx {
    /// Starts nginx on a free port of 127.0.0.1 for every pool of `fpm`
    /// and waits until each pool answers through it.
    pub fn start(site: &Site, fpm: &Fpm) -> Nginx {
        let dir = site.path().join("nginx");
        fs::create_dir_all(dir.join("tmp")).expect("nginx/tmp");
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut locations = String::new();
            for pool in fpm.pools() {
                locations.push_str(&format!(
                    "        location ~ ^/{name}/(.+\\.php)$ {{\n\
                     \x20           fastcgi_pass unix:{sock};\n\
                     \x20           fastcgi_param SCRIPT_FILENAME {www}/$1;\n\
                     \x20           fastcgi_param SCRIPT_NAME /$1;\n\
                     \x20           fastcgi_param QUERY_STRING $query_string;\n\
                     \x20           fastcgi_param REQUEST_METHOD $request_method;\n\
                     \x20           fastcgi_param REQUEST_URI $request_uri;\n\
                     \x20           fastcgi_param SERVER_PROTOCOL $server_protocol;\n\
                     \x20           fastcgi_param REMOTE_ADDR $remote_addr;\n\
                     \x20           fastcgi_param SERVER_NAME 127.0.0.1;\n\
                     \x20           fastcgi_param SERVER_PORT {port};\n\
                     \x20       }}\n",
                    name = pool.name,
                    sock = fpm.socket(&pool.name).display(),
                    www = site.www().display(),
                ));
            }
            let user = if is_root() { "user root root;\n" } else { "" };
            let conf = format!(
                "{user}worker_processes 2;\n\
                 pid {dir}/nginx.pid;\n\
                 error_log {dir}/error.log warn;\n\
                 events {{ worker_connections 512; }}\n\
                 http {{\n\
                 \x20   access_log off;\n\
                 \x20   client_body_temp_path {dir}/tmp/body;\n\
                 \x20   fastcgi_temp_path {dir}/tmp/fastcgi;\n\
                 \x20   proxy_temp_path {dir}/tmp/proxy;\n\
                 \x20   uwsgi_temp_path {dir}/tmp/uwsgi;\n\
                 \x20   scgi_temp_path {dir}/tmp/scgi;\n\
                 \x20   fastcgi_read_timeout 120s;\n\
                 \x20   server {{\n\
                 \x20       listen 127.0.0.1:{port};\n\
                 {locations}\
                 \x20   }}\n\
                 }}\n",
                dir = dir.display(),
            );
            let conf_path = dir.join("nginx.conf");
            write_file(&conf_path, &conf);
            let mut cmd = Command::new("nginx");
            cmd.arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .arg("-g")
                .arg("daemon off;");
            let mut server = Server::spawn(
                "nginx",
                &mut cmd,
                &dir,
                vec![dir.join("error.log")],
                libc::SIGTERM,
            );
            // Up once it accepts connections on its port, or gone (port taken).
            if !server.wait_listening(port, "nginx to listen") {
                last_error = server.logs();
                continue;
            }
            let nginx = Nginx { server, port };
            for pool in fpm.pools() {
                nginx
                    .pool(&pool.name)
                    .wait_serving(&format!("pool {} through nginx", pool.name));
            }
            return nginx;
        }
        panic!("nginx did not start:\n{last_error}");
    }

    /// The port nginx listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pages of pool `name`.
    pub fn pool(&self, name: &str) -> Endpoint {
        Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            prefix: format!("/{name}/"),
        }
    }

    /// nginx's logs, for messages.
    pub fn logs(&self) -> String {
        self.server.logs()
    }
}

/// Apache prefork with mod_php, children running as `user`.
pub struct Apache {
    server: Server,
    port: u16,
}

/// Children Apache starts and keeps idle.
pub const APACHE_CHILDREN: usize = 4;

impl Apache {
    /// Starts Apache on a free port of 127.0.0.1 serving the site's pages
    /// with store `kv_name`, children running as `user` (Apache started by
    /// root refuses to run them as root); waits until it answers and all
    /// its first children are up.
    pub fn start(site: &Site, user: &User, kv_name: &str) -> Apache {
        let dir = site.path().join("apache");
        fs::create_dir_all(dir.join("php")).expect("apache/php");
        fs::create_dir_all(dir.join("run")).expect("apache/run");
        chmod(&dir, 0o755);
        site.write_php_ini(&dir.join("php").join("php.ini"), kv_name);
        let modules = "/usr/lib/apache2/modules";
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let conf = format!(
                "ServerRoot {dir}\n\
                 ServerName 127.0.0.1\n\
                 Listen 127.0.0.1:{port}\n\
                 PidFile {dir}/apache2.pid\n\
                 ErrorLog {dir}/error.log\n\
                 LogLevel warn\n\
                 DefaultRuntimeDir {dir}/run\n\
                 Mutex file:{dir}/run default\n\
                 LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so\n\
                 LoadModule authz_core_module {modules}/mod_authz_core.so\n\
                 LoadModule mime_module {modules}/mod_mime.so\n\
                 LoadModule dir_module {modules}/mod_dir.so\n\
                 LoadModule php_module {modules}/{libphp}\n\
                 User {user}\n\
                 Group {user}\n\
                 StartServers {APACHE_CHILDREN}\n\
                 MinSpareServers {APACHE_CHILDREN}\n\
                 MaxSpareServers {max_spare}\n\
                 MaxRequestWorkers 16\n\
                 MaxConnectionsPerChild 0\n\
                 KeepAlive Off\n\
                 TypesConfig /etc/mime.types\n\
                 PHPIniDir {dir}/php\n\
                 DocumentRoot {www}\n\
                 <Directory />\n    Require all denied\n</Directory>\n\
                 <Directory {www}>\n    Require all granted\n</Directory>\n\
                 DirectoryIndex index.php\n\
                 <FilesMatch \"\\.php$\">\n    SetHandler application/x-httpd-php\n</FilesMatch>\n",
                dir = dir.display(),
                www = site.www().display(),
                libphp = crate::php::php().apache_module(),
                user = user.name,
                max_spare = APACHE_CHILDREN * 2,
            );
            let conf_path = dir.join("apache2.conf");
            write_file(&conf_path, &conf);
            let mut cmd = Command::new("apache2");
            cmd.arg("-f")
                .arg(&conf_path)
                .arg("-DFOREGROUND")
                // Only our php.ini, not the system's conf.d.
                .env("PHP_INI_SCAN_DIR", "");
            let mut server = Server::spawn(
                "apache2",
                &mut cmd,
                &dir,
                vec![dir.join("error.log")],
                libc::SIGTERM,
            );
            if !server.wait_listening(port, "Apache to listen") {
                last_error = server.logs();
                continue;
            }
            let apache = Apache { server, port };
            apache.root().wait_serving("Apache");
            wait_for(START_TIMEOUT, "Apache's first children", || {
                (apache.children().len() >= APACHE_CHILDREN).then_some(())
            });
            return apache;
        }
        panic!("Apache did not start:\n{last_error}");
    }

    /// The port Apache listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The parent's PID.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The children of the Apache parent.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// The site's pages.
    pub fn root(&self) -> Endpoint {
        Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            prefix: "/".to_string(),
        }
    }

    /// Apache's logs, for messages.
    pub fn logs(&self) -> String {
        self.server.logs()
    }
}

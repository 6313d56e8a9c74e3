//! Runs the PHPUnit suite of the composer package `ephpm/session-handler`
//! (`php/`) with Debian's PHPUnit, and fails unless every test ran and
//! passed: the session handler's unit tests and the KvOps contract on all
//! three backends (in memory, the ephpm_kv extension from [`ext_so`], and
//! Redis through phpredis on a private `redis-server`), all but the Redis
//! Cluster group (`cluster.rs` runs that one on a cluster it starts).
//!
//! Needs `redis-server`, `phpX.Y-redis` (phpredis, with igbinary) and
//! `phpunit` installed. The PHP runs with `-n` (no php.ini), so the
//! extensions PHPUnit needs that Debian builds as shared objects are loaded
//! explicitly.

use ephpm_shm_tests::{assert_phpunit_ok, ext_so, phpunit, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on a unix socket only, with no persistence; stopped by
/// PID when dropped (also when the test panics).
struct Redis {
    child: Child,
    socket: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let socket = dir.join("redis.sock");
        let log = std::fs::File::create(dir.join("redis.log")).expect("create redis.log");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start redis-server (install redis-server)");
        let mut redis = Redis { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.socket.exists() {
            if let Some(status) = redis.child.try_wait().expect("wait redis-server") {
                panic!(
                    "redis-server exited with {status}: {}",
                    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not create {} within 10 s",
                redis.socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[test]
fn session_handler_phpunit_suite_passes_on_all_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = Redis::start(dir.path());

    // The Redis Cluster tests run in cluster.rs, which starts a cluster.
    let mut cmd = phpunit(dir.path(), &["--exclude-group", "redis-cluster"]);
    cmd.env("REDIS_SOCKET", &redis.socket);
    let out = cmd
        .output()
        .expect("run php /usr/bin/phpunit (install phpunit)");
    drop(redis);
    println!(
        "phpunit: {}",
        assert_phpunit_ok(&out, "every backend must run")
    );
}

/// The README's install recipe: `composer require` from this repository as a
/// path repository, with Packagist off (it is unreachable here), then the
/// one-line setup storing a session through the installed package.
#[test]
fn composer_installs_the_package_offline_from_a_path_repository() {
    let project = tempfile::tempdir().expect("temp dir");
    let composer = |args: &[&str]| {
        let out = Command::new("composer")
            .args(args)
            .arg("--no-interaction")
            .current_dir(project.path())
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .env("COMPOSER_HOME", project.path().join(".composer"))
            .output()
            .expect("run composer (apt-get install composer)");
        assert!(
            out.status.success(),
            "composer {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(project.path().join("composer.json"), "{}\n").expect("composer.json");
    let repo = format!(
        r#"{{"type": "path", "url": "{}"}}"#,
        repo_root().join("php").display()
    );
    composer(&["config", "repositories.ephpm-shm", &repo]);
    composer(&["config", "repo.packagist", "false"]);
    composer(&["require", "ephpm/session-handler:@dev"]);

    let page = r#"
        require 'vendor/autoload.php';
        session_set_save_handler(new \Ephpm\SessionHandler\KvSessionHandler(), true);
        session_id('recipe0123456789abcdef');
        session_start();
        $_SESSION['who'] = 'composer';
        session_write_close();
        echo ephpm_kv_get('php_session:recipe0123456789abcdef');
    "#;
    let out = Command::new(&ephpm_shm_tests::php::php().binary)
        .arg("-n")
        .arg("-d")
        .arg(format!("extension={}", ext_so().display()))
        .arg("-d")
        .arg(format!("ephpm_kv.dir={}", project.path().display()))
        .arg("-r")
        .arg(page)
        .current_dir(project.path())
        .output()
        .expect("run php");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        r#"who|s:8:"composer";"#,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

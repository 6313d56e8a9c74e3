//! The status page `status/ephpm-status.php`: its PHPUnit suite (rendering,
//! escaping, the session decoder, the lock-down rules and the CSRF-guarded
//! actions, on a real store), then the page in a real browser: headless
//! Chromium loads it from nginx + php-fpm with a populated store, writes a
//! screenshot into the test's temp dir, and the DOM it dumps must show the
//! store's figures (as php-cli reads them from the same segment) and keys.
//!
//! Needs `phpunit`, `phpX.Y-fpm`, `nginx-light` and `chromium`
//! (`scripts/setup` installs them). `STATUS_SCREENSHOT_TO=<file>` copies
//! the screenshot there (`docs/status-page.png`, shown in `docs/operations.md`, is one).

use ephpm_shm_tests::servers::{Fpm, Nginx, Pool, Site};
use ephpm_shm_tests::{assert_phpunit_ok, ext_so, phpunit_suite, repo_root};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn status_page_phpunit_suite_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = repo_root().join("status/tests/phpunit.xml.dist");
    let out = phpunit_suite(&config, dir.path(), "statuspage", &[])
        .env("EPHPM_KV_SO", ext_so())
        .env_remove("EPHPM_STATUS_PASSWORD")
        .output()
        .expect("run php /usr/bin/phpunit (install phpunit)");
    println!("phpunit: {}", assert_phpunit_ok(&out, "status/tests"));
}

/// How long Chromium may take for one page before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// The password the pool gives the page (`env[EPHPM_STATUS_PASSWORD]`).
const PASSWORD: &str = "s3cret-status";

/// Runs headless Chromium with `args` then `url` in its own process group
/// (killed whole if it outlives [`CHROMIUM_TIMEOUT`]); returns its stdout.
fn chromium(profile: &Path, args: &[String], url: &str) -> String {
    std::fs::create_dir_all(profile).expect("chromium's directory");
    let out_path = profile.join("stdout");
    let err_path = profile.join("stderr");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("profile").display()
        ))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("chromium stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("chromium stderr file"))
        .process_group(0)
        .spawn()
        .expect("start chromium (apt-get install chromium)");
    let pgid = child.id() as libc::pid_t;
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Its helpers too (the group is Chromium's own, by the PID we started).
    // SAFETY: kill(2) with a negative PID signals only that process group.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        panic!("chromium did not finish {url} within {CHROMIUM_TIMEOUT:?}:\n{stderr}")
    });
    assert!(status.success(), "chromium {url}: {status}\n{stderr}");
    std::fs::read_to_string(&out_path).expect("chromium's output")
}

/// Fills the store the way a site would: sessions through PHP's session
/// module and the `ephpm` handler, counters, a few hundred keys, reads
/// that hit and miss.
const POPULATE: &str = r#"
ini_set('session.save_handler', 'ephpm');
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
foreach (['alice', 'bob', 'carol'] as $i => $who) {
    session_id(sprintf('sess%02d%s0123456789abcdef', $i, $who));
    session_start();
    $_SESSION['user'] = $who;
    $_SESSION['cart'] = ['apples' => $i + 1, 'pears' => 2 * $i];
    $_SESSION['secret'] = "token-of-$who";
    session_write_close();
}
for ($i = 0; $i < 300; $i++) {
    ephpm_kv_set("product:$i", str_repeat(chr(65 + $i % 26), 10 + ($i * 379) % 20000), $i % 3 ? 0 : 3600);
}
for ($i = 0; $i < 5; $i++) {
    for ($n = 0; $n <= $i; $n++) {
        ephpm_kv_incr("counter:page$i");
    }
}
ephpm_kv_set('cache:<b>escaped</b>', 'html in a key');
for ($i = 0; $i < 200; $i++) {
    ephpm_kv_get('product:' . ($i % 250 + 100));
}
echo "ok";
"#;

#[test]
fn status_page_in_headless_chromium() {
    let site = Site::new();
    let pool = Pool::new("main")
        .workers(2)
        .line(&format!("env[EPHPM_STATUS_PASSWORD] = {PASSWORD}"));
    let fpm = Fpm::start(&site, "status", vec![pool]);
    let nginx = Nginx::start(&site, &fpm);
    let page = std::fs::read_to_string(repo_root().join("status/ephpm-status.php"))
        .expect("status/ephpm-status.php");
    site.page("ephpm-status.php", &page);

    assert_eq!(site.php_run("status", None, POPULATE), "ok");
    let entries: u64 = site
        .php_run("status", None, "echo ephpm_kv_stats()['entries'];")
        .parse()
        .expect("entries");
    assert_eq!(entries, 3 + 300 + 5 + 1, "the populated keys");
    // The keys of the page's first page, as php-cli lists them.
    let first_page = site.php_run(
        "status",
        None,
        "foreach (ephpm_kv_scan(0, '*', 50)['keys'] as $e) echo $e['key'], \"\\n\";",
    );
    let first_page: Vec<&str> = first_page.lines().collect();
    assert!(first_page.len() >= 50, "first page: {first_page:?}");

    let base = format!("http://127.0.0.1:{}/main/ephpm-status.php", nginx.port());
    let tmp = tempfile::tempdir().expect("tempdir");
    let shot = tmp.path().join("status.png");

    // The screenshot, then the DOM, of the local view (no password sent).
    chromium(
        &tmp.path().join("shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
        &base,
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "a PNG of {} bytes",
        png.len()
    );
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());
    if let Some(to) = std::env::var_os("STATUS_SCREENSHOT_TO") {
        std::fs::copy(&shot, &to).expect("copy the screenshot");
    }

    let dom = chromium(&tmp.path().join("dom"), &["--dump-dom".into()], &base);
    assert!(dom.contains("<h1>ephpm_kv status</h1>"), "the page:\n{dom}");
    assert!(
        dom.contains(&format!(r#"id="stat-entries">{entries}<"#)),
        "entries {entries} in the DOM:\n{dom}"
    );
    assert!(dom.contains(&format!(r#"id="entries">{entries}<"#)));
    for id in [
        "svg-memory",
        "svg-hits",
        "svg-stripe-entries",
        "svg-stripe-bytes",
    ] {
        assert!(dom.contains(&format!(r#"<svg id="{id}""#)), "{id}");
    }
    for key in first_page.iter().filter(|k| !k.starts_with("php_session:")) {
        let shown = key.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            dom.contains(&format!(r#"<code class="key">{shown}</code>"#)),
            "key {key} in the DOM"
        );
    }
    // Local view: the figures, no session ids or contents, no actions.
    assert!(dom.contains("Local view"));
    assert!(!dom.contains("token-of-"), "session contents");
    assert!(!dom.contains("0123456789abcdef"), "a session id");
    assert!(!dom.contains(r#"name="csrf""#), "an action form");
    assert!(!dom.contains("<b>escaped</b>"), "a key is markup");

    // The key browser's filter: every counter, with its size.
    let dom = chromium(
        &tmp.path().join("filter"),
        &["--dump-dom".into()],
        &format!("{base}?match=counter:*"),
    );
    for i in 0..5 {
        assert!(
            dom.contains(&format!(
                r#"<code class="key">counter:page{i}</code></td><td class="n">1</td>"#
            )),
            "counter:page{i}:\n{dom}"
        );
    }
    assert!(dom.contains("5 key(s) on this page"), "{dom}");

    // With the password (credentials in the URL, which Chromium sends when
    // `login=1` makes the page ask for them): a session, decoded.
    let session_key = "php_session:sess01bob0123456789abcdef";
    let hex: String = session_key.bytes().map(|b| format!("{b:02x}")).collect();
    let dom = chromium(
        &tmp.path().join("session"),
        &["--dump-dom".into()],
        &format!(
            "http://admin:{PASSWORD}@127.0.0.1:{}/main/ephpm-status.php?login=1&key={hex}",
            nginx.port()
        ),
    );
    assert!(dom.contains("Signed in"), "signed in:\n{dom}");
    assert!(dom.contains("format php,"), "{dom}");
    assert!(dom.contains("token-of-bob"), "{dom}");
    assert!(dom.contains(r#"<b>apples</b> ⇒ <code>2</code>"#), "{dom}");
    assert!(dom.contains(r#"name="csrf""#), "the admin's forms");
    drop(nginx);
    drop(fpm);
}

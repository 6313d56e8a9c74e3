//! The APCu module proved with the code people run on it, from Debian's
//! archive: Symfony Cache's `ApcuAdapter` against php-cache's PSR-6 and
//! PSR-16 conformance suites, Laravel's `apc` cache store, Composer's
//! APCu-caching class loader, and `apcu_entry` under contention; in
//! php-fpm (`pm = static`, 4 workers, behind nginx) and php-cli, across
//! the two, across a php-fpm restart, and across pools by `apc.name`.
//!
//! The module is the one `ephpm_shm_tests::apcu` picks (this tree's
//! `target/release/libephpm_apcu.so`, or `$EPHPM_APCU_SO`);
//! `EPHPM_APCU_SO=distribution` runs the same tests on Debian's APCu,
//! where every step within one php-fpm passes and the steps that cross
//! from php-fpm to php-cli, through a restart or between pools fail:
//! APCu's cache is one per process tree.

use ephpm_shm_tests::apcu::{fixture, Module, StoreName};
use ephpm_shm_tests::assert_phpunit_ok;
use ephpm_shm_tests::servers::{
    first_pid, is_root, urlencode, wait_for, Endpoint, Fpm, Nginx, Pool, Site, User, FPM_WORKERS,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

/// How long a request that waits on others may take on a loaded machine.
const SLOW_REQUEST: Duration = Duration::from_secs(120);

/// A site whose `pools` (store `name` unless a pool sets its own) run the
/// fixture pages `pages` (from `tests/fixtures/apcu/pages/`) behind nginx.
fn site_with_pages(
    module: &Module,
    name: &StoreName,
    pages: &[&str],
    pools: Vec<Pool>,
) -> (Site, Fpm, Nginx) {
    let site = Site::new();
    for page in pages {
        let php = fs::read_to_string(fixture(&format!("pages/{page}")))
            .unwrap_or_else(|e| panic!("reading fixture {page}: {e}"));
        site.page(page, &php);
    }
    let fpm = module.start_fpm(&site, name, pools);
    let nginx = Nginx::start(&site, &fpm);
    (site, fpm, nginx)
}

/// The JSON a page printed after its worker's PID (`<pid> <json>`).
fn json_of(body: &str) -> &str {
    body.trim_end()
        .split_once(' ')
        .unwrap_or_else(|| panic!("expected `<pid> <json>`, got {body:?}"))
        .1
}

/// Runs a fixture page in php-cli (the query string as its argument, as the
/// pages read it there), as `user` or the user the tests run as, and
/// returns its JSON.
fn cli_page(
    module: &Module,
    site: &Site,
    name: &StoreName,
    user: Option<&User>,
    page: &str,
    query: &str,
) -> String {
    let mut cmd = match user {
        Some(user) => module.php_cli_as(site, Some(name), user),
        None => module.php_cli(site, Some(name)),
    };
    let out = cmd
        .arg(site.www().join(page))
        .arg(query)
        .output()
        .expect("running php-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "php {page} {query:?} failed ({}): {}{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&stdout).to_string()
}

/// `page_and_query` on all [`FPM_WORKERS`] workers at once (each answer
/// from a distinct worker, the request held 300 ms so that they are);
/// returns their JSON.
fn on_every_worker(web: &Endpoint, page_and_query: &str) -> Vec<String> {
    let sep = if page_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    web.on_distinct_workers(FPM_WORKERS, &format!("{page_and_query}{sep}sleep_ms=300"))
        .iter()
        .map(|body| json_of(body).to_string())
        .collect()
}

/// Runs one of php-cache's conformance suites (`psr6`: `CachePoolTest` on
/// `ApcuAdapter`; `psr16`: `SimpleCacheTest` on `Psr16Cache` over it) with
/// Debian's PHPUnit in php-cli twice: on the store php-cli gets without
/// `apc.name` (its own, as under APCu), then on a named store (as php-fpm's
/// pools use). Each run must report OK with no test skipped, risky or
/// incomplete, and run some tests.
fn symfony_suite_in_php_cli(suite: &str) {
    let Some(module) = Module::under_test() else {
        return;
    };
    let site = Site::new();
    let config = fixture("symfony/phpunit.xml.dist");
    let store = StoreName::new(suite);
    for name in [None, Some(&store)] {
        let named = name.map_or("none: its own store", StoreName::as_str);
        let out = module
            .php_cli(&site, name)
            .arg("/usr/bin/phpunit")
            .arg("--testsuite")
            .arg(suite)
            .arg("-c")
            .arg(&config)
            .current_dir(config.parent().expect("a config is in a folder"))
            .output()
            .expect("running phpunit");
        let summary = assert_phpunit_ok(&out, &format!("module {module:?}, apc.name {named}"));
        assert!(!summary.starts_with("OK (0 tests"), "{summary}");
        eprintln!("{suite} in php-cli on {module:?}, apc.name {named}: {summary}");
    }
}

/// Symfony Cache's `ApcuAdapter` passes php-cache's PSR-6 conformance suite
/// (`CachePoolTest`, every test with a namespace of its own) in php-cli, on
/// its own store and on a named one.
#[test]
fn symfony_apcu_adapter_passes_the_psr6_suite_in_php_cli() {
    symfony_suite_in_php_cli("psr6");
}

/// Symfony's `Psr16Cache` over `ApcuAdapter` passes php-cache's PSR-16
/// conformance suite (`SimpleCacheTest`) in php-cli, on its own store and
/// on a named one.
#[test]
fn symfony_psr16_cache_over_apcu_passes_the_psr16_suite_in_php_cli() {
    symfony_suite_in_php_cli("psr16");
}

/// Symfony's `ApcuAdapter` passes both of php-cache's conformance suites
/// (PSR-6 `CachePoolTest`, PSR-16 `SimpleCacheTest` through `Psr16Cache`)
/// run by Debian's PHPUnit inside a php-fpm worker, on the pool's store:
/// one suite after the other (without `APCUIterator` the adapter's
/// `clear()` empties the whole store, which would wipe a suite running
/// beside it).
#[test]
fn symfony_apcu_adapter_passes_the_psr6_and_psr16_suites_in_a_php_fpm_worker() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("symfony-fpm");
    let (site, _fpm, nginx) =
        site_with_pages(&module, &name, &["phpunit.php"], vec![Pool::new("web")]);
    let web = nginx.pool("web");
    let config = fixture("symfony/phpunit.xml.dist");
    for suite in ["psr6", "psr16"] {
        let junit = site.path().join(format!("{suite}.junit.xml"));
        let query = format!(
            "phpunit.php?suite={suite}&config={}&junit={}",
            urlencode(&config.display().to_string()),
            urlencode(&junit.display().to_string())
        );
        let response = web
            .try_get_within(&query, SLOW_REQUEST)
            .unwrap_or_else(|e| panic!("{e}"));
        let report = fs::read_to_string(&junit).unwrap_or_default();
        assert_eq!(response.status, 200, "{}\n{report}", response.body);
        let last = response.body.trim_end().lines().last().unwrap_or("");
        assert_eq!(
            json_of(last),
            "0",
            "PHPUnit's exit code:\n{}",
            response.body
        );
        let counts = junit_counts(&report);
        let count = |what: &str| {
            counts
                .iter()
                .find(|(k, _)| k == what)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no {what} in the JUnit report:\n{report}"))
        };
        assert!(count("tests") > 0, "{report}");
        for what in ["failures", "errors", "warnings", "skipped"] {
            assert_eq!(count(what), 0, "{what} in {suite}:\n{report}");
        }
        eprintln!(
            "{suite} in php-fpm on {module:?}: {} tests, {} assertions",
            count("tests"),
            count("assertions")
        );
    }
}

/// The counts of the first `<testsuite ...>` of a JUnit report.
fn junit_counts(report: &str) -> Vec<(String, u64)> {
    let Some(start) = report.find("<testsuite ") else {
        return Vec::new();
    };
    let tag = &report[start..start + report[start..].find('>').unwrap_or(0)];
    tag.split_whitespace()
        .filter_map(|attr| {
            let (key, value) = attr.split_once('=')?;
            let value = value.trim_matches('"').parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// An item Symfony's `ApcuAdapter` saves in one php-fpm worker (a
/// `stdClass` holding a list and another object: through the serializer)
/// is a hit with the same value in every worker, a delete in one is a miss
/// in all, and with the same `apc.name` php-cli reads what a worker saved
/// and the workers read what php-cli saved (the step Debian's APCu fails).
#[test]
fn symfony_apcu_adapter_items_are_shared_by_php_fpm_workers_and_php_cli() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("symfony");
    let (site, _fpm, nginx) =
        site_with_pages(&module, &name, &["symfony.php"], vec![Pool::new("web")]);
    let web = nginx.pool("web");
    let token = format!("{:x}", std::process::id() as u64 * 7919 + 17);
    let value = format!(r#"{{"token":"{token}","list":[1,2.5,null,"three"],"map":{{"k":true}}}}"#);
    let item = |op: &str, key: &str| format!("symfony.php?op={op}&ns=app&key={key}");

    let saved = web.page(&format!(
        "{}&value={}",
        item("save", "shared"),
        urlencode(&value)
    ));
    assert_eq!(json_of(&saved), "true", "save in a worker");
    let hit = format!(r#"{{"hit":true,"value":{value}}}"#);
    for got in on_every_worker(&web, &item("get", "shared")) {
        assert_eq!(got, hit, "every worker reads the item one worker saved");
    }

    assert_eq!(json_of(&web.page(&item("delete", "shared"))), "true");
    let miss = r#"{"hit":false,"value":null}"#;
    for got in on_every_worker(&web, &item("get", "shared")) {
        assert_eq!(got, miss, "a delete in one worker is seen by all");
    }

    let from_worker = format!(r#"{{"from":"worker","token":"{token}"}}"#);
    let saved = web.page(&format!(
        "{}&value={}",
        item("save", "w"),
        urlencode(&from_worker)
    ));
    assert_eq!(json_of(&saved), "true");
    assert_eq!(
        cli_page(
            &module,
            &site,
            &name,
            None,
            "symfony.php",
            "op=get&ns=app&key=w"
        ),
        format!(r#"{{"hit":true,"value":{from_worker}}}"#),
        "php-cli with apc.name={name} reads the item a php-fpm worker saved ({module:?})"
    );
    let from_cli = format!(r#"{{"from":"cli","token":"{token}"}}"#);
    let query = format!("op=save&ns=app&key=c&value={}", urlencode(&from_cli));
    assert_eq!(
        cli_page(&module, &site, &name, None, "symfony.php", &query),
        "true"
    );
    for got in on_every_worker(&web, &item("get", "c")) {
        assert_eq!(got, format!(r#"{{"hit":true,"value":{from_cli}}}"#));
    }
}

/// What `laravel.php?op=suite` must print: each operation of Laravel's
/// `apc` store (`Repository` over `ApcStore` and `ApcWrapper`) with what
/// the framework documents it returns.
const LARAVEL_SUITE: &str = concat!(
    r#"{"put":true,"get":"alpha","get_missing":"default","has":true,"#,
    r#""putMany":true,"many":{"a":"alpha","b":2.5,"c":{"x":[1,2],"y":null},"missing":null},"#,
    r#""put_n":true,"increment":6,"increment_4":10,"decrement_3":7,"get_n":7,"#,
    r#""forever":true,"get_forever":{"kept":true},"#,
    r#""remember":"computed 1","remember_again":"computed 1","remember_calls":1,"#,
    r#""forget":true,"get_forgotten":null,"#,
    r#""flush":true,"after_flush":{"b":null,"f":null,"n":null,"r":null}}"#
);

/// Laravel's `apc` cache store does put/get/many/putMany/increment/
/// decrement/forever/forget/flush and `Repository::remember` (computed
/// once) in php-cli and in a php-fpm worker. With the pool running as
/// www-data (when the tests run as root), a value one worker puts is read
/// by every worker and, with the same `apc.name`, by php-cli run as
/// www-data, and what that php-cli puts is read by every worker (the steps
/// Debian's APCu fails).
#[test]
fn laravel_apc_store_works_in_php_cli_and_php_fpm_and_shares_between_them() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let user = is_root().then(User::www_data);
    let name = StoreName::new("laravel");
    let pool = match &user {
        Some(user) => Pool::new("web").user(user.clone()),
        None => Pool::new("web"),
    };
    let (site, _fpm, nginx) = site_with_pages(&module, &name, &["laravel.php"], vec![pool]);
    let web = nginx.pool("web");

    let cli_name = StoreName::new("laravel-cli");
    let cli = cli_page(
        &module,
        &site,
        &cli_name,
        None,
        "laravel.php",
        "op=suite&prefix=cli",
    );
    assert_eq!(cli, LARAVEL_SUITE, "the store's operations in php-cli");
    let fpm = web.page("laravel.php?op=suite&prefix=fpm");
    assert_eq!(
        json_of(&fpm),
        LARAVEL_SUITE,
        "the store's operations in a worker"
    );

    let token = format!("worker value {}", std::process::id());
    let put = web.page(&format!(
        "laravel.php?op=put&prefix=app&key=shared&value={}",
        urlencode(&token)
    ));
    assert_eq!(json_of(&put), "true");
    let quoted = format!("\"{token}\"");
    for got in on_every_worker(&web, "laravel.php?op=get&prefix=app&key=shared") {
        assert_eq!(got, quoted, "every worker reads what one worker put");
    }
    let cli_get = "op=get&prefix=app&key=shared";
    assert_eq!(
        cli_page(&module, &site, &name, user.as_ref(), "laravel.php", cli_get),
        quoted,
        "php-cli as {user:?} with apc.name={name} reads what a php-fpm worker put ({module:?})"
    );
    let cli_put = "op=put&prefix=app&key=from-cli&value=put+by+php-cli";
    assert_eq!(
        cli_page(&module, &site, &name, user.as_ref(), "laravel.php", cli_put),
        "true"
    );
    for got in on_every_worker(&web, "laravel.php?op=get&prefix=app&key=from-cli") {
        assert_eq!(
            got, "\"put by php-cli\"",
            "every worker reads what php-cli put"
        );
    }
}

/// Puts `value` under `key` through Laravel's store in a worker of
/// `web`; returns the JSON of `put` (`true`).
fn laravel_put(web: &Endpoint, key: &str, value: &str) -> String {
    let body = web.page(&format!(
        "laravel.php?op=put&prefix=app&key={key}&value={}",
        urlencode(value)
    ));
    json_of(&body).to_string()
}

/// Laravel's `apc` store keeps its values through a php-fpm restart (a new
/// master and new workers open the same store): what a worker put before
/// is read by every worker after (Debian's APCu, whose cache lives in the
/// master's memory, starts empty).
#[test]
fn laravel_apc_store_values_outlive_a_php_fpm_restart() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("laravel-restart");
    let (_site, mut fpm, nginx) =
        site_with_pages(&module, &name, &["laravel.php"], vec![Pool::new("web")]);
    let web = nginx.pool("web");
    let token = format!("before the restart {}", std::process::id());
    assert_eq!(laravel_put(&web, "kept", &token), "true");
    let before = fpm.workers();
    fpm.restart();
    let after = fpm.workers();
    assert!(
        before.iter().all(|pid| !after.contains(pid)),
        "new workers: {before:?} then {after:?}"
    );
    for got in on_every_worker(&web, "laravel.php?op=get&prefix=app&key=kept") {
        assert_eq!(
            got,
            format!("\"{token}\""),
            "read after the restart ({module:?})"
        );
    }
}

/// Pools of one php-fpm with different `apc.name`s (`php_admin_value`)
/// have separate stores, and pools with the same name share one: through
/// Laravel's store, a value put in pool `a` is read in pool `a2` (same
/// name) and missing in pool `b` (Debian's APCu has one cache for the
/// whole php-fpm, so `b` reads it too).
#[test]
fn laravel_apc_store_is_shared_by_pools_of_one_name_and_apart_from_others() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("laravel-pools");
    let other = StoreName::new("laravel-pools-b");
    let named = |pool: &str, store: &StoreName| {
        Pool::new(pool)
            .workers(2)
            .line(&format!("php_admin_value[apc.name] = {store}"))
    };
    let pools = vec![named("a", &name), named("a2", &name), named("b", &other)];
    let (_site, _fpm, nginx) = site_with_pages(&module, &name, &["laravel.php"], pools);
    let token = format!("pool a {}", std::process::id());
    assert_eq!(laravel_put(&nginx.pool("a"), "pooled", &token), "true");
    let get = "laravel.php?op=get&prefix=app&key=pooled";
    assert_eq!(
        json_of(&nginx.pool("a2").page(get)),
        format!("\"{token}\""),
        "pool a2 (apc.name={name}) reads what pool a put"
    );
    assert_eq!(
        json_of(&nginx.pool("b").page(get)),
        "null",
        "pool b (apc.name={other}) does not see pool a's store ({module:?})"
    );
}

/// The class paths Composer's loader caches for `index.php` (the classmap's
/// `Legacy_Util` is answered from the classmap and never cached), with what
/// each must hold: a file of the project (Composer writes it relative to
/// `vendor/composer/`), or `false` for a class that does not exist.
const COMPOSER_ENTRIES: &[(&str, Option<&str>)] = &[
    ("Proof\\Greeter", Some("src/Greeter.php")),
    ("Proof\\Missing", None),
    ("Proof\\Shape\\Circle", Some("src/Shape/Circle.php")),
];

/// Composer's APCu class-map autoloader (`composer dump-autoload --apcu`,
/// offline) in php-fpm: the store is empty before the first request and
/// holds exactly the class paths it looked up after it; requests on every
/// other worker add nothing (a worker lists the same entries after them)
/// and take the paths from the store: php-cli with the same `apc.name`
/// lists the same entries (the step Debian's APCu fails), and a path it
/// puts there is the file every worker then loads.
#[test]
fn composer_apcu_autoloader_fills_the_shared_store_once_for_all_workers() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("composer");
    let site = Site::new();
    let app = site.www().join("app");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(fixture("composer"))
        .arg(&app)
        .status()
        .expect("cp");
    assert!(copied.success());
    let prefix = format!("proof-{}-", std::process::id());
    let dumped = Command::new("composer")
        .args(["dump-autoload", "--no-interaction"])
        .arg(format!("--apcu-prefix={prefix}"))
        .current_dir(&app)
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("COMPOSER_DISABLE_NETWORK", "1")
        .env("COMPOSER_HOME", site.path().join("composer-home"))
        .output()
        .expect("running composer");
    assert!(
        dumped.status.success(),
        "composer dump-autoload failed: {}{}",
        String::from_utf8_lossy(&dumped.stdout),
        String::from_utf8_lossy(&dumped.stderr)
    );
    readable(&app);
    site.page(
        "list.php",
        &fs::read_to_string(fixture("pages/list.php")).expect("list.php"),
    );
    let fpm = module.start_fpm(&site, &name, vec![Pool::new("web")]);
    let nginx = Nginx::start(&site, &fpm);
    let web = nginx.pool("web");
    let list_query = format!("prefix={}", urlencode(&prefix));
    let in_worker = || json_of(&web.page(&format!("list.php?{list_query}"))).to_string();
    assert_eq!(in_worker(), "{}", "no entries before the first request");

    let first = web.page("app/index.php");
    let greeting = format!(
        r#""greeting":"hello worker from {}/src/Greeter.php""#,
        app.display()
    );
    assert!(first.contains(&greeting), "{first}");
    let expected: Vec<String> = COMPOSER_ENTRIES
        .iter()
        .map(|(class, file)| {
            let class = class.replace('\\', "\\\\");
            match file {
                Some(file) => {
                    format!(
                        r#""{class}":"{}/vendor/composer/../../{file}""#,
                        app.display()
                    )
                }
                None => format!(r#""{class}":false"#),
            }
        })
        .collect();
    let expected = format!("{{{}}}", expected.join(","));
    assert_eq!(
        in_worker(),
        expected,
        "the first request's autoloader filled the store"
    );

    for body in on_every_worker(&web, "app/index.php") {
        assert!(body.contains(&greeting), "{body}");
    }
    assert_eq!(in_worker(), expected, "the other workers added nothing");
    assert_eq!(
        cli_page(&module, &site, &name, None, "list.php", &list_query),
        expected,
        "php-cli with apc.name={name} sees the entries the workers' autoloader added ({module:?})"
    );

    let marker = app.join("marker/Greeter.php");
    let point = "var_export(apcu_store($argv[1], $argv[2]));";
    let stored = module
        .php_cli(&site, Some(&name))
        .arg("-r")
        .arg(point)
        .arg(format!("{prefix}Proof\\Greeter"))
        .arg(&marker)
        .output()
        .expect("running php-cli");
    assert_eq!(
        String::from_utf8_lossy(&stored.stdout),
        "true",
        "{stored:?}"
    );
    let marked = format!(r#""greeting":"marker worker from {}""#, marker.display());
    for body in on_every_worker(&web, "app/index.php") {
        assert!(
            body.contains(&marked),
            "every worker loads the class from the path in the store: {body}"
        );
    }
}

/// Makes a copied tree readable by everyone (workers may run as another user).
fn readable(dir: &Path) {
    let status = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .status()
        .expect("chmod");
    assert!(status.success());
}

/// `apcu_entry` for one missing key, asked by all 4 php-fpm workers at the
/// same instant (each request waits at a barrier until all 4 have arrived),
/// runs its callback exactly once (the callback's log, appended under
/// flock, has one line) and all 4 get the value that one call returned.
#[test]
fn apcu_entry_computes_once_for_four_php_fpm_workers_at_once() {
    let Some(module) = Module::under_test() else {
        return;
    };
    let name = StoreName::new("entry");
    let (site, _fpm, nginx) =
        site_with_pages(&module, &name, &["entry.php"], vec![Pool::new("web")]);
    let web = nginx.pool("web");
    let barrier = site.path().join("barrier");
    fs::create_dir(&barrier).expect("barrier dir");
    let status = Command::new("chmod")
        .arg("1777")
        .arg(&barrier)
        .status()
        .expect("chmod");
    assert!(status.success());

    let query = format!(
        "entry.php?key=contended&dir={}",
        urlencode(&barrier.display().to_string())
    );
    let requests: Vec<_> = (0..FPM_WORKERS)
        .map(|_| {
            let web = web.clone();
            let query = query.clone();
            thread::spawn(move || web.try_get_within(&query, SLOW_REQUEST))
        })
        .collect();
    wait_for(SLOW_REQUEST, "all 4 workers at the barrier", || {
        let arrived = fs::read_dir(&barrier)
            .expect("barrier dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("arrived."))
            .count();
        (arrived == FPM_WORKERS).then_some(())
    });
    fs::write(barrier.join("go"), "").expect("go");
    let bodies: Vec<String> = requests
        .into_iter()
        .map(|t| {
            let response = t
                .join()
                .expect("request thread")
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response.status, 200, "{}", response.body);
            response.body
        })
        .collect();

    let pids: BTreeSet<u32> = bodies.iter().map(|b| first_pid(b)).collect();
    assert_eq!(pids.len(), FPM_WORKERS, "4 distinct workers: {bodies:?}");
    let log = fs::read_to_string(barrier.join("computed.log")).expect("computed.log");
    let computed: Vec<&str> = log.lines().collect();
    assert_eq!(
        computed.len(),
        1,
        "the callback ran once: {log:?}, answers {bodies:?}"
    );
    let values: BTreeSet<&str> = bodies.iter().map(|b| json_of(b)).collect();
    assert_eq!(values.len(), 1, "all got one value: {bodies:?}");
    let value = values.first().expect("a value");
    assert!(
        value.starts_with(&format!(r#"{{"key":"contended","by":{},"#, computed[0])),
        "the value is the one the logged call returned: {value} (log {log:?})"
    );
}

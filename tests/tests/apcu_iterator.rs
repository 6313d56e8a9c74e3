//! `APCUIterator` of the `apcu` module in php-fpm behind nginx: two pools
//! (pool `a` with [`FPM_WORKERS`] workers, pool `b` with one) whose php.ini
//! names the same `apc.name`, so every worker of both uses one store. An
//! iterator in any worker lists and deletes what the others stored, and
//! Symfony's `ApcuAdapter` (Debian's php-symfony-cache) clears its
//! namespace, by `apcu_delete(new APCUIterator(...))`, for every pool. And
//! php-cli processes SIGKILLed while iterating (storing and deleting as
//! they go) leave a store the next process iterates and that verifies.

use ephpm_shm_tests::apcu::{Module, StoreName};
use ephpm_shm_tests::servers::{first_pid, Endpoint, Fpm, Nginx, Pool, Site, FPM_WORKERS};
use std::collections::BTreeSet;

/// Stores `w:<its pid>:<i>` = i for i in 0..30 after 300 ms (so that
/// concurrent requests reach distinct workers); prints its PID.
const STORE_PAGE: &str = r#"<?php
usleep(300000);
$me = getmypid();
for ($i = 0; $i < 30; $i++) {
    apcu_store("w:$me:$i", $i);
}
echo $me, "\n";
"#;

/// Prints its PID, then every `key=value` an iterator over `search` lists
/// (chunks of 7), sorted, one a line; `delete` deletes them first.
const LIST_PAGE: &str = r#"<?php
usleep((int) ($_GET['sleep_ms'] ?? 0) * 1000);
echo getmypid(), "\n";
$search = $_GET['search'];
if (isset($_GET['delete'])) {
    echo 'deleted: ', json_encode(apcu_delete(new APCUIterator($search, APC_ITER_KEY))), "\n";
}
$it = new APCUIterator($search, APC_ITER_KEY | APC_ITER_VALUE, 7);
$lines = [];
foreach ($it as $key => $entry) {
    $lines[] = $entry['key'] === $key ? "$key={$entry['value']}" : "MISMATCH $key";
}
sort($lines);
echo 'count: ', $it->getTotalCount(), "\n", implode("\n", $lines), "\n";
"#;

/// Symfony's `ApcuAdapter` for namespaces `app.a` and `app.b`: `save`
/// stores two items in each, `clear` clears `app.a`, `bump` opens `app.b`
/// with another version (which clears it), `read` prints each item or
/// `miss`.
const SYMFONY_PAGE: &str = r#"<?php
require '/usr/share/php/Symfony/Component/Cache/autoload.php';
use Symfony\Component\Cache\Adapter\ApcuAdapter;
echo getmypid(), "\n";
$version = $_GET['op'] === 'bump' ? 'v2' : 'v1';
$a = new ApcuAdapter('app.a', 0, 'v1');
$b = new ApcuAdapter('app.b', 0, $version);
switch ($_GET['op']) {
    case 'save':
        foreach (['x', 'y'] as $k) {
            $a->save($a->getItem($k)->set("a-$k"));
            $b->save($b->getItem($k)->set(['b', $k, 1.5]));
        }
        echo "saved\n";
        break;
    case 'clear':
        echo 'cleared: ', json_encode($a->clear()), "\n";
        break;
    case 'bump':
        echo "opened app.b v2\n";
        break;
    case 'read':
        foreach (['a' => $a, 'b' => $b] as $ns => $cache) {
            foreach (['x', 'y'] as $k) {
                $item = $cache->getItem($k);
                echo "$ns.$k: ", $item->isHit() ? json_encode($item->get()) : 'miss', "\n";
            }
        }
        break;
}
"#;

/// A site with pools `a` and `b` sharing one `apc.name` store (the module
/// [`Module::under_test`] names), behind nginx; `None` if it is missing.
fn two_pools(test: &str) -> Option<(Site, Fpm, Nginx, StoreName)> {
    let module = Module::under_test()?;
    let site = Site::new();
    let name = StoreName::new(test);
    let fpm = module.start_fpm(
        &site,
        &name,
        vec![Pool::new("a"), Pool::new("b").workers(1)],
    );
    site.page("store.php", STORE_PAGE);
    site.page("list.php", LIST_PAGE);
    site.page("symfony.php", SYMFONY_PAGE);
    let nginx = Nginx::start(&site, &fpm);
    Some((site, fpm, nginx, name))
}

/// A list page's body without its first line (the PID).
fn listed(body: &str) -> &str {
    body.split_once('\n').map_or("", |(_, rest)| rest)
}

/// What the list page prints for the keys of `pids`, 30 each.
fn expected_list(pids: &BTreeSet<u32>) -> String {
    let mut lines: Vec<String> = pids
        .iter()
        .flat_map(|pid| (0..30).map(move |i| format!("w:{pid}:{i}={i}")))
        .collect();
    lines.sort();
    format!("count: {}\n{}\n", lines.len(), lines.join("\n"))
}

#[test]
fn every_worker_of_every_pool_iterates_and_deletes_one_store() {
    let Some((_site, _fpm, nginx, _name)) = two_pools("iterator-pools") else {
        return;
    };
    let a = nginx.pool("a");
    let b = nginx.pool("b");
    let writers: BTreeSet<u32> = a
        .on_distinct_workers(FPM_WORKERS, "store.php")
        .iter()
        .map(|body| first_pid(body))
        .collect();
    assert_eq!(writers.len(), FPM_WORKERS);

    // Pool b's worker lists every key of pool a's workers.
    assert_eq!(
        listed(&b.page("list.php?search=/%5Ew:/")),
        expected_list(&writers)
    );

    // It deletes one writer's keys by an iterator; every worker of pool a
    // then lists the others' only.
    let gone = *writers.iter().next().expect("a writer");
    let body = b.page(&format!("list.php?delete=1&search=/%5Ew:{gone}:/"));
    assert_eq!(listed(&body), "deleted: true\ncount: 0\n\n", "{body}");
    let rest: BTreeSet<u32> = writers.iter().copied().filter(|p| *p != gone).collect();
    let bodies = a.on_distinct_workers(FPM_WORKERS, "list.php?sleep_ms=300&search=/%5Ew:/");
    for body in &bodies {
        assert_eq!(listed(body), expected_list(&rest), "{body}");
    }
}

fn symfony(endpoint: &Endpoint, op: &str) -> String {
    listed(&endpoint.page(&format!("symfony.php?op={op}"))).to_string()
}

/// Debian's php-symfony-cache, which the Symfony page loads.
const SYMFONY_AUTOLOAD: &str = "/usr/share/php/Symfony/Component/Cache/autoload.php";

#[test]
fn symfony_apcu_adapter_clears_its_namespace_for_every_pool() {
    assert!(
        std::path::Path::new(SYMFONY_AUTOLOAD).is_file(),
        "{SYMFONY_AUTOLOAD} is missing: apt-get install php-symfony-cache"
    );
    let Some((_site, _fpm, nginx, _name)) = two_pools("iterator-symfony") else {
        return;
    };
    let a = nginx.pool("a");
    let b = nginx.pool("b");
    let all_hits = "a.x: \"a-x\"\na.y: \"a-y\"\nb.x: [\"b\",\"x\",1.5]\nb.y: [\"b\",\"y\",1.5]\n";
    assert_eq!(symfony(&a, "save"), "saved\n");
    assert_eq!(symfony(&b, "read"), all_hits);

    // Pool b clears namespace app.a: gone for pool a, app.b kept.
    assert_eq!(symfony(&b, "clear"), "cleared: true\n");
    let after_clear = "a.x: miss\na.y: miss\nb.x: [\"b\",\"x\",1.5]\nb.y: [\"b\",\"y\",1.5]\n";
    for body in a.on_distinct_workers(FPM_WORKERS, "list.php?sleep_ms=300&search=/%5Eapp%5C.a:/") {
        assert_eq!(listed(&body), "count: 0\n\n", "{body}");
    }
    assert_eq!(symfony(&a, "read"), after_clear);

    // A new version of app.b, opened by pool b, clears app.b for pool a.
    assert_eq!(symfony(&a, "save"), "saved\n");
    assert_eq!(symfony(&b, "bump"), "opened app.b v2\n");
    let body = a.page("list.php?search=/%5Eapp%5C.b:/");
    assert_eq!(listed(&body), "count: 0\n\n", "{body}");
    let body = a.page("list.php?search=/%5Eapp%5C.a:/");
    assert!(listed(&body).starts_with("count: 2\n"), "{body}");
}

// ------------------------------------------------ a process killed while iterating

/// php-cli with this project's module ([`Module::built_so`]: Debian's APCu
/// keeps no store between php-cli processes), store `name` in the site's
/// segment directory, running `code`.
fn php_cli(site: &Site, name: &StoreName, code: &str) -> std::process::Command {
    let mut cmd = Module::Built(Module::built_so()).php_cli(site, Some(name));
    cmd.arg("-r").arg(code);
    cmd
}

/// Iterates the store in chunks of 7 forever, replacing and deleting keys
/// as it goes (so that it takes stripe locks all the time); prints a line
/// after each pass.
const ITERATE_FOREVER: &str = r#"
for ($i = 0; $i < 2000; $i++) apcu_store("k:$i", str_repeat('v', $i % 300));
for ($pass = 0; ; $pass++) {
    foreach (new APCUIterator('/^k:\d+$/', APC_ITER_ALL, 7) as $key => $entry) {
        apcu_store($key, $entry['value'] . 'v');
    }
    apcu_delete(new APCUIterator('/^k:1\d$/'));
    for ($i = 10; $i < 20; $i++) apcu_store("k:$i", '');
    echo "pass $pass\n";
}
"#;

#[test]
fn a_process_killed_while_iterating_blocks_nobody() {
    use std::io::BufRead;
    let site = Site::new();
    let name = StoreName::new("iterator-killed");
    // SIGKILLed after 1 to 8 passes: at whatever instant of its next pass
    // the kill lands (in a scan, a value read, a store or a delete).
    for passes in 1..=8 {
        let mut child = php_cli(&site, &name, ITERATE_FOREVER)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start php");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        for _ in 0..passes {
            let line = lines.next().expect("a pass").expect("a line");
            assert!(line.starts_with("pass "), "{line}");
        }
        // SIGKILL (Child::kill), by the child's own pid.
        child.kill().expect("SIGKILL php");
        let _ = child.wait();
    }
    // Another process iterates, stores and deletes through every stripe.
    let out = php_cli(
        &site,
        &name,
        r#"$n = 0;
        foreach (new APCUIterator('/^k:/', APC_ITER_KEY | APC_ITER_VALUE, 7) as $key => $entry) {
            if (is_string($entry['value'])) $n++;
        }
        // All 2000 but those k:1x the last one had deleted and not yet stored again.
        var_dump($n === (new APCUIterator('/^k:/'))->getTotalCount(), $n >= 1990);
        var_dump(apcu_delete(new APCUIterator('/^k:/')), (new APCUIterator())->getTotalCount(), apcu_store('after', 1));"#,
    )
    .output()
    .expect("run php");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "bool(true)\nbool(true)\nbool(true)\nint(0)\nbool(true)\n"
    );
    let store = shm_store::Store::attach(site.shm_dir(), &format!("apcu.{name}"))
        .expect("attach the store");
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

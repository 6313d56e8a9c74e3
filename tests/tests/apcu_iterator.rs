//! `APCUIterator` of the `apcu` module in php-fpm behind nginx: two pools
//! (pool `a` with [`FPM_WORKERS`] workers, pool `b` with one) whose php.ini
//! names the same `apc.name`, so every worker of both uses one store. An
//! iterator in any worker lists and deletes what the others stored, and
//! Symfony's `ApcuAdapter` (Debian's php-symfony-cache) clears its
//! namespace, by `apcu_delete(new APCUIterator(...))`, for every pool.

use ephpm_shm_tests::phpt::apcu_so;
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

/// A site with pools `a` and `b` sharing one `apc.name` store, behind nginx.
fn two_pools() -> (Site, Fpm, Nginx) {
    let site = Site::new();
    let so = std::fs::canonicalize(apcu_so()).expect("canonical path of the apcu module");
    let ini = format!(
        "extension={}\napc.dir={}\napc.name=shared-by-pools\n",
        so.display(),
        site.shm_dir().display()
    );
    let fpm = Fpm::start_with_ini(
        &site,
        "kv",
        vec![Pool::new("a"), Pool::new("b").workers(1)],
        &ini,
    );
    site.page("store.php", STORE_PAGE);
    site.page("list.php", LIST_PAGE);
    site.page("symfony.php", SYMFONY_PAGE);
    let nginx = Nginx::start(&site, &fpm);
    (site, fpm, nginx)
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
    let (_site, _fpm, nginx) = two_pools();
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

#[test]
fn symfony_apcu_adapter_clears_its_namespace_for_every_pool() {
    let (_site, _fpm, nginx) = two_pools();
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

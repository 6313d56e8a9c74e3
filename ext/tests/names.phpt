--TEST--
ephpm_kv: stores of different names never see each other's keys; flush_all empties only this store
--INI--
ephpm_kv.name=names
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

// A child process on another store name (same directory, same extension).
function other(string $code): string {
    [$rc, $out, $err] = kv_child(['ephpm_kv.name' => 'names-other', 'ephpm_kv.size' => '4M'], $code);
    return $out . $err . ($rc === 0 ? '' : "exit $rc\n");
}
// A child process on this store.
function same(string $code): string {
    [$rc, $out, $err] = kv_child(['ephpm_kv.name' => 'names', 'ephpm_kv.size' => '4M'], $code);
    return $out . $err . ($rc === 0 ? '' : "exit $rc\n");
}

echo other('ephpm_kv_flush_all(); var_dump(ephpm_kv_set("shared", "other"), ephpm_kv_set("only-other", "o"));');
var_dump(ephpm_kv_set('shared', 'mine'), ephpm_kv_set('only-mine', 'm'));

echo "-- each name sees its own value\n";
var_dump(ephpm_kv_get('shared'), ephpm_kv_get('only-other'));
echo other('var_dump(ephpm_kv_get("shared"), ephpm_kv_get("only-mine"), ephpm_kv_get("only-other"));');

echo "-- another process on the same name shares the keys\n";
echo same('var_dump(ephpm_kv_get("shared"), ephpm_kv_incr("counter"), ephpm_kv_set("from-child", "c", 100));');
var_dump(ephpm_kv_get('counter'), ephpm_kv_get('from-child'), kv_near(ephpm_kv_ttl('from-child'), 100, 10));

echo "-- flush_all here leaves the other store alone\n";
var_dump(ephpm_kv_flush_all());
var_dump(ephpm_kv_get('shared'), ephpm_kv_exists('only-mine'), ephpm_kv_get('counter'));
echo other('var_dump(ephpm_kv_get("shared"), ephpm_kv_get("only-other"));');
echo same('var_dump(ephpm_kv_get("from-child"), ephpm_kv_stats()["entries"]);');

echo "-- and flush_all there leaves this one alone\n";
ephpm_kv_set('after', 'a');
echo other('var_dump(ephpm_kv_flush_all(), ephpm_kv_get("shared"), ephpm_kv_stats()["entries"]);');
var_dump(ephpm_kv_get('after'));

echo "-- same name in another directory is another store\n";
$dir = ini_get('ephpm_kv.dir') . '/names-subdir';
@mkdir($dir);
[$rc, $out, $err] = kv_child(['ephpm_kv.name' => 'names', 'ephpm_kv.size' => '4M', 'ephpm_kv.dir' => $dir],
    'var_dump(ephpm_kv_get("after"), ephpm_kv_set("after", "elsewhere"));');
echo $out, $err;
var_dump(ephpm_kv_get('after'));

var_dump(kv_errors());
?>
--CLEAN--
<?php
$dir = ini_get('ephpm_kv.dir') . '/names-subdir';
@unlink("$dir/ephpm_kv.names");
@rmdir($dir);
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
-- each name sees its own value
string(4) "mine"
NULL
string(5) "other"
NULL
string(1) "o"
-- another process on the same name shares the keys
string(4) "mine"
int(1)
bool(true)
string(1) "1"
string(1) "c"
int(100)
-- flush_all here leaves the other store alone
bool(true)
NULL
bool(false)
NULL
string(5) "other"
string(1) "o"
NULL
int(0)
-- and flush_all there leaves this one alone
bool(true)
NULL
int(0)
string(1) "a"
-- same name in another directory is another store
NULL
bool(true)
string(1) "a"
array(0) {
}

--TEST--
ephpm_kv: a full store under noeviction refuses writes with a "store is full" warning and keeps its keys
--INI--
ephpm_kv.name=eviction_noeviction
ephpm_kv.size=1M
ephpm_kv.eviction=noeviction
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$value = fn(int $i) => str_pad("value $i ", 1000, '.');
$n = 0;
while (ephpm_kv_set("k$n", $value($n))) {
    $n++;
    if ($n > 5000) {
        break;
    }
}
echo $n > 100 && $n < 1100 ? "full after some hundred 1 KB values\n" : "stored $n values\n";
$errors = kv_errors();
var_dump(count($errors));
var_dump(str_starts_with($errors[0], "E_WARNING: ephpm_kv_set(): store is full"));
var_dump(str_contains($errors[0], 'noeviction'));

echo "-- every older key is still there\n";
$kept = 0;
for ($i = 0; $i < $n; $i++) {
    $kept += ephpm_kv_get("k$i") === $value($i) ? 1 : 0;
}
var_dump($kept === $n, ephpm_kv_exists("k$n"), ephpm_kv_stats()['entries'] === $n, ephpm_kv_stats()['evictions']);

echo "-- further writes fail the same way, one warning each\n";
var_dump(ephpm_kv_set('new', $value(0)));
var_dump(ephpm_kv_setnx('new', $value(0)));
var_dump(ephpm_kv_set('k0', str_repeat('x', 5000))); // a bigger value for an existing key
foreach (kv_errors() as $e) {
    echo substr($e, 0, strpos($e, 'full') + 4), "\n";
}
var_dump(ephpm_kv_get('k0') === $value(0), ephpm_kv_exists('new'));
echo "a setnx on an existing key loses quietly, even when full\n";
var_dump(ephpm_kv_setnx('k1', 'x'), kv_errors());
echo "incr of a new key, once not even a small entry fits: false and the warning\n";
for ($j = 0; $j < 1000 && ephpm_kv_set("s$j", ''); $j++);
var_dump(count(kv_errors()));
var_dump(ephpm_kv_incr('counter'), ephpm_kv_exists('counter'));
foreach (kv_errors() as $e) {
    echo substr($e, 0, strpos($e, 'full') + 4), "\n";
}

echo "-- deleting makes room again\n";
for ($i = 0; $i < 10; $i++) {
    ephpm_kv_del("k$i");
}
var_dump(ephpm_kv_incr('counter'), ephpm_kv_incr('counter'));
var_dump(ephpm_kv_set('new', $value(0)), ephpm_kv_setnx('new2', $value(1)), ephpm_kv_get('new') === $value(0));
var_dump(kv_errors());

echo "-- flush_all empties it\n";
var_dump(ephpm_kv_flush_all(), ephpm_kv_stats()['entries']);
for ($i = 0; $i < $n; $i++) {
    if (!ephpm_kv_set("again$i", $value($i))) {
        echo "failed at $i\n";
        break;
    }
}
var_dump(kv_errors());
?>
--EXPECT--
full after some hundred 1 KB values
int(1)
bool(true)
bool(true)
-- every older key is still there
bool(true)
bool(false)
bool(true)
int(0)
-- further writes fail the same way, one warning each
bool(false)
bool(false)
bool(false)
E_WARNING: ephpm_kv_set(): store is full
E_WARNING: ephpm_kv_setnx(): store is full
E_WARNING: ephpm_kv_set(): store is full
bool(true)
bool(false)
a setnx on an existing key loses quietly, even when full
bool(false)
array(0) {
}
incr of a new key, once not even a small entry fits: false and the warning
int(1)
bool(false)
bool(false)
E_WARNING: ephpm_kv_incr(): store is full
-- deleting makes room again
int(1)
int(2)
bool(true)
bool(true)
bool(true)
array(0) {
}
-- flush_all empties it
bool(true)
int(0)
array(0) {
}

--TEST--
ephpm_kv: volatile-lru evicts only keys with a TTL; when only keys without one are left, writes fail with a warning
--INI--
ephpm_kv.name=eviction_volatile_lru
ephpm_kv.size=1M
ephpm_kv.eviction=volatile-lru
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$value = fn(int $i) => str_pad("value $i ", 1000, '.');
echo "-- keys with a TTL make room for new keys\n";
for ($i = 0; $i < 300; $i++) {
    ephpm_kv_set("keep$i", $value($i)); // no TTL
}
$failed = 0;
for ($i = 0; $i < 3000; $i++) {
    $failed += ephpm_kv_set("tmp$i", $value($i), 3600) ? 0 : 1;
}
var_dump($failed, kv_errors());
$kept = 0;
for ($i = 0; $i < 300; $i++) {
    $kept += ephpm_kv_get("keep$i") === $value($i) ? 1 : 0;
}
var_dump($kept, ephpm_kv_stats()['evictions'] > 0, ephpm_kv_exists('tmp0'), ephpm_kv_exists('tmp2999'));

echo "-- with only keys without a TTL, a full store refuses writes\n";
$n = 0;
while (ephpm_kv_set("more$n", $value($n))) {
    $n++;
    if ($n > 5000) {
        break;
    }
}
echo $n < 5000 ? "filled\n" : "never full\n";
$errors = kv_errors();
var_dump(count($errors), str_starts_with($errors[0], 'E_WARNING: ephpm_kv_set(): store is full'));
var_dump(ephpm_kv_exists('tmp2999'));
$kept = 0;
for ($i = 0; $i < 300; $i++) {
    $kept += ephpm_kv_get("keep$i") === $value($i) ? 1 : 0;
}
for ($i = 0; $i < $n; $i++) {
    $kept += ephpm_kv_get("more$i") === $value($i) ? 1 : 0;
}
var_dump($kept === 300 + $n);
var_dump(ephpm_kv_set('ttl', $value(1), 100), ephpm_kv_setnx('ttl', $value(1), 100));
foreach (kv_errors() as $e) {
    echo substr($e, 0, strpos($e, 'full') + 4), "\n";
}
?>
--EXPECT--
-- keys with a TTL make room for new keys
int(0)
array(0) {
}
int(300)
bool(true)
bool(false)
bool(true)
-- with only keys without a TTL, a full store refuses writes
filled
int(1)
bool(true)
bool(false)
bool(true)
bool(false)
bool(false)
E_WARNING: ephpm_kv_set(): store is full
E_WARNING: ephpm_kv_setnx(): store is full

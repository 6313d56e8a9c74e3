--TEST--
ephpm_kv: allkeys-lru keeps accepting writes, evicting the least recently used keys
--INI--
ephpm_kv.name=eviction_lru
ephpm_kv.size=1M
ephpm_kv.eviction=allkeys-lru
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$value = fn(int $i) => str_pad("value $i ", 1000, '.');
ephpm_kv_set('hot', 'h');
$failed = 0;
for ($i = 0; $i < 5000; $i++) {
    $failed += ephpm_kv_set("k$i", $value($i)) ? 0 : 1;
    ephpm_kv_get('hot'); // keep it recently used
}
var_dump($failed, kv_errors());

$s = ephpm_kv_stats();
echo $s['entries'] > 100 && $s['entries'] < 1100 ? "some hundred entries\n" : "{$s['entries']} entries\n";
var_dump($s['evictions'] === 5000 + 1 - $s['entries']);

echo "-- the newest keys are there, the oldest were evicted, the hot one stayed\n";
var_dump(ephpm_kv_get('k4999') === $value(4999), ephpm_kv_get('k4990') === $value(4990));
var_dump(ephpm_kv_get('k0'), ephpm_kv_exists('k100'));
var_dump(ephpm_kv_get('hot'));

echo "-- the values that remain are intact\n";
$bad = 0;
for ($i = 0; $i < 5000; $i++) {
    $v = ephpm_kv_get("k$i");
    $bad += $v !== null && $v !== $value($i) ? 1 : 0;
}
var_dump($bad);

echo "-- setnx and incr evict too\n";
for ($i = 0; $i < 2000; $i++) {
    $failed += ephpm_kv_setnx("nx$i", $value($i)) ? 0 : 1;
}
var_dump($failed, ephpm_kv_incr('counter'), ephpm_kv_get('nx1999') === $value(1999));

echo "-- a value of a third of the store fits, evicting what it must\n";
$s = ephpm_kv_stats();
$len = intdiv($s['size'], 3);
var_dump($s['max_value_size'] > $len, ephpm_kv_set('max', str_repeat('m', $len)), ephpm_kv_get('max') === str_repeat('m', $len));
var_dump(kv_errors());
?>
--EXPECT--
int(0)
array(0) {
}
some hundred entries
bool(true)
-- the newest keys are there, the oldest were evicted, the hot one stayed
bool(true)
bool(true)
NULL
bool(false)
string(1) "h"
-- the values that remain are intact
int(0)
-- setnx and incr evict too
int(0)
int(1)
bool(true)
-- a value of a third of the store fits, evicting what it must
bool(true)
bool(true)
bool(true)
array(0) {
}

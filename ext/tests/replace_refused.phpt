--TEST--
ephpm_kv: a large set refused as "store is full" leaves the key's previous value whole (issue 20, item 4)
--INI--
ephpm_kv.name=replace_refused
ephpm_kv.size=16M
ephpm_kv.eviction=allkeys-lru
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();

// Values that differ all along, so a mix of two writes would show.
$value = fn(string $tag, int $len) => substr(str_repeat(hash('sha256', $tag, true), intdiv($len, 32) + 1), 0, $len);

echo "-- 8 MiB, then 15 MiB under the same key: refused, the 8 MiB stay\n";
$kept = 0;
for ($round = 0; $round < 4; $round++) {
    ephpm_kv_flush_all();
    $old = $value("old $round", 8 << 20);
    ephpm_kv_set('other', 'small');
    var_dump(ephpm_kv_set('big', $old));
    $set = ephpm_kv_set('big', $value("new $round", 15 << 20));
    $errors = kv_errors();
    $kept += !$set && ephpm_kv_get('big') === $old ? 1 : 0;
    if ($round === 0) {
        var_dump($set, count($errors), str_starts_with($errors[0] ?? '', 'E_WARNING: ephpm_kv_set(): store is full'));
    }
    // Refused before anything was evicted for it.
    var_dump(ephpm_kv_get('other'));
}
var_dump($kept);

echo "-- a value that fits beside the old one replaces it\n";
$fits = $value('fits', 4 << 20);
var_dump(ephpm_kv_set('big', $fits), ephpm_kv_get('big') === $fits, kv_errors());
$s = ephpm_kv_stats();
var_dump($s['entries']);
?>
--EXPECT--
-- 8 MiB, then 15 MiB under the same key: refused, the 8 MiB stay
bool(true)
bool(false)
int(1)
bool(true)
string(5) "small"
bool(true)
string(5) "small"
bool(true)
string(5) "small"
bool(true)
string(5) "small"
int(4)
-- a value that fits beside the old one replaces it
bool(true)
bool(true)
array(0) {
}
int(2)

--TEST--
ephpm_kv: values of 1, 4 and 16 MiB round-trip exactly on a 64M store; a value larger than the store is refused with one warning and loses nothing
--INI--
ephpm_kv.name=value_size
ephpm_kv.size=64M
ephpm_kv.eviction=noeviction
memory_limit=512M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$stats = ephpm_kv_stats();
var_dump($stats['max_value_size'] > 60 << 20 && $stats['max_value_size'] < $stats['size']);

// Varied bytes, so that any lost, repeated or moved part shows.
function varied(int $len, string $seed): string {
    $out = '';
    for ($i = 0; strlen($out) < $len; $i++) {
        $out .= md5("$seed:$i", true);
    }
    return substr($out, 0, $len);
}

foreach ([1, 4, 16] as $mib) {
    $value = varied(($mib << 20) + 7, "v$mib");
    $ok = ephpm_kv_set("big$mib", $value, 600);
    $got = ephpm_kv_get("big$mib");
    echo "$mib MiB: set ", var_export($ok, true), ", same bytes back ", var_export($got === $value, true),
        ", ttl ", ephpm_kv_ttl("big$mib") > 590 ? 'kept' : 'LOST', "\n";
}
var_dump(ephpm_kv_stats()['entries']);
var_dump(kv_errors());

echo "-- replaced by a small value, then deleted\n";
var_dump(ephpm_kv_set('big4', 'small'), ephpm_kv_get('big4'));
var_dump(ephpm_kv_del('big16'), ephpm_kv_get('big16'), ephpm_kv_exists('big16'));
var_dump(ephpm_kv_incr('big1'), kv_errors());

echo "-- larger than the store\n";
$max = ephpm_kv_stats()['max_value_size'];
$over = str_repeat('o', $max + 1);
var_dump(ephpm_kv_set('big1', $over));
var_dump(kv_errors());
var_dump(ephpm_kv_get('big1') === varied((1 << 20) + 7, 'v1')); // the old value is still there
var_dump(ephpm_kv_setnx('other', $over), ephpm_kv_exists('other'));
var_dump(kv_errors());
unset($over);

echo "-- what the store cannot hold beside what it has (noeviction) is refused whole\n";
$used = ephpm_kv_stats()['bytes_used'];
var_dump(ephpm_kv_set('too-much', str_repeat('t', $max - (4 << 20))));
$errors = kv_errors();
var_dump(count($errors), str_contains($errors[0], 'store is full'));
var_dump(ephpm_kv_exists('too-much'), ephpm_kv_stats()['bytes_used'] === $used);
?>
--EXPECTF--
bool(true)
1 MiB: set true, same bytes back true, ttl kept
4 MiB: set true, same bytes back true, ttl kept
16 MiB: set true, same bytes back true, ttl kept
int(3)
array(0) {
}
-- replaced by a small value, then deleted
bool(true)
string(5) "small"
int(1)
NULL
bool(false)
bool(false)
array(0) {
}
-- larger than the store
bool(false)
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_set(): value is %d bytes, over the store's value limit of %d bytes (%s)"
}
bool(true)
bool(false)
bool(false)
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_setnx(): value is %d bytes, over the store's value limit of %d bytes (%s)"
}
-- what the store cannot hold beside what it has (noeviction) is refused whole
bool(false)
int(1)
bool(true)
bool(false)
bool(true)

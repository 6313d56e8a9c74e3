--TEST--
ephpm_kv: a 1 MiB value round-trips exactly; 1 MiB + 1 byte is refused with one warning
--INI--
ephpm_kv.name=value_size
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$stats = ephpm_kv_stats();
var_dump($stats['max_value_size']);

// 1 MiB of varied bytes, so that any lost or moved chunk shows.
$mib = '';
for ($i = 0; strlen($mib) < 1048576; $i++) {
    $mib .= md5((string) $i, true);
}
$mib = substr($mib, 0, 1048576);
var_dump(strlen($mib));
var_dump(ephpm_kv_set('big', $mib));
$got = ephpm_kv_get('big');
var_dump(strlen($got), $got === $mib);
var_dump(kv_errors());

echo "-- one byte over the limit\n";
$over = $mib . 'x';
var_dump(ephpm_kv_set('big', $over));
var_dump(kv_errors());
var_dump(ephpm_kv_get('big') === $mib); // the old value is still there
var_dump(ephpm_kv_set('other', $over));
var_dump(ephpm_kv_setnx('other', $over));
var_dump(kv_errors());
var_dump(ephpm_kv_exists('other'));

echo "-- setnx of exactly 1 MiB\n";
var_dump(ephpm_kv_setnx('nx', $mib), ephpm_kv_get('nx') === $mib);
var_dump(kv_errors());
?>
--EXPECTF--
int(1048576)
int(1048576)
bool(true)
int(1048576)
bool(true)
array(0) {
}
-- one byte over the limit
bool(false)
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_set(): %s1048577%s1048576%s"
}
bool(true)
bool(false)
bool(false)
array(2) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_set(): %s1048577%slimit%s"
  [1]=>
  string(%d) "E_WARNING: ephpm_kv_setnx(): %s1048577%slimit%s"
}
bool(false)
-- setnx of exactly 1 MiB
bool(true)
bool(true)
array(0) {
}

--TEST--
ephpm_kv: a damaged entry (key_len 0x7fffffff in its block header) is a miss with one warning naming the stripe; the stripe is rebuilt
--INI--
ephpm_kv.name=damaged_segment
ephpm_kv.size=4M
ephpm_kv.stripes=1
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
// After a flush the first value stored is the first block of the heap.
ephpm_kv_set('victim', 'value');
ephpm_kv_set('other', 'kept');
$path = ephpm_kv_stats()['path'];

// The segment header (shm-store/src/layout.rs): header_size at byte 12,
// slots_per_stripe at byte 36; stripe 0 starts after the header (its
// page and the watch table), its slots 4096 bytes later, its heap after them.
$f = fopen($path, 'r+b');
$header = unpack('V', stream_get_contents($f, 4, 12))[1];
$slots = unpack('V', stream_get_contents($f, 4, 36))[1];
$heap = $header + 4096 + $slots * 16;
fseek($f, $heap + 16); // key_len, the block header's fifth word
fwrite($f, pack('V', 0x7fffffff));
fclose($f);

var_dump(ephpm_kv_get('victim'));
var_dump(kv_errors());
echo "-- rebuilt: a plain miss now, the other entry intact\n";
var_dump(ephpm_kv_get('victim'));
var_dump(ephpm_kv_get('other'));
var_dump(ephpm_kv_set('victim', 'again'), ephpm_kv_get('victim'));
var_dump(ephpm_kv_stats()['recoveries']);
var_dump(kv_errors());
?>
--EXPECTF--
NULL
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_get(): stripe 0 of segment %s/ephpm_kv.damaged_segment is damaged (a slot points at a broken block at heap offset 0); it was rebuilt, entries in the damaged part are lost (`ephpm-shm verify` checks the whole store)"
}
-- rebuilt: a plain miss now, the other entry intact
NULL
string(4) "kept"
bool(true)
string(5) "again"
int(1)
array(0) {
}

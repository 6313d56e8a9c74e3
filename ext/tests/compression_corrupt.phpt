--TEST--
ephpm_kv: a corrupt compressed entry (its zstd frame overwritten in the segment file) is a miss with one warning naming the key, never a crash; the store stays usable
--INI--
ephpm_kv.name=compression_corrupt
ephpm_kv.size=4M
ephpm_kv.stripes=1
ephpm_kv.compression=zstd
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
$text = kv_session_text(16 << 10);
ephpm_kv_set('victim', $text);
ephpm_kv_set('other', $text);
$path = ephpm_kv_stats()['path'];

// A compressed entry's block holds its key, then the original length (8
// bytes, little endian), then the zstd frame (shm-store/src/layout.rs).
$bytes = file_get_contents($path);
$at = strpos($bytes, 'victim' . pack('P', strlen($text)));
var_dump($at !== false);
$f = fopen($path, 'r+b');
fseek($f, $at + 6 + 8 + 100);
fwrite($f, str_repeat("\xff", 8));
fclose($f);

$before = ephpm_kv_stats();
var_dump(ephpm_kv_get('victim'));
var_dump(kv_errors());
$after = ephpm_kv_stats();
var_dump($after['misses'] - $before['misses'], $after['hits'] - $before['hits']);
echo "-- removed: a plain miss now, the other entry intact\n";
var_dump(ephpm_kv_get('victim'), ephpm_kv_exists('victim'));
var_dump(ephpm_kv_get('other') === $text);
var_dump(ephpm_kv_stats()['compressed_entries']);
var_dump(ephpm_kv_set('victim', $text), ephpm_kv_get('victim') === $text);
var_dump(kv_errors());
?>
--EXPECTF--
bool(true)
NULL
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_get(): the compressed value of key "victim" is corrupt (zstd: %s); it was removed and reads as missing"
}
int(1)
int(0)
-- removed: a plain miss now, the other entry intact
NULL
bool(false)
bool(true)
int(1)
bool(true)
bool(true)
array(0) {
}

--TEST--
ephpm_kv: ephpm_kv_stats() keys, types and how entries/hits/misses/bytes move
--INI--
ephpm_kv.name=stats
ephpm_kv.size=4M
ephpm_kv.eviction=volatile-lru
ephpm_kv.stripes=2
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$s = ephpm_kv_stats();
foreach ($s as $k => $v) {
    echo str_pad($k, 15), get_debug_type($v), "\n";
}
var_dump($s['path'] === ini_get('ephpm_kv.dir') . '/ephpm_kv.stats', file_exists($s['path']));
// The size is ephpm_kv.size, rounded down to whole stripes.
var_dump($s['size'] <= 4 << 20 && $s['size'] > (4 << 20) - (64 << 10));
var_dump($s['stripes'], $s['max_key_size'], $s['eviction']);
// A value may be as large as the store holds (the stripes' heaps).
var_dump($s['max_value_size'] > $s['size'] * 0.9 && $s['max_value_size'] < $s['size']);
var_dump($s['version'] === phpversion('ephpm_kv'));
var_dump($s['entries'], $s['bytes_used']);
var_dump($s['bytes_free'] > 3 << 20 && $s['bytes_free'] <= 4 << 20);

function delta(array $before): array {
    $after = ephpm_kv_stats();
    $d = [];
    foreach (['entries', 'hits', 'misses', 'expirations', 'evictions', 'recoveries'] as $k) {
        if ($after[$k] !== $before[$k]) {
            $d[$k] = $after[$k] - $before[$k];
        }
    }
    return $d;
}

echo "-- set 3 keys\n";
$b = ephpm_kv_stats();
ephpm_kv_set('a', 'x');
ephpm_kv_set('b', str_repeat('y', 1000));
ephpm_kv_set('c', 'z', 1);
var_dump(delta($b));
$a = ephpm_kv_stats();
var_dump($a['bytes_used'] > $b['bytes_used'] + 1000, $a['bytes_free'] < $b['bytes_free'] - 1000);

echo "-- 2 hits, 3 misses\n";
$b = ephpm_kv_stats();
ephpm_kv_get('a');
ephpm_kv_get('b');
ephpm_kv_get('nope');
ephpm_kv_get('nope2');
ephpm_kv_get('nope3');
var_dump(delta($b));

echo "-- overwrite does not add an entry\n";
$b = ephpm_kv_stats();
ephpm_kv_set('a', 'x2');
ephpm_kv_setnx('a', 'x3');
var_dump(delta($b));

echo "-- del, incr\n";
$b = ephpm_kv_stats();
ephpm_kv_del('a');
ephpm_kv_incr('n');
var_dump(delta($b));

echo "-- expiry\n";
usleep(1100000);
$b = ephpm_kv_stats();
var_dump(ephpm_kv_get('c'));
$d = delta($b);
// The expired entry is gone (counted as an expiration) and the get was a miss.
var_dump($d['misses'] ?? 0, ($d['entries'] ?? 0) <= 0, ephpm_kv_stats()['expirations'] >= 1);

echo "-- flush_all\n";
ephpm_kv_flush_all();
$s = ephpm_kv_stats();
var_dump($s['entries'], $s['bytes_used']);

var_dump(kv_errors());
?>
--EXPECT--
version        string
available      bool
path           string
size           int
stripes        int
max_key_size   int
max_value_size int
eviction       string
compression    string
compression_levelint
compression_min_sizeint
entries        int
bytes_used     int
bytes_free     int
hits           int
misses         int
expirations    int
evictions      int
recoveries     int
compressed_entriesint
compressed_raw_bytesint
compressed_stored_bytesint
watch_slots    int
watched_keys   int
waited_keys    int
bool(true)
bool(true)
bool(true)
int(2)
int(4096)
string(12) "volatile-lru"
bool(true)
bool(true)
int(0)
int(0)
bool(true)
-- set 3 keys
array(1) {
  ["entries"]=>
  int(3)
}
bool(true)
bool(true)
-- 2 hits, 3 misses
array(2) {
  ["hits"]=>
  int(2)
  ["misses"]=>
  int(3)
}
-- overwrite does not add an entry
array(0) {
}
-- del, incr
array(0) {
}
-- expiry
NULL
int(1)
bool(true)
bool(true)
-- flush_all
int(0)
int(0)
array(0) {
}

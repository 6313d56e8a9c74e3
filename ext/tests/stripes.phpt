--TEST--
ephpm_kv: ephpm_kv_stripes() gives each stripe's entries and bytes, summing to ephpm_kv_stats()
--INI--
ephpm_kv.name=stripes
ephpm_kv.size=4M
ephpm_kv.stripes=4
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$s = ephpm_kv_stripes();
var_dump(count($s), array_keys($s), array_keys($s[0]));
var_dump(array_sum(array_column($s, 'entries')), array_sum(array_column($s, 'bytes')));

for ($i = 0; $i < 200; $i++) {
    ephpm_kv_set("k$i", str_repeat('x', 100));
}
$s = ephpm_kv_stripes();
$stats = ephpm_kv_stats();
var_dump(array_sum(array_column($s, 'entries')) === $stats['entries'], $stats['entries']);
var_dump(array_sum(array_column($s, 'bytes')) === $stats['bytes_used']);
var_dump(array_sum(array_column($s, 'free')) === $stats['bytes_free']);
// The keys spread over every stripe; each holds at least its entries' bytes.
var_dump(count(array_filter($s, fn($t) => $t['entries'] > 20 && $t['bytes'] >= $t['entries'] * 100)));

// A stripe's entries are the keys ephpm_kv_scan() lists from it alone:
// scanning with count 1 from stripe i returns exactly stripe i's keys
// (when it has any).
$per = [];
for ($i = 0; $i < 4; $i++) {
    $page = ephpm_kv_scan($i, '*', 1);
    $per[] = count($page['keys']);
}
var_dump($per === array_column($s, 'entries'));

kv_try(fn() => ephpm_kv_stripes(1));
var_dump(kv_errors());
?>
--EXPECT--
int(4)
array(4) {
  [0]=>
  int(0)
  [1]=>
  int(1)
  [2]=>
  int(2)
  [3]=>
  int(3)
}
array(3) {
  [0]=>
  string(7) "entries"
  [1]=>
  string(5) "bytes"
  [2]=>
  string(4) "free"
}
int(0)
int(0)
bool(true)
int(200)
bool(true)
bool(true)
int(4)
bool(true)
ArgumentCountError: ephpm_kv_stripes() expects exactly 0 arguments, 1 given
array(0) {
}

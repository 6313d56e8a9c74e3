--TEST--
APCUIterator: each APC_ITER_* bit gives its field, in APCu's order; mem_size and ttl as apcu_cache_info has them, the fields the store does not track 0
--INI--
apc.enable_cli=1
--FILE--
<?php
apcu_store('forever', 'value');
apcu_store('for a while', [1, 2, 3], 100);
var_dump(APC_ITER_TYPE, APC_ITER_KEY, APC_ITER_VALUE, APC_ITER_NUM_HITS, APC_ITER_MTIME, APC_ITER_CTIME,
    APC_ITER_DTIME, APC_ITER_ATIME, APC_ITER_REFCOUNT, APC_ITER_MEM_SIZE, APC_ITER_TTL, APC_ITER_NONE,
    APC_ITER_ALL, APC_LIST_ACTIVE, APC_LIST_DELETED);

$bits = ['APC_ITER_TYPE', 'APC_ITER_KEY', 'APC_ITER_VALUE', 'APC_ITER_NUM_HITS', 'APC_ITER_MTIME',
    'APC_ITER_CTIME', 'APC_ITER_DTIME', 'APC_ITER_ATIME', 'APC_ITER_REFCOUNT', 'APC_ITER_MEM_SIZE',
    'APC_ITER_TTL', 'APC_ITER_NONE'];
$info = [];
foreach (apcu_cache_info()['cache_list'] as $link) {
    $info[$link['info']] = $link;
}
foreach ($bits as $bit) {
    $it = new APCUIterator(['forever'], constant($bit));
    $json = json_encode(iterator_to_array($it));
    if ($bit === 'APC_ITER_MEM_SIZE') {
        $json = str_replace(':' . $info['forever']['mem_size'] . '}', ':(as apcu_cache_info)}', $json);
    }
    echo $bit, ': ', $json, "\n";
}
echo "APC_ITER_KEY | APC_ITER_TTL: ", json_encode(iterator_to_array(new APCUIterator(['forever'], APC_ITER_KEY | APC_ITER_TTL))), "\n";

echo "all fields, default format:\n";
$it = new APCUIterator(['for a while']);
$entry = $it->current();
var_dump(array_keys($entry));
var_dump($entry['type'], $entry['key'], $entry['value']);
var_dump($entry['ttl'] > 0 && $entry['ttl'] <= 100);

echo "as apcu_cache_info:\n";
$lines = [];
foreach (new APCUIterator() as $key => $entry) {
    $link = $info[$key];
    $same = $entry['mem_size'] === $link['mem_size'] && $entry['num_hits'] == $link['num_hits']
        && $entry['mtime'] === $link['mtime'] && $entry['creation_time'] === $link['creation_time']
        && $entry['deletion_time'] === $link['deletion_time'] && $entry['access_time'] === $link['access_time']
        && $entry['ref_count'] === $link['ref_count'] && abs($entry['ttl'] - $link['ttl']) <= 1;
    $lines[] = $key . ': ' . ($same ? 'same' : 'differs ' . json_encode([$entry, $link])) . ', mem_size > 0: ' . json_encode($entry['mem_size'] > 0);
}
sort($lines);
echo implode("\n", $lines), "\n";
echo "APC_LIST_DELETED (the store keeps no deleted entries):\n";
$it = new APCUIterator(null, APC_ITER_ALL, 0, APC_LIST_DELETED);
var_dump(iterator_to_array($it), $it->valid(), $it->getTotalCount());
?>
--EXPECT--
int(1)
int(2)
int(4)
int(8)
int(16)
int(32)
int(64)
int(128)
int(256)
int(512)
int(1024)
int(0)
int(4294967295)
int(1)
int(2)
APC_ITER_TYPE: {"forever":{"type":"user"}}
APC_ITER_KEY: {"forever":{"key":"forever"}}
APC_ITER_VALUE: {"forever":{"value":"value"}}
APC_ITER_NUM_HITS: {"forever":{"num_hits":0}}
APC_ITER_MTIME: {"forever":{"mtime":0}}
APC_ITER_CTIME: {"forever":{"creation_time":0}}
APC_ITER_DTIME: {"forever":{"deletion_time":0}}
APC_ITER_ATIME: {"forever":{"access_time":0}}
APC_ITER_REFCOUNT: {"forever":{"ref_count":0}}
APC_ITER_MEM_SIZE: {"forever":{"mem_size":(as apcu_cache_info)}}
APC_ITER_TTL: {"forever":{"ttl":0}}
APC_ITER_NONE: {"forever":[]}
APC_ITER_KEY | APC_ITER_TTL: {"forever":{"key":"forever","ttl":0}}
all fields, default format:
array(11) {
  [0]=>
  string(4) "type"
  [1]=>
  string(3) "key"
  [2]=>
  string(5) "value"
  [3]=>
  string(8) "num_hits"
  [4]=>
  string(5) "mtime"
  [5]=>
  string(13) "creation_time"
  [6]=>
  string(13) "deletion_time"
  [7]=>
  string(11) "access_time"
  [8]=>
  string(9) "ref_count"
  [9]=>
  string(8) "mem_size"
  [10]=>
  string(3) "ttl"
}
string(4) "user"
string(11) "for a while"
array(3) {
  [0]=>
  int(1)
  [1]=>
  int(2)
  [2]=>
  int(3)
}
bool(true)
as apcu_cache_info:
for a while: same, mem_size > 0: true
forever: same, mem_size > 0: true
APC_LIST_DELETED (the store keeps no deleted entries):
array(0) {
}
bool(false)
int(2)

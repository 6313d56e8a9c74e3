--TEST--
APCUIterator: all entries, a regex, a list of keys, formats, totals, apcu_delete($iterator)
--INI--
apc.enable_cli=1
--FILE--
<?php
foreach (['user:1' => 'ann', 'user:2' => ['bob'], 'user:10' => 10, 'page:home' => 'html', 'x' => null] as $k => $v) {
    apcu_store($k, $v, $k === 'x' ? 100 : 0);
}
function keys(iterable $it): array {
    $keys = [];
    foreach ($it as $k => $entry) {
        $keys[] = $k;
    }
    sort($keys);
    return $keys;
}
echo implode(' ', keys(new APCUIterator())), "\n";
echo implode(' ', keys(new APCUIterator('/^user:\d$/'))), "\n";
echo implode(' ', keys(new APCUIterator(['page:home', 'x', 'missing']))), "\n";
echo implode(' ', keys(new APCUIterator(null, APC_ITER_NONE, 0, APC_LIST_DELETED))), "\n";

$it = new APCUIterator('/^user:2$/');
foreach ($it as $k => $entry) {
    echo implode(' ', array_keys($entry)), "\n";
    var_dump($entry['type'], $entry['key'], $entry['value'], $entry['mem_size'] > 0, $entry['ttl']);
}
$it = new APCUIterator('/^x$/', APC_ITER_VALUE | APC_ITER_TTL);
foreach ($it as $k => $entry) {
    var_dump($entry['value'], $entry['ttl'] > 0 && $entry['ttl'] <= 100, count($entry));
}
$it = new APCUIterator('/^user:/');
var_dump($it->getTotalCount(), $it->getTotalSize() > 0, $it->getTotalHits());
$it->rewind();
var_dump($it->valid());
$it->next(); $it->next(); $it->next();
var_dump($it->valid());
try {
    $it->current();
} catch (Error $e) {
    echo $e->getMessage(), "\n";
}
// The entry locks of apcu_entry are not listed.
var_dump(apcu_entry('computed', fn() => count(keys(new APCUIterator()))));

var_dump(apcu_delete(new APCUIterator('/^user:/')));
echo implode(' ', keys(new APCUIterator())), "\n";

// An invalid list is a warning (a negative chunk size is APCu's fatal
// error: iterator_bad_chunk.phpt).
var_dump(@new APCUIterator(null, APC_ITER_ALL, 0, 3) instanceof APCUIterator, error_get_last()['message']);
try {
    (@new APCUIterator(null, APC_ITER_ALL, 0, 3))->valid();
} catch (Error $e) {
    echo $e->getMessage(), "\n";
}
var_dump(APC_ITER_ALL, APC_ITER_KEY | APC_ITER_VALUE, APC_LIST_ACTIVE);
?>
--EXPECT--
page:home user:1 user:10 user:2 x
user:1 user:2
page:home x

type key value num_hits mtime creation_time deletion_time access_time ref_count mem_size ttl
string(4) "user"
string(6) "user:2"
array(1) {
  [0]=>
  string(3) "bob"
}
bool(true)
int(0)
NULL
bool(true)
int(2)
int(3)
bool(true)
int(0)
bool(true)
bool(false)
Cannot call current() on invalid iterator
int(5)
bool(true)
computed page:home x
bool(true)
string(59) "APCUIterator::__construct(): APCUIterator invalid list type"
Trying to use uninitialized APCUIterator
int(4294967295)
int(6)
int(1)

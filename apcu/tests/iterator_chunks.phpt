--TEST--
APCUIterator: every chunk size lists every matching key once; key() and current() past the end throw; the position survives a deleted key; totals are counted once per iterator
--INI--
apc.enable_cli=1
--FILE--
<?php
for ($i = 0; $i < 250; $i++) {
    apcu_store("k$i", $i);
}
apcu_store('other', 'not matched');
$want = range(0, 249);
foreach ([1, 2, 7, 100, 249, 250, 1000, 0] as $chunk) {
    $it = new APCUIterator('/^k\d+$/', APC_ITER_ALL, $chunk);
    $got = [];
    $ok = true;
    foreach ($it as $key => $entry) {
        $ok = $ok && $entry['key'] === $key && $entry['value'] === (int) substr($key, 1);
        $got[] = $entry['value'];
    }
    sort($got);
    echo "chunk $chunk: ", count($got), ' entries, ', $got === $want ? 'each once' : 'NOT each once', $ok ? '' : ', key/value mismatch', "\n";
}

echo "by hand, chunks of 3:\n";
$it = new APCUIterator('/^k1\d$/', APC_ITER_KEY, 3);
$keys = [];
$it->rewind();
while ($it->valid()) {
    $keys[] = $it->key();
    if ($it->current() !== ['key' => $it->key()]) echo "current differs\n";
    $it->next();
}
sort($keys);
echo implode(',', $keys), "\n";
var_dump($it->valid());
$it->next();
var_dump($it->valid());
try { $it->key(); } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
try { $it->current(); } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
echo "rewind starts over: ";
$it->rewind();
$again = [];
foreach ($it as $key => $_) $again[] = $key;
sort($again);
var_dump($again === $keys);

echo "the current entry stays when its key is deleted:\n";
$it = new APCUIterator(['k5']);
var_dump($it->key());
apcu_delete('k5');
var_dump($it->key(), $it->current()['value']);
$it->next();
var_dump($it->valid());

echo "a chunk's values are read together, the next chunk's later:\n";
foreach ([1, 10] as $chunk) {
    for ($i = 0; $i < 5; $i++) apcu_store("c$i", $i);
    $it = new APCUIterator('/^c\d$/', APC_ITER_VALUE, $chunk);
    $it->rewind();
    $first = $it->key();
    apcu_delete(array_diff(['c0', 'c1', 'c2', 'c3', 'c4'], [$first]));
    $n = 0;
    foreach (new NoRewindIterator($it) as $entry) $n++;
    echo "chunk $chunk: $n listed after the others were deleted\n";
    apcu_delete($first);
}

echo "totals:\n";
$it = new APCUIterator('/^k\d+$/');
$size = 0;
foreach (apcu_cache_info()['cache_list'] as $link) {
    if (preg_match('/^k\d+$/', $link['info'])) $size += $link['mem_size'];
}
var_dump($it->getTotalCount(), $it->getTotalSize() === $size, $it->getTotalHits());
apcu_store('k1000', 1);
var_dump($it->getTotalCount(), (new APCUIterator('/^k\d+$/'))->getTotalCount());
var_dump((new APCUIterator())->getTotalCount(), (new APCUIterator(['k1', 'k2', 'nope']))->getTotalCount());
?>
--EXPECT--
chunk 1: 250 entries, each once
chunk 2: 250 entries, each once
chunk 7: 250 entries, each once
chunk 100: 250 entries, each once
chunk 249: 250 entries, each once
chunk 250: 250 entries, each once
chunk 1000: 250 entries, each once
chunk 0: 250 entries, each once
by hand, chunks of 3:
k10,k11,k12,k13,k14,k15,k16,k17,k18,k19
bool(false)
bool(false)
Error: Cannot call key() on invalid iterator
Error: Cannot call current() on invalid iterator
rewind starts over: bool(true)
the current entry stays when its key is deleted:
string(2) "k5"
string(2) "k5"
int(5)
bool(false)
a chunk's values are read together, the next chunk's later:
chunk 1: 1 listed after the others were deleted
chunk 10: 5 listed after the others were deleted
totals:
int(249)
bool(true)
int(0)
int(249)
int(250)
int(251)
int(2)

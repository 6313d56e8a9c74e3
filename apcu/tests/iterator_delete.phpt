--TEST--
apcu_delete($iterator) deletes every key the iterator matches, whatever its position, and nothing else (Symfony's ApcuAdapter::doClear, a list, everything)
--INI--
apc.enable_cli=1
--FILE--
<?php
function keys() {
    $keys = array_keys(iterator_to_array(new APCUIterator(null, APC_ITER_NONE)));
    sort($keys);
    return implode(' ', $keys);
}
// As Symfony's ApcuAdapter clears its namespace (a namespace with regex characters).
$namespace = 'app.v1/(x)+:';
foreach (['a', 'b', 'c'] as $k) {
    apcu_store($namespace . $k, $k);
    apcu_store('app.v1/(x)+' . $k, 'no colon: not in the namespace');
    apcu_store('appXv1/(x)+:' . $k, 'the dot is literal');
}
apcu_store('', 'the empty key');
for ($i = 0; $i < 300; $i++) apcu_store("bulk:$i", $i);
var_dump(apcu_delete(new \APCUIterator(sprintf('/^%s/', preg_quote($namespace, '/')), \APC_ITER_KEY)));
var_dump(apcu_exists([$namespace . 'a', $namespace . 'b', $namespace . 'c']));
echo str_replace(' bulk', '', preg_replace('/ bulk:\d+/', ' bulk', keys())), "\n";

echo "a list of keys:\n";
var_dump(apcu_delete(new APCUIterator(['app.v1/(x)+a', '', 'absent'])));
echo str_replace(' bulk', '', preg_replace('/ bulk:\d+/', ' bulk', keys())), "\n";

echo "from the middle of an iteration, in chunks of 7:\n";
$it = new APCUIterator('/^bulk:/', APC_ITER_KEY, 7);
$it->rewind();
for ($i = 0; $i < 20; $i++) $it->next();
var_dump($it->valid());
var_dump(apcu_delete($it));
var_dump((new APCUIterator('/^bulk:/'))->getTotalCount());
$n = 0;
foreach ($it as $key => $_) if (apcu_exists($key)) $n++;
echo "$n of its keys still there\n";

echo "nothing matched, the deleted list:\n";
var_dump(apcu_delete(new APCUIterator('/^nothing/')), apcu_delete(new APCUIterator(null, APC_ITER_ALL, 0, APC_LIST_DELETED)));
echo keys(), "\n";
echo "everything:\n";
var_dump(apcu_delete(new APCUIterator()));
var_dump(keys(), apcu_cache_info()['num_entries']);
apcu_store('after', 1);
var_dump(apcu_fetch('after'));
?>
--EXPECT--
bool(true)
array(0) {
}
 app.v1/(x)+a app.v1/(x)+b app.v1/(x)+c appXv1/(x)+:a appXv1/(x)+:b appXv1/(x)+:c
a list of keys:
bool(true)
app.v1/(x)+b app.v1/(x)+c appXv1/(x)+:a appXv1/(x)+:b appXv1/(x)+:c
from the middle of an iteration, in chunks of 7:
bool(true)
bool(true)
int(0)
0 of its keys still there
nothing matched, the deleted list:
bool(true)
bool(true)
app.v1/(x)+b app.v1/(x)+c appXv1/(x)+:a appXv1/(x)+:b appXv1/(x)+:c
everything:
bool(true)
string(0) ""
int(0)
int(1)

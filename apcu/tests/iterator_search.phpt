--TEST--
APCUIterator: search by regex, by a list of keys, or none; keys and values of every type come back exactly
--INI--
apc.enable_cli=1
--FILE--
<?php
class Point { public $x = 1; public ?Point $next = null; }
$p = new Point; $p->next = new Point;
$values = [
    'int' => 42, 'negative' => PHP_INT_MIN, 'float' => -0.0, 'inf' => INF, 'string' => "bin\0ary\xff",
    'long string' => str_repeat('x', 5000), 'true' => true, 'false' => false, 'null' => null,
    'array' => ['a' => 1, 7 => [2.5, null, 'deep' => ['x']]], 'object' => $p, 'empty array' => [],
    '' => 'the empty key', "key\0with NUL" => 'nul', '123' => 'numeric key',
];
foreach ($values as $k => $v) {
    apcu_store((string) $k, $v);
}
$seen = [];
foreach (new APCUIterator() as $key => $entry) {
    $seen[$key] = $entry['value'];
    if ($entry['key'] !== $key) echo "key mismatch: $key\n";
}
ksort($seen);
$want = $values;
ksort($want);
var_dump(count($seen), array_keys($seen) === array_keys($want));
foreach ($want as $k => $v) {
    if ($k === 'object' ? $seen[$k] != $v : $seen[$k] !== $v) echo "value of $k differs\n";
}
var_dump(is_float($seen['float']) && fdiv(1, $seen['float']) === -INF);
var_dump($seen['object'] instanceof Point, $seen['object']->next instanceof Point);

echo "regex\n";
$keys = array_keys(iterator_to_array(new APCUIterator('/^(int|inf|.*array)$/', APC_ITER_KEY)));
sort($keys);
var_dump($keys);
var_dump(str_replace("\0", '\0', array_keys(iterator_to_array(new APCUIterator('#\0with#')))));
var_dump(array_keys(iterator_to_array(new APCUIterator('/^$/'))));
var_dump(iterator_to_array(new APCUIterator('/^no such key/')));
echo "case-insensitive and anchored: ";
var_dump(array_keys(iterator_to_array(new APCUIterator('/^STRING$/i'))));

echo "list\n";
$keys = array_keys(iterator_to_array(new APCUIterator(['int', 'null', 'absent', '', 17, ['nested']])));
sort($keys);
var_dump($keys);
echo "an empty list takes no key: ";
var_dump(iterator_to_array(new APCUIterator([])));

echo "no search: null, '' and other types\n";
$all = count(iterator_to_array(new APCUIterator()));
var_dump($all, count(iterator_to_array(new APCUIterator(null))), count(iterator_to_array(new APCUIterator(''))), count(iterator_to_array(new APCUIterator(5))));
?>
--EXPECT--
int(15)
bool(true)
bool(true)
bool(true)
bool(true)
regex
array(4) {
  [0]=>
  string(5) "array"
  [1]=>
  string(11) "empty array"
  [2]=>
  string(3) "inf"
  [3]=>
  string(3) "int"
}
array(1) {
  [0]=>
  string(13) "key\0with NUL"
}
array(1) {
  [0]=>
  string(0) ""
}
array(0) {
}
case-insensitive and anchored: array(1) {
  [0]=>
  string(6) "string"
}
list
array(3) {
  [0]=>
  string(0) ""
  [1]=>
  string(3) "int"
  [2]=>
  string(4) "null"
}
an empty list takes no key: array(0) {
}
no search: null, '' and other types
int(15)
int(15)
int(15)
int(15)

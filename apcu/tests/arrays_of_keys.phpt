--TEST--
store, add, fetch, exists and delete with arrays of keys; $success
--INI--
apc.enable_cli=1
--FILE--
<?php
var_dump(apcu_store(['a' => 1, 'b' => 'two', 7 => [3]]));
var_dump(apcu_add(['a' => 'again', 'c' => 3.5, 8 => 'eight']));
var_dump(apcu_fetch('a'), apcu_fetch('c'), apcu_fetch('7'), apcu_fetch('8'));
var_dump(apcu_fetch(['a', 'missing', 'b'], $ok), $ok);
var_dump(apcu_fetch('missing', $ok), $ok);
var_dump(apcu_fetch('b', $ok), $ok);
var_dump(apcu_exists(['a', 'missing', 'c']));
var_dump(apcu_exists('a'), apcu_exists('missing'));
var_dump(apcu_delete(['a', 'missing', 'c']));
var_dump(apcu_delete('b'), apcu_delete('b'));
var_dump(apcu_exists(['a', 'b', 'c']));
var_dump(apcu_add('a', 'first'), apcu_add('a', 'second'), apcu_fetch('a'));
?>
--EXPECT--
array(0) {
}
array(1) {
  ["a"]=>
  int(-1)
}
int(1)
float(3.5)
array(1) {
  [0]=>
  int(3)
}
string(5) "eight"
array(2) {
  ["a"]=>
  int(1)
  ["b"]=>
  string(3) "two"
}
bool(true)
bool(false)
bool(false)
string(3) "two"
bool(true)
array(2) {
  ["a"]=>
  bool(true)
  ["c"]=>
  bool(true)
}
bool(true)
bool(false)
array(1) {
  [0]=>
  string(7) "missing"
}
bool(true)
bool(false)
array(0) {
}
bool(true)
bool(false)
string(5) "first"

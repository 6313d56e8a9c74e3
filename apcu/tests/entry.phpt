--TEST--
apcu_entry: computes once, recursion, a callback that throws leaves nothing stored or locked
--INI--
apc.enable_cli=1
--FILE--
<?php
$calls = 0;
$make = function ($key) use (&$calls) { $calls++; return "value of $key"; };
var_dump(apcu_entry('e', $make), apcu_entry('e', $make), $calls);
var_dump(apcu_entry('t', fn() => [1, 2], 100), apcu_key_info('t')['ttl'] > 0);

// Calls inside the callback: other keys, and the same key again.
var_dump(apcu_entry('outer', function () {
    apcu_store('xyz', 123);
    apcu_inc('xyz');
    var_dump(apcu_fetch('xyz'));
    return apcu_entry('inner', fn() => 'inner value') . ' + ' . apcu_entry('outer', fn() => 'same key inside');
}));
var_dump(apcu_fetch('outer'));

try {
    apcu_entry('thrown', function () { throw new LogicException('callback failed'); });
} catch (LogicException $e) {
    echo $e->getMessage(), "\n";
}
var_dump(apcu_exists('thrown'), apcu_cache_info()['entry_locks']);
var_dump(apcu_entry('thrown', fn() => 'second try'));

try {
    apcu_entry('k', 'no_such_function');
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
// A value the callback returns that cannot be stored: the serializer's
// exception, nothing stored, nothing locked.
try {
    apcu_entry('c2', fn() => fn() => 1);
} catch (Exception $e) {
    echo $e->getMessage(), "\n";
}
var_dump(apcu_exists('c2'), apcu_cache_info()['entry_locks']);
?>
--EXPECTF--
string(10) "value of e"
string(10) "value of e"
int(1)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(2)
}
bool(true)
int(124)
string(%d) "inner value + same key inside"
string(%d) "inner value + same key inside"
callback failed
bool(false)
int(0)
string(10) "second try"
apcu_entry(): Argument #2 ($callback) must be a valid callback, string given
Serialization of 'Closure' is not allowed
bool(false)
int(0)

--TEST--
A value that cannot be stored stores nothing and keeps the old value; bad keys fail cleanly
--INI--
apc.enable_cli=1
--FILE--
<?php
class Throws {
    function __serialize(): array { throw new RuntimeException('no serializing me'); }
}
apcu_store('k', 'old');

try {
    apcu_store('k', function () {});
} catch (Exception $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
var_dump(apcu_fetch('k'));

try {
    apcu_store('k', ['nested' => new Throws]);
} catch (RuntimeException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
var_dump(apcu_fetch('k'));

try {
    apcu_add('new', new Throws);
} catch (RuntimeException $e) {
    echo $e->getMessage(), "\n";
}
var_dump(apcu_exists('new'));

$f = fopen('php://memory', 'r');
var_dump(apcu_store('k', $f));
var_dump(apcu_store('k', ['a' => [$f]]));
var_dump(apcu_fetch('k'));

// Keys that are neither strings nor arrays.
var_dump(apcu_store(new stdClass, 1));
var_dump(apcu_store('only a key'));
var_dump(apcu_exists('only a key'));
var_dump(apcu_fetch(1.5, $ok), $ok);
var_dump(apcu_fetch([1, 'k']));
try {
    apcu_inc([]);
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
try {
    apcu_fetch();
} catch (ArgumentCountError $e) {
    echo $e->getMessage(), "\n";
}
try {
    apcu_cas('k', 'one', 2);
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
// A key longer than the store takes: the write warns, reads miss.
$long = str_repeat('k', 5000);
var_dump(@apcu_store($long, 1), str_contains(error_get_last()['message'], "over the store's key limit"));
var_dump(apcu_fetch($long), apcu_exists($long), apcu_delete($long));
// The reserved key space of this module is not the user's.
var_dump(apcu_store("\0apcu.entry\0k", 1), apcu_fetch("\0apcu.entry\0k"));
var_dump(apcu_fetch('k'));
?>
--EXPECTF--
Exception: Serialization of 'Closure' is not allowed
string(3) "old"
RuntimeException: no serializing me
string(3) "old"
no serializing me
bool(false)

Warning: apcu_store(): Cannot store resources in apcu cache in %s on line %d
bool(false)

Warning: apcu_store(): Cannot store resources in apcu cache in %s on line %d
bool(false)
string(3) "old"

Warning: apcu_store(): apc_store expects key parameter to be a string or an array of key/value pairs. in %s on line %d
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)

Warning: apcu_fetch(): apc_fetch() expects a string or array of strings. in %s on line %d
array(1) {
  ["k"]=>
  string(3) "old"
}
apcu_inc(): Argument #1 ($key) must be of type string, array given
apcu_fetch() expects at least 1 argument, 0 given
apcu_cas(): Argument #2 ($old) must be of type int, string given
bool(false)
bool(true)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
string(3) "old"

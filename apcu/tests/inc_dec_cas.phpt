--TEST--
apcu_inc, apcu_dec and apcu_cas: steps, missing keys, values that are not ints, overflow
--INI--
apc.enable_cli=1
--FILE--
<?php
var_dump(apcu_inc('n'), apcu_inc('n', 10), apcu_dec('n'), apcu_dec('n', 20, $ok), $ok);
var_dump(apcu_fetch('n'));
var_dump(apcu_inc('fresh', 5, $ok, 100), $ok);
var_dump(apcu_key_info('fresh')['ttl'] > 0);
var_dump(apcu_dec('fresh2', 3));
foreach (['string' => 'abc', 'numeric string' => '5', 'float' => 1.5, 'array' => [1], 'null' => null] as $k => $v) {
    apcu_store($k, $v);
    $ok = 'unset';
    echo $k, ': ';
    var_dump(apcu_inc($k, 1, $ok), $ok, apcu_fetch($k) === $v);
}
apcu_store('max', PHP_INT_MAX);
var_dump(apcu_inc('max') === PHP_INT_MIN);
apcu_store('min', PHP_INT_MIN);
var_dump(apcu_dec('min') === PHP_INT_MAX);
var_dump(apcu_inc('n', -1));
var_dump(apcu_cas('c', 1, 2));
apcu_store('c', 1);
var_dump(apcu_cas('c', 2, 3), apcu_fetch('c'));
var_dump(apcu_cas('c', 1, 3), apcu_fetch('c'));
apcu_store('c', '3');
var_dump(apcu_cas('c', 3, 4), apcu_fetch('c'));
?>
--EXPECT--
int(1)
int(11)
int(10)
int(-10)
bool(true)
int(-10)
int(5)
bool(true)
bool(true)
int(-3)
string: bool(false)
bool(false)
bool(true)
numeric string: bool(false)
bool(false)
bool(true)
float: bool(false)
bool(false)
bool(true)
array: bool(false)
bool(false)
bool(true)
null: bool(false)
bool(false)
bool(true)
bool(true)
bool(true)
int(-11)
bool(false)
bool(false)
int(1)
bool(true)
int(3)
bool(false)
string(1) "3"

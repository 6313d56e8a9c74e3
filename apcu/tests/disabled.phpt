--TEST--
apc.enable_cli=0 (the default): the API is there but disabled, as APCu's is
--INI--
apc.enable_cli=0
--FILE--
<?php
var_dump(apcu_enabled(), ini_get('apc.enabled'));
var_dump(apcu_clear_cache());
var_dump(apcu_cache_info());
var_dump(apcu_sma_info());
var_dump(apcu_store('key', 'value'), apcu_add('key', 'value'), apcu_exists('key'), apcu_fetch('key', $ok), $ok);
var_dump(apcu_key_info('key'), apcu_delete('key'));
var_dump(apcu_store(['key' => 'value']), apcu_exists(['key']), apcu_fetch(['key']), apcu_delete(['key']));
var_dump(apcu_inc('key', 1, $ok), $ok, apcu_dec('key'), apcu_cas('key', 1, 2));
$called = false;
var_dump(apcu_entry('key', function () use (&$called) { $called = true; return 42; }), $called);
try {
    new APCUIterator();
} catch (Error $e) {
    echo $e->getMessage(), "\n";
}
?>
--EXPECTF--
bool(false)
string(1) "1"
bool(true)

Warning: apcu_cache_info(): No APC info available.  Perhaps APC is not enabled? Check apc.enabled in your ini file in %s on line %d
bool(false)

Warning: apcu_sma_info(): No APC SMA info available.  Perhaps APC is disabled via apc.enabled? in %s on line %d
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
NULL
bool(false)
array(1) {
  ["key"]=>
  int(-1)
}
array(0) {
}
array(0) {
}
array(1) {
  [0]=>
  string(3) "key"
}
bool(false)
bool(false)
bool(false)
bool(false)
NULL
bool(false)
APC must be enabled to use APCUIterator

--TEST--
$ttl: seconds, 0 for none; an expired value is gone for every function
--INI--
apc.enable_cli=1
--FILE--
<?php
apcu_store('short', 'soon gone', 1);
apcu_store('long', 'stays', 1000);
apcu_store('forever', 'stays', 0);
apcu_store('negative', 'stays', -5);
apcu_add('added', 'soon gone', 1);
apcu_inc('counter', 1, $ok, 1);
var_dump(apcu_fetch('short'), apcu_exists('added'), apcu_fetch('counter'));
sleep(2);
var_dump(apcu_fetch('short'), apcu_exists('short'), apcu_key_info('short'));
var_dump(apcu_fetch('added'), apcu_fetch('counter'), apcu_inc('counter'));
var_dump(apcu_fetch('long'), apcu_fetch('forever'), apcu_fetch('negative'));
var_dump(apcu_add('short', 'again'), apcu_fetch('short'));
var_dump(apcu_key_info('forever')['ttl'], apcu_key_info('negative')['ttl']);
?>
--EXPECT--
string(9) "soon gone"
bool(true)
int(1)
bool(false)
bool(false)
NULL
bool(false)
bool(false)
int(1)
string(5) "stays"
string(5) "stays"
string(5) "stays"
bool(true)
string(5) "again"
int(0)
int(0)

--TEST--
ephpm_kv: ephpm_kv_expire_if refreshes the TTL only while the value is the expected one
--INI--
ephpm_kv.name=expire_if
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

ephpm_kv_set('lock', 'token-a', 10);
var_dump(ephpm_kv_expire_if('lock', 'token-a', 100), kv_near(ephpm_kv_ttl('lock'), 100));
var_dump(ephpm_kv_expire_if('lock', 'token-b', 1000), kv_near(ephpm_kv_ttl('lock'), 100));
var_dump(ephpm_kv_expire_if('lock', 'token', 1000), ephpm_kv_expire_if('lock', 'token-a ', 1000));
echo "-- a TTL of 0 or less changes nothing\n";
var_dump(ephpm_kv_expire_if('lock', 'token-a', 0), ephpm_kv_expire_if('lock', 'token-a', -5), kv_near(ephpm_kv_ttl('lock'), 100));
echo "-- a key without TTL gets one\n";
ephpm_kv_set('plain', 'v');
var_dump(ephpm_kv_ttl('plain'), ephpm_kv_expire_if('plain', 'v', 50), kv_near(ephpm_kv_ttl('plain'), 50));
echo "-- missing and expired keys\n";
var_dump(ephpm_kv_expire_if('missing', 'v', 10));
ephpm_kv_set('short', 'v', 1);
usleep(1100000);
var_dump(ephpm_kv_expire_if('short', 'v', 10), ephpm_kv_exists('short'));
echo "-- bad arguments\n";
kv_try(fn() => ephpm_kv_expire_if('', 'v', 10));
kv_try(fn() => ephpm_kv_expire_if('k', 'v'));
var_dump(kv_errors());
?>
--EXPECTF--
bool(true)
int(100)
bool(false)
int(100)
bool(false)
bool(false)
-- a TTL of 0 or less changes nothing
bool(false)
bool(false)
int(100)
-- a key without TTL gets one
int(-1)
bool(true)
int(50)
-- missing and expired keys
bool(false)
bool(false)
bool(false)
-- bad arguments
ValueError: ephpm_kv_expire_if(): Argument #1 ($key) must not be empty
ArgumentCountError: ephpm_kv_expire_if() expects exactly 3 arguments, 2 given
array(0) {
}

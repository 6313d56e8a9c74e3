--TEST--
ephpm_kv: return values and types of every function, hit and miss
--INI--
ephpm_kv.name=basic
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();

echo "-- empty store\n";
var_dump(ephpm_kv_flush_all());
var_dump(ephpm_kv_get('k'));
var_dump(ephpm_kv_exists('k'));
var_dump(ephpm_kv_del('k'));
var_dump(ephpm_kv_ttl('k'));
var_dump(ephpm_kv_pttl('k'));
var_dump(ephpm_kv_expire('k', 10));

echo "-- set / get\n";
var_dump(ephpm_kv_set('k', 'hello'));
var_dump(ephpm_kv_get('k'));
var_dump(ephpm_kv_exists('k'));
var_dump(ephpm_kv_ttl('k'));
var_dump(ephpm_kv_pttl('k'));
var_dump(ephpm_kv_set('k', 'world'));
var_dump(ephpm_kv_get('k'));
var_dump(ephpm_kv_set('k', 'ttl', 100));
var_dump(ephpm_kv_get('k'));

echo "-- empty value is a hit, not a miss\n";
var_dump(ephpm_kv_set('empty', ''));
var_dump(ephpm_kv_get('empty'));
var_dump(ephpm_kv_exists('empty'));
var_dump(ephpm_kv_ttl('empty'));

echo "-- setnx\n";
var_dump(ephpm_kv_setnx('nx', 'first'));
var_dump(ephpm_kv_setnx('nx', 'second'));
var_dump(ephpm_kv_get('nx'));
var_dump(ephpm_kv_setnx('nx2', 'x', 100));
var_dump(kv_near(ephpm_kv_ttl('nx2'), 100));

echo "-- counters\n";
var_dump(ephpm_kv_incr('c'));
var_dump(ephpm_kv_incr('c'));
var_dump(ephpm_kv_decr('c'));
var_dump(ephpm_kv_incr_by('c', 40));
var_dump(ephpm_kv_get('c'));
var_dump(ephpm_kv_incr('k'));

echo "-- expire / ttl\n";
var_dump(ephpm_kv_expire('c', 100));
var_dump(kv_near(ephpm_kv_ttl('c'), 100));
var_dump(kv_near_ms(ephpm_kv_pttl('c'), 100000));

echo "-- del\n";
var_dump(ephpm_kv_del('k'));
var_dump(ephpm_kv_del('k'));
var_dump(ephpm_kv_get('k'));
var_dump(ephpm_kv_exists('k'));

echo "-- flush_all\n";
var_dump(ephpm_kv_flush_all());
foreach (['empty', 'nx', 'nx2', 'c'] as $k) {
    var_dump(ephpm_kv_get($k), ephpm_kv_exists($k));
}
var_dump(ephpm_kv_flush_all());

echo "-- no warnings or notices\n";
var_dump(kv_errors());
?>
--EXPECT--
-- empty store
bool(true)
NULL
bool(false)
int(0)
int(-2)
int(-2)
bool(false)
-- set / get
bool(true)
string(5) "hello"
bool(true)
int(-1)
int(-1)
bool(true)
string(5) "world"
bool(true)
string(3) "ttl"
-- empty value is a hit, not a miss
bool(true)
string(0) ""
bool(true)
int(-1)
-- setnx
bool(true)
bool(false)
string(5) "first"
bool(true)
int(100)
-- counters
int(1)
int(2)
int(1)
int(41)
string(2) "41"
bool(false)
-- expire / ttl
bool(true)
int(100)
int(100000)
-- del
int(1)
int(0)
NULL
bool(false)
-- flush_all
bool(true)
NULL
bool(false)
NULL
bool(false)
NULL
bool(false)
NULL
bool(false)
bool(true)
-- no warnings or notices
array(0) {
}

--TEST--
ephpm_kv: del returns 1/0, exists, setnx inserts exactly once
--INI--
ephpm_kv.name=del_exists_setnx
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

echo "-- del\n";
var_dump(ephpm_kv_del('k'));
ephpm_kv_set('k', 'v');
var_dump(ephpm_kv_del('k'), ephpm_kv_del('k'), ephpm_kv_exists('k'), ephpm_kv_get('k'));
ephpm_kv_set('k', '');
var_dump(ephpm_kv_del('k'), ephpm_kv_del('k'));
ephpm_kv_set('k', 'v', 100);
var_dump(ephpm_kv_del('k'), ephpm_kv_setnx('k', 'again'), ephpm_kv_ttl('k'));

echo "-- exists\n";
var_dump(ephpm_kv_exists('e'));
ephpm_kv_set('e', '0');
var_dump(ephpm_kv_exists('e'));
ephpm_kv_set('e', '');
var_dump(ephpm_kv_exists('e'));
var_dump(ephpm_kv_exists('E'), ephpm_kv_exists('e '), ephpm_kv_exists(' e'));

echo "-- setnx: exactly one of many attempts wins\n";
$wins = 0;
for ($i = 0; $i < 100; $i++) {
    $wins += ephpm_kv_setnx('once', "attempt $i") ? 1 : 0;
}
var_dump($wins, ephpm_kv_get('once'));
var_dump(ephpm_kv_setnx('once', 'x', 10), ephpm_kv_ttl('once'));
echo "setnx after del wins again, once\n";
ephpm_kv_del('once');
var_dump(ephpm_kv_setnx('once', 'second'), ephpm_kv_setnx('once', 'third'), ephpm_kv_get('once'));
echo "an empty value is a value\n";
var_dump(ephpm_kv_setnx('empty', ''), ephpm_kv_setnx('empty', 'x'), ephpm_kv_get('empty'));
echo "a key made by incr is a value\n";
ephpm_kv_incr('cnt');
var_dump(ephpm_kv_setnx('cnt', 'x'), ephpm_kv_get('cnt'));

echo "-- a losing setnx raises nothing\n";
var_dump(kv_errors());
?>
--EXPECT--
-- del
int(0)
int(1)
int(0)
bool(false)
NULL
int(1)
int(0)
int(1)
bool(true)
int(-1)
-- exists
bool(false)
bool(true)
bool(true)
bool(false)
bool(false)
bool(false)
-- setnx: exactly one of many attempts wins
int(1)
string(9) "attempt 0"
bool(false)
int(-1)
setnx after del wins again, once
bool(true)
bool(false)
string(6) "second"
an empty value is a value
bool(true)
bool(false)
string(0) ""
a key made by incr is a value
bool(false)
string(1) "1"
-- a losing setnx raises nothing
array(0) {
}

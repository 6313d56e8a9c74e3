--TEST--
ephpm_kv: TTLs without waiting: set/setnx/expire/ttl/pttl, 0 and negative TTLs, overwrite, incr keeps the TTL
--INI--
ephpm_kv.name=ttl
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

// TTLs are read back with kv_near() (kv.inc): a second of slack for a
// loaded machine, none for -1 and -2.
function t(string $key, int $want): int {
    return kv_near(ephpm_kv_ttl($key), $want);
}

echo "-- ttl 1 second\n";
$t0 = kv_now_ms();
var_dump(ephpm_kv_set('one', 'v', 1));
$t1 = kv_now_ms();
$ttl = ephpm_kv_ttl('one');
$t2 = kv_now_ms();
$pttl = ephpm_kv_pttl('one');
$t3 = kv_now_ms();
// 1 unless the process stalled past the expiry (then -2).
var_dump($ttl === 1 || ($ttl === -2 && $t2 - $t0 > 990));
var_dump(kv_pttl_fits($pttl, 1000, $t0, $t1, $t2, $t3));

echo "-- ttl 0 and negative = no expiry\n";
foreach ([0, -1, -100, PHP_INT_MIN] as $ttl) {
    var_dump(ephpm_kv_set("t$ttl", 'v', $ttl), ephpm_kv_ttl("t$ttl"), ephpm_kv_pttl("t$ttl"));
    var_dump(ephpm_kv_setnx("nx$ttl", 'v', $ttl), ephpm_kv_ttl("nx$ttl"), ephpm_kv_pttl("nx$ttl"));
}

echo "-- long TTLs\n";
var_dump(ephpm_kv_set('day', 'v', 86400), t('day', 86400));
var_dump(kv_near_ms(ephpm_kv_pttl('day'), 86400000));
var_dump(ephpm_kv_set('century', 'v', 100 * 365 * 86400), t('century', 3153600000));

echo "-- set overwrites the TTL\n";
var_dump(ephpm_kv_set('o', 'v', 100), t('o', 100));
var_dump(ephpm_kv_set('o', 'w'), ephpm_kv_ttl('o'), ephpm_kv_get('o'));
var_dump(ephpm_kv_set('o', 'x', 50), t('o', 50));
var_dump(ephpm_kv_set('o', 'y', 0), ephpm_kv_ttl('o'));
var_dump(ephpm_kv_set('o', 'z', 200), t('o', 200));
var_dump(ephpm_kv_set('o', 'z', -5), ephpm_kv_ttl('o'));

echo "-- a losing setnx changes neither value nor TTL\n";
var_dump(ephpm_kv_set('n', 'v', 100));
var_dump(ephpm_kv_setnx('n', 'w', 5), ephpm_kv_get('n'), t('n', 100));
var_dump(ephpm_kv_setnx('n', 'w'), t('n', 100));

echo "-- expire\n";
var_dump(ephpm_kv_set('e', 'v'));
var_dump(ephpm_kv_expire('e', 30), t('e', 30));
var_dump(ephpm_kv_expire('e', 300), t('e', 300));
var_dump(ephpm_kv_expire('e', 10), t('e', 10), ephpm_kv_get('e'));
echo "expire <= 0 returns false and leaves the key and its TTL\n";
var_dump(ephpm_kv_expire('e', 0), t('e', 10), ephpm_kv_get('e'));
var_dump(ephpm_kv_expire('e', -1), t('e', 10), ephpm_kv_get('e'));
var_dump(ephpm_kv_expire('e', PHP_INT_MIN), t('e', 10), ephpm_kv_exists('e'));
var_dump(ephpm_kv_set('p', 'v'));
var_dump(ephpm_kv_expire('p', 0), ephpm_kv_ttl('p'), ephpm_kv_get('p'));
var_dump(ephpm_kv_expire('p', -10), ephpm_kv_ttl('p'), ephpm_kv_get('p'));
echo "expire on a missing key\n";
var_dump(ephpm_kv_expire('missing', 10), ephpm_kv_exists('missing'), ephpm_kv_ttl('missing'));
var_dump(ephpm_kv_expire('missing', 0), ephpm_kv_expire('missing', -1), ephpm_kv_exists('missing'));

echo "-- incr keeps the TTL; a counter created by incr has none\n";
var_dump(ephpm_kv_set('c', '5', 100));
var_dump(ephpm_kv_incr('c'), t('c', 100));
var_dump(ephpm_kv_incr_by('c', 10), t('c', 100));
var_dump(ephpm_kv_decr('c'), t('c', 100));
var_dump(kv_near_ms(ephpm_kv_pttl('c'), 100000));
var_dump(ephpm_kv_incr('fresh'), ephpm_kv_ttl('fresh'), ephpm_kv_pttl('fresh'));
var_dump(ephpm_kv_incr_by('fresh2', -3), ephpm_kv_ttl('fresh2'));
echo "a failed incr leaves the TTL\n";
var_dump(ephpm_kv_set('s', 'abc', 100), ephpm_kv_incr('s'), t('s', 100));

echo "-- del removes the TTL with the key\n";
var_dump(ephpm_kv_del('c'), ephpm_kv_ttl('c'), ephpm_kv_pttl('c'));
var_dump(ephpm_kv_set('c', 'v'), ephpm_kv_ttl('c'));

echo "-- ttl/pttl on missing keys\n";
var_dump(ephpm_kv_ttl('nope'), ephpm_kv_pttl('nope'));

var_dump(kv_errors());
?>
--EXPECT--
-- ttl 1 second
bool(true)
bool(true)
bool(true)
-- ttl 0 and negative = no expiry
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
bool(true)
int(-1)
int(-1)
-- long TTLs
bool(true)
int(86400)
int(86400000)
bool(true)
int(3153600000)
-- set overwrites the TTL
bool(true)
int(100)
bool(true)
int(-1)
string(1) "w"
bool(true)
int(50)
bool(true)
int(-1)
bool(true)
int(200)
bool(true)
int(-1)
-- a losing setnx changes neither value nor TTL
bool(true)
bool(false)
string(1) "v"
int(100)
bool(false)
int(100)
-- expire
bool(true)
bool(true)
int(30)
bool(true)
int(300)
bool(true)
int(10)
string(1) "v"
expire <= 0 returns false and leaves the key and its TTL
bool(false)
int(10)
string(1) "v"
bool(false)
int(10)
string(1) "v"
bool(false)
int(10)
bool(true)
bool(true)
bool(false)
int(-1)
string(1) "v"
bool(false)
int(-1)
string(1) "v"
expire on a missing key
bool(false)
bool(false)
int(-2)
bool(false)
bool(false)
bool(false)
-- incr keeps the TTL; a counter created by incr has none
bool(true)
int(6)
int(100)
int(16)
int(100)
int(15)
int(100)
int(100000)
int(1)
int(-1)
int(-1)
int(-3)
int(-1)
a failed incr leaves the TTL
bool(true)
bool(false)
int(100)
-- del removes the TTL with the key
int(1)
int(-2)
int(-2)
bool(true)
int(-1)
-- ttl/pttl on missing keys
int(-2)
int(-2)
array(0) {
}

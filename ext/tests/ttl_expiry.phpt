--TEST--
ephpm_kv: expiry to the millisecond; expired keys are absent for every function; ttl rounds up
--INI--
ephpm_kv.name=ttl_expiry
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

foreach (['get', 'exists', 'ttl', 'pttl', 'del', 'expire', 'setnx', 'incr', 'incr_by', 'decr', 'set'] as $k) {
    ephpm_kv_set("x-$k", '7', 1);
}
ephpm_kv_set('keep', 'v', 100);
ephpm_kv_set('forever', 'v');
// Times are measured around each call, so the checks hold however long
// this process is stalled (kv_pttl_fits() in kv.inc).
$s0 = kv_now_ms();
ephpm_kv_set('probe', 'v', 1);
$s1 = kv_now_ms();
$p = ephpm_kv_pttl('probe');
$r1 = kv_now_ms();
var_dump(kv_pttl_fits($p, 1000, $s0, $s1, $s1, $r1));

echo "-- still there until the second is over\n";
usleep(300000);
$r0 = kv_now_ms();
$p = ephpm_kv_pttl('probe');
$r1 = kv_now_ms();
var_dump(kv_pttl_fits($p, 1000, $s0, $s1, $r0, $r1), $p === -2 || $p <= 700);

echo "-- after expiry\n";
usleep(1000000);
var_dump(ephpm_kv_get('x-get'));
var_dump(ephpm_kv_exists('x-exists'));
var_dump(ephpm_kv_ttl('x-ttl'));
var_dump(ephpm_kv_pttl('x-pttl'));
var_dump(ephpm_kv_del('x-del'));
var_dump(ephpm_kv_expire('x-expire', 100), ephpm_kv_exists('x-expire'), ephpm_kv_ttl('x-expire'));
echo "setnx on an expired key wins, with the new TTL (none here)\n";
var_dump(ephpm_kv_setnx('x-setnx', 'new'), ephpm_kv_get('x-setnx'), ephpm_kv_ttl('x-setnx'));
echo "incr on an expired key counts from 0, without expiry\n";
var_dump(ephpm_kv_incr('x-incr'), ephpm_kv_ttl('x-incr'));
var_dump(ephpm_kv_incr_by('x-incr_by', 5), ephpm_kv_ttl('x-incr_by'));
var_dump(ephpm_kv_decr('x-decr'), ephpm_kv_ttl('x-decr'));
var_dump(ephpm_kv_set('x-set', 'again'), ephpm_kv_get('x-set'), ephpm_kv_ttl('x-set'));
echo "others are unaffected\n";
var_dump(ephpm_kv_get('keep'), kv_near(ephpm_kv_ttl('keep'), 100, 5), ephpm_kv_get('forever'), ephpm_kv_ttl('forever'));

echo "-- setnx with a TTL on an expired key\n";
ephpm_kv_set('nx', 'old', 1);
usleep(1100000);
var_dump(ephpm_kv_setnx('nx', 'new', 50), ephpm_kv_get('nx'), kv_near(ephpm_kv_ttl('nx'), 50));

echo "-- ttl rounds up to whole seconds\n";
// pttl read just before and just after each ttl() brackets it: ttl must be
// ceil(ms / 1000) of a value in between (a rounded-down ttl would fail).
ephpm_kv_set('r', 'v', 10);
usleep(1200000);
$bad = [];
for ($i = 0; $i < 20; $i++) {
    $p1 = ephpm_kv_pttl('r');
    $t = ephpm_kv_ttl('r');
    $p2 = ephpm_kv_pttl('r');
    if (!($p1 > 0 && $p2 > 0 && $p1 < 10000 && $t <= intdiv($p1 + 999, 1000) && $t >= intdiv($p2 + 999, 1000))) {
        $bad[] = "pttl $p1, ttl $t, pttl $p2";
    }
    usleep(37000);
}
var_dump($bad);

// Close to the end: a few ms left still reads as 1 second, never 0. Tried
// a few times in case a stall makes the key expire before it is seen.
$other = [];
$least = PHP_INT_MAX; // least pttl seen with ttl 1 just after
for ($attempt = 0; $attempt < 5 && $least > 100; $attempt++) {
    ephpm_kv_set('end', 'v', 1);
    while (($p = ephpm_kv_pttl('end')) > 0) {
        $t = ephpm_kv_ttl('end');
        if ($t === 1) {
            $least = min($least, $p);
        } elseif ($t !== -2) {
            $other[] = "ttl $t with pttl $p";
        }
        usleep($p > 50 ? ($p - 40) * 1000 : 1000);
    }
}
var_dump($other);
echo $least <= 100 ? "ttl 1 with <= 100 ms left\n" : "least pttl seen: $least\n";
var_dump(ephpm_kv_pttl('end'), ephpm_kv_ttl('end'));

var_dump(kv_errors());
?>
--EXPECTF--
bool(true)
-- still there until the second is over
bool(true)
bool(true)
-- after expiry
NULL
bool(false)
int(-2)
int(-2)
int(0)
bool(false)
bool(false)
int(-2)
setnx on an expired key wins, with the new TTL (none here)
bool(true)
string(3) "new"
int(-1)
incr on an expired key counts from 0, without expiry
int(1)
int(-1)
int(5)
int(-1)
int(-1)
int(-1)
bool(true)
string(5) "again"
int(-1)
others are unaffected
string(1) "v"
int(100)
string(1) "v"
int(-1)
-- setnx with a TTL on an expired key
bool(true)
string(3) "new"
int(50)
-- ttl rounds up to whole seconds
array(0) {
}
array(0) {
}
ttl 1 with <= 100 ms left
int(-2)
int(-2)
array(0) {
}

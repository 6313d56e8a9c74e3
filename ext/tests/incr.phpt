--TEST--
ephpm_kv: incr/decr/incr_by: missing key = 0, decimal text, non-integers and overflow give false without a warning
--INI--
ephpm_kv.name=incr
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

echo "-- missing keys count as 0 and are created without expiry\n";
var_dump(ephpm_kv_incr('a'), ephpm_kv_get('a'), ephpm_kv_ttl('a'));
var_dump(ephpm_kv_decr('b'), ephpm_kv_get('b'), ephpm_kv_ttl('b'));
var_dump(ephpm_kv_incr_by('c', 42), ephpm_kv_get('c'), ephpm_kv_ttl('c'));
var_dump(ephpm_kv_incr_by('d', 0), ephpm_kv_get('d'), ephpm_kv_exists('d'));
var_dump(ephpm_kv_incr_by('e', -7), ephpm_kv_get('e'));

echo "-- stored as decimal text\n";
var_dump(ephpm_kv_incr_by('c', 1000000), ephpm_kv_get('c'));
var_dump(ephpm_kv_incr_by('c', -2000000), ephpm_kv_get('c'));
var_dump(ephpm_kv_decr('c'), ephpm_kv_decr('c'), ephpm_kv_get('c'));
var_dump(ephpm_kv_incr_by('c', 1000084), ephpm_kv_get('c'));
var_dump(ephpm_kv_incr_by('c', 0), ephpm_kv_get('c'));

echo "-- existing decimal values\n";
foreach (['0', '1', '-1', '42', '9223372036854775806', '-9223372036854775807'] as $v) {
    ephpm_kv_set('v', $v);
    var_dump(ephpm_kv_incr('v'), ephpm_kv_get('v'));
}

echo "-- boundaries and overflow: false, value unchanged\n";
ephpm_kv_set('max', (string) PHP_INT_MAX);
var_dump(ephpm_kv_incr('max'), ephpm_kv_get('max'));
var_dump(ephpm_kv_incr_by('max', 1), ephpm_kv_incr_by('max', PHP_INT_MAX), ephpm_kv_get('max'));
var_dump(ephpm_kv_incr_by('max', 0), ephpm_kv_decr('max'), ephpm_kv_get('max'));
var_dump(ephpm_kv_incr_by('max2', PHP_INT_MAX), ephpm_kv_incr('max2'), ephpm_kv_get('max2'));
ephpm_kv_set('min', (string) PHP_INT_MIN);
var_dump(ephpm_kv_decr('min'), ephpm_kv_get('min'));
var_dump(ephpm_kv_incr_by('min', -1), ephpm_kv_incr_by('min', PHP_INT_MIN), ephpm_kv_get('min'));
var_dump(ephpm_kv_incr('min'), ephpm_kv_get('min'));
var_dump(ephpm_kv_incr_by('min2', PHP_INT_MIN), ephpm_kv_decr('min2'), ephpm_kv_get('min2'));
var_dump(ephpm_kv_incr_by('min2', PHP_INT_MAX), ephpm_kv_get('min2'));
ephpm_kv_set('big', '9223372036854775808');
var_dump(ephpm_kv_incr('big'), ephpm_kv_incr_by('big', -1), ephpm_kv_get('big'));
ephpm_kv_set('small', '-9223372036854775809');
var_dump(ephpm_kv_decr('small'), ephpm_kv_incr('small'), ephpm_kv_get('small'));

echo "-- not decimal integers: false, no warning, value and TTL unchanged\n";
$bad = ['abc', '1.5', '', ' 1', '1 ', "1\n", '0x1A', '1e3', '12abc', '--1', '-', '1,000', "1\0", "\0", 'NaN', 'INF',
    "\u{ff11}", '99999999999999999999999'];
foreach ($bad as $v) {
    ephpm_kv_set('bad', $v, 100);
    $r = [ephpm_kv_incr('bad'), ephpm_kv_decr('bad'), ephpm_kv_incr_by('bad', 5), ephpm_kv_incr_by('bad', -5)];
    $same = ephpm_kv_get('bad') === $v;
    echo str_pad(json_encode($v), 28), ' ', json_encode($r), ' ', $same ? 'unchanged' : 'CHANGED', ' ',
        ephpm_kv_ttl('bad'), "\n";
}
var_dump(kv_errors());

echo "-- negative deltas\n";
ephpm_kv_set('n', '10');
var_dump(ephpm_kv_incr_by('n', -3), ephpm_kv_incr_by('n', -7), ephpm_kv_incr_by('n', -1), ephpm_kv_get('n'));
var_dump(ephpm_kv_incr_by('n', -PHP_INT_MAX), ephpm_kv_get('n'));

echo "-- incr_by with an integer-valued string delta (weak mode)\n";
var_dump(ephpm_kv_incr_by('n', '2'), ephpm_kv_get('n'));

var_dump(kv_errors());
?>
--EXPECT--
-- missing keys count as 0 and are created without expiry
int(1)
string(1) "1"
int(-1)
int(-1)
string(2) "-1"
int(-1)
int(42)
string(2) "42"
int(-1)
int(0)
string(1) "0"
bool(true)
int(-7)
string(2) "-7"
-- stored as decimal text
int(1000042)
string(7) "1000042"
int(-999958)
string(7) "-999958"
int(-999959)
int(-999960)
string(7) "-999960"
int(124)
string(3) "124"
int(124)
string(3) "124"
-- existing decimal values
int(1)
string(1) "1"
int(2)
string(1) "2"
int(0)
string(1) "0"
int(43)
string(2) "43"
int(9223372036854775807)
string(19) "9223372036854775807"
int(-9223372036854775806)
string(20) "-9223372036854775806"
-- boundaries and overflow: false, value unchanged
bool(false)
string(19) "9223372036854775807"
bool(false)
bool(false)
string(19) "9223372036854775807"
int(9223372036854775807)
int(9223372036854775806)
string(19) "9223372036854775806"
int(9223372036854775807)
bool(false)
string(19) "9223372036854775807"
bool(false)
string(20) "-9223372036854775808"
bool(false)
bool(false)
string(20) "-9223372036854775808"
int(-9223372036854775807)
string(20) "-9223372036854775807"
int(-9223372036854775808)
bool(false)
string(20) "-9223372036854775808"
int(-1)
string(2) "-1"
bool(false)
bool(false)
string(19) "9223372036854775808"
bool(false)
bool(false)
string(20) "-9223372036854775809"
-- not decimal integers: false, no warning, value and TTL unchanged
"abc"                        [false,false,false,false] unchanged 100
"1.5"                        [false,false,false,false] unchanged 100
""                           [false,false,false,false] unchanged 100
" 1"                         [false,false,false,false] unchanged 100
"1 "                         [false,false,false,false] unchanged 100
"1\n"                        [false,false,false,false] unchanged 100
"0x1A"                       [false,false,false,false] unchanged 100
"1e3"                        [false,false,false,false] unchanged 100
"12abc"                      [false,false,false,false] unchanged 100
"--1"                        [false,false,false,false] unchanged 100
"-"                          [false,false,false,false] unchanged 100
"1,000"                      [false,false,false,false] unchanged 100
"1\u0000"                    [false,false,false,false] unchanged 100
"\u0000"                     [false,false,false,false] unchanged 100
"NaN"                        [false,false,false,false] unchanged 100
"INF"                        [false,false,false,false] unchanged 100
"\uff11"                     [false,false,false,false] unchanged 100
"99999999999999999999999"    [false,false,false,false] unchanged 100
array(0) {
}
-- negative deltas
int(7)
int(0)
int(-1)
string(2) "-1"
int(-9223372036854775808)
string(20) "-9223372036854775808"
-- incr_by with an integer-valued string delta (weak mode)
int(-9223372036854775806)
string(20) "-9223372036854775806"
array(0) {
}

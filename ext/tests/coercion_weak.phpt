--TEST--
ephpm_kv: weak-mode coercion of scalars, like any internal function (int/float/bool/null/Stringable)
--INI--
ephpm_kv.name=coercion_weak
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

class Name { function __toString(): string { return "name"; } }

echo "-- values\n";
foreach (['int' => 5, 'negative' => -42, 'float' => 1.5, 'float-int' => 2.0, 'big-float' => 1e100,
    'true' => true, 'false' => false, 'stringable' => new Name] as $k => $v) {
    var_dump(ephpm_kv_set($k, $v), ephpm_kv_get($k));
}
var_dump(kv_errors());

echo "-- keys\n";
var_dump(ephpm_kv_set(123, 'int key'), ephpm_kv_get('123'), ephpm_kv_get(123));
var_dump(ephpm_kv_set(0.5, 'float key'), ephpm_kv_get('0.5'));
var_dump(ephpm_kv_set(true, 'bool key'), ephpm_kv_get('1'));
var_dump(ephpm_kv_set(new Name, 'object key'), ephpm_kv_get("name"));
var_dump(ephpm_kv_incr(7), ephpm_kv_get('7'), ephpm_kv_exists(7), ephpm_kv_del(7));
kv_try(fn() => ephpm_kv_get(false));
var_dump(kv_errors());

echo "-- ttl and delta\n";
var_dump(ephpm_kv_set('t', 'v', '60'), kv_near(ephpm_kv_ttl('t'), 60));
var_dump(ephpm_kv_set('t', 'v', ' 70'), kv_near(ephpm_kv_ttl('t'), 70));
var_dump(ephpm_kv_set('t', 'v', 80.0), kv_near(ephpm_kv_ttl('t'), 80));
var_dump(ephpm_kv_set('t', 'v', true), ephpm_kv_ttl('t'));
var_dump(ephpm_kv_set('t', 'v', false), ephpm_kv_ttl('t'));
var_dump(ephpm_kv_setnx('t2', 'v', '90'), kv_near(ephpm_kv_ttl('t2'), 90));
var_dump(ephpm_kv_expire('t2', '100'), kv_near(ephpm_kv_ttl('t2'), 100));
var_dump(ephpm_kv_incr_by('d', '5'), ephpm_kv_incr_by('d', '-2'), ephpm_kv_incr_by('d', 3.0), ephpm_kv_incr_by('d', true));
var_dump(kv_errors());
kv_try(fn() => ephpm_kv_set('t', 'v', 'abc'));
kv_try(fn() => ephpm_kv_set('t', 'v', '60abc'));
kv_try(fn() => ephpm_kv_set('t', 'v', ''));
kv_try(fn() => ephpm_kv_expire('t', 'abc'));
kv_try(fn() => ephpm_kv_incr_by('d', 'abc'));
kv_try(fn() => ephpm_kv_incr_by('d', 1e30));
kv_try(fn() => ephpm_kv_set('t', 'v', NAN));
var_dump(ephpm_kv_ttl('t'), ephpm_kv_get('d'));
echo "fractional: deprecated, truncated\n";
var_dump(ephpm_kv_set('t', 'v', 1.5), ephpm_kv_ttl('t'));
var_dump(ephpm_kv_incr_by('d', 2.7), ephpm_kv_get('d'));
var_dump(kv_errors());

echo "-- null: deprecated (PHP 8.1+), then \"\" or 0\n";
var_dump(ephpm_kv_set('n', null), ephpm_kv_get('n'));
var_dump(ephpm_kv_set('n2', 'v', null), ephpm_kv_ttl('n2'));
var_dump(ephpm_kv_incr_by('n3', null), ephpm_kv_get('n3'));
var_dump(kv_errors());
kv_try(fn() => ephpm_kv_get(null));
var_dump(kv_errors());
?>
--EXPECT--
-- values
bool(true)
string(1) "5"
bool(true)
string(3) "-42"
bool(true)
string(3) "1.5"
bool(true)
string(1) "2"
bool(true)
string(8) "1.0E+100"
bool(true)
string(1) "1"
bool(true)
string(0) ""
bool(true)
string(4) "name"
array(0) {
}
-- keys
bool(true)
string(7) "int key"
string(7) "int key"
bool(true)
string(9) "float key"
bool(true)
string(8) "bool key"
bool(true)
string(10) "object key"
int(1)
string(1) "1"
bool(true)
int(1)
ValueError: ephpm_kv_get(): Argument #1 ($key) must not be empty
array(0) {
}
-- ttl and delta
bool(true)
int(60)
bool(true)
int(70)
bool(true)
int(80)
bool(true)
int(1)
bool(true)
int(-1)
bool(true)
int(90)
bool(true)
int(100)
int(5)
int(3)
int(6)
int(7)
array(0) {
}
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, string given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, string given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, string given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, string given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, string given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, float given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, float given
int(-1)
string(1) "7"
fractional: deprecated, truncated
bool(true)
int(1)
int(9)
string(1) "9"
array(2) {
  [0]=>
  string(71) "E_DEPRECATED: Implicit conversion from float 1.5 to int loses precision"
  [1]=>
  string(71) "E_DEPRECATED: Implicit conversion from float 2.7 to int loses precision"
}
-- null: deprecated (PHP 8.1+), then "" or 0
bool(true)
string(0) ""
bool(true)
int(-1)
int(0)
string(1) "0"
array(3) {
  [0]=>
  string(96) "E_DEPRECATED: ephpm_kv_set(): Passing null to parameter #2 ($value) of type string is deprecated"
  [1]=>
  string(91) "E_DEPRECATED: ephpm_kv_set(): Passing null to parameter #3 ($ttl) of type int is deprecated"
  [2]=>
  string(97) "E_DEPRECATED: ephpm_kv_incr_by(): Passing null to parameter #2 ($delta) of type int is deprecated"
}
ValueError: ephpm_kv_get(): Argument #1 ($key) must not be empty
array(1) {
  [0]=>
  string(94) "E_DEPRECATED: ephpm_kv_get(): Passing null to parameter #1 ($key) of type string is deprecated"
}
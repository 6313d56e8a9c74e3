--TEST--
ephpm_kv: under declare(strict_types=1) only exact types are accepted
--INI--
ephpm_kv.name=coercion_strict
ephpm_kv.size=4M
--FILE--
<?php
declare(strict_types=1);
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

class Name { function __toString(): string { return "name"; } }

kv_try(fn() => ephpm_kv_set('n', 5));
kv_try(fn() => ephpm_kv_set('n', 1.5));
// The type PHP names for `true` is its own: `bool` up to 8.2, `true` from
// 8.3 on (zend_zval_value_name); the expectation takes either.
kv_try(fn() => ephpm_kv_set('n', true));
kv_try(fn() => ephpm_kv_set('n', null));
kv_try(fn() => ephpm_kv_set('n', new Name));
kv_try(fn() => ephpm_kv_set(5, 'v'));
kv_try(fn() => ephpm_kv_get(5));
kv_try(fn() => ephpm_kv_get(null));
kv_try(fn() => ephpm_kv_set('t', 'v', '60'));
kv_try(fn() => ephpm_kv_set('t', 'v', 60.0));
kv_try(fn() => ephpm_kv_set('t', 'v', null));
kv_try(fn() => ephpm_kv_setnx('t', 'v', '60'));
kv_try(fn() => ephpm_kv_expire('t', '60'));
kv_try(fn() => ephpm_kv_incr_by('d', '5'));
kv_try(fn() => ephpm_kv_incr_by('d', 5.0));
kv_try(fn() => ephpm_kv_incr_by('d', true));
echo "-- nothing stored\n";
var_dump(ephpm_kv_stats()['entries']);
echo "-- exact types work\n";
kv_try(fn() => ephpm_kv_set('n', '5', 60));
kv_try(fn() => kv_near(ephpm_kv_ttl('n'), 60));
kv_try(fn() => ephpm_kv_incr_by('n', -5));
kv_try(fn() => ephpm_kv_expire('n', 30));
kv_try(fn() => ephpm_kv_get('n'));
var_dump(kv_errors());
?>
--EXPECTF--
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, int given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, float given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, %r(bool|true)%r given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, null given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, Name given
TypeError: ephpm_kv_set(): Argument #1 ($key) must be of type string, int given
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, int given
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, null given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, string given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, float given
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, null given
TypeError: ephpm_kv_setnx(): Argument #3 ($ttl) must be of type int, string given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, string given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, string given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, float given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, %r(bool|true)%r given
-- nothing stored
int(0)
-- exact types work
returned true
returned 60
returned 0
returned true
returned '0'
array(0) {
}

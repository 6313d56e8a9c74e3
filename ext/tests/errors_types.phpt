--TEST--
ephpm_kv: TypeError for arrays/objects/resources, ArgumentCountError for wrong argument counts, named arguments
--INI--
ephpm_kv.name=errors_types
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$valid = KV_KEY_FUNCTIONS + ['ephpm_kv_flush_all' => null, 'ephpm_kv_stats' => null];
$bad = ['array' => [], 'object' => new stdClass, 'closure' => fn() => 1, 'resource' => STDIN];

echo "-- wrong types, each parameter in turn\n";
foreach (KV_KEY_FUNCTIONS as $f => $rest) {
    $args = array_merge(['k'], $rest);
    foreach (array_keys($args) as $i) {
        foreach ($bad as $value) {
            $a = $args;
            $a[$i] = $value;
            kv_try(fn() => $f(...$a));
        }
    }
}
echo "optional ttl\n";
kv_try(fn() => ephpm_kv_set('k', 'v', []));
kv_try(fn() => ephpm_kv_setnx('k', 'v', new stdClass));

echo "-- argument counts\n";
foreach ($valid as $f => $rest) {
    $args = $rest === null ? [] : array_merge(['k'], $rest);
    if (count($args) > 0) {
        kv_try(fn() => $f(...array_slice($args, 0, count($args) - 1)));
    }
    $more = array_merge($args, in_array($f, ['ephpm_kv_set', 'ephpm_kv_setnx']) ? [1, 'extra'] : ['extra']);
    kv_try(fn() => $f(...$more));
}
kv_try(fn() => ephpm_kv_set('k'));
kv_try(fn() => ephpm_kv_set());

echo "-- nothing was stored by the failed calls\n";
var_dump(ephpm_kv_exists('k'), ephpm_kv_stats()['entries']);

echo "-- named arguments\n";
kv_try(fn() => ephpm_kv_set(value: 'named', key: 'nk'));
kv_try(fn() => ephpm_kv_get(key: 'nk'));
kv_try(fn() => ephpm_kv_set('nk2', ttl: 30, value: 'v2'));
kv_try(fn() => kv_near(ephpm_kv_ttl(key: 'nk2'), 30));
kv_try(fn() => ephpm_kv_setnx(key: 'nk3', value: 'v3', ttl: 40));
kv_try(fn() => kv_near_ms(ephpm_kv_pttl(key: 'nk3'), 40000));
kv_try(fn() => ephpm_kv_incr_by(delta: 5, key: 'nc'));
kv_try(fn() => ephpm_kv_expire(ttl: 20, key: 'nc'));
kv_try(fn() => ephpm_kv_set(key: 'x', val: 'v'));
kv_try(fn() => ephpm_kv_set('x', ttl: 5));
kv_try(fn() => ephpm_kv_get('x', key: 'y'));

var_dump(kv_errors());
?>
--EXPECT--
-- wrong types, each parameter in turn
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_set(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_set(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_set(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_set(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, array given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, stdClass given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, Closure given
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, resource given
TypeError: ephpm_kv_setnx(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_setnx(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_setnx(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_setnx(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_setnx(): Argument #2 ($value) must be of type string, array given
TypeError: ephpm_kv_setnx(): Argument #2 ($value) must be of type string, stdClass given
TypeError: ephpm_kv_setnx(): Argument #2 ($value) must be of type string, Closure given
TypeError: ephpm_kv_setnx(): Argument #2 ($value) must be of type string, resource given
TypeError: ephpm_kv_del(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_del(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_del(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_del(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_exists(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_exists(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_exists(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_exists(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_incr(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_incr(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_incr(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_incr(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_decr(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_decr(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_decr(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_decr(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_incr_by(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_incr_by(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_incr_by(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_incr_by(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, array given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, stdClass given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, Closure given
TypeError: ephpm_kv_incr_by(): Argument #2 ($delta) must be of type int, resource given
TypeError: ephpm_kv_expire(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_expire(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_expire(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_expire(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, array given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, stdClass given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, Closure given
TypeError: ephpm_kv_expire(): Argument #2 ($ttl) must be of type int, resource given
TypeError: ephpm_kv_ttl(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_ttl(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_ttl(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_ttl(): Argument #1 ($key) must be of type string, resource given
TypeError: ephpm_kv_pttl(): Argument #1 ($key) must be of type string, array given
TypeError: ephpm_kv_pttl(): Argument #1 ($key) must be of type string, stdClass given
TypeError: ephpm_kv_pttl(): Argument #1 ($key) must be of type string, Closure given
TypeError: ephpm_kv_pttl(): Argument #1 ($key) must be of type string, resource given
optional ttl
TypeError: ephpm_kv_set(): Argument #3 ($ttl) must be of type int, array given
TypeError: ephpm_kv_setnx(): Argument #3 ($ttl) must be of type int, stdClass given
-- argument counts
ArgumentCountError: ephpm_kv_get() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_get() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_set() expects at least 2 arguments, 1 given
ArgumentCountError: ephpm_kv_set() expects at most 3 arguments, 4 given
ArgumentCountError: ephpm_kv_setnx() expects at least 2 arguments, 1 given
ArgumentCountError: ephpm_kv_setnx() expects at most 3 arguments, 4 given
ArgumentCountError: ephpm_kv_del() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_del() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_exists() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_exists() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_incr() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_incr() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_decr() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_decr() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_incr_by() expects exactly 2 arguments, 1 given
ArgumentCountError: ephpm_kv_incr_by() expects exactly 2 arguments, 3 given
ArgumentCountError: ephpm_kv_expire() expects exactly 2 arguments, 1 given
ArgumentCountError: ephpm_kv_expire() expects exactly 2 arguments, 3 given
ArgumentCountError: ephpm_kv_ttl() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_ttl() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_pttl() expects exactly 1 argument, 0 given
ArgumentCountError: ephpm_kv_pttl() expects exactly 1 argument, 2 given
ArgumentCountError: ephpm_kv_flush_all() expects exactly 0 arguments, 1 given
ArgumentCountError: ephpm_kv_stats() expects exactly 0 arguments, 1 given
ArgumentCountError: ephpm_kv_set() expects at least 2 arguments, 1 given
ArgumentCountError: ephpm_kv_set() expects at least 2 arguments, 0 given
-- nothing was stored by the failed calls
bool(false)
int(0)
-- named arguments
returned true
returned 'named'
returned true
returned 30
returned true
returned 40000
returned 5
returned true
Error: Unknown named parameter $val
ArgumentCountError: ephpm_kv_set(): Argument #2 ($value) not passed
Error: Named parameter $key overwrites previous argument
array(0) {
}

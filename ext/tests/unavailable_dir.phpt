--TEST--
ephpm_kv: store unavailable (ephpm_kv.dir does not exist): failure values and one warning per call naming the cause
--INI--
ephpm_kv.name=unavailable_dir
ephpm_kv.size=4M
ephpm_kv.dir=/nonexistent-ephpm-kv-phpt/dir
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();

$calls = [
    'get' => fn() => ephpm_kv_get('k'),
    'set' => fn() => ephpm_kv_set('k', 'v'),
    'set ttl' => fn() => ephpm_kv_set('k', 'v', 10),
    'setnx' => fn() => ephpm_kv_setnx('k', 'v'),
    'del' => fn() => ephpm_kv_del('k'),
    'exists' => fn() => ephpm_kv_exists('k'),
    'incr' => fn() => ephpm_kv_incr('k'),
    'decr' => fn() => ephpm_kv_decr('k'),
    'incr_by' => fn() => ephpm_kv_incr_by('k', 5),
    'expire' => fn() => ephpm_kv_expire('k', 10),
    'expire 0' => fn() => ephpm_kv_expire('k', 0),
    'ttl' => fn() => ephpm_kv_ttl('k'),
    'pttl' => fn() => ephpm_kv_pttl('k'),
    'flush_all' => fn() => ephpm_kv_flush_all(),
];
foreach ([1, 2] as $round) {
    echo "-- round $round\n";
    foreach ($calls as $name => $call) {
        $r = $call();
        $errors = kv_errors();
        $named = count(array_filter($errors, fn($e) =>
            str_starts_with($e, 'E_WARNING: ephpm_kv_')
            && str_contains($e, 'unavailable')
            && str_contains($e, '/nonexistent-ephpm-kv-phpt/dir')
            && str_contains($e, 'No such file or directory')));
        echo str_pad($name, 10), ' ', var_export($r, true), ', ', count($errors), ' error(s), ',
            $named, " naming the cause\n";
    }
}
echo "-- one message in full\n";
ephpm_kv_get('k');
var_dump(kv_errors());

echo "-- bad arguments are still exceptions, with no warning\n";
kv_try(fn() => ephpm_kv_get(''));
kv_try(fn() => ephpm_kv_set('', 'v'));
kv_try(fn() => ephpm_kv_incr_by('', 1));
kv_try(fn() => ephpm_kv_get([]));
kv_try(fn() => ephpm_kv_flush_all(1));
var_dump(kv_errors());

echo "-- stats say why\n";
$stats = ephpm_kv_stats();
var_dump($stats['available'], is_string($stats['version']));
var_dump(str_contains($stats['error'], '/nonexistent-ephpm-kv-phpt/dir'));
var_dump(kv_errors());
?>
--EXPECTF--
-- round 1
get        NULL, 1 error(s), 1 naming the cause
set        false, 1 error(s), 1 naming the cause
set ttl    false, 1 error(s), 1 naming the cause
setnx      false, 1 error(s), 1 naming the cause
del        0, 1 error(s), 1 naming the cause
exists     false, 1 error(s), 1 naming the cause
incr       false, 1 error(s), 1 naming the cause
decr       false, 1 error(s), 1 naming the cause
incr_by    false, 1 error(s), 1 naming the cause
expire     false, 1 error(s), 1 naming the cause
expire 0   false, 1 error(s), 1 naming the cause
ttl        -2, 1 error(s), 1 naming the cause
pttl       -2, 1 error(s), 1 naming the cause
flush_all  false, 1 error(s), 1 naming the cause
-- round 2
get        NULL, 1 error(s), 1 naming the cause
set        false, 1 error(s), 1 naming the cause
set ttl    false, 1 error(s), 1 naming the cause
setnx      false, 1 error(s), 1 naming the cause
del        0, 1 error(s), 1 naming the cause
exists     false, 1 error(s), 1 naming the cause
incr       false, 1 error(s), 1 naming the cause
decr       false, 1 error(s), 1 naming the cause
incr_by    false, 1 error(s), 1 naming the cause
expire     false, 1 error(s), 1 naming the cause
expire 0   false, 1 error(s), 1 naming the cause
ttl        -2, 1 error(s), 1 naming the cause
pttl       -2, 1 error(s), 1 naming the cause
flush_all  false, 1 error(s), 1 naming the cause
-- one message in full
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_get(): store "unavailable_dir" is unavailable: %s/nonexistent-ephpm-kv-phpt/dir/%s"
}
-- bad arguments are still exceptions, with no warning
ValueError: ephpm_kv_get(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_set(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_incr_by(): Argument #1 ($key) must not be empty
TypeError: ephpm_kv_get(): Argument #1 ($key) must be of type string, array given
ArgumentCountError: ephpm_kv_flush_all() expects exactly 0 arguments, 1 given
array(0) {
}
-- stats say why
bool(false)
bool(true)
bool(true)
array(0) {
}

--TEST--
ephpm_kv: ephpm_kv.enabled=0: failure values and one warning per call saying the store is disabled
--INI--
ephpm_kv.name=disabled
ephpm_kv.size=4M
ephpm_kv.enabled=0
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();

$calls = [
    'get' => fn() => ephpm_kv_get('k'),
    'set' => fn() => ephpm_kv_set('k', 'v'),
    'setnx' => fn() => ephpm_kv_setnx('k', 'v', 5),
    'del' => fn() => ephpm_kv_del('k'),
    'exists' => fn() => ephpm_kv_exists('k'),
    'incr' => fn() => ephpm_kv_incr('k'),
    'decr' => fn() => ephpm_kv_decr('k'),
    'incr_by' => fn() => ephpm_kv_incr_by('k', -5),
    'expire' => fn() => ephpm_kv_expire('k', 10),
    'ttl' => fn() => ephpm_kv_ttl('k'),
    'pttl' => fn() => ephpm_kv_pttl('k'),
    'flush_all' => fn() => ephpm_kv_flush_all(),
];
foreach ($calls as $name => $call) {
    $r = $call();
    $errors = kv_errors();
    $named = count(array_filter($errors, fn($e) =>
        str_starts_with($e, 'E_WARNING: ephpm_kv_') && str_contains($e, 'disabled')));
    echo str_pad($name, 10), ' ', var_export($r, true), ', ', count($errors), ' error(s), ',
        $named, " saying it is disabled\n";
}
ephpm_kv_get('k');
var_dump(kv_errors());

echo "-- bad arguments are still exceptions\n";
kv_try(fn() => ephpm_kv_exists(''));
kv_try(fn() => ephpm_kv_set('k', []));
var_dump(kv_errors());

echo "-- stats and phpinfo\n";
var_dump(ephpm_kv_stats());
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
var_dump(str_contains($info, 'available => no'), str_contains($info, 'ephpm_kv.enabled => 0 => 0'));
var_dump(kv_errors());

echo "-- the store was not created\n";
var_dump(file_exists(ini_get('ephpm_kv.dir') . '/ephpm_kv.disabled'));
?>
--EXPECTF--
get        NULL, 1 error(s), 1 saying it is disabled
set        false, 1 error(s), 1 saying it is disabled
setnx      false, 1 error(s), 1 saying it is disabled
del        0, 1 error(s), 1 saying it is disabled
exists     false, 1 error(s), 1 saying it is disabled
incr       false, 1 error(s), 1 saying it is disabled
decr       false, 1 error(s), 1 saying it is disabled
incr_by    false, 1 error(s), 1 saying it is disabled
expire     false, 1 error(s), 1 saying it is disabled
ttl        -2, 1 error(s), 1 saying it is disabled
pttl       -2, 1 error(s), 1 saying it is disabled
flush_all  false, 1 error(s), 1 saying it is disabled
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_get(): %sdisabled%sephpm_kv.enabled%s"
}
-- bad arguments are still exceptions
ValueError: ephpm_kv_exists(): Argument #1 ($key) must not be empty
TypeError: ephpm_kv_set(): Argument #2 ($value) must be of type string, array given
array(0) {
}
-- stats and phpinfo
array(3) {
  ["version"]=>
  string(%d) "%d.%d.%d%S"
  ["available"]=>
  bool(false)
  ["error"]=>
  string(%d) "%sdisabled%s"
}
bool(true)
bool(true)
array(0) {
}
-- the store was not created
bool(false)

--TEST--
ephpm_kv: an invalid ephpm_kv.size (lots) is reported at startup and by every call
--INI--
ephpm_kv.name=invalid_size
ephpm_kv.size=lots
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();

$calls = [
    'get' => fn() => ephpm_kv_get('k'),
    'set' => fn() => ephpm_kv_set('k', 'v'),
    'setnx' => fn() => ephpm_kv_setnx('k', 'v'),
    'del' => fn() => ephpm_kv_del('k'),
    'exists' => fn() => ephpm_kv_exists('k'),
    'incr' => fn() => ephpm_kv_incr('k'),
    'decr' => fn() => ephpm_kv_decr('k'),
    'incr_by' => fn() => ephpm_kv_incr_by('k', 2),
    'expire' => fn() => ephpm_kv_expire('k', 10),
    'ttl' => fn() => ephpm_kv_ttl('k'),
    'pttl' => fn() => ephpm_kv_pttl('k'),
    'flush_all' => fn() => ephpm_kv_flush_all(),
];
foreach ($calls as $name => $call) {
    $r = $call();
    $errors = kv_errors();
    $named = count(array_filter($errors, fn($e) =>
        str_starts_with($e, 'E_WARNING: ephpm_kv_') && str_contains($e, 'ephpm_kv.size') && str_contains($e, 'lots')));
    echo str_pad($name, 10), ' ', var_export($r, true), ', ', count($errors), ' error(s), ',
        $named, " naming ephpm_kv.size\n";
}
ephpm_kv_set('k', 'v');
var_dump(kv_errors());
$stats = ephpm_kv_stats();
var_dump($stats['available'], str_contains($stats['error'], 'ephpm_kv.size'));
var_dump(file_exists(ini_get('ephpm_kv.dir') . '/ephpm_kv.invalid_size'));
?>
--EXPECTF--
%AWarning: PHP Startup: %sephpm_kv.size%slots%s
get        NULL, 1 error(s), 1 naming ephpm_kv.size
set        false, 1 error(s), 1 naming ephpm_kv.size
setnx      false, 1 error(s), 1 naming ephpm_kv.size
del        0, 1 error(s), 1 naming ephpm_kv.size
exists     false, 1 error(s), 1 naming ephpm_kv.size
incr       false, 1 error(s), 1 naming ephpm_kv.size
decr       false, 1 error(s), 1 naming ephpm_kv.size
incr_by    false, 1 error(s), 1 naming ephpm_kv.size
expire     false, 1 error(s), 1 naming ephpm_kv.size
ttl        -2, 1 error(s), 1 naming ephpm_kv.size
pttl       -2, 1 error(s), 1 naming ephpm_kv.size
flush_all  false, 1 error(s), 1 naming ephpm_kv.size
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_set(): %sephpm_kv.size%slots%s"
}
bool(false)
bool(true)
bool(false)

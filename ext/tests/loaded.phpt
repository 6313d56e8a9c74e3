--TEST--
ephpm_kv: loaded once, from the .so under test, with its functions and ini settings
--INI--
ephpm_kv.name=loaded
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';

var_dump(extension_loaded('ephpm_kv'));
$ext = new ReflectionExtension('ephpm_kv');
var_dump($ext->getName());
var_dump((bool) preg_match('/^\d+\.\d+\.\d+/', $ext->getVersion()));
var_dump($ext->getVersion() === phpversion('ephpm_kv'));

// Exactly one copy of the extension is mapped (not also the installed one
// from /etc/php/*/conf.d), and it is the one the runner asked for.
$objects = kv_mapped_objects();
var_dump(count($objects));
$wanted = getenv('EPHPM_KV_SO');
if ($wanted !== false && $wanted !== '') {
    var_dump(realpath($objects[0]) === realpath($wanted));
} else {
    var_dump(!str_starts_with($objects[0], '/usr/lib/php/'));
}

$funcs = get_extension_funcs('ephpm_kv');
sort($funcs);
echo implode("\n", $funcs), "\n";

$ini = $ext->getINIEntries();
ksort($ini);
var_dump($ini);
var_dump(ini_get('ephpm_kv.dir') !== '' && is_dir(ini_get('ephpm_kv.dir')));

// Every setting is PHP_INI_SYSTEM: not changeable at run time.
foreach (ini_get_all('ephpm_kv') as $name => $entry) {
    echo $name, ': ', $entry['access'] === INI_SYSTEM ? 'system' : 'access ' . $entry['access'],
        ', ini_set ', var_export(ini_set($name, '1'), true), "\n";
}
var_dump(ini_get('ephpm_kv.name'));
?>
--EXPECTF--
bool(true)
string(8) "ephpm_kv"
bool(true)
bool(true)
int(1)
bool(true)
ephpm_kv_decr
ephpm_kv_del
ephpm_kv_del_if
ephpm_kv_exists
ephpm_kv_expire
ephpm_kv_expire_if
ephpm_kv_flush_all
ephpm_kv_get
ephpm_kv_incr
ephpm_kv_incr_by
ephpm_kv_pttl
ephpm_kv_scan
ephpm_kv_set
ephpm_kv_setnx
ephpm_kv_stats
ephpm_kv_stripes
ephpm_kv_ttl
ephpm_kv_wait
array(12) {
  ["ephpm_kv.compression"]=>
  string(0) ""
  ["ephpm_kv.compression_level"]=>
  string(0) ""
  ["ephpm_kv.compression_min_size"]=>
  string(0) ""
  ["ephpm_kv.dir"]=>
  string(%d) "%s"
  ["ephpm_kv.enabled"]=>
  string(1) "1"
  ["ephpm_kv.eviction"]=>
  string(11) "allkeys-lru"
  ["ephpm_kv.max_value_size"]=>
  string(1) "0"
  ["ephpm_kv.name"]=>
  string(6) "loaded"
  ["ephpm_kv.session_lock_wait_ms"]=>
  string(5) "10000"
  ["ephpm_kv.session_locking"]=>
  string(1) "1"
  ["ephpm_kv.size"]=>
  string(2) "4M"
  ["ephpm_kv.stripes"]=>
  string(1) "0"
}
bool(true)
ephpm_kv.compression: system, ini_set false
ephpm_kv.compression_level: system, ini_set false
ephpm_kv.compression_min_size: system, ini_set false
ephpm_kv.dir: system, ini_set false
ephpm_kv.enabled: system, ini_set false
ephpm_kv.eviction: system, ini_set false
ephpm_kv.max_value_size: system, ini_set false
ephpm_kv.name: system, ini_set false
ephpm_kv.session_lock_wait_ms: access 7, ini_set '10000'
ephpm_kv.session_locking: access 7, ini_set '1'
ephpm_kv.size: system, ini_set false
ephpm_kv.stripes: system, ini_set false
string(6) "loaded"

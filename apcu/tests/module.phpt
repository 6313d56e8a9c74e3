--TEST--
The module is apcu: version, settings, apcu_enabled, phpinfo
--INI--
apc.enable_cli=1
--FILE--
<?php
var_dump(extension_loaded('apcu'));
var_dump(phpversion('apcu'));
var_dump(version_compare(phpversion('apcu'), '5.1.0', '>='));
foreach (['apc.enabled', 'apc.enable_cli', 'apc.shm_size', 'apc.ttl', 'apc.gc_ttl',
          'apc.entries_hint', 'apc.serializer', 'apc.use_request_time', 'apc.slam_defense',
          'apc.name'] as $setting) {
    echo $setting, " = ", var_export(ini_get($setting), true), "\n";
}
var_dump(apcu_enabled());
$functions = get_extension_funcs('apcu');
sort($functions);
echo implode(' ', $functions), "\n";
$f = new ReflectionFunction('apcu_fetch');
var_dump($f->getParameters()[1]->isPassedByReference());
$f = new ReflectionFunction('apcu_inc');
var_dump($f->getNumberOfRequiredParameters(), $f->getParameters()[2]->isPassedByReference());
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
var_dump(str_contains($info, 'APCu Support => Enabled'));
var_dump(str_contains($info, 'apc.shm_size => 32M => 32M'));
?>
--EXPECT--
bool(true)
string(6) "5.1.22"
bool(true)
apc.enabled = '1'
apc.enable_cli = '1'
apc.shm_size = '32M'
apc.ttl = '0'
apc.gc_ttl = '3600'
apc.entries_hint = '4096'
apc.serializer = 'php'
apc.use_request_time = '0'
apc.slam_defense = '0'
apc.name = ''
bool(true)
apcu_add apcu_cache_info apcu_cas apcu_clear_cache apcu_dec apcu_delete apcu_enabled apcu_entry apcu_exists apcu_fetch apcu_inc apcu_key_info apcu_sma_info apcu_store
bool(true)
int(1)
bool(true)
bool(true)
bool(true)

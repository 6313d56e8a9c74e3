--TEST--
ephpm_kv: ephpm_kv_del_if removes a key only when its value is exactly the one given
--INI--
ephpm_kv.name=del_if
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
ephpm_kv_set('lock', "owner-1\0x", 30);
var_dump(ephpm_kv_del_if('lock', 'owner-2'));     // another owner: kept
var_dump(ephpm_kv_del_if('lock', "owner-1"));     // a prefix is not equal: kept
var_dump(ephpm_kv_get('lock') === "owner-1\0x", ephpm_kv_ttl('lock') > 0);
var_dump(ephpm_kv_del_if('lock', "owner-1\0x"));  // the owner: removed
var_dump(ephpm_kv_exists('lock'), ephpm_kv_del_if('lock', "owner-1\0x"));
ephpm_kv_set('empty', '');
var_dump(ephpm_kv_del_if('empty', ''), ephpm_kv_exists('empty'));
try { ephpm_kv_del_if('', 'x'); } catch (ValueError $e) { echo $e->getMessage(), "\n"; }
var_dump(kv_errors());
?>
--EXPECT--
bool(false)
bool(false)
bool(true)
bool(true)
bool(true)
bool(false)
bool(false)
bool(true)
bool(false)
ephpm_kv_del_if(): Argument #1 ($key) must not be empty
array(0) {
}

--TEST--
ephpm_kv: ephpm_kv.max_value_size sets the value limit
--INI--
ephpm_kv.name=max_value_size
ephpm_kv.size=4M
ephpm_kv.max_value_size=2K
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

var_dump(ephpm_kv_stats()['max_value_size']);
var_dump(ephpm_kv_set('a', str_repeat('a', 2048)), strlen(ephpm_kv_get('a')));
var_dump(ephpm_kv_set('b', str_repeat('b', 2049)), ephpm_kv_get('b'));
var_dump(kv_errors());
?>
--EXPECTF--
int(2048)
bool(true)
int(2048)
bool(false)
NULL
array(1) {
  [0]=>
  string(%d) "E_WARNING: ephpm_kv_set(): %s2049%s2048%s"
}

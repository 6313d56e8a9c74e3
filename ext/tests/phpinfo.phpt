--TEST--
ephpm_kv: phpinfo(INFO_MODULES) shows the figures and the ini settings
--INI--
ephpm_kv.name=phpinfo
ephpm_kv.size=4M
ephpm_kv.eviction=noeviction
ephpm_kv.max_value_size=512K
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
ephpm_kv_set('a', '1');
ephpm_kv_set('b', '2');
ephpm_kv_get('a');
ephpm_kv_get('missing');

ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
echo "-- phpinfo(INFO_MODULES)\n";
echo kv_info_section($info);

var_dump(kv_errors());
?>
--EXPECTF--
-- phpinfo(INFO_MODULES)

version => %d.%d.%d%S
available => yes
path => %s/ephpm_kv.phpinfo
size => 4194304
stripes => 1
max_key_size => 4096
max_value_size => 524288
eviction => noeviction
compression => none
compression_level => 3
compression_min_size => 1024
entries => 2
bytes_used => %d
bytes_free => %d
hits => 1
misses => 1
expirations => 0
evictions => 0
recoveries => 0
compressed_entries => 0
compressed_raw_bytes => 0
compressed_stored_bytes => 0
watch_slots => 4096
watched_keys => 0
waited_keys => 0

Directive => Local Value => Master Value
ephpm_kv.compression => no value => no value
ephpm_kv.compression_level => no value => no value
ephpm_kv.compression_min_size => no value => no value
ephpm_kv.dir => %s => %s
ephpm_kv.enabled => 1 => 1
ephpm_kv.eviction => noeviction => noeviction
ephpm_kv.max_value_size => 512K => 512K
ephpm_kv.name => phpinfo => phpinfo
ephpm_kv.session_lock_wait_ms => 10000 => 10000
ephpm_kv.session_locking => 1 => 1
ephpm_kv.size => 4M => 4M
ephpm_kv.stripes => 0 => 0
array(0) {
}

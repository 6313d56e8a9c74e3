--TEST--
ephpm_kv: `php --ri ephpm_kv` in another process shows the store's figures and settings, and never creates a store
--INI--
ephpm_kv.name=phpinfo_ri
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
// This process's hits and misses reach the segment at the end of its
// request, or when it reads the figures itself, as here.
ephpm_kv_stats();

function ri(array $ini): string {
    $cmd = preg_replace("/ -r ''$/", '', kv_child_cmd($ini, '')) . ' --ri ephpm_kv 2>&1';
    return shell_exec($cmd);
}

echo "-- an existing store\n";
echo kv_info_section(ri(['ephpm_kv.name' => 'phpinfo_ri', 'ephpm_kv.size' => '4M',
    'ephpm_kv.eviction' => 'noeviction', 'ephpm_kv.max_value_size' => '512K']));

echo "-- a store not created yet\n";
$path = ini_get('ephpm_kv.dir') . '/ephpm_kv.phpinfo_ri-none';
echo kv_info_section(ri(['ephpm_kv.name' => 'phpinfo_ri-none']));
var_dump(file_exists($path));
var_dump(kv_errors());
?>
--EXPECTF--
-- an existing store

version => %d.%d.%d%S
available => yes
path => %s/ephpm_kv.phpinfo_ri
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
ephpm_kv.name => phpinfo_ri => phpinfo_ri
ephpm_kv.session_lock_wait_ms => 10000 => 10000
ephpm_kv.session_locking => 1 => 1
ephpm_kv.size => 4M => 4M
ephpm_kv.stripes => 0 => 0
-- a store not created yet

version => %d.%d.%d%S
available => no
error => %s/ephpm_kv.phpinfo_ri-none %snot created yet%s

Directive => Local Value => Master Value
ephpm_kv.compression => no value => no value
ephpm_kv.compression_level => no value => no value
ephpm_kv.compression_min_size => no value => no value
ephpm_kv.dir => %s => %s
ephpm_kv.enabled => 1 => 1
ephpm_kv.eviction => allkeys-lru => allkeys-lru
ephpm_kv.max_value_size => 0 => 0
ephpm_kv.name => phpinfo_ri-none => phpinfo_ri-none
ephpm_kv.session_lock_wait_ms => 10000 => 10000
ephpm_kv.session_locking => 1 => 1
ephpm_kv.size => 64M => 64M
ephpm_kv.stripes => 0 => 0
bool(false)
array(0) {
}

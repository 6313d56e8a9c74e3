--TEST--
apcu_cache_info, apcu_sma_info, apcu_key_info and apcu_clear_cache
--INI--
apc.enable_cli=1
apc.shm_size=16M
--FILE--
<?php
apcu_store('a', 'x', 50);
apcu_store('b', [1, 2, 3]);
apcu_store('', 'the empty key');
apcu_fetch('a');
apcu_fetch('missing');
$info = apcu_cache_info();
echo implode(' ', array_keys($info)), "\n";
var_dump($info['num_entries'], $info['memory_type'], $info['num_hits'] >= 1, $info['num_misses'] >= 1);
var_dump(abs($info['start_time'] - time()) < 3600, $info['mem_size'] > 0);
$list = $info['cache_list'];
usort($list, fn($x, $y) => strcmp($x['info'], $y['info']));
echo implode(' ', array_keys($list[0])), "\n";
foreach ($list as $entry) {
    echo var_export($entry['info'], true), ' ttl ', $entry['ttl'] > 0 ? 'set' : 'none', ' size ', $entry['mem_size'] > 0 ? 'positive' : 'zero', "\n";
}
$limited = apcu_cache_info(true);
var_dump(isset($limited['cache_list']), $limited['num_entries']);
$sma = apcu_sma_info();
var_dump($sma['num_seg'], $sma['seg_size'] > 15 << 20 && $sma['seg_size'] <= 16 << 20, $sma['avail_mem'] > 0 && $sma['avail_mem'] < $sma['seg_size']);
var_dump(count($sma['block_lists']), isset(apcu_sma_info(true)['block_lists']));
$key = apcu_key_info('a');
echo implode(' ', array_keys($key)), "\n";
var_dump($key['ttl'] > 0 && $key['ttl'] <= 50, apcu_key_info('b')['ttl'], apcu_key_info('missing'));
var_dump(apcu_fetch(''), apcu_clear_cache(), apcu_cache_info()['num_entries'], apcu_fetch('a'), apcu_fetch(''));
?>
--EXPECT--
num_slots ttl num_hits num_misses num_inserts num_entries expunges start_time mem_size memory_type cache_list deleted_list slot_distribution entry_locks
int(3)
string(4) "mmap"
bool(true)
bool(true)
bool(true)
bool(true)
info ttl num_hits mtime creation_time deletion_time access_time ref_count mem_size
'' ttl none size positive
'a' ttl set size positive
'b' ttl none size positive
bool(false)
int(3)
int(1)
bool(true)
bool(true)
int(1)
bool(false)
hits access_time mtime creation_time deletion_time ttl refs
bool(true)
int(0)
NULL
string(13) "the empty key"
bool(true)
int(0)
bool(false)
bool(false)

--TEST--
ephpm_kv: a segment file truncated under the running process (an operator's truncate or cp) makes each call fail with a warning naming it, instead of killing the process with SIGBUS
--INI--
ephpm_kv.name=segment_truncated
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
ephpm_kv_set('k', 'v');
ephpm_kv_set('big', str_repeat('b', 300000));
var_dump(ephpm_kv_get('k'));
$path = ephpm_kv_stats()['path'];

$f = fopen($path, 'r+b');
ftruncate($f, 4096);
fclose($f);

var_dump(ephpm_kv_get('k'));
var_dump(ephpm_kv_get('big'));
var_dump(ephpm_kv_set('k', 'w'));
var_dump(ephpm_kv_exists('k'));
var_dump(ephpm_kv_incr('n'));
$errors = kv_errors();
var_dump(count($errors));
foreach ($errors as $e) {
    echo preg_replace('/^(E_WARNING: \w+\(\)): segment \S+ is truncated: the file has 4096 bytes, its header says \d+; remove it \(its data is lost\)$/', '$1: truncated', $e), "\n";
}
$stats = ephpm_kv_stats();
var_dump(str_contains($stats['error'] ?? '', 'segment_truncated is truncated'));
echo "still running\n";
unlink($path);
?>
--EXPECT--
string(1) "v"
NULL
NULL
bool(false)
bool(false)
bool(false)
int(5)
E_WARNING: ephpm_kv_get(): truncated
E_WARNING: ephpm_kv_get(): truncated
E_WARNING: ephpm_kv_set(): truncated
E_WARNING: ephpm_kv_exists(): truncated
E_WARNING: ephpm_kv_incr(): truncated
bool(true)
still running

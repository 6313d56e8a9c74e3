--TEST--
ephpm_kv: a process dying mid-request (fatal error, SIGKILL) leaves no lock held and no corrupt value
--INI--
ephpm_kv.name=no_lock_held
ephpm_kv.size=8M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
$ini = ['ephpm_kv.name' => 'no_lock_held', 'ephpm_kv.size' => '8M'];

// 192 KiB: below the 256 KiB from which a get checks memory_limit first
// (and refuses with a warning, get_memory_limit.phpt), so the string's
// allocation itself is what fails.
$big = str_repeat('0123456789abcdef', 12288);
ephpm_kv_set('big', $big);

echo "-- memory_limit exhausted while reading a value\n";
[$rc, $out, $err] = kv_child($ini + ['memory_limit' => '3M'],
    '$keep = []; for ($i = 0; $i < 30; $i++) { $keep[] = ephpm_kv_get("big"); echo "$i\n"; }');
var_dump($rc === 255, str_contains($err, 'Allowed memory size'));
// Every stripe can still be locked: all of these return at once.
$start = hrtime(true);
var_dump(ephpm_kv_get('big') === $big, ephpm_kv_set('big', $big), ephpm_kv_incr('n'), ephpm_kv_flush_all());
ephpm_kv_set('big', $big);
var_dump((hrtime(true) - $start) / 1e9 < 30);

echo "-- memory_limit exhausted while storing\n";
[$rc, $out, $err] = kv_child($ini + ['memory_limit' => '3M'],
    '$v = str_repeat("x", 192 << 10); $keep = []; for ($i = 0; $i < 30; $i++) { ephpm_kv_set("w$i", $v); $keep[] = ephpm_kv_get("w$i"); }');
var_dump($rc === 255, str_contains($err, 'Allowed memory size'));
var_dump(ephpm_kv_set('after', 'ok'), ephpm_kv_get('after'));

echo "-- SIGKILL in the middle of writes\n";
$code = '
    $v = [str_repeat("a", 5000), str_repeat("b", 300), str_repeat("c", 70000)];
    echo "ready\n";
    for ($i = 0; ; $i++) {
        $k = "key" . ($i % 50);
        ephpm_kv_set($k, $v[$i % 3], $i % 2);
        ephpm_kv_incr("counter");
        ephpm_kv_get($k);
        if ($i % 7 == 0) ephpm_kv_del($k);
    }';
for ($round = 0; $round < 5; $round++) {
    $proc = proc_open(kv_child_cmd($ini, $code), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    fgets($pipes[1]);
    usleep(50000 + 30000 * $round);
    proc_terminate($proc, 9);
    proc_close($proc);
}
$valid = [str_repeat('a', 5000), str_repeat('b', 300), str_repeat('c', 70000)];
$bad = 0;
$start = hrtime(true);
for ($i = 0; $i < 50; $i++) {
    $v = ephpm_kv_get("key$i");
    $bad += $v !== null && !in_array($v, $valid, true) ? 1 : 0;
    ephpm_kv_set("key$i", 'fresh');
    $bad += ephpm_kv_get("key$i") === 'fresh' ? 0 : 1;
}
var_dump($bad, (bool) preg_match('/\A[0-9]+\z/', ephpm_kv_get('counter')), is_int(ephpm_kv_incr('counter')));
var_dump(ephpm_kv_get('big') === $big, ephpm_kv_flush_all(), ephpm_kv_stats()['entries']);
var_dump((hrtime(true) - $start) / 1e9 < 30);
var_dump(kv_errors());
?>
--EXPECT--
-- memory_limit exhausted while reading a value
bool(true)
bool(true)
bool(true)
bool(true)
int(1)
bool(true)
bool(true)
-- memory_limit exhausted while storing
bool(true)
bool(true)
bool(true)
string(2) "ok"
-- SIGKILL in the middle of writes
int(0)
bool(true)
bool(true)
bool(true)
bool(true)
int(0)
bool(true)
array(0) {
}

--TEST--
ephpm_kv: hits and misses are exact at request boundaries: ephpm_kv_stats() counts this process's own gets, and another process's gets are counted once its request has ended (normally, by exit(), by a fatal error, or by a get that exceeds memory_limit)
--INI--
ephpm_kv.name=stats_exact
ephpm_kv.size=8M
ephpm_kv.max_value_size=0
ephpm_kv.stripes=2
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

function counts(): array
{
    $s = ephpm_kv_stats();
    return [$s['hits'], $s['misses']];
}

function delta(array $before): string
{
    [$hits, $misses] = counts();
    return sprintf("hits +%d, misses +%d\n", $hits - $before[0], $misses - $before[1]);
}

// Values of every kind of length, one of them stored as a large value's parts.
$values = [
    'empty' => '',
    'one' => 'x',
    'small' => str_repeat('s', 64),
    'kilo' => random_bytes(1024),
    'big' => random_bytes(100000),
    'large' => random_bytes(3 << 20),
];
foreach ($values as $key => $value) {
    ephpm_kv_set($key, $value);
}

echo "-- this process's gets\n";
for ($round = 0; $round < 3; $round++) {
    $before = counts();
    $same = true;
    foreach ($values as $key => $value) {
        for ($i = 0; $i < 5; $i++) {
            $same = $same && ephpm_kv_get($key) === $value;
        }
    }
    for ($i = 0; $i < 4; $i++) {
        $same = $same && ephpm_kv_get("missing$i") === null;
    }
    var_dump($same);
    echo delta($before);
}

$ini = ['ephpm_kv.name' => 'stats_exact', 'ephpm_kv.size' => '8M', 'ephpm_kv.max_value_size' => '0',
    'ephpm_kv.stripes' => '2'];
$gets = 'foreach (["small", "kilo", "big", "one", "empty", "large", "small"] as $k) ephpm_kv_get($k);'
    . ' ephpm_kv_get("nope1"); ephpm_kv_get("nope2"); ephpm_kv_get("nope3");';

echo "-- another process, its request ends normally\n";
$before = counts();
[$code, $out, $err] = kv_child($ini, $gets . ' echo "done\n";');
echo $out, $err;
echo delta($before);

echo "-- another process that calls exit()\n";
$before = counts();
[$code, $out, $err] = kv_child($ini, $gets . ' exit(3);');
var_dump($code);
echo $out, $err;
echo delta($before);

echo "-- another process that ends with a fatal error\n";
$before = counts();
[$code, $out, $err] = kv_child($ini + ['memory_limit' => '8M'], $gets . ' $x = str_repeat("x", 64 << 20);');
var_dump($code, str_contains($err, 'Allowed memory size'));
echo $out;
echo delta($before);

echo "-- another process whose get exceeds memory_limit\n";
$before = counts();
[$code, $out, $err] = kv_child($ini + ['memory_limit' => '4M'],
    '$got = []; for ($n = 0; $n < 100; $n++) { echo "$n\n"; $got[] = ephpm_kv_get("big"); }');
$done = (int) max(explode("\n", trim($out)));
var_dump($code, str_contains($err, 'Allowed memory size'), $done > 5 && $done < 100);
[$hits, $misses] = counts();
// Every get that returned is counted; the one that failed may be too (the
// value was found before PHP's string for it could be allocated).
var_dump(in_array($hits - $before[0], [$done, $done + 1], true), $misses - $before[1]);

echo "-- the store still answers\n";
$before = counts();
var_dump(ephpm_kv_get('big') === $values['big'], ephpm_kv_get('missing') === null);
echo delta($before);

var_dump(kv_errors());
?>
--EXPECT--
-- this process's gets
bool(true)
hits +30, misses +4
bool(true)
hits +30, misses +4
bool(true)
hits +30, misses +4
-- another process, its request ends normally
done
hits +7, misses +3
-- another process that calls exit()
int(3)
hits +7, misses +3
-- another process that ends with a fatal error
int(255)
bool(true)
hits +7, misses +3
-- another process whose get exceeds memory_limit
int(255)
bool(true)
bool(true)
bool(true)
int(0)
-- the store still answers
bool(true)
bool(true)
hits +1, misses +1
array(0) {
}

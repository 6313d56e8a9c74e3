<?php
/**
 * ephpm_kv_wait across processes (php-cli processes on one store):
 *
 *   php -n bench/php/wait.php EXT_SO SHM_DIR ROUNDS
 *
 * 1. Write-to-wake latency: a waiter process sleeps in ephpm_kv_wait('ping');
 *    this process writes hrtime(true) into 'ping'; the waiter, once woken,
 *    answers with (its hrtime - the written one) under 'ack', which this
 *    process waits for. ROUNDS rounds; median, p99 and max.
 * 2. What a write pays: ns per ephpm_kv_set (64 B) in a store nobody ever
 *    waited on, with 100 other keys watched, and on a key a process is
 *    waiting on (each write wakes it), beside apcu_store in the same run.
 * Prints markdown tables.
 */

declare(strict_types=1);

require __DIR__ . '/common.php';

[$self, $so, $dir, $rounds] = $argv + [null, null, null, '1000'];
if ($so === null || $dir === null) {
    fwrite(STDERR, "usage: php -n bench/php/wait.php EXT_SO SHM_DIR [ROUNDS]\n");
    exit(2);
}
$rounds = (int) $rounds;
const WRITES = 100000;

function php_cmd(string $so, string $dir, string $name, string $code, bool $apcu = false): string
{
    $ini = ['extension' => $so, 'ephpm_kv.dir' => $dir, 'ephpm_kv.name' => $name, 'ephpm_kv.size' => '64M'];
    $apcuFlags = '-d extension=apcu.so -d apc.enable_cli=1 -d apc.shm_size=64M';
    $own = '-n' . ($apcu ? " $apcuFlags" : '');
    foreach ($ini as $k => $v) {
        $own .= ' -d ' . escapeshellarg("$k=$v");
    }
    return escapeshellarg(PHP_BINARY) . ' ' . worker_flags($own, $apcuFlags) . ' -r ' . escapeshellarg($code);
}

function start(string $cmd)
{
    $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    return [$p, $pipes];
}

function finish(array $child): string
{
    [$p, $pipes] = $child;
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $rc = proc_close($p);
    if ($rc !== 0 || $err !== '') {
        fwrite(STDERR, "child failed ($rc): $err$out\n");
        exit(1);
    }
    return $out;
}

function run(string $cmd): string
{
    return finish(start($cmd));
}

function pct(array $xs, float $p): float
{
    sort($xs);
    return $xs[min(count($xs) - 1, (int) floor($p * count($xs)))];
}

// The code a process runs to time WRITES sets; prints the median ns/op of 5 batches.
function cost_code(string $fn, string $key): string
{
    return '
        $v = str_repeat("x", 64); $k = ' . var_export($key, true) . ';
        $batches = [];
        for ($b = 0; $b < 5; $b++) {
            $t = hrtime(true);
            for ($i = 0; $i < ' . WRITES . '; $i++) { ' . $fn . '($k, $v); }
            $batches[] = (hrtime(true) - $t) / ' . WRITES . ';
        }
        sort($batches); echo $batches[2];';
}

$name = 'bench_wait_' . getmypid();

// ---- 1. latency
$waiter = start(php_cmd($so, $dir, $name, '
    $v = ephpm_kv_wait("ping", 0, 0)["version"];
    ephpm_kv_set("waiter_ready", "1");
    while (true) {
        $r = ephpm_kv_wait("ping", $v, 5000);
        if ($r === false) { continue; }
        $now = hrtime(true);
        $v = $r["version"];
        if ($r["value"] === "stop") { break; }
        ephpm_kv_set("ack", (string) ($now - (int) $r["value"]));
    }'));
$main = php_cmd($so, $dir, $name, '
    while (ephpm_kv_get("waiter_ready") === null) { usleep(1000); }
    usleep(100000);
    $lat = []; $rtt = [];
    for ($i = 0; $i < ' . $rounds . '; $i++) {
        $va = ephpm_kv_wait("ack", 0, 0)["version"];
        $t = hrtime(true);
        ephpm_kv_set("ping", (string) $t);
        $r = ephpm_kv_wait("ack", $va, 5000);
        if ($r === false) { fwrite(STDERR, "round $i: no answer in 5 s\n"); exit(1); }
        $rtt[] = hrtime(true) - $t;
        $lat[] = (int) $r["value"];
        usleep(200); // let the waiter fall asleep again
    }
    ephpm_kv_set("ping", "stop");
    echo json_encode([$lat, $rtt]);');
[$lat, $rtt] = json_decode(run($main), true);
finish($waiter);

echo "### Write-to-wake latency across processes ($rounds rounds, php-cli to php-cli)\n\n";
echo "| | median | p99 | max |\n|---|--:|--:|--:|\n";
foreach (['write → waiter returns from ephpm_kv_wait' => $lat, 'round trip (write, wake, write back, wake)' => $rtt] as $what => $xs) {
    printf("| %s | %.1f µs | %.1f µs | %.1f µs |\n", $what, pct($xs, 0.5) / 1e3, pct($xs, 0.99) / 1e3, max($xs) / 1e3);
}

// ---- 2. write cost
$fresh = 'bench_wait_fresh_' . getmypid();
$nobody = (float) run(php_cmd($so, $dir, $fresh, cost_code('ephpm_kv_set', 'w')));
$apcu = (float) run(php_cmd($so, $dir, $fresh, cost_code('apcu_store', 'w'), true));

// 100 other keys watched (leases renewed by a process polling them).
$poller = start(php_cmd($so, $dir, $name, '
    ephpm_kv_set("poller_stop", "0");
    for ($i = 0; $i < 100; $i++) { ephpm_kv_wait("watched:$i", 0, 0); }
    ephpm_kv_set("poller_ready", "1");
    while (ephpm_kv_get("poller_stop") === "0") {
        for ($i = 0; $i < 100; $i++) { ephpm_kv_wait("watched:$i", 0, 0); }
        usleep(200000);
    }'));
run(php_cmd($so, $dir, $name, 'while (ephpm_kv_get("poller_ready") === null) { usleep(1000); }'));
$others = (float) run(php_cmd($so, $dir, $name, cost_code('ephpm_kv_set', 'w')));
run(php_cmd($so, $dir, $name, 'ephpm_kv_set("poller_stop", "1");'));
finish($poller);

// The written key itself watched by a process that waits again after each wake.
$watcher = start(php_cmd($so, $dir, $name, '
    $v = ephpm_kv_wait("hot", 0, 0)["version"];
    ephpm_kv_set("watcher_ready", "1");
    $wakes = 0;
    while (true) {
        $r = ephpm_kv_wait("hot", $v, 5000);
        if ($r === false) { break; }
        $v = $r["version"]; $wakes++;
        if ($r["value"] === "stop") { break; }
    }
    echo $wakes;'));
run(php_cmd($so, $dir, $name, 'while (ephpm_kv_get("watcher_ready") === null) { usleep(1000); }'));
$watched = (float) run(php_cmd($so, $dir, $name, cost_code('ephpm_kv_set', 'hot')));
run(php_cmd($so, $dir, $name, 'ephpm_kv_set("hot", "stop");'));
$wakes = (int) finish($watcher);

echo "\n### What a write pays (ns per 64 B set, median of 5 x " . WRITES . ", one process)\n\n";
echo "| case | ns/set | vs no watcher | vs apcu_store |\n|---|--:|--:|--:|\n";
foreach ([
    'ephpm_kv_set, store never waited on' => $nobody,
    'ephpm_kv_set, 100 other keys watched' => $others,
    "ephpm_kv_set of a key a process waits on ($wakes wakes)" => $watched,
    'apcu_store (same run)' => $apcu,
] as $what => $ns) {
    printf("| %s | %.0f | %.2fx | %.2fx |\n", $what, $ns, $ns / $nobody, $ns / $apcu);
}

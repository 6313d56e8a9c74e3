<?php
/**
 * Throughput of a get/set mix with 1, 2 and 4 processes forked from this
 * one, for one store.
 *
 *   php <store's -d flags> contention.php apcu|ephpm SECONDS hot|spread 90|50
 *
 * Key sets: `hot` (8 keys) or `spread` (10,000 keys), session-id-like,
 * 1 KB values, filled by the parent before it forks (APCu's cache is shared
 * only within a process tree, so the children must be forked, not started).
 * Mixes: 90% get / 10% set or 50/50. Every child precomputes its sequence
 * of keys and operations (its own seed), says it is ready over its own
 * socket pair, and is sent one start time a little in the future, so all
 * children start together; each runs for SECONDS from that instant and
 * sends back its count. Prints one JSON object.
 */

declare(strict_types=1);

require __DIR__ . '/common.php';

const SEED = 20261202;
const VALUE_SIZE = 1024;
const SEQ_MASK = 16383; // sequence length 16,384
const PROCESS_COUNTS = [1, 2, 4];
const MIXES = [90, 50]; // % of gets

$store = $argv[1] ?? '';
$seconds = (float) ($argv[2] ?? 1.0);
check_store($store);
if (!function_exists('pcntl_fork')) {
    bench_fail($store, 'contention needs pcntl (pcntl_fork), which this php-cli lacks');
}

/** Runs the mix until $deadline (hrtime ns); returns [ops, get misses]. */
function apcu_mix(array $keys, array $isGet, string $value, int $deadline): array
{
    $ops = 0;
    $misses = 0;
    $j = 0;
    do {
        for ($i = 0; $i < 1000; $i++) {
            if ($isGet[$j]) {
                if (apcu_fetch($keys[$j]) === false) {
                    ++$misses;
                }
            } else {
                apcu_store($keys[$j], $value);
            }
            $j = ($j + 1) & SEQ_MASK;
        }
        $ops += 1000;
    } while (hrtime(true) < $deadline);
    return [$ops, $misses];
}

function ephpm_mix(array $keys, array $isGet, string $value, int $deadline): array
{
    $ops = 0;
    $misses = 0;
    $j = 0;
    do {
        for ($i = 0; $i < 1000; $i++) {
            if ($isGet[$j]) {
                if (ephpm_kv_get($keys[$j]) === null) {
                    ++$misses;
                }
            } else {
                ephpm_kv_set($keys[$j], $value);
            }
            $j = ($j + 1) & SEQ_MASK;
        }
        $ops += 1000;
    } while (hrtime(true) < $deadline);
    return [$ops, $misses];
}

/** CPU time (user + system) this process has used, in ns. */
function cpu_ns(): int
{
    $r = getrusage();
    return ($r['ru_utime.tv_sec'] + $r['ru_stime.tv_sec']) * 1000000000 + ($r['ru_utime.tv_usec'] + $r['ru_stime.tv_usec']) * 1000;
}

/** In the child: build the sequence, wait for the start time, run, report, exit. */
function child(string $store, $sock, array $set, int $getPercent, int $seed, string $value, float $seconds): never
{
    mt_srand($seed);
    $keys = [];
    $isGet = [];
    $gets = intdiv((SEQ_MASK + 1) * $getPercent, 100);
    for ($j = 0; $j <= SEQ_MASK; $j++) {
        $keys[] = $set[mt_rand(0, count($set) - 1)];
        $isGet[] = $j < $gets;
    }
    shuffle($isGet);
    fwrite($sock, "ready\n");
    $line = fgets($sock);
    if ($line === false) {
        exit(1); // the parent gave up before the start
    }
    $start = (int) trim($line);
    while (($left = $start - hrtime(true)) > 0) {
        if ($left > 2000000) {
            usleep(1000);
        }
    }
    $deadline = $start + (int) ($seconds * 1e9);
    $cpu0 = cpu_ns();
    [$ops, $misses] = $store === 'apcu'
        ? apcu_mix($keys, $isGet, $value, $deadline)
        : ephpm_mix($keys, $isGet, $value, $deadline);
    $elapsed = hrtime(true) - $start;
    $cpu = cpu_ns() - $cpu0;
    fwrite($sock, json_encode(['ops' => $ops, 'ns' => $elapsed, 'cpu_ns' => $cpu, 'misses' => $misses]) . "\n");
    fclose($sock);
    exit(0);
}

/** Forks $procs children on one key set and mix; returns the summed ops/s. */
function run_cell(string $store, array $set, int $getPercent, int $procs, int $cellSeed, string $value, float $seconds): array
{
    $socks = [];
    $pids = [];
    for ($c = 0; $c < $procs; $c++) {
        $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        if ($pair === false) {
            bench_fail($store, 'stream_socket_pair failed');
        }
        $pid = pcntl_fork();
        if ($pid === -1) {
            bench_fail($store, 'pcntl_fork failed');
        }
        if ($pid === 0) {
            fclose($pair[0]);
            foreach ($socks as $s) {
                fclose($s);
            }
            child($store, $pair[1], $set, $getPercent, $cellSeed * 16 + $c, $value, $seconds);
        }
        fclose($pair[1]);
        stream_set_timeout($pair[0], (int) ceil($seconds) + 60);
        $socks[] = $pair[0];
        $pids[] = $pid;
    }
    $problem = null;
    foreach ($socks as $c => $s) {
        if (trim((string) fgets($s)) !== 'ready') {
            $problem = "child $c did not get ready";
        }
    }
    $start = hrtime(true) + 50000000; // 50 ms from now, for every child
    foreach ($socks as $s) {
        fwrite($s, "$start\n");
    }
    time_nanosleep(0, max(0, $start - hrtime(true)));
    $busy0 = machine_busy_ns();
    $wall0 = hrtime(true);
    $opsPerSecond = 0.0;
    $cpus = 0.0;
    $cpuNs = 0;
    $ops = 0;
    $misses = 0;
    foreach ($socks as $c => $s) {
        $r = json_decode(trim((string) fgets($s)), true);
        fclose($s);
        if (!is_array($r)) {
            $problem ??= "child $c sent no result (crashed or timed out)";
            continue;
        }
        $opsPerSecond += $r['ops'] / ($r['ns'] / 1e9);
        $cpus += $r['cpu_ns'] / $r['ns'];
        $cpuNs += $r['cpu_ns'];
        $ops += $r['ops'];
        $misses += $r['misses'];
    }
    $busy1 = machine_busy_ns();
    $wall = hrtime(true) - $wall0;
    foreach ($pids as $c => $pid) {
        pcntl_waitpid($pid, $status);
        if (!pcntl_wifexited($status) || pcntl_wexitstatus($status) !== 0) {
            $problem ??= "child $c exited abnormally (status $status)";
        }
    }
    if ($problem !== null) {
        bench_fail($store, $problem);
    }
    // cpus: the cores the children really used (CPU time / run time, summed):
    // below the process count when they slept waiting for a lock or the
    // machine was busy with something else.
    // other: the cores that everything else on the machine used meanwhile.
    $other = $busy0 === null || $busy1 === null ? null : max(0.0, ($busy1 - $busy0 - $cpuNs) / $wall);
    return ['ops_per_s' => round($opsPerSecond), 'cpus' => round($cpus, 2), 'other_cpus' => $other === null ? null : round($other, 2), 'ops' => $ops, 'misses' => $misses];
}

$setName = $argv[3] ?? '';
$getPercent = (int) ($argv[4] ?? 0);
if (!in_array($setName, ['hot', 'spread'], true) || !in_array($getPercent, MIXES, true)) {
    bench_fail($store, 'usage: contention.php STORE SECONDS hot|spread ' . implode('|', MIXES));
}
$value = str_repeat('v', VALUE_SIZE);
mt_srand(SEED);
$set = session_ids($setName === 'hot' ? 8 : 10000);
foreach ($set as $k) {
    if (!($store === 'apcu' ? apcu_store($k, $value) : ephpm_kv_set($k, $value))) {
        bench_fail($store, "fill failed for key $k");
    }
}

$rows = [];
foreach (PROCESS_COUNTS as $procs) {
    $r = run_cell($store, $set, $getPercent, $procs, crc32("$setName $getPercent $procs") & 0xffffff, $value, $seconds);
    $rows[] = ['keys' => $setName, 'key_count' => count($set), 'get_percent' => $getPercent, 'procs' => $procs] + $r;
    fwrite(STDERR, sprintf("  %-5s %-6s %d/%d, %d process(es): %s ops/s, %.2f CPUs (others: %s)\n", $store, $setName, $getPercent, 100 - $getPercent, $procs, number_format($r['ops_per_s']), $r['cpus'], $r['other_cpus'] ?? '?'));
}
echo json_encode(['store' => $store, 'seconds' => $seconds, 'rows' => $rows]), "\n";

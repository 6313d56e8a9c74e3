<?php
/**
 * ns per operation of get / set / incr in php-cli, for one backend, with 1
 * or 2 worker processes running at once on the same keys.
 *
 *   php kv_bench.php BACKEND OP SIZE WORKERS [SECONDS] [KEYS]
 *
 * BACKEND: ephpm (ephpm_kv_*), apcu (apcu_fetch/store/inc), redis (phpredis
 * over the unix socket in $REDIS_SOCKET). Workers are forked from this
 * process after it has filled the keys, so APCu's cache (private to a
 * process tree) is shared by them as the ephpm store and Redis are.
 * Prints one JSON line.
 */

declare(strict_types=1);

[$backend, $op, $size, $workers] = [$argv[1], $argv[2], (int) $argv[3], (int) $argv[4]];
$seconds = (float) ($argv[5] ?? 2.0);
$keyCount = (int) ($argv[6] ?? 10000);

function connect(string $backend): array
{
    switch ($backend) {
        case 'ephpm':
            return [
                'get' => fn(string $k) => ephpm_kv_get($k),
                'set' => fn(string $k, string $v) => ephpm_kv_set($k, $v),
                'incr' => fn(string $k) => ephpm_kv_incr($k),
            ];
        case 'apcu':
            return [
                'get' => fn(string $k) => apcu_fetch($k),
                'set' => fn(string $k, string $v) => apcu_store($k, $v),
                'incr' => fn(string $k) => apcu_inc($k),
            ];
        case 'redis':
            $redis = new Redis();
            $redis->connect(getenv('REDIS_SOCKET'));
            return [
                'get' => fn(string $k) => $redis->get($k),
                'set' => fn(string $k, string $v) => $redis->set($k, $v),
                'incr' => fn(string $k) => $redis->incr($k),
            ];
    }
    fwrite(STDERR, "unknown backend $backend\n");
    exit(2);
}

$value = str_repeat('v', $size);
$keys = [];
for ($i = 0; $i < $keyCount; $i++) {
    $keys[] = sprintf('bench:%s:%d:%06d', $op === 'incr' ? 'ctr' : 'val', $size, $i);
}

// Fill in the parent.
$ops = connect($backend);
foreach ($keys as $k) {
    if ($op === 'incr') {
        $ops['set']($k, '1');
    } elseif (!$ops['set']($k, $value)) {
        fwrite(STDERR, "fill failed for $k\n");
        exit(1);
    }
}
unset($ops); // the redis connection must not be shared with the children

/**
 * Runs the operation on random keys until the deadline; calls are made
 * directly (not through the closures) so only the backend's cost is timed.
 */
function run(string $backend, string $op, array $keys, string $value, float $seconds): array
{
    $n = count($keys);
    $redis = null;
    if ($backend === 'redis') {
        $redis = new Redis();
        $redis->connect(getenv('REDIS_SOCKET'));
    }
    $x = getmypid() * 2654435761 % 4294967291 + 1;
    $case = $backend . $op;
    $done = 0;
    $start = hrtime(true);
    $deadline = $start + (int) ($seconds * 1e9);
    $bytes = 0;
    do {
        for ($i = 0; $i < 1000; $i++) {
            $x = ($x * 1103515245 + 12345) & 0x7fffffff;
            $k = $keys[$x % $n];
            switch ($case) {
                case 'ephpmget': $bytes += strlen(ephpm_kv_get($k)); break;
                case 'ephpmset': ephpm_kv_set($k, $value); break;
                case 'ephpmincr': ephpm_kv_incr($k); break;
                case 'apcuget': $bytes += strlen(apcu_fetch($k)); break;
                case 'apcuset': apcu_store($k, $value); break;
                case 'apcuincr': apcu_inc($k); break;
                case 'redisget': $bytes += strlen($redis->get($k)); break;
                case 'redisset': $redis->set($k, $value); break;
                case 'redisincr': $redis->incr($k); break;
            }
        }
        $done += 1000;
        $now = hrtime(true);
    } while ($now < $deadline);
    return ['ops' => $done, 'ns' => $now - $start, 'bytes' => $bytes];
}

// The same loop with no backend call: its cost is reported, not subtracted.
function loop_overhead(array $keys): float
{
    $n = count($keys);
    $x = 7;
    $case = 'none';
    $start = hrtime(true);
    for ($i = 0; $i < 1000000; $i++) {
        $x = ($x * 1103515245 + 12345) & 0x7fffffff;
        $k = $keys[$x % $n];
        switch ($case) {
            case 'ephpmget': break;
            case 'apcuget': break;
            case 'redisget': break;
        }
    }
    return (hrtime(true) - $start) / 1000000;
}

$tmp = tempnam(sys_get_temp_dir(), 'kvbench');
$pids = [];
$startAt = microtime(true) + 0.2; // workers start together
for ($w = 0; $w < $workers; $w++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        while (microtime(true) < $startAt) {
            usleep(1000);
        }
        $r = run($backend, $op, $keys, $value, $seconds);
        file_put_contents("$tmp.$w", json_encode($r));
        exit(0);
    }
    $pids[] = $pid;
}
foreach ($pids as $pid) {
    pcntl_waitpid($pid, $status);
}
$perWorker = [];
for ($w = 0; $w < $workers; $w++) {
    $r = json_decode((string) file_get_contents("$tmp.$w"), true);
    unlink("$tmp.$w");
    if (!is_array($r) || ($op === 'get' && $r['bytes'] !== $r['ops'] * $size)) {
        fwrite(STDERR, "worker $w failed or read wrong values\n");
        exit(1);
    }
    $perWorker[] = $r['ns'] / $r['ops'];
}
unlink($tmp);
echo json_encode([
    'backend' => $backend,
    'op' => $op,
    'size' => $size,
    'workers' => $workers,
    'ns_per_op' => round(array_sum($perWorker) / $workers, 1),
    'loop_overhead_ns' => round(loop_overhead($keys), 1),
]), "\n";

<?php
/**
 * Transparent compression: get and set ns/op and the bytes an entry takes
 * for 1 KB, 16 KB and 256 KB of PHP-serialized session data, ephpm_kv
 * without and with zstd, beside APCu. Prints a markdown table.
 *
 *   php -n compression.php EXT_SO SHM_DIR [SECONDS]        (the driver)
 *   php <store's -d flags> compression.php worker apcu|ephpm SECONDS
 *
 * The driver runs one php-cli worker per store (php -n plus only that
 * store's extension and settings); SECONDS per size and operation,
 * default 1. A worker stores KEYS[size] distinct keys of one size (their
 * values differ in a few bytes, as sessions do), measures the bytes that
 * took (ephpm_kv: `bytes_used` of its stats, block headers included;
 * APCu: `mem_size` of apcu_cache_info(), its entries' own accounting),
 * then times `set` over those keys (replacing each) and `get` of them, in
 * rounds of the key set, until SECONDS have passed; ns/op is the median
 * over rounds.
 */

declare(strict_types=1);

require __DIR__ . '/common.php';

const SIZES = [1024 => 400, 16384 => 200, 262144 => 24]; // bytes => keys

if (($argv[1] ?? '') === 'worker') {
    worker($argv[2] ?? '', (float) ($argv[3] ?? 1));
    exit(0);
}

function values(int $size, int $keys): array
{
    $text = session_text($size);
    $out = [];
    for ($i = 0; $i < $keys; $i++) {
        // Another user id and token per session: the text differs in a few places.
        $out["sess:$size:$i"] = substr_replace($text, sprintf('%08d', $i), 60, 8);
    }
    return $out;
}

function stored_bytes(string $store): int
{
    if ($store === 'apcu') {
        return (int) apcu_cache_info(true)['mem_size'];
    }
    return (int) ephpm_kv_stats()['bytes_used'];
}

function worker(string $store, float $seconds): void
{
    check_store($store);
    $set = $store === 'apcu' ? 'apcu_store' : 'ephpm_kv_set';
    $get = $store === 'apcu' ? 'apcu_fetch' : 'ephpm_kv_get';
    if ($store === 'apcu') {
        apcu_clear_cache();
    } else {
        ephpm_kv_flush_all();
    }
    $results = [];
    foreach (SIZES as $size => $keys) {
        $values = values($size, $keys);
        $before = stored_bytes($store);
        foreach ($values as $k => $v) {
            if (!$set($k, $v)) {
                bench_fail($store, "set of $k failed");
            }
        }
        $bytes = (stored_bytes($store) - $before) / $keys;
        foreach ($values as $k => $v) {
            if ($get($k) !== $v) {
                bench_fail($store, "$k did not read back");
            }
        }
        $row = ['raw' => strlen(reset($values)), 'bytes' => $bytes];
        foreach (['set', 'get'] as $op) {
            $samples = [];
            $deadline = hrtime(true) + (int) ($seconds * 1e9);
            do {
                $t = hrtime(true);
                if ($op === 'set') {
                    foreach ($values as $k => $v) {
                        $set($k, $v);
                    }
                } else {
                    foreach ($values as $k => $v) {
                        $get($k);
                    }
                }
                $samples[] = (hrtime(true) - $t) / $keys;
            } while (hrtime(true) < $deadline);
            sort($samples);
            $row[$op] = $samples[intdiv(count($samples), 2)];
        }
        $results[$size] = $row;
        foreach (array_keys($values) as $k) {
            $store === 'apcu' ? apcu_delete($k) : ephpm_kv_del($k);
        }
    }
    echo json_encode($results), "\n";
}

$extSo = $argv[1] ?? '';
$shmDir = $argv[2] ?? '';
$seconds = $argv[3] ?? '1';
if ($extSo === '' || !is_dir($shmDir) || !is_numeric($seconds) || (float) $seconds <= 0) {
    fwrite(STDERR, "usage: php compression.php EXT_SO SHM_DIR [SECONDS > 0]\n");
    exit(2);
}
$apcuSo = getenv('APCU_SO') ?: 'apcu.so';
$run = bin2hex(random_bytes(4));
$ephpm = fn(string $name, string $extra) => "-n -d extension=$extSo -d ephpm_kv.dir=$shmDir"
    . " -d ephpm_kv.name=bench-$name-$run -d ephpm_kv.size=256M $extra";
$stores = [
    'APCu' => ['apcu', "-n -d extension=$apcuSo -d apc.enable_cli=1 -d apc.shm_size=256M"],
    'ephpm none' => ['ephpm', $ephpm('none', '-d ephpm_kv.compression=0')],
    'ephpm zstd' => ['ephpm', $ephpm('zstd', '-d ephpm_kv.compression=zstd')],
];
foreach ($stores as $label => [$store, $flags]) {
    $stores[$label][1] = worker_flags($flags, $store === 'apcu' ? $ephpm('none', '') : $stores['APCu'][1]);
}
$table = [];
$status = 0;
foreach ($stores as $label => [$store, $flags]) {
    fwrite(STDERR, "compression: $label\n");
    $cmd = PHP_BINARY . " $flags " . escapeshellarg(__FILE__) . " worker $store " . escapeshellarg($seconds);
    $out = shell_exec($cmd);
    $lines = array_values(array_filter(array_map('trim', explode("\n", (string) $out)), 'strlen'));
    $r = $lines ? json_decode((string) end($lines), true) : null;
    if (!is_array($r)) {
        fwrite(STDERR, "$label FAILED; its columns read n/a. Command:\n  $cmd\n");
        $status = 1;
    }
    $table[$label] = $r;
}
foreach (glob("$shmDir/ephpm_kv.bench-*-$run") as $file) {
    unlink($file);
}

$fmt = fn(?array $r, int $size, string $k) => $r === null ? 'n/a'
    : ($k === 'bytes' ? number_format($r[$size][$k]) : number_format($r[$size][$k]));
echo "| session text | store | set ns/op | get ns/op | bytes per entry | of the raw size |\n";
echo "|---|---|--:|--:|--:|--:|\n";
foreach (SIZES as $size => $keys) {
    foreach ($table as $label => $r) {
        $raw = $r[$size]['raw'] ?? null;
        printf(
            "| %s | %s | %s | %s | %s | %s |\n",
            $raw === null ? $size : number_format($raw) . ' B',
            $label,
            $fmt($r, $size, 'set'),
            $fmt($r, $size, 'get'),
            $fmt($r, $size, 'bytes'),
            $r === null ? 'n/a' : sprintf('%.0f%%', 100 * $r[$size]['bytes'] / $raw),
        );
    }
}
echo "\nMedian over rounds of ", implode('/', SIZES), " keys (one round sets or gets every key once), ",
    "$seconds s per size and operation, one php-cli process each. Bytes per entry: ephpm_kv's ",
    "`bytes_used` (blocks with headers, key, and the value as stored), APCu's `mem_size` ",
    "(its entries' own accounting), per key stored. zstd at level 3 from 1024 bytes (the defaults).\n";
exit($status);

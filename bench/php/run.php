<?php
/**
 * Runs kv_bench.php for every backend, operation, value size and worker
 * count, and prints a markdown table of ns/op with ratios against APCu and
 * phpredis measured in the same run.
 *
 *   php run.php EXT_SO SEGMENT_DIR [SECONDS]
 *
 * Expects $REDIS_SOCKET to point at a running redis-server.
 */

declare(strict_types=1);

[$extSo, $segmentDir] = [$argv[1], $argv[2]];
$seconds = $argv[3] ?? '2';
$bench = __DIR__ . '/kv_bench.php';
$php = PHP_BINARY;

// Each backend gets only its own extension; -n keeps the system php.ini out.
$backends = [
    'ephpm' => "-n -d extension=$extSo -d ephpm_kv.dir=$segmentDir -d ephpm_kv.name=bench -d ephpm_kv.size=512M",
    'apcu' => '-n -d extension=apcu.so -d apc.enable_cli=1 -d apc.shm_size=512M',
    'redis' => '-n -d extension=igbinary.so -d extension=redis.so',
];
$cases = [['get', 64], ['get', 1024], ['get', 16384], ['set', 64], ['set', 1024], ['set', 16384], ['incr', 8]];
$results = [];
foreach ([1, 2] as $workers) {
    foreach ($cases as [$op, $size]) {
        foreach ($backends as $backend => $flags) {
            $cmd = "$php $flags $bench $backend $op $size $workers $seconds";
            $line = shell_exec($cmd . ' 2>&1');
            $r = json_decode(trim((string) $line), true);
            if (!is_array($r)) {
                fwrite(STDERR, "failed: $cmd\n$line\n");
                exit(1);
            }
            $results[$workers][$op][$size][$backend] = $r['ns_per_op'];
            $overhead = $r['loop_overhead_ns'];
            fwrite(STDERR, sprintf("%d worker(s) %-4s %5d B %-5s %8.1f ns/op\n", $workers, $op, $size, $backend, $r['ns_per_op']));
        }
    }
}

printf("php-cli %s, %s s per case, 10k keys, loop overhead %.0f ns/op (included in every figure)\n\n", PHP_VERSION, $seconds, $overhead);
echo "| op | value | workers | ephpm_kv | APCu | phpredis (unix socket) | ephpm / APCu | phpredis / ephpm |\n";
echo "|---|--:|--:|--:|--:|--:|--:|--:|\n";
foreach ($cases as [$op, $size]) {
    foreach ([1, 2] as $workers) {
        $r = $results[$workers][$op][$size];
        printf(
            "| %s | %s | %d | %.0f | %.0f | %.0f | %.2f | %.0f× |\n",
            $op,
            $op === 'incr' ? '-' : ($size >= 1024 ? ($size / 1024) . ' KB' : "$size B"),
            $workers,
            $r['ephpm'],
            $r['apcu'],
            $r['redis'],
            $r['ephpm'] / $r['apcu'],
            $r['redis'] / $r['ephpm'],
        );
    }
}

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
require __DIR__ . '/common.php';
const ROUNDS = 3; // every case this many times, the backends taking turns; the median kept

// Each backend gets only its own extension (-n keeps the system php.ini
// out), or with --full the full process with the others beside it.
$own = [
    'ephpm' => "-n -d extension=$extSo -d ephpm_kv.dir=$segmentDir -d ephpm_kv.name=bench -d ephpm_kv.size=512M",
    'apcu' => '-n -d extension=apcu.so -d apc.enable_cli=1 -d apc.shm_size=512M',
    'redis' => '-n -d extension=igbinary.so -d extension=redis.so',
];
$backends = [];
foreach ($own as $backend => $flags) {
    $others = array_diff_key($own, [$backend => true]);
    $backends[$backend] = worker_flags($flags, implode(' ', $others));
}
$cases = [['get', 64], ['get', 1024], ['get', 16384], ['set', 64], ['set', 1024], ['set', 16384], ['incr', 8]];
$perRound = max(0.2, (float) $seconds / ROUNDS);
$samples = [];
for ($round = 0; $round < ROUNDS; $round++) {
    foreach ([1, 2] as $workers) {
        foreach ($cases as [$op, $size]) {
            foreach ($backends as $backend => $flags) {
                $cmd = "$php $flags $bench $backend $op $size $workers $perRound";
                $line = shell_exec($cmd . ' 2>&1');
                $r = json_decode(trim((string) $line), true);
                if (!is_array($r)) {
                    fwrite(STDERR, "failed: $cmd\n$line\n");
                    exit(1);
                }
                $samples[$workers][$op][$size][$backend][$round] = $r['ns_per_op'];
                $overhead = $r['loop_overhead_ns'];
                fwrite(STDERR, sprintf("round %d, %d worker(s) %-4s %5d B %-5s %8.1f ns/op\n", $round + 1, $workers, $op, $size, $backend, $r['ns_per_op']));
            }
        }
    }
}

printf(
    "php-cli %s, %s s per case in %d rounds (the backends taking turns), 10k keys, loop overhead %.0f ns/op (included in every figure). "
    . "Figures are the median of the rounds; per round: the lowest and highest ephpm / APCu ratio of one round alone.\n\n",
    PHP_VERSION,
    $seconds,
    ROUNDS,
    $overhead,
);
echo "| op | value | workers | ephpm_kv | APCu | phpredis (unix socket) | ephpm / APCu | per round | phpredis / ephpm |\n";
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
foreach ($cases as [$op, $size]) {
    foreach ([1, 2] as $workers) {
        $s = $samples[$workers][$op][$size];
        $r = array_map('median', $s);
        $perRound = array_map(fn(int $i) => $s['ephpm'][$i] / $s['apcu'][$i], range(0, ROUNDS - 1));
        printf(
            "| %s | %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f–%.2f | %.0f× |\n",
            $op,
            $op === 'incr' ? '-' : ($size >= 1024 ? ($size / 1024) . ' KB' : "$size B"),
            $workers,
            $r['ephpm'],
            $r['apcu'],
            $r['redis'],
            $r['ephpm'] / $r['apcu'],
            min($perRound),
            max($perRound),
            $r['redis'] / $r['ephpm'],
        );
    }
}
echo "\n- " . worker_setup_note() . "\n";

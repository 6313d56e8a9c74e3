<?php
/**
 * Runs workload.php or contention.php for every store, each store in
 * php-cli processes of its own (php -n plus only that store's extension and
 * settings), the stores taking turns piece by piece, and prints one
 * markdown table with notes.
 *
 *   php suite.php workload|contention EXT_SO SHM_DIR [SECONDS]
 *
 * EXT_SO is the ephpm_kv extension to load; SHM_DIR an empty directory
 * (under /dev/shm) for the ephpm_kv segments, each with a name of its own;
 * the segment files are removed as soon as their run ends. $APCU_SO
 * overrides the APCu extension to load (default apcu.so). Exit status 1 if
 * a store failed (its columns then read n/a).
 */

declare(strict_types=1);

require __DIR__ . '/common.php';

$mode = $argv[1] ?? '';
$extSo = $argv[2] ?? '';
$shmDir = $argv[3] ?? '';
$seconds = $argv[4] ?? '1';
if (!in_array($mode, ['workload', 'contention'], true) || $extSo === '' || !is_dir($shmDir) || !is_numeric($seconds) || (float) $seconds <= 0) {
    fwrite(STDERR, "usage: php suite.php workload|contention EXT_SO SHM_DIR [SECONDS > 0]\n");
    exit(2);
}

const PASSES = 5; // workload: each store runs every group this many times, seconds / PASSES each
const REPEATS = 3; // contention: every run this many times (SECONDS each), the median kept

$apcuSo = getenv('APCU_SO') ?: 'apcu.so';
$apcu = "-n -d extension=$apcuSo -d apc.enable_cli=1 -d apc.shm_size=1024M -d apc.entries_hint=65536";
$run = bin2hex(random_bytes(4)); // store names fresh for every run
$ephpm = fn(string $name, ?string $size) => "-n -d extension=$extSo -d ephpm_kv.dir=$shmDir -d ephpm_kv.name=bench-$name-$run"
    . ($size === null ? '' : " -d ephpm_kv.size=$size")
    . (getenv('EPHPM_FLAGS') ? ' ' . getenv('EPHPM_FLAGS') : ''); // e.g. "-d ephpm_kv.stripes=64", for experiments
$stores = $mode === 'workload'
    ? [
        'APCu 1G' => ['apcu', $apcu, null],
        'ephpm 1G' => ['ephpm', $ephpm('wl1g', '1024M'), "bench-wl1g-$run"],
        'ephpm 64M' => ['ephpm', $ephpm('wl64m', null), "bench-wl64m-$run"],
    ]
    : [
        'APCu 1G' => ['apcu', $apcu, null],
        'ephpm 1G' => ['ephpm', $ephpm('ct1g', '1024M'), "bench-ct1g-$run"],
    ];
// With --full, each worker loads the other store beside its own.
foreach ($stores as $label => [$store, $flags, $segment]) {
    $beside = $store === 'apcu' ? $ephpm($mode === 'workload' ? 'wl1g' : 'ct1g', '1024M') : $apcu;
    $stores[$label][1] = worker_flags($flags, $beside);
}

/** Runs one worker; returns its decoded JSON, or null after saying why on stderr. */
function run_worker(string $label, string $flags, string $script, array $args): ?array
{
    $cmd = PHP_BINARY . " $flags " . implode(' ', array_map('escapeshellarg', [$script, ...$args]));
    $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
    if (!is_resource($proc)) {
        fwrite(STDERR, "$label: could not start $cmd\n");
        return null;
    }
    $out = stream_get_contents($pipes[1]);
    fclose($pipes[1]);
    $status = proc_close($proc);
    $lines = array_values(array_filter(array_map('trim', explode("\n", (string) $out)), 'strlen'));
    $result = $lines ? json_decode((string) end($lines), true) : null;
    if ($status === 0 && is_array($result)) {
        return $result;
    }
    fwrite(STDERR, "$label FAILED (exit status $status); its columns read n/a. Command:\n  $cmd\n");
    foreach ($lines as $line) {
        fwrite(STDERR, "  | $line\n"); // startup warnings, e.g. an extension that does not load
    }
    return null;
}

// The stores take turns group by group (and, for the workload, pass by
// pass), so that a change in the machine's load over the run hits them
// alike. A store that fails once is not run again.
$failed = [];
$script = __DIR__ . "/$mode.php";
$units = $mode === 'workload'
    ? array_merge(...array_map(
        fn(int $pass) => array_map(fn(string $g) => [$g, (string) $pass], ['64', '1024', '16384', 'del', 'incr']),
        range(1, PASSES),
    ))
    : array_merge(...array_fill(0, REPEATS, [['hot', '90'], ['hot', '50'], ['spread', '90'], ['spread', '50']]));
$perUnitSeconds = $mode === 'workload' ? (string) ((float) $seconds / PASSES) : $seconds;
$raw = []; // label => list of worker results
$busy0 = machine_busy_ns();
$wall0 = hrtime(true);
foreach ($units as $i => $unit) {
    fwrite(STDERR, sprintf("[%d/%d] %s %s\n", $i + 1, count($units), $mode, implode(' ', $unit)));
    foreach ($stores as $label => [$store, $flags]) {
        if (isset($failed[$label])) {
            continue;
        }
        $r = run_worker($label, $flags, $script, [$store, $perUnitSeconds, ...$unit]);
        if ($r === null) {
            $failed[$label] = true;
        } else {
            $raw[$label][] = $r + ['unit' => $unit];
        }
    }
}
if ($mode === 'workload') {
    foreach ($stores as $label => [$store, $flags]) {
        if (!isset($failed[$label])) {
            $r = run_worker($label, $flags, $script, [$store, '0.1', 'overhead', '0']);
            $overhead[$label] = $r === null ? null : median($r['results']['loop']['samples']);
        }
    }
}
// What everything but our workers used of the machine while they ran.
$busy1 = machine_busy_ns();
$children = getrusage(1); // RUSAGE_CHILDREN: the workers and their children, all waited for
$childNs = ($children['ru_utime.tv_sec'] + $children['ru_stime.tv_sec']) * 1000000000
    + ($children['ru_utime.tv_usec'] + $children['ru_stime.tv_usec']) * 1000;
$otherCores = $busy0 === null || $busy1 === null ? null : max(0.0, ($busy1 - $busy0 - $childNs) / (hrtime(true) - $wall0));
foreach ($stores as [, , $segment]) {
    if ($segment !== null) {
        @unlink("$shmDir/ephpm_kv.$segment");
    }
}
$failed = array_keys($failed);

// Pool the results per store.
$results = [];
foreach ($stores as $label => $_) {
    if (in_array($label, $failed, true)) {
        $results[$label] = null;
        continue;
    }
    if ($mode === 'workload') {
        foreach ($raw[$label] as $r) {
            foreach ($r['results'] as $op => $c) {
                $p = &$results[$label]['results'][$op];
                $p['samples'] = array_merge($p['samples'] ?? [], $c['samples']);
                $p['by_pass'][$r['unit'][1]] = array_merge($p['by_pass'][$r['unit'][1]] ?? [], $c['samples']);
                foreach (['ops', 'ok', 'evictions'] as $f) {
                    $p[$f] = ($p[$f] ?? 0) + $c[$f];
                }
                unset($p);
            }
        }
        foreach ($results[$label]['results'] as $op => &$p) {
            $p['median_ns'] = median($p['samples']);
            $p['rounds'] = count($p['samples']);
        }
        unset($p);
        $results[$label]['loop_overhead_ns'] = $overhead[$label] ?? null;
    } else {
        // Per key set, mix and process count, the repeat with the median ops/s.
        $runs = [];
        foreach ($raw[$label] as $r) {
            foreach ($r['rows'] as $row) {
                $runs["{$row['keys']}|{$row['get_percent']}|{$row['procs']}"][] = $row;
            }
        }
        $results[$label]['rows'] = [];
        foreach ($runs as $list) {
            usort($list, fn($x, $y) => $x['ops_per_s'] <=> $y['ops_per_s']);
            $results[$label]['rows'][] = $list[intdiv(count($list), 2)] + ['repeats' => count($list)];
        }
    }
}

$fmt = fn(?float $x) => $x === null ? 'n/a' : number_format($x);
$ratio = fn(?float $a, ?float $b) => $a === null || $b === null || $b == 0.0 ? 'n/a' : number_format($a / $b, 2);
$cores = (int) trim((string) shell_exec('nproc 2>/dev/null')) ?: 0;

if ($mode === 'workload') {
    $any = current(array_filter($results));
    $ops = $any ? array_keys($any['results']) : [];
    $order = ['get hit 64 B', 'get hit 1 KB', 'get hit 16 KB', 'get miss', 'exists (hit)', 'incr', 'del (hit)',
        'set 64 B', 'set 1 KB', 'set 16 KB', 'set 64 B, TTL', 'set 1 KB, TTL', 'set 16 KB, TTL'];
    $ops = array_values(array_unique(array_merge(array_intersect($order, $ops), $ops)));
    $cell = fn(string $label, string $op) => $results[$label]['results'][$op]['median_ns'] ?? null;
    // The spread: the ratio in each pass alone (each pass's median against
    // APCu's median in the same pass), lowest to highest.
    $spread = function (string $label, string $op) use ($results): string {
        $mine = $results[$label]['results'][$op]['by_pass'] ?? [];
        $theirs = $results['APCu 1G']['results'][$op]['by_pass'] ?? [];
        $ratios = [];
        foreach ($mine as $pass => $samples) {
            if (isset($theirs[$pass])) {
                $ratios[] = median($samples) / median($theirs[$pass]);
            }
        }
        return $ratios ? sprintf('%.2f–%.2f', min($ratios), max($ratios)) : 'n/a';
    };
    $rounds = [];
    foreach ($results as $r) {
        foreach ($r['results'] ?? [] as $c) {
            $rounds[] = $c['rounds'];
        }
    }
    $overheads = array_filter(array_map(fn($r) => $r['loop_overhead_ns'], array_filter($results)), fn($x) => $x !== null);

    printf(
        "php-cli %s, %d cores. %s s per op and store; 10,000 keys `sess_` + 26 random [a-z0-9] (fixed seed), "
        . "visited in a random order reshuffled before every round (outside the timing); median ns/op of %s timed rounds "
        . "over all 10,000 keys, from %d passes in which the stores take turns (one untimed warm-up round per pass). "
        . "The loop itself costs ~%s ns/op and is included in every figure. "
        . "Ratio = ephpm_kv / APCu (below 1 = ephpm_kv faster).\n\n",
        PHP_VERSION,
        $cores,
        $seconds,
        $rounds ? (min($rounds) === max($rounds) ? min($rounds) : min($rounds) . '–' . max($rounds)) : '?',
        PASSES,
        $overheads ? number_format(min($overheads), 0) : '?',
    );
    echo "| op (median ns/op, one process) | APCu 1G | ephpm 1G | ratio | per pass | ephpm 64M | ratio | per pass |\n";
    echo "|---|--:|--:|--:|--:|--:|--:|--:|\n";
    foreach ($ops as $op) {
        $a = $cell('APCu 1G', $op);
        $e1 = $cell('ephpm 1G', $op);
        $e64 = $cell('ephpm 64M', $op);
        printf(
            "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
            $op,
            $fmt($a),
            $fmt($e1),
            $ratio($e1, $a),
            $spread('ephpm 1G', $op),
            $fmt($e64),
            $ratio($e64, $a),
            $spread('ephpm 64M', $op),
        );
    }
    echo "\n";
    echo "- APCu: `apc.shm_size=1024M`, `apc.entries_hint=65536`. ephpm 1G: `ephpm_kv.size=1024M`; ephpm 64M: the default size. " . worker_setup_note() . " One group of ops per process (64 B, 1 KB, 16 KB, del, incr), the stores taking turns group by group; an ephpm_kv segment lives on across its processes.\n";
    echo "- ratio: the medians of all passes; per pass: the lowest and highest ratio of one pass alone (its median against APCu's in the same pass), the spread between runs.\n";
    echo "- get miss: 10,000 other session ids, never stored. exists: keys holding 64 B values. incr: keys holding integers (`0`), +1 each. "
        . "TTL: 3600 s. del (hit): before each round the keys are set again (64 B) outside the timed loop, so every timed del removes a live key.\n";
    // Anything that did not go as planned: misses among hits, failed sets, evictions.
    $expectAll = ['get miss' => 'misses', 'del (hit)' => 'deletions', 'incr' => 'increments'];
    foreach ($results as $label => $r) {
        foreach ($r['results'] ?? [] as $op => $c) {
            $what = str_starts_with($op, 'set') ? 'stored' : ($expectAll[$op] ?? 'hits');
            $notes = [];
            if ($c['ok'] < $c['ops']) {
                $notes[] = sprintf('only %.0f%% %s', 100 * $c['ok'] / $c['ops'], $what);
            }
            if ($c['evictions'] > 0) {
                $notes[] = number_format($c['evictions']) . ' evictions during the op\'s rounds';
            }
            if ($notes) {
                $why = '';
                if ($label === 'ephpm 64M' && str_contains($op, '16 KB')) {
                    $why = str_starts_with($op, 'get')
                        ? ' (10,000 × 16 KB = 160 MB does not fit in 64 MB: the fill evicted the rest, and those gets are misses)'
                        : ' (10,000 × 16 KB = 160 MB does not fit in 64 MB: every set evicts older entries, and that cost is in the figure)';
                }
                printf("- %s, %s: %s%s.\n", $label, $op, implode(', ', $notes), $why);
            }
        }
    }
} else {
    $byKey = [];
    foreach ($results as $label => $r) {
        foreach ($r['rows'] ?? [] as $row) {
            $byKey["{$row['keys']}|{$row['get_percent']}|{$row['procs']}"][$label] = $row;
        }
    }
    printf(
        "php-cli %s, %d cores. 1 KB values; each process forked from one parent, all started at one instant, running %s s; "
        . "total ops/s of all processes, the median of %d such runs (the stores taking turns); scaling = ops/s ÷ the same store's 1-process ops/s; "
        . "CPUs = CPU time the processes used ÷ run time (below the process count when they slept on a lock or other work on the machine took the cores; "
        . "what the rest of the machine used meanwhile is given below the table).%s\n\n",
        PHP_VERSION,
        $cores,
        $seconds,
        REPEATS,
        $cores > 0 && $cores < 4 ? " **This machine has $cores cores: the 4-process rows are oversubscribed** (4 processes share $cores cores, so they measure time-slicing, not parallel scaling)." : '',
    );
    echo "| keys | get/set | processes | APCu 1G ops/s | scaling | CPUs | ephpm 1G ops/s | scaling | CPUs | ephpm / APCu ops/s |\n";
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    $scale = fn(?float $n, ?float $one) => $ratio($n, $one) === 'n/a' ? 'n/a' : $ratio($n, $one) . '×';
    foreach (['hot' => 8, 'spread' => 10000] as $keys => $count) {
        foreach ([90, 50] as $get) {
            foreach ([1, 2, 4] as $procs) {
                $row = $byKey["$keys|$get|$procs"] ?? [];
                $one = $byKey["$keys|$get|1"] ?? [];
                $a = $row['APCu 1G']['ops_per_s'] ?? null;
                $e = $row['ephpm 1G']['ops_per_s'] ?? null;
                printf(
                    "| %s (%s) | %d/%d | %d%s | %s | %s | %s | %s | %s | %s | %s |\n",
                    $keys,
                    number_format($count),
                    $get,
                    100 - $get,
                    $procs,
                    $cores > 0 && $procs > $cores ? ' *' : '',
                    $fmt($a),
                    $scale($a, $one['APCu 1G']['ops_per_s'] ?? null),
                    isset($row['APCu 1G']) ? number_format($row['APCu 1G']['cpus'], 2) : 'n/a',
                    $fmt($e),
                    $scale($e, $one['ephpm 1G']['ops_per_s'] ?? null),
                    isset($row['ephpm 1G']) ? number_format($row['ephpm 1G']['cpus'], 2) : 'n/a',
                    $ratio($e, $a),
                );
            }
        }
    }
    echo "\n";
    if ($cores > 0 && $cores < 4) {
        echo "\\* more processes than cores ($cores).\n";
    }
    echo '- ' . worker_setup_note() . "\n";
    foreach ($results as $label => $r) {
        $other = array_filter(array_map(fn($row) => $row['other_cpus'] ?? null, $r['rows'] ?? []), fn($x) => $x !== null);
        if ($other) {
            printf(
                "- %s runs: other processes on the machine used %.2f cores on average meanwhile (at most %.2f, of %d).\n",
                $label,
                array_sum($other) / count($other),
                max($other),
                $cores,
            );
        }
    }
    foreach ($results as $label => $r) {
        foreach ($r['rows'] ?? [] as $row) {
            if ($row['misses'] > 0) {
                printf("- %s, %s %d/%d, %d processes: %s gets missed.\n", $label, $row['keys'], $row['get_percent'], 100 - $row['get_percent'], $row['procs'], number_format($row['misses']));
            }
        }
    }
}

if ($mode === 'workload' && $otherCores !== null) {
    printf("- Meanwhile the rest of the machine (other processes) kept %.2f of its %d cores busy on average.\n", $otherCores, $cores);
}
if ($failed) {
    echo "\n**Failed: " . implode(', ', $failed) . "** (see the messages above the table; those columns read n/a).\n";
    exit(1);
}

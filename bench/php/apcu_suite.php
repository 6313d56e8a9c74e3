<?php
/**
 * The APCu API benchmark of scripts/bench-apcu: runs apcu_ops.php under
 * Debian's APCu and under this project's module (both are named `apcu`,
 * so each runs in php-cli processes of its own: php -n, that module,
 * igbinary for the reference rows), taking turns group by group and pass
 * by pass, and prints two markdown tables (one process; two processes) of
 * median ns/op with the spread and the ratio module / APCu.
 *
 *   php suite... apcu_suite.php APCU_SO MODULE_SO PASSES ROUNDS
 *
 * Every cell pools PASSES × ROUNDS timed rounds. The module runs with a
 * store name (apc.name, a shared store, fresh for this run, its segment
 * files removed at the end) and, in one process, also without one (the
 * CLI's private store). $EPHPM_APCU_FLAGS adds -d flags to the module's
 * processes. Exit status 1 if a configuration failed (its cells read n/a).
 */

declare(strict_types=1);

[$apcuSo, $moduleSo, $passes, $rounds] = [$argv[1] ?? '', $argv[2] ?? '', (int) ($argv[3] ?? 0), (int) ($argv[4] ?? 0)];
if ($apcuSo === '' || $moduleSo === '' || $passes < 1 || $rounds < 1) {
    fwrite(STDERR, "usage: php apcu_suite.php APCU_SO MODULE_SO PASSES>=1 ROUNDS>=1\n");
    exit(2);
}

const SHM_SIZE = '256M';
const ENTRIES_HINT = 65536;
const GROUPS = ['64', '1024', 'int', 'a10', 'a100', 'obj', 'misc'];

$run = bin2hex(random_bytes(4)); // the store name is fresh for every run
$storeName = "bench-apcu-$run";
$settings = '-d apc.enable_cli=1 -d apc.shm_size=' . SHM_SIZE . ' -d apc.entries_hint=' . ENTRIES_HINT;
$extra = getenv('EPHPM_APCU_FLAGS') ?: '';
$php = fn(string $so, string $flags) => '-n -d ' . escapeshellarg("extension=$so") . ' -d extension=igbinary.so ' . $flags;
$configs = [
    'APCu' => $php($apcuSo, $settings),
    'module' => $php($moduleSo, "$settings -d apc.name=$storeName $extra"),
    'module, private' => $php($moduleSo, "$settings $extra"),
];
// Which configurations run with how many processes, and which groups.
$plan = [
    1 => [['APCu', 'module', 'module, private'], [...GROUPS, 'ref']],
    2 => [['APCu', 'module'], GROUPS],
];

/** Runs one worker; its decoded JSON, or null after saying why on stderr. */
function worker(string $label, string $flags, array $args): ?array
{
    $cmd = PHP_BINARY . " $flags " . implode(' ', array_map('escapeshellarg', [__DIR__ . '/apcu_ops.php', ...$args]));
    $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
    if (!is_resource($proc)) {
        fwrite(STDERR, "$label: could not start $cmd\n");
        return null;
    }
    $out = (string) stream_get_contents($pipes[1]);
    fclose($pipes[1]);
    $status = proc_close($proc);
    $lines = array_values(array_filter(array_map('trim', explode("\n", $out)), 'strlen'));
    $result = $lines ? json_decode(end($lines), true) : null;
    if ($status === 0 && is_array($result)) {
        return $result;
    }
    fwrite(STDERR, "$label FAILED (exit status $status); its cells read n/a. Command:\n  $cmd\n");
    foreach ($lines as $line) {
        fwrite(STDERR, "  | $line\n"); // e.g. a warning that the extension did not load
    }
    return null;
}

$samples = []; // [procs][label][op] => list of ns/op
$notes = [];
$failed = [];
$units = [];
for ($pass = 1; $pass <= $passes; $pass++) {
    foreach ($plan as $procs => [$labels, $groups]) {
        foreach ($groups as $group) {
            $units[] = [$pass, $procs, $labels, $group];
        }
    }
}
foreach ($units as $i => [$pass, $procs, $labels, $group]) {
    fwrite(STDERR, sprintf("[%d/%d] pass %d, %d process(es), %s\n", $i + 1, count($units), $pass, $procs, $group));
    // APCu first in odd passes, last in even ones: neither is always the first process of a group.
    foreach ($pass % 2 ? $labels : array_reverse($labels) as $label) {
        if (isset($failed[$label])) {
            continue;
        }
        $r = worker($label, $configs[$label], [$group, (string) $procs, (string) $rounds, (string) $pass]);
        if ($r === null) {
            $failed[$label] = true;
            continue;
        }
        foreach ($r['results'] as $op => $c) {
            $samples[$procs][$label][$op] = array_merge($samples[$procs][$label][$op] ?? [], $c['samples']);
            if ($c['ok'] < $c['ops']) {
                $notes["$label, $procs process(es), $op"] = sprintf('%.1f%% of the calls had the expected outcome', 100 * $c['ok'] / $c['ops']);
            }
        }
    }
}
// The module's segment files of this run's store name, wherever its store directory is.
foreach (array_merge(glob("/dev/shm/*$run*") ?: [], glob("/dev/shm/*/*$run*") ?: []) as $f) {
    @unlink($f);
}

function median(array $xs): float
{
    sort($xs);
    $mid = intdiv(count($xs), 2);
    return count($xs) % 2 ? (float) $xs[$mid] : ($xs[$mid - 1] + $xs[$mid]) / 2;
}

/** "median (min–max)" of a cell, or n/a. */
function cell(?array $xs): string
{
    if (!$xs) {
        return 'n/a';
    }
    $f = fn(float $x) => number_format($x, $x < 100 ? 1 : 0);
    return sprintf('%s (%s–%s)', $f(median($xs)), $f(min($xs)), $f(max($xs)));
}

function ratio(?array $module, ?array $apcu): string
{
    return $module && $apcu ? number_format(median($module) / median($apcu), 2) : 'n/a';
}

$order = ['fetch 64 B string', 'fetch 1 KB string', 'fetch int', 'fetch array, 10 scalars', 'fetch array, 100 scalars',
    'fetch small object', 'fetch miss', 'exists', 'inc', 'delete', 'store 64 B string', 'store 1 KB string', 'store int',
    'store array, 10 scalars', 'store array, 100 scalars', 'store small object'];
$refs = ['unserialize(serialize(a100))', 'unserialize(a100)', 'igbinary_unserialize(igbinary_serialize(a100))', 'igbinary_unserialize(a100)'];
$n = $passes * $rounds;

printf(
    "php-cli %s. Median ns/op (min–max) of %d timed rounds per cell (%d passes × %d rounds; in every pass the "
    . "configurations take turns group by group, each in php-cli processes of its own, APCu first in odd passes and last in even ones). A round visits each of 10,000 keys "
    . "(`sess_` + 26 random [a-z0-9], fixed seed) once, in a random order reshuffled before every round (untimed), after one "
    . "untimed warm-up round; the loop's own cost is included. Ratio = module / APCu (below 1 = the module faster).\n\n",
    PHP_VERSION,
    $n,
    $passes,
    $rounds,
);
echo "#### One process\n\n";
echo "| op | APCu | module (apc.name) | ratio | module (private CLI store) | ratio |\n";
echo "|---|--:|--:|--:|--:|--:|\n";
$one = $samples[1] ?? [];
foreach ([...$order, ...$refs] as $op) {
    $a = $one['APCu'][$op] ?? null;
    $m = $one['module'][$op] ?? null;
    $p = $one['module, private'][$op] ?? null;
    $name = in_array($op, $refs, true) ? "reference: `$op`" : $op;
    printf("| %s | %s | %s | %s | %s | %s |\n", $name, cell($a), cell($m), ratio($m, $a), cell($p), ratio($p, $a));
}
echo "\n#### Two processes (total throughput)\n\n";
echo "| op | APCu | module (apc.name) | ratio |\n";
echo "|---|--:|--:|--:|\n";
$two = $samples[2] ?? [];
foreach ($order as $op) {
    $a = $two['APCu'][$op] ?? null;
    $m = $two['module'][$op] ?? null;
    printf("| %s | %s | %s | %s |\n", $op, cell($a), cell($m), ratio($m, $a));
}
echo "\n";
printf(
    "- Settings, the same for both: `apc.enable_cli=1 apc.shm_size=%s apc.entries_hint=%d`; the module's shared column adds "
    . "`apc.name=%s` (a store name of this run), its private column has no name (the CLI's store private to the process). "
    . "Module: `%s`%s; APCu: `%s`.\n",
    SHM_SIZE,
    ENTRIES_HINT,
    $storeName,
    $moduleSo,
    $extra === '' ? '' : " with `$extra`",
    $apcuSo,
);
echo "- Values: 64 B and 1 KB strings, the int 1234567, arrays of 10 and 100 scalars (string keys; ints, strings, floats "
    . "and bools in turn), a small object (a user class with an int, a string, a float and a 2-element array). fetch and "
    . "store read and overwrite keys holding that value; every value is read back and compared (untimed) before and after. "
    . "inc: keys holding ints, +1 each. exists: keys holding 64 B. fetch miss: 10,000 other keys, never stored. delete: "
    . "keys that exist, all stored again (untimed) before each round. Every worker process starts with `apcu_clear_cache()`.\n";
echo "- Two processes: the parent fills the store, then each round forks 2 children (APCu's CLI cache is shared only "
    . "within a process tree; the module is run the same way), each given half of the round's keys and started at one "
    . "instant, each running its half 10 times and timing its own calls; ns/op = 1 / the sum of the children's rates "
    . "(total throughput of both). For delete, a child stores its half again (untimed) before each of its runs, so the "
    . "other child may be storing meanwhile.\n";
echo "- Reference rows: the same 100-element array through PHP's serializer and igbinary, no store call, run in each "
    . "column's processes (so their ratio shows how much two columns differ by process and noise alone).\n";
foreach ($notes as $where => $what) {
    echo "- $where: $what.\n";
}
if ($failed) {
    echo "\n**Failed: " . implode(', ', array_keys($failed)) . "** (see the messages on stderr; those cells read n/a).\n";
    exit(1);
}

<?php
/**
 * The APCu API benchmark of scripts/bench-apcu: runs apcu_ops.php under
 * Debian's APCu and under this project's module (both are named `apcu`,
 * so each runs in php-cli processes of its own: php -n, that module,
 * igbinary for the reference rows): for each group of ops and pass, one
 * worker per configuration, all started together and taking turns round by
 * round. Prints two markdown tables (one process; two processes) of median
 * ns/op with the spread, and the ratio module / APCu (the median of the
 * ratios of rounds run back to back).
 *
 *   php -n apcu_suite.php APCU_SO MODULE_SO IGBINARY_SO PASSES ROUNDS STORE_NAME
 *
 * Every cell pools PASSES × ROUNDS timed rounds. The module runs with a
 * store name (apc.name=STORE_NAME, a shared store, fresh for this run:
 * scripts/bench-apcu removes its segment files at the end) and, in one
 * process, also without one (the CLI's private store). $EPHPM_APCU_FLAGS
 * adds -d flags to the module's processes. Exit status 1 if a
 * configuration failed in a group (those cells read n/a; the rest is
 * measured).
 */

declare(strict_types=1);

require __DIR__ . '/common.php';

[$apcuSo, $moduleSo, $igbinarySo, $passes, $rounds, $storeName] = [$argv[1] ?? '', $argv[2] ?? '', $argv[3] ?? '', (int) ($argv[4] ?? 0), (int) ($argv[5] ?? 0), $argv[6] ?? ''];
if ($apcuSo === '' || $moduleSo === '' || $igbinarySo === '' || $passes < 1 || $rounds < 1 || !preg_match('/^[a-z0-9-]{8,}$/', $storeName)) {
    fwrite(STDERR, "usage: php apcu_suite.php APCU_SO MODULE_SO IGBINARY_SO PASSES>=1 ROUNDS>=1 STORE_NAME (unique to the run)\n");
    exit(2);
}

const SHM_SIZE = '256M';
const ENTRIES_HINT = 65536;
const GROUPS = ['64', '1024', 'int', 'a10', 'a100', 'obj', 'inc', 'exists', 'miss', 'delete'];

$settings = '-d apc.enable_cli=1 -d apc.shm_size=' . SHM_SIZE . ' -d apc.entries_hint=' . ENTRIES_HINT;
$extra = getenv('EPHPM_APCU_FLAGS') ?: '';
$php = fn(string $so, string $flags) => '-n -d ' . escapeshellarg("extension=$so") . ' -d ' . escapeshellarg("extension=$igbinarySo") . " $flags";
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

/** A worker of one configuration, group, process count and pass: the process and its pipes. */
final class Worker
{
    /** @var resource */
    private $proc;
    /** @var resource */
    private $in;
    /** @var resource */
    private $out;
    /** The ops of its group, in order; null once it failed. */
    public ?array $ops = null;

    public function __construct(public readonly string $label, string $flags, array $args)
    {
        $cmd = PHP_BINARY . " $flags " . implode(' ', array_map('escapeshellarg', [__DIR__ . '/apcu_ops.php', ...$args]));
        $proc = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        if (!is_resource($proc)) {
            fwrite(STDERR, "$label: could not start $cmd\n");
            return;
        }
        [$this->proc, $this->in, $this->out] = [$proc, $pipes[0], $pipes[1]];
        stream_set_timeout($this->out, 600);
        $this->ops = $this->read("starting ($cmd)")['ready'] ?? null;
    }

    /** The next JSON line from the worker, or null (and the worker closed) after saying why. */
    private function read(string $doing): ?array
    {
        $seen = [];
        while (($line = fgets($this->out)) !== false) {
            $r = json_decode(trim($line), true);
            if (is_array($r)) {
                return $r;
            }
            if (trim($line) !== '') {
                $seen[] = trim($line); // a warning, an error, bench_fail's message went to stderr
            }
        }
        fwrite(STDERR, "$this->label FAILED while $doing; its cells for this group read n/a\n");
        foreach ($seen as $line) {
            fwrite(STDERR, "  | $line\n");
        }
        $this->close();
        return null;
    }

    /** Runs one round of op $i; [ns/op, calls, ok, wall ns/op] or null if the worker failed. */
    public function round(int $i, int $round): ?array
    {
        if ($this->ops === null) {
            return null;
        }
        fwrite($this->in, "$i $round\n");
        $r = $this->read("running {$this->ops[$i]}, round $round");
        // With one process its CPU time (what other processes on the machine take does not count), else wall clock.
        return $r === null ? null : [(float) ($r['cpu'] ?? $r['ns']), (int) $r['calls'], (int) $r['ok'], (float) $r['ns']];
    }

    /** The worker's final checks; false if they (or it) failed. */
    public function finish(): bool
    {
        if ($this->ops === null) {
            return false;
        }
        fwrite($this->in, "end\n");
        $ok = ($this->read('checking the values at the end')['done'] ?? false) === true;
        $ok = $this->close() && $ok;
        return $ok;
    }

    private function close(): bool
    {
        $this->ops = null;
        if (!isset($this->proc)) {
            return false;
        }
        fclose($this->in);
        fclose($this->out);
        $status = proc_close($this->proc);
        unset($this->proc);
        return $status === 0;
    }
}

$samples = []; // [procs][label][op] => list of ns/op
$pairs = []; // [procs][label][op] => list of ns/op ÷ APCu's in the same round
$wallPairs = []; // the same in wall-clock time
$notes = [];
$failed = []; // "label|procs|group" => true: not run again
$units = [];
for ($pass = 1; $pass <= $passes; $pass++) {
    foreach ($plan as $procs => [$labels, $groups]) {
        foreach ($groups as $group) {
            $units[] = [$pass, $procs, $labels, $group];
        }
    }
}
foreach ($units as $u => [$pass, $procs, $labels, $group]) {
    fwrite(STDERR, sprintf("[%d/%d] pass %d, %d process(es), %s\n", $u + 1, count($units), $pass, $procs, $group));
    $workers = [];
    foreach ($labels as $label) {
        if (!isset($failed["$label|$procs|$group"])) {
            $workers[$label] = new Worker($label, $configs[$label], [$group, (string) $procs, (string) $pass]);
        }
    }
    $ops = current(array_filter(array_map(fn(Worker $w) => $w->ops, $workers))) ?: [];
    foreach ($ops as $i => $op) {
        // Round by round the configurations take turns (round 0 is the untimed warm-up),
        // APCu first in every other round, so neither always follows the other.
        for ($round = 0; $round <= $rounds; $round++) {
            $ns = [];
            $wall = [];
            foreach (($round + $pass) % 2 ? $workers : array_reverse($workers) as $label => $w) {
                $r = $w->round($i, $round);
                if ($r === null) {
                    continue;
                }
                [$ns[$label], $calls, $ok, $wall[$label]] = $r;
                if ($ok < $calls) {
                    $notes["$label, $procs process(es), $op"] = sprintf('in some rounds only %.1f%% of the calls had the expected outcome', 100 * $ok / $calls);
                }
            }
            if ($round === 0) {
                continue;
            }
            foreach ($ns as $label => $x) {
                $samples[$procs][$label][$op][] = $x;
                if ($label !== 'APCu' && isset($ns['APCu'])) {
                    $pairs[$procs][$label][$op][] = $x / $ns['APCu'];
                    $wallPairs[$procs][$label][$op][] = $wall[$label] / $wall['APCu'];
                }
            }
        }
    }
    foreach ($workers as $label => $w) {
        if (!$w->finish()) {
            $failed["$label|$procs|$group"] = true;
            foreach ($w->ops ?? $ops as $op) {
                unset($samples[$procs][$label][$op], $pairs[$procs][$label][$op], $wallPairs[$procs][$label][$op]);
            }
        }
    }
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

/** The median of a cell's paired ratios (module ÷ APCu, round by round), or n/a. */
function ratio(?array $pairs): string
{
    return $pairs ? number_format(median($pairs), 2) : 'n/a';
}

$order = ['fetch 64 B string', 'fetch 1 KB string', 'fetch int', 'fetch array, 10 scalars', 'fetch array, 100 scalars',
    'fetch small object', 'fetch miss', 'exists', 'inc', 'delete', 'store 64 B string', 'store 1 KB string', 'store int',
    'store array, 10 scalars', 'store array, 100 scalars', 'store small object'];
$refs = ['unserialize(serialize(a100))', 'unserialize(a100)', 'igbinary_unserialize(igbinary_serialize(a100))', 'igbinary_unserialize(a100)'];
$n = $passes * $rounds;

printf(
    "php-cli %s. Median ns/op (min–max) of %d timed rounds per cell (%d passes × %d rounds). For each group of ops and "
    . "pass, every configuration has a php-cli process of its own (php -n, its module, igbinary), all started together; "
    . "they take turns round by round (APCu, module, private store; the next round in the reverse order), so that a round of "
    . "one and the rounds of the others beside it run under the same load of the machine. A round visits each of 10,000 keys "
    . "(`sess_` + 26 random [a-z0-9], fixed seed) once, in a random order reshuffled before every round (untimed, the same "
    . "orders for every configuration), after one untimed warm-up round; the loop's own cost is included. "
    . "Ratio = the median, over the rounds, of module ÷ APCu in the same round (below 1 = the module faster).\n\n",
    PHP_VERSION,
    $n,
    $passes,
    $rounds,
);
echo "#### One process (CPU ns/op)\n\n";
echo "CPU ns/op: the process's CPU time (user + system) over the round ÷ calls, so that time the process waited for "
    . "a core while other processes on this shared machine ran is not counted; the last column is the module's ratio in "
    . "wall-clock time, for comparison.\n\n";
echo "| op | APCu | module (apc.name) | ratio | module (private CLI store) | ratio | ratio, wall clock |\n";
echo "|---|--:|--:|--:|--:|--:|--:|\n";
$one = $samples[1] ?? [];
$onePairs = $pairs[1] ?? [];
foreach ([...$order, ...$refs] as $op) {
    $a = $one['APCu'][$op] ?? null;
    $m = $one['module'][$op] ?? null;
    $p = $one['module, private'][$op] ?? null;
    $name = in_array($op, $refs, true) ? "reference: `$op`" : $op;
    printf(
        "| %s | %s | %s | %s | %s | %s | %s |\n",
        $name,
        cell($a),
        cell($m),
        ratio($onePairs['module'][$op] ?? null),
        cell($p),
        ratio($onePairs['module, private'][$op] ?? null),
        ratio($wallPairs[1]['module'][$op] ?? null),
    );
}
echo "\n#### Two processes (wall-clock ns/op of the total throughput)\n\n";
echo "| op | APCu | module (apc.name) | ratio |\n";
echo "|---|--:|--:|--:|\n";
$two = $samples[2] ?? [];
foreach ($order as $op) {
    $a = $two['APCu'][$op] ?? null;
    $m = $two['module'][$op] ?? null;
    printf("| %s | %s | %s | %s |\n", $op, cell($a), cell($m), ratio($pairs[2]['module'][$op] ?? null));
}
echo "\n";
printf(
    "- Settings, the same for both: `apc.enable_cli=1 apc.shm_size=%s apc.entries_hint=%d`; the module's shared column adds "
    . "`apc.name=%s` (a store name of this run)%s, its private column has no name (the CLI's store private to the process).\n",
    SHM_SIZE,
    ENTRIES_HINT,
    $storeName,
    $extra === '' ? '' : " and `$extra`",
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
    $what = array_map(fn(string $k) => vsprintf('%s (%d process(es), group %s)', explode('|', $k)), array_keys($failed));
    echo "\n**Failed: " . implode('; ', $what) . "** (see the messages on stderr; those cells read n/a).\n";
    exit(1);
}

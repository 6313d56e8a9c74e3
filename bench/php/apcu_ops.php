<?php
/**
 * One group of APCu-API operations in this php-cli process, for
 * scripts/bench-apcu (driven by apcu_suite.php). Whichever module is
 * loaded as `apcu` (Debian's APCu or this project's) is measured: the
 * script calls only the `apcu_*` functions.
 *
 *   php <module's -d flags> apcu_ops.php GROUP PROCS PASS
 *
 * GROUP: 64 | 1024 | int | a10 | a100 | obj (fill 10,000 keys with that
 * value, then fetch and store it), inc, exists, miss (fetch miss), delete
 * or ref (serialize/igbinary of the 100-element array, no store call).
 * The worker fills the store and prints {"ready": [op, ...]}, then runs
 * one round per line on stdin, "OP_INDEX ROUND", printing {"ns", "cpu",
 * "calls", "ok"} (wall-clock ns per call; with one process also the
 * process's CPU ns per call, which time taken by other processes on the
 * machine does not inflate; ok: calls with the expected outcome: hits,
 * trues, successes, misses), so that the driver can interleave the rounds of two
 * modules' workers; "end" runs the final checks and prints {"done": true}.
 * A round visits each of 10,000 session-id-like keys once, in an order
 * shuffled (untimed) from a seed fixed per op, pass and round, so every
 * module sees the same orders.
 * PROCS: 1 (timed here) or more: every round forks PROCS children, each
 * given its share of the keys (key i of the round's order goes to child
 * i % PROCS), all started at one instant; each child runs its share
 * CHILD_REPS times (a longer run, so that the children overlap whatever
 * the start-up jitter) and times its own calls; the round's ns/op is 1 /
 * the children's summed rates (total throughput). Forked, because APCu's
 * CLI cache is shared only within a process tree. For delete, a child
 * stores its share again, untimed, before each of its runs, so the other
 * child may be storing meanwhile.
 */

declare(strict_types=1);

require __DIR__ . '/common.php';
require __DIR__ . '/apcu_values.php';
require __DIR__ . '/apcu_loops.php';

const SEED = 20261223;
const KEY_COUNT = 10000;
const CHILD_REPS = 10; // with PROCS > 1, each child runs its share of a round this many times

// The timed loops of the APCu calls are in apcu_loops.php.

// Reference loops: no store call, one iteration per key of the round.

function php_roundtrip_loop(array $keys, array $a): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $_) {
        if (unserialize(serialize($a)) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function php_unserialize_loop(array $keys, string $s): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $_) {
        if (unserialize($s) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function igbinary_roundtrip_loop(array $keys, array $a): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $_) {
        if (igbinary_unserialize(igbinary_serialize($a)) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function igbinary_unserialize_loop(array $keys, string $s): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $_) {
        if (igbinary_unserialize($s) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

/** Stores $value under every key, untimed; a failure ends the run. */
function fill(array $keys, mixed $value): void
{
    foreach ($keys as $k) {
        if (!apcu_store($k, $value)) {
            bench_fail('apcu', "the fill failed at key $k");
        }
    }
}

/** CPU time (user + system) this process has used, in ns: Linux sums it from the scheduler's exact run time. */
function cpu_ns(): int
{
    $r = getrusage();
    return ($r['ru_utime.tv_sec'] + $r['ru_stime.tv_sec']) * 1000000000 + ($r['ru_utime.tv_usec'] + $r['ru_stime.tv_usec']) * 1000;
}

/**
 * One round of $loop over $order with $procs processes; returns
 * [wall ns, calls, expected outcomes, CPU ns or null (with children)].
 */
function run_round(callable $loop, array $order, int $procs, ?callable $prepare): array
{
    if ($procs === 1) {
        if ($prepare !== null) {
            $prepare($order);
        }
        $cpu = cpu_ns();
        [$ns, $ok] = $loop($order);
        return [$ns, count($order), $ok, cpu_ns() - $cpu];
    }
    $socks = [];
    $pids = [];
    for ($c = 0; $c < $procs; $c++) {
        $share = [];
        foreach ($order as $i => $k) {
            if ($i % $procs === $c) {
                $share[] = $k;
            }
        }
        $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        $pid = $pair === false ? -1 : pcntl_fork();
        if ($pid === -1) {
            bench_fail('apcu', 'could not fork a child (stream_socket_pair or pcntl_fork failed)');
        }
        if ($pid === 0) {
            fclose($pair[0]);
            fwrite($pair[1], "ready\n");
            $start = (int) trim((string) fgets($pair[1]));
            while (($left = $start - hrtime(true)) > 0) {
                if ($left > 2000000) {
                    usleep(1000);
                }
            }
            [$ns, $ok] = [0, 0];
            for ($rep = 0; $rep < CHILD_REPS; $rep++) {
                if ($prepare !== null) {
                    $prepare($share);
                }
                [$t, $n] = $loop($share);
                $ns += $t;
                $ok += $n;
            }
            fwrite($pair[1], json_encode(['ns' => $ns, 'calls' => CHILD_REPS * count($share), 'ok' => $ok]) . "\n");
            fclose($pair[1]);
            exit(0); // a forked child's shutdown detaches from the store, it does not clear it
        }
        fclose($pair[1]);
        stream_set_timeout($pair[0], 120);
        $socks[] = $pair[0];
        $pids[] = $pid;
    }
    foreach ($socks as $c => $s) {
        if (trim((string) fgets($s)) !== 'ready') {
            bench_fail('apcu', "child $c did not get ready");
        }
    }
    $start = hrtime(true) + 20000000; // 20 ms from now, the same instant for every child
    foreach ($socks as $s) {
        fwrite($s, "$start\n");
    }
    [$perNs, $calls, $ok] = [0.0, 0, 0];
    foreach ($socks as $c => $s) {
        $r = json_decode(trim((string) fgets($s)), true);
        fclose($s);
        if (!is_array($r)) {
            bench_fail('apcu', "child $c sent no result (it crashed or timed out)");
        }
        $perNs += $r['calls'] / $r['ns']; // the children's rates add up
        $calls += $r['calls'];
        $ok += $r['ok'];
    }
    $ns = (int) round($calls / $perNs); // the time all calls take at the summed rate
    foreach ($pids as $pid) {
        pcntl_waitpid($pid, $status);
        if (!pcntl_wifexited($status) || pcntl_wexitstatus($status) !== 0) {
            bench_fail('apcu', "a child exited abnormally (status $status)");
        }
    }
    return [$ns, $calls, $ok, null];
}

/** Exits with a message unless every key reads back equal to $value (== for objects, === otherwise). */
function verify(array $keys, mixed $value, string $what): void
{
    $bad = 0;
    foreach ($keys as $k) {
        $v = apcu_fetch($k);
        if (is_object($value) ? !($v instanceof BenchItem && $v == $value) : $v !== $value) {
            ++$bad;
        }
    }
    if ($bad > 0) {
        bench_fail('apcu', "$bad of " . count($keys) . " keys did not read back the $what stored");
    }
}

[$group, $procs, $pass] = [$argv[1] ?? '', (int) ($argv[2] ?? 0), (int) ($argv[3] ?? 0)];
if ($procs < 1) {
    bench_fail('apcu', 'usage: apcu_ops.php GROUP PROCS>=1 PASS');
}
check_store('apcu');
if ($procs > 1 && !function_exists('pcntl_fork')) {
    bench_fail('apcu', 'more than one process needs pcntl (pcntl_fork), which this php-cli lacks');
}
// Every group starts from an empty store, as a fresh APCu process does.
apcu_clear_cache();
mt_srand(SEED);
$keys = session_ids(KEY_COUNT);
$ops = []; // op => [keys, loop, prepare or null]
$final = function (): void {
};
$roundsRun = []; // op => rounds run so far, the warm-up included

switch ($group) {
    case '64':
    case '1024':
    case 'int':
    case 'a10':
    case 'a100':
    case 'obj':
        [$value, $label] = group_value($group);
        fill($keys, $value);
        verify($keys, $value, $label);
        $ops["fetch $label"] = [$keys, 'apcu_get_loop', null];
        $ops["store $label"] = [$keys, fn(array $o) => apcu_set_loop($o, $value), null];
        $final = fn() => verify($keys, $value, $label); // what the timed stores left
        break;
    case 'inc':
        fill($keys, 0);
        $ops['inc'] = [$keys, 'apcu_incr_loop', null];
        $final = function () use ($keys, $procs, &$roundsRun): void {
            // Every round incremented every key once (CHILD_REPS times with children).
            $expect = ($roundsRun['inc'] ?? 0) * ($procs > 1 ? CHILD_REPS : 1);
            foreach ([$keys[0], $keys[KEY_COUNT - 1]] as $k) {
                if (($got = apcu_fetch($k)) !== $expect) {
                    bench_fail('apcu', "inc: $k holds " . var_export($got, true) . ", expected $expect");
                }
            }
        };
        break;
    case 'exists':
        fill($keys, group_value('64')[0]);
        $ops['exists'] = [$keys, 'apcu_exists_loop', null];
        break;
    case 'miss':
        fill($keys, group_value('64')[0]);
        $ops['fetch miss'] = [session_ids(KEY_COUNT, array_flip($keys)), 'apcu_miss_loop', null]; // never stored
        break;
    case 'delete':
        $small = group_value('64')[0];
        // Only keys that exist are deleted: all are stored again before each round, untimed.
        $ops['delete'] = [$keys, 'apcu_del_loop', fn(array $o) => fill($o, $small)];
        $final = function () use ($keys): void {
            if (apcu_exists($keys[0]) || apcu_exists($keys[KEY_COUNT - 1])) {
                bench_fail('apcu', 'delete: keys still exist after the last round');
            }
        };
        break;
    case 'ref':
        if (!function_exists('igbinary_serialize')) {
            bench_fail('apcu', 'the reference rows need igbinary (php' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION . '-igbinary)');
        }
        $procs = 1;
        $a = bench_array(100);
        $php = serialize($a);
        $igb = igbinary_serialize($a);
        if (unserialize($php) !== $a || igbinary_unserialize($igb) !== $a) {
            bench_fail('apcu', 'the 100-element array does not survive serialize or igbinary');
        }
        $ops['unserialize(serialize(a100))'] = [$keys, fn(array $o) => php_roundtrip_loop($o, $a), null];
        $ops['unserialize(a100)'] = [$keys, fn(array $o) => php_unserialize_loop($o, $php), null];
        $ops['igbinary_unserialize(igbinary_serialize(a100))'] = [$keys, fn(array $o) => igbinary_roundtrip_loop($o, $a), null];
        $ops['igbinary_unserialize(a100)'] = [$keys, fn(array $o) => igbinary_unserialize_loop($o, $igb), null];
        break;
    default:
        bench_fail('apcu', "unknown group '$group' (64, 1024, int, a10, a100, obj, inc, exists, miss, delete, ref)");
}
$names = array_keys($ops);
echo json_encode(['ready' => $names]), "\n";
while (($line = fgets(STDIN)) !== false) {
    $line = trim($line);
    if ($line === 'end') {
        $final();
        echo json_encode(['done' => true]), "\n";
        exit(0);
    }
    [$i, $round] = array_map('intval', explode(' ', $line . ' 0'));
    $op = $names[$i] ?? bench_fail('apcu', "no op number $i in group $group");
    [$opKeys, $loop, $prepare] = $ops[$op];
    mt_srand(crc32($op) + 7919 * $pass + 104729 * $round);
    shuffle($opKeys);
    [$ns, $calls, $ok, $cpu] = run_round($loop, $opKeys, $procs, $prepare);
    $roundsRun[$op] = ($roundsRun[$op] ?? 0) + 1;
    echo json_encode(['ns' => round($ns / $calls, 1), 'cpu' => $cpu === null ? null : round($cpu / $calls, 1), 'calls' => $calls, 'ok' => $ok]), "\n";
}
bench_fail('apcu', 'stdin closed before "end"');

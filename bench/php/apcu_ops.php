<?php
/**
 * One group of APCu-API operations in this php-cli process, for
 * scripts/bench-apcu (run by apcu_suite.php). Whichever module is loaded
 * as `apcu` (Debian's APCu or this project's) is measured: the script
 * calls only the `apcu_*` functions.
 *
 *   php <module's -d flags> apcu_ops.php GROUP PROCS ROUNDS PASS
 *
 * GROUP: 64 | 1024 | int | a10 | a100 | obj (fill 10,000 keys with that
 * value, then fetch and store it), misc (inc, exists, delete, fetch miss)
 * or ref (serialize/igbinary of the 100-element array, no store call).
 * PROCS: 1 (timed here) or more: the parent fills the store, then every
 * round forks PROCS children, each given its share of the keys (key i of
 * the round's random order goes to child i % PROCS), all started at one
 * instant; each child runs its share CHILD_REPS times (a longer run, so
 * that the children overlap whatever the start-up jitter) and times its
 * own calls; the round's ns/op is 1 / the children's summed rates (total
 * throughput). Forked, because APCu's CLI cache is shared only within a
 * process tree. For delete, a child stores its share again, untimed,
 * before each of its runs, so the other child may be storing meanwhile.
 * ROUNDS timed rounds per operation after one untimed warm-up round; every
 * round visits each of the 10,000 keys once (session-id-like, the order
 * reshuffled before every round from a seed fixed per op, pass and round,
 * so every module sees the same orders). Prints one JSON object:
 * {op: {samples: [ns/op per round], ops, ok}} where ok counts the calls
 * that had the expected outcome (hits, trues, successes, misses).
 */

declare(strict_types=1);

require __DIR__ . '/common.php';
require __DIR__ . '/apcu_values.php';

const SEED = 20261223;
const KEY_COUNT = 10000;
const CHILD_REPS = 10; // with PROCS > 1, each child runs its share of a round this many times

// The timed loops, written out so that nothing but the one call is timed
// inside them. Each returns [ns, calls with the expected outcome].

function fetch_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_fetch($k) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function miss_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_fetch($k) === false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function store_loop(array $keys, mixed $value): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_store($k, $value)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function inc_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_inc($k) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function exists_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_exists($k)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function delete_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_delete($k)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

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

/**
 * One round of $loop over $order with $procs processes; returns
 * [ns, calls, expected outcomes].
 */
function run_round(callable $loop, array $order, int $procs, ?callable $prepare): array
{
    if ($procs === 1) {
        if ($prepare !== null) {
            $prepare($order);
        }
        [$ns, $ok] = $loop($order);
        return [$ns, count($order), $ok];
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
    return [$ns, $calls, $ok];
}

/**
 * The warm-up round and $rounds timed rounds of $loop over freshly
 * shuffled orders of $keys; $prepare runs before each round, untimed.
 */
function measure(string $op, array $keys, int $procs, int $rounds, int $pass, callable $loop, ?callable $prepare = null): array
{
    $samples = [];
    $calls = 0;
    $okTotal = 0;
    for ($r = 0; $r <= $rounds; $r++) {
        mt_srand(crc32($op) + 7919 * $pass + 104729 * $r);
        $order = $keys;
        shuffle($order);
        [$ns, $n, $ok] = run_round($loop, $order, $procs, $prepare);
        $calls += $n;
        $okTotal += $ok;
        if ($r > 0) {
            $samples[] = round($ns / $n, 1);
        }
    }
    return ['samples' => $samples, 'ops' => $calls, 'ok' => $okTotal];
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

[$group, $procs, $rounds, $pass] = [$argv[1] ?? '', (int) ($argv[2] ?? 0), (int) ($argv[3] ?? 0), (int) ($argv[4] ?? 0)];
if ($procs < 1 || $rounds < 1) {
    bench_fail('apcu', 'usage: apcu_ops.php GROUP PROCS>=1 ROUNDS>=1 PASS');
}
check_store('apcu');
if ($procs > 1 && !function_exists('pcntl_fork')) {
    bench_fail('apcu', 'more than one process needs pcntl (pcntl_fork), which this php-cli lacks');
}
// Every group starts from an empty store, as a fresh APCu process does.
apcu_clear_cache();
mt_srand(SEED);
$keys = session_ids(KEY_COUNT);
$results = [];

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
        $results["fetch $label"] = measure("fetch $label", $keys, $procs, $rounds, $pass, 'fetch_loop');
        $results["store $label"] = measure("store $label", $keys, $procs, $rounds, $pass, fn(array $o) => store_loop($o, $value));
        verify($keys, $value, $label); // what the timed stores left
        break;
    case 'misc':
        $small = group_value('64')[0];
        $missKeys = session_ids(KEY_COUNT, array_flip($keys)); // never stored
        fill($keys, 0);
        $results['inc'] = measure('inc', $keys, $procs, $rounds, $pass, 'inc_loop');
        // Every round, the warm-up included, incremented every key once.
        $expect = $results['inc']['ops'] / KEY_COUNT;
        foreach ([$keys[0], $keys[KEY_COUNT - 1]] as $k) {
            if (($got = apcu_fetch($k)) !== $expect) {
                bench_fail('apcu', "inc: $k holds " . var_export($got, true) . ", expected $expect");
            }
        }
        fill($keys, $small);
        $results['exists'] = measure('exists', $keys, $procs, $rounds, $pass, 'exists_loop');
        $results['fetch miss'] = measure('fetch miss', $missKeys, $procs, $rounds, $pass, 'miss_loop');
        // Only keys that exist are deleted: all are stored again before each round, untimed.
        $results['delete'] = measure('delete', $keys, $procs, $rounds, $pass, 'delete_loop', fn(array $o) => fill($o, $small));
        if (apcu_exists($keys[0]) || apcu_exists($keys[KEY_COUNT - 1])) {
            bench_fail('apcu', 'delete: keys still exist after the last round');
        }
        break;
    case 'ref':
        if (!function_exists('igbinary_serialize')) {
            bench_fail('apcu', 'the reference rows need igbinary (php' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION . '-igbinary)');
        }
        $a = bench_array(100);
        $php = serialize($a);
        $igb = igbinary_serialize($a);
        if (unserialize($php) !== $a || igbinary_unserialize($igb) !== $a) {
            bench_fail('apcu', 'the 100-element array does not survive serialize or igbinary');
        }
        $results['unserialize(serialize(a100))'] = measure('php rt', $keys, 1, $rounds, $pass, fn(array $o) => php_roundtrip_loop($o, $a));
        $results['unserialize(a100)'] = measure('php un', $keys, 1, $rounds, $pass, fn(array $o) => php_unserialize_loop($o, $php));
        $results['igbinary_unserialize(igbinary_serialize(a100))'] = measure('igb rt', $keys, 1, $rounds, $pass, fn(array $o) => igbinary_roundtrip_loop($o, $a));
        $results['igbinary_unserialize(a100)'] = measure('igb un', $keys, 1, $rounds, $pass, fn(array $o) => igbinary_unserialize_loop($o, $igb));
        break;
    default:
        bench_fail('apcu', "unknown group '$group' (64, 1024, int, a10, a100, obj, misc, ref)");
}
echo json_encode(['group' => $group, 'procs' => $procs, 'pass' => $pass, 'results' => $results]), "\n";

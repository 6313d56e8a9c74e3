<?php
/**
 * The issue-10 workload for one store, in this php-cli process: 10,000
 * session-id-like keys visited in a random order, every operation timed in a
 * tight loop over all keys, several rounds, median ns/op.
 *
 *   php <store's -d flags> workload.php apcu|ephpm SECONDS GROUP [PASS]
 *
 * GROUP is one group of operations: 64, 1024 or 16384 (fill the keys with
 * values of that size, then get hit, set, set with TTL, and for 64 also get
 * miss and exists), del, incr, or overhead (the loop without a store call).
 * suite.php runs the groups in several passes, the stores taking turns, and
 * takes the median of all rounds. The order is shuffled once per round,
 * outside the timed loop, from a seed fixed per operation and pass, so
 * every store sees the same key orders. SECONDS is the time budget of one
 * operation (at least MIN_ROUNDS timed rounds are run anyway, after one
 * untimed warm-up round). `del` is measured on keys that exist: before each
 * round the keys are set again outside the timed loop. Prints one JSON
 * object with the ns/op of every timed round.
 */

declare(strict_types=1);

require __DIR__ . '/common.php';
require __DIR__ . '/apcu_loops.php';

const SEED = 20261201;
const KEY_COUNT = 10000;
const MIN_ROUNDS = 3;
const MAX_ROUNDS = 2000;
const TTL = 3600;

$store = $argv[1] ?? '';
$seconds = (float) ($argv[2] ?? 1.0);
check_store($store);

// One timed loop per store and operation, written out so that nothing but
// the store's own function is called inside it. Each returns [ns, count of
// the expected outcome] (hits, misses, trues, successes).

function ephpm_get_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_get($k) !== null) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function ephpm_miss_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_get($k) === null) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function ephpm_exists_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_exists($k)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function ephpm_set_loop(array $keys, string $value, int $ttl): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_set($k, $value, $ttl)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function ephpm_incr_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_incr($k) !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function ephpm_del_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (ephpm_kv_del($k) === 1) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

/** The same loop shape with no store call: its cost is reported, not subtracted. */
function empty_loop(array $keys): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if ($k !== false) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

/** Sets every key to $value (or, for APCu's incr, to an integer), untimed. */
function fill(string $store, array $keys, string|int $value): void
{
    foreach ($keys as $k) {
        $ok = $store === 'apcu' ? apcu_store($k, $value) : ephpm_kv_set($k, (string) $value);
        if (!$ok) {
            // A full store under eviction does not fail; anything else is a broken setup.
            bench_fail($store, "fill failed for key $k");
        }
    }
}

/**
 * Runs rounds of $loop over a freshly shuffled copy of $keys until $seconds
 * have passed (at least MIN_ROUNDS timed ones, after one untimed warm-up
 * round). $prepare runs before each round, untimed. Returns the ns/op of
 * every timed round; the caller takes the median.
 */
function measure(string $store, int $seed, array $keys, float $seconds, callable $loop, ?callable $prepare = null): array
{
    mt_srand($seed);
    $evictionsBefore = evictions($store);
    $samples = [];
    $ok = 0;
    $calls = 0;
    $deadline = hrtime(true) + (int) ($seconds * 1e9);
    $warmup = true;
    do {
        $order = $keys;
        shuffle($order);
        if ($prepare !== null) {
            $prepare($order);
        }
        [$ns, $n] = $loop($order);
        $ok += $n;
        $calls += count($order);
        if (!$warmup) {
            $samples[] = round($ns / count($order), 1);
        }
        $warmup = false;
    } while ((count($samples) < MIN_ROUNDS || hrtime(true) < $deadline) && count($samples) < MAX_ROUNDS);
    return [
        'samples' => $samples,
        'ops' => $calls, // the warm-up round included, as in 'ok'
        'ok' => $ok,
        'evictions' => evictions($store) - $evictionsBefore,
    ];
}

$group = $argv[3] ?? '';
$pass = (int) ($argv[4] ?? 0);
mt_srand(SEED);
$keys = session_ids(KEY_COUNT);
$missKeys = session_ids(KEY_COUNT, array_flip($keys)); // never stored
$s = $store; // loop function prefix
$results = [];
// The same key orders for every store; other orders in every pass.
$seed = fn(string $op) => crc32($op) + 7919 * $pass;

switch ($group) {
    case '64':
    case '1024':
    case '16384':
        $size = (int) $group;
        $label = $size >= 1024 ? ($size / 1024) . ' KB' : "$size B";
        $value = str_repeat('v', $size);
        fill($store, $keys, $value);
        // Untimed check that the values read back whole (or are gone, evicted).
        $bad = 0;
        foreach ($keys as $k) {
            $v = $store === 'apcu' ? apcu_fetch($k) : ephpm_kv_get($k);
            if ($v !== false && $v !== null && $v !== $value) {
                ++$bad;
            }
        }
        if ($bad > 0) {
            bench_fail($store, "$bad of the $size-byte values read back wrong");
        }
        $results["get hit $label"] = measure($store, $seed("get $label"), $keys, $seconds, "{$s}_get_loop");
        if ($size === 64) {
            $results['get miss'] = measure($store, $seed('miss'), $missKeys, $seconds, "{$s}_miss_loop");
            $results['exists (hit)'] = measure($store, $seed('exists'), $keys, $seconds, "{$s}_exists_loop");
        }
        $results["set $label"] = measure($store, $seed("set $label"), $keys, $seconds, fn(array $o) => ("{$s}_set_loop")($o, $value, 0));
        $results["set $label, TTL"] = measure($store, $seed("ttl $label"), $keys, $seconds, fn(array $o) => ("{$s}_set_loop")($o, $value, TTL));
        break;
    case 'del':
        $small = str_repeat('v', 64);
        $results['del (hit)'] = measure($store, $seed('del'), $keys, $seconds, "{$s}_del_loop", fn(array $o) => fill($store, $o, $small));
        break;
    case 'incr':
        fill($store, $keys, $store === 'apcu' ? 0 : '0');
        $results['incr'] = measure($store, $seed('incr'), $keys, $seconds, "{$s}_incr_loop");
        // Every round, the warm-up included, incremented every key once.
        $expect = (string) ($results['incr']['ops'] / KEY_COUNT);
        foreach ([$keys[0], $keys[KEY_COUNT - 1]] as $k) {
            $got = (string) ($store === 'apcu' ? apcu_fetch($k) : ephpm_kv_get($k));
            if ($got !== $expect && $results['incr']['evictions'] === 0) {
                bench_fail($store, "incr: $k is $got, expected $expect");
            }
        }
        break;
    case 'overhead':
        $results['loop'] = measure($store, SEED, $keys, $seconds, 'empty_loop');
        break;
    default:
        bench_fail($store, "unknown group '$group' (64, 1024, 16384, del, incr, overhead)");
}
echo json_encode(['store' => $store, 'group' => $group, 'pass' => $pass, 'results' => $results]), "\n";

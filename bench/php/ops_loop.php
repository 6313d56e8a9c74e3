<?php
/**
 * A fixed number of one operation, for counting instructions per call
 * under callgrind (scripts/bench-instructions): 1,000 keys of 64 bytes are
 * set first; `none` runs the same loop without a store call, so that its
 * count can be subtracted. `miss` gets keys that were never set; `del`
 * deletes COUNT keys of 64 bytes, each once, set before the loop, and
 * `nonedel` sets them and runs the loop without the call, its baseline.
 * API `kv` (the default) calls ephpm_kv_*, `apcu` the same operations of
 * the APCu API (apcu_fetch, apcu_exists, apcu_store, apcu_inc,
 * apcu_delete), for APCu's own counts. Exit status 1 if a call did not
 * have the expected outcome (a failing call would count its warning
 * instead).
 *
 *   php ops_loop.php get|miss|exists|set|incr|del|none|nonedel COUNT [kv|apcu]
 */

declare(strict_types=1);

[$op, $count, $api] = [$argv[1] ?? '', (int) ($argv[2] ?? 0), $argv[3] ?? 'kv'];
if (!in_array($api, ['kv', 'apcu'], true)) {
    fwrite(STDERR, "ops_loop.php: the API is kv or apcu, not '$api'\n");
    exit(2);
}
$value = str_repeat('v', 64);
for ($i = 0; $i < 1000; $i++) {
    $api === 'kv' ? ephpm_kv_set("k$i", $value) : apcu_store("k$i", $value);
}
$api === 'kv' ? ephpm_kv_set('ctr', '0') : apcu_store('ctr', 0);
if ($op === 'del' || $op === 'nonedel') {
    for ($i = 0; $i < $count; $i++) {
        $api === 'kv' ? ephpm_kv_set("d$i", $value) : apcu_store("d$i", $value);
    }
}
// Every op builds its key the same way (`miss` with another prefix), so
// that `none` subtracts exactly that; the calls are direct calls, as in
// an application.
$prefix = $op === 'miss' ? 'm' : 'k';
$bad = 0;
if ($api === 'kv') {
    for ($i = 0; $i < $count; $i++) {
        $key = $prefix . ($i % 1000);
        $bad += match ($op) {
            'get' => (int) (ephpm_kv_get($key) === null),
            'miss' => (int) (ephpm_kv_get($key) !== null),
            'exists' => (int) !ephpm_kv_exists($key),
            'incr' => (int) (ephpm_kv_incr('ctr') === false),
            'set' => (int) !ephpm_kv_set($key, $value),
            'del' => (int) (ephpm_kv_del("d$i") !== 1),
            'none' => (int) ($key === ''),
            'nonedel' => (int) ("d$i" === ''),
        };
    }
} else {
    for ($i = 0; $i < $count; $i++) {
        $key = $prefix . ($i % 1000);
        $bad += match ($op) {
            'get' => (int) (apcu_fetch($key) === false),
            'miss' => (int) (apcu_fetch($key) !== false),
            'exists' => (int) !apcu_exists($key),
            'incr' => (int) (apcu_inc('ctr') === false),
            'set' => (int) !apcu_store($key, $value),
            'del' => (int) !apcu_delete("d$i"),
            'none' => (int) ($key === ''),
            'nonedel' => (int) ("d$i" === ''),
        };
    }
}
if ($bad > 0) {
    fwrite(STDERR, "ops_loop.php: $bad of $count calls of $op ($api) failed\n");
    exit(1);
}

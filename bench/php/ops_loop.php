<?php
/**
 * A fixed number of one operation, for counting instructions per call
 * under callgrind (scripts/bench-instructions): 1,000 keys of 64 bytes are
 * set first; `none` runs the same loop without a store call, so that its
 * count can be subtracted.
 *
 *   php ops_loop.php get|incr|set|none COUNT
 */

declare(strict_types=1);

[$op, $count] = [$argv[1], (int) $argv[2]];
$value = str_repeat('v', 64);
for ($i = 0; $i < 1000; $i++) {
    ephpm_kv_set("k$i", $value);
}
ephpm_kv_set('ctr', '0');
for ($i = 0; $i < $count; $i++) {
    $key = 'k' . ($i % 1000);
    match ($op) {
        'get' => ephpm_kv_get($key),
        'incr' => ephpm_kv_incr('ctr'),
        'set' => ephpm_kv_set($key, $value),
        'none' => strlen($key),
    };
}

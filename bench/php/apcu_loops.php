<?php
/**
 * The timed loops over the APCu API that the benchmarks share
 * (workload.php, apcu_ops.php): nothing but the one call is timed inside
 * them. Each returns [ns, calls with the expected outcome].
 */

declare(strict_types=1);

function apcu_get_loop(array $keys): array
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

function apcu_miss_loop(array $keys): array
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

function apcu_exists_loop(array $keys): array
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

function apcu_set_loop(array $keys, mixed $value, int $ttl = 0): array
{
    $n = 0;
    $t = hrtime(true);
    foreach ($keys as $k) {
        if (apcu_store($k, $value, $ttl)) {
            ++$n;
        }
    }
    return [hrtime(true) - $t, $n];
}

function apcu_incr_loop(array $keys): array
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

function apcu_del_loop(array $keys): array
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

<?php
/*
 * auto_prepend_file of the "kv" variants: the composer package's
 * KvSessionHandler over the ephpm_kv extension, loaded straight from this
 * repository's php/src (copied beside this file's folder as php-src/).
 * BENCH_LOCKING=1 (set by the pool) turns its per-session locking on.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $namespace = 'Ephpm\\SessionHandler\\';
    if (str_starts_with($class, $namespace)) {
        require __DIR__ . '/../php-src/' . substr($class, strlen($namespace)) . '.php';
    }
});

session_set_save_handler(
    new Ephpm\SessionHandler\KvSessionHandler('php_session:', null, null, getenv('BENCH_LOCKING') === '1'),
    true,
);

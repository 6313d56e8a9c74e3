<?php

declare(strict_types=1);

// The demo page: a hit counter shared by every php-fpm worker, and a PHP
// session stored in the same ephpm_kv store by the composer package
// ephpm/session-handler (php/ of this repository), with per-session locking
// since the demo's requests of one visitor overlap.

header('Content-Type: text/plain; charset=utf-8');
if (!extension_loaded('ephpm_kv')) {
    http_response_code(500);
    echo "the ephpm_kv extension is not loaded in php-fpm: run ./scripts/install-ext\n";
    exit;
}
// What composer's autoloader does for the package (PSR-4).
spl_autoload_register(static function (string $class): void {
    $prefix = 'Ephpm\\SessionHandler\\';
    if (str_starts_with($class, $prefix)) {
        require __DIR__ . '/../php/src/' . substr($class, strlen($prefix)) . '.php';
    }
});

session_set_save_handler(new \Ephpm\SessionHandler\KvSessionHandler(locking: true), true);
session_start();

// ?work_ms=N pretends to work for a while (at most 1 s), so that concurrent
// requests are in flight at once and land on different workers.
usleep(min(1000, max(0, (int) ($_GET['work_ms'] ?? 0))) * 1000);

$hits = ephpm_kv_incr('demo:hits');
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;

printf(
    "worker %d | shared counter %d | your session visits %d | session id %s…\n",
    getmypid(),
    $hits,
    $_SESSION['visits'],
    substr(session_id(), 0, 8),
);

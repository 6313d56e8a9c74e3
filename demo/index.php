<?php

declare(strict_types=1);

// The demo page: a hit counter shared by every php-fpm worker, and a PHP
// session stored in the same ephpm_kv store. The pool sets
// `session.save_handler = ephpm`, so this is plain session code; the
// handler's per-session locking keeps the visitor's overlapping requests
// from losing visits.

header('Content-Type: text/plain; charset=utf-8');
if (!extension_loaded('ephpm_kv')) {
    http_response_code(500);
    echo "the ephpm_kv extension is not loaded in php-fpm: run ./scripts/install-ext\n";
    exit;
}
if (ini_get('session.save_handler') !== 'ephpm') {
    http_response_code(500);
    echo "the pool does not set session.save_handler = ephpm\n";
    exit;
}
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

<?php
/*
 * The page every variant serves. It starts the session, increments its
 * counter and makes sure it carries about 1 KB of data, then answers
 * "<session id> <counter>". `?read` only reads the counter (no write, no
 * increment): the benchmark checks afterwards that none was lost.
 *
 * Pools of the "none" variant set BENCH_NO_SESSION=1: the same work on a
 * plain array, without a session (the ceiling).
 */

declare(strict_types=1);

/**
 * What a typical application keeps in a session: about 1 KB serialized. A
 * literal (opcache keeps it ready), so the ceiling spends no time building it.
 */
const VISITOR = [
    'user' => ['id' => 48213, 'login' => 'jdoe', 'name' => 'Jane Doe', 'email' => 'jane.doe@example.com'],
    'roles' => ['customer', 'newsletter'],
    'csrf_token' => '5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a',
    'locale' => 'en_GB',
    'cart' => [
        ['sku' => 'SKU-007919', 'qty' => 1, 'price_cents' => 1299, 'title' => 'Item number 1 of the cart'],
        ['sku' => 'SKU-015838', 'qty' => 2, 'price_cents' => 2598, 'title' => 'Item number 2 of the cart'],
        ['sku' => 'SKU-023757', 'qty' => 3, 'price_cents' => 3897, 'title' => 'Item number 3 of the cart'],
        ['sku' => 'SKU-031676', 'qty' => 4, 'price_cents' => 5196, 'title' => 'Item number 4 of the cart'],
    ],
    'recently_viewed' => [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009],
    'flash' => ['info' => 'Your settings were saved.'],
];

$readOnly = isset($_GET['read']);
if (getenv('BENCH_NO_SESSION') === '1') {
    $session = [];
    $id = $_COOKIE['PHPSESSID'] ?? '';
} else {
    session_start($readOnly ? ['read_and_close' => true] : []);
    $session = &$_SESSION;
    $id = session_id();
}
if (!$readOnly) {
    $session['counter'] = ($session['counter'] ?? 0) + 1;
    $session['visitor'] ??= VISITOR;
    $session['last_seen'] = time();
}
header('Content-Type: text/plain');
echo $id, ' ', $session['counter'] ?? 0, "\n";

<?php
declare(strict_types=1);

error_reporting(E_ALL);
if (!function_exists('ephpm_kv_stats')) {
    fwrite(STDERR, "the status page's tests need ext-ephpm_kv loaded (php -d extension=...)\n");
    exit(1);
}
// Requiring the page defines its functions and renders nothing.
ob_start();
require_once __DIR__ . '/../ephpm-status.php';
$printed = ob_get_clean();
if ($printed !== '') {
    fwrite(STDERR, "requiring ephpm-status.php printed: $printed\n");
    exit(1);
}

<?php

// Answers "ok" once php-fpm serves pages with the ephpm_kv extension loaded.
header('Content-Type: text/plain');
if (!extension_loaded('ephpm_kv')) {
    http_response_code(500);
    echo "the ephpm_kv extension is not loaded in php-fpm: run ./scripts/install-ext\n";
    exit;
}
echo "ok\n";

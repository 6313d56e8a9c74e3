<?php

declare(strict_types=1);

require __DIR__ . '/autoload.php';

// Session ini settings cannot change once output has started (PHPUnit prints
// its banner before the tests), so the default-TTL test's value is set here.
ini_set('session.gc_maxlifetime', '1234');

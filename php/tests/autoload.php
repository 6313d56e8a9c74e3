<?php

declare(strict_types=1);

// PSR-4 autoloading for src/ and tests/ without composer (the tests run with
// Debian's PHPUnit, and Packagist may be out of reach).
spl_autoload_register(static function (string $class): void {
    $roots = [
        'Ephpm\\SessionHandler\\Tests\\' => __DIR__ . '/',
        'Ephpm\\SessionHandler\\' => dirname(__DIR__) . '/src/',
    ];
    foreach ($roots as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});

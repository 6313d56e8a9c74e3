<?php
/*
 * auto_prepend_file of the "apcu" variant. The handler class is autoloaded
 * from its own file, as the composer package's classes are in the "kv"
 * variants, so both pay the same way for loading their code.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if ($class === 'ApcuSessionHandler') {
        require __DIR__ . '/lib/ApcuSessionHandler.php';
    }
});

session_set_save_handler(new ApcuSessionHandler(), true);

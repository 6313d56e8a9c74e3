<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

/** Collects the warnings a test provokes instead of letting PHPUnit turn them into exceptions. */
trait CollectsWarnings
{
    /** @var list<array{int, string}> warnings raised while a test's error handler was installed */
    private array $warnings = [];

    /** Runs $fn with every PHP error recorded in $this->warnings. */
    private function collectingWarnings(callable $fn): mixed
    {
        set_error_handler(function (int $errno, string $message): bool {
            $this->warnings[] = [$errno, $message];

            return true;
        });
        try {
            return $fn();
        } finally {
            restore_error_handler();
        }
    }
}

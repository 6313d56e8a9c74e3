<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * The primitives session locking needs, kept out of KvOpsInterface so that
 * ePHPm's interface stays unchanged.
 */
interface LockingKvOpsInterface extends KvOpsInterface
{
    /** Atomic insert-if-absent: true when this call stored the key. */
    public function setNx(string $key, string $value, int $ttlSeconds): bool;

    /** Deletes $key only if its value equals $value; true when deleted. */
    public function delIf(string $key, string $value): bool;
}

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

    /**
     * Sets a new TTL on $key only if its value equals $value (a lock owner
     * keeping its lock); false when missing, another value, or $ttlSeconds <= 0.
     */
    public function expireIf(string $key, string $value, int $ttlSeconds): bool;
}

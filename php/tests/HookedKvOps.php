<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\LockingKvOpsInterface;

/**
 * InMemoryKvOps that counts setNx calls and runs a hook after each one that
 * fails: lets a single-process test release a lock while another handler is
 * waiting for it.
 */
final class HookedKvOps extends PlainKvOps implements LockingKvOpsInterface
{
    public int $failedSetNx = 0;

    /** @var null|\Closure(int): void called with the number of failed setNx calls so far */
    public ?\Closure $afterFailedSetNx = null;

    public function setNx(string $key, string $value, int $ttlSeconds): bool
    {
        if ($this->inner->setNx($key, $value, $ttlSeconds)) {
            return true;
        }
        ++$this->failedSetNx;
        if ($this->afterFailedSetNx !== null) {
            ($this->afterFailedSetNx)($this->failedSetNx);
        }

        return false;
    }

    public function delIf(string $key, string $value): bool
    {
        return $this->inner->delIf($key, $value);
    }

    public function expireIf(string $key, string $value, int $ttlSeconds): bool
    {
        return $this->inner->expireIf($key, $value, $ttlSeconds);
    }
}

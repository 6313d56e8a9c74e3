<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\LockingKvOpsInterface;

/**
 * InMemoryKvOps that counts setNx calls and runs a hook after each one that
 * fails: lets a single-process test release a lock while another handler is
 * waiting for it.
 */
final class HookedKvOps implements LockingKvOpsInterface
{
    public int $failedSetNx = 0;

    /** @var null|\Closure(int): void called with the number of failed setNx calls so far */
    public ?\Closure $afterFailedSetNx = null;

    public function __construct(public readonly InMemoryKvOps $inner = new InMemoryKvOps())
    {
    }

    public function get(string $key): ?string
    {
        return $this->inner->get($key);
    }

    public function set(string $key, string $value, int $ttlSeconds = 0): bool
    {
        return $this->inner->set($key, $value, $ttlSeconds);
    }

    public function del(string $key): int
    {
        return $this->inner->del($key);
    }

    public function exists(string $key): bool
    {
        return $this->inner->exists($key);
    }

    public function incrBy(string $key, int $delta): int
    {
        return $this->inner->incrBy($key, $delta);
    }

    public function expire(string $key, int $ttlSeconds): bool
    {
        return $this->inner->expire($key, $ttlSeconds);
    }

    public function ttl(string $key): int
    {
        return $this->inner->ttl($key);
    }

    public function pttl(string $key): int
    {
        return $this->inner->pttl($key);
    }

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
}

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\KvOpsInterface;

/**
 * A KvOpsInterface without the locking primitives, delegating to an
 * InMemoryKvOps; HookedKvOps builds on it.
 */
class PlainKvOps implements KvOpsInterface
{
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
}

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\LockingKvOpsInterface;

/**
 * An InMemoryKvOps that throws, as phpredis does when its server is
 * unreachable, while $down is true.
 */
final class FailingKvOps implements LockingKvOpsInterface
{
    public bool $down = false;

    public function __construct(public readonly InMemoryKvOps $inner = new InMemoryKvOps())
    {
    }

    private function check(): void
    {
        if ($this->down) {
            throw new \RuntimeException('Connection refused');
        }
    }

    public function get(string $key): ?string
    {
        $this->check();

        return $this->inner->get($key);
    }

    public function set(string $key, string $value, int $ttlSeconds = 0): bool
    {
        $this->check();

        return $this->inner->set($key, $value, $ttlSeconds);
    }

    public function del(string $key): int
    {
        $this->check();

        return $this->inner->del($key);
    }

    public function exists(string $key): bool
    {
        $this->check();

        return $this->inner->exists($key);
    }

    public function incrBy(string $key, int $delta): int
    {
        $this->check();

        return $this->inner->incrBy($key, $delta);
    }

    public function expire(string $key, int $ttlSeconds): bool
    {
        $this->check();

        return $this->inner->expire($key, $ttlSeconds);
    }

    public function ttl(string $key): int
    {
        $this->check();

        return $this->inner->ttl($key);
    }

    public function pttl(string $key): int
    {
        $this->check();

        return $this->inner->pttl($key);
    }

    public function setNx(string $key, string $value, int $ttlSeconds): bool
    {
        $this->check();

        return $this->inner->setNx($key, $value, $ttlSeconds);
    }

    public function delIf(string $key, string $value): bool
    {
        $this->check();

        return $this->inner->delIf($key, $value);
    }

    public function expireIf(string $key, string $value, int $ttlSeconds): bool
    {
        $this->check();

        return $this->inner->expireIf($key, $value, $ttlSeconds);
    }
}

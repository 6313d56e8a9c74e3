<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * An array in this process: for tests and single-process use. TTL-aware (an
 * expired key is gone), no eviction. The clock is injectable so that tests
 * can move time.
 */
final class InMemoryKvOps implements LockingKvOpsInterface
{
    /** @var array<string, array{0: string, 1: ?int}> value and expiry (ms on the clock, null = none) */
    private array $entries = [];

    /** @var callable(): int */
    private $clock;

    /**
     * @param null|callable(): int $clockMs the current time in milliseconds; defaults to hrtime
     */
    public function __construct(?callable $clockMs = null)
    {
        $this->clock = $clockMs ?? static fn (): int => \intdiv(\hrtime(true), 1_000_000);
    }

    public function get(string $key): ?string
    {
        return $this->live($key)[0] ?? null;
    }

    public function set(string $key, string $value, int $ttlSeconds = 0): bool
    {
        $this->entries[$key] = [$value, $this->expiry($ttlSeconds)];

        return true;
    }

    public function del(string $key): int
    {
        if ($this->live($key) === null) {
            return 0;
        }
        unset($this->entries[$key]);

        return 1;
    }

    public function exists(string $key): bool
    {
        return $this->live($key) !== null;
    }

    public function incrBy(string $key, int $delta): int
    {
        $entry = $this->live($key) ?? ['0', null];
        if (\preg_match('/\A-?(0|[1-9][0-9]*)\z/', $entry[0]) !== 1 || (string) (int) $entry[0] !== $entry[0]) {
            throw new \RuntimeException(\sprintf('the value at key "%s" is not an integer', $key));
        }
        $result = (int) $entry[0] + $delta;
        if (!\is_int($result)) {
            throw new \RuntimeException(\sprintf('incrementing key "%s" overflows', $key));
        }
        $this->entries[$key] = [(string) $result, $entry[1]];

        return $result;
    }

    public function expire(string $key, int $ttlSeconds): bool
    {
        if ($ttlSeconds <= 0 || $this->live($key) === null) {
            return false;
        }
        $this->entries[$key][1] = $this->expiry($ttlSeconds);

        return true;
    }

    public function ttl(string $key): int
    {
        $pttl = $this->pttl($key);

        return $pttl < 0 ? $pttl : \intdiv($pttl + 999, 1000);
    }

    public function pttl(string $key): int
    {
        $entry = $this->live($key);
        if ($entry === null) {
            return -2;
        }

        return $entry[1] === null ? -1 : $entry[1] - $this->now();
    }

    public function setNx(string $key, string $value, int $ttlSeconds): bool
    {
        if ($this->live($key) !== null) {
            return false;
        }

        return $this->set($key, $value, $ttlSeconds);
    }

    public function delIf(string $key, string $value): bool
    {
        if (($this->live($key)[0] ?? null) !== $value) {
            return false;
        }
        unset($this->entries[$key]);

        return true;
    }

    public function expireIf(string $key, string $value, int $ttlSeconds): bool
    {
        if (($this->live($key)[0] ?? null) !== $value) {
            return false;
        }

        return $this->expire($key, $ttlSeconds);
    }

    /** @return null|array{0: string, 1: ?int} the entry, or null (dropping it) when missing or expired */
    private function live(string $key): ?array
    {
        $entry = $this->entries[$key] ?? null;
        if ($entry !== null && $entry[1] !== null && $entry[1] <= $this->now()) {
            unset($this->entries[$key]);

            return null;
        }

        return $entry;
    }

    private function expiry(int $ttlSeconds): ?int
    {
        return $ttlSeconds > 0 ? $this->now() + $ttlSeconds * 1000 : null;
    }

    private function now(): int
    {
        return ($this->clock)();
    }
}

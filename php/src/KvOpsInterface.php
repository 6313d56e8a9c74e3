<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * The key-value operations the session handler needs, with the semantics of
 * ePHPm's `ephpm_kv_*` functions (see docs/api.md): TTLs in seconds, 0 = no expiry.
 */
interface KvOpsInterface
{
    /** The value, or null when the key is missing or expired. */
    public function get(string $key): ?string;

    /** Stores $value (overwriting value and TTL); $ttlSeconds <= 0 = no expiry. */
    public function set(string $key, string $value, int $ttlSeconds = 0): bool;

    /** 1 if a live key was removed, 0 if there was none. */
    public function del(string $key): int;

    /** True only for a live (unexpired) key. */
    public function exists(string $key): bool;

    /**
     * Adds $delta to the integer stored at $key (a missing key counts as 0)
     * and returns the new value.
     *
     * @throws \RuntimeException when the stored value is not an integer (or on overflow)
     */
    public function incrBy(string $key, int $delta): int;

    /** Sets a new TTL on a live key; $ttlSeconds <= 0 is a no-op returning false. */
    public function expire(string $key, int $ttlSeconds): bool;

    /** Remaining seconds (rounded up); -1 no expiry; -2 missing. */
    public function ttl(string $key): int;

    /** Remaining milliseconds; -1 no expiry; -2 missing. */
    public function pttl(string $key): int;
}

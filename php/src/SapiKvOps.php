<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * The `ephpm_kv_*` functions: ePHPm's in-process store, or the ephpm_kv
 * extension's shared-memory store under php-fpm, Apache or php-cli.
 */
final class SapiKvOps implements LockingKvOpsInterface
{
    public function __construct()
    {
        if (!\function_exists('ephpm_kv_get')) {
            throw new \RuntimeException(
                'the ephpm_kv extension is not loaded: install it (extension=ephpm_kv.so in php.ini) '
                . 'or run under ePHPm, or pass another KvOpsInterface (RedisKvOps, InMemoryKvOps)'
            );
        }
    }

    public function get(string $key): ?string
    {
        return \ephpm_kv_get($key);
    }

    public function set(string $key, string $value, int $ttlSeconds = 0): bool
    {
        return \ephpm_kv_set($key, $value, \max(0, $ttlSeconds));
    }

    public function del(string $key): int
    {
        return \ephpm_kv_del($key);
    }

    public function exists(string $key): bool
    {
        return \ephpm_kv_exists($key);
    }

    public function incrBy(string $key, int $delta): int
    {
        $result = \ephpm_kv_incr_by($key, $delta);
        if ($result === false) {
            throw new \RuntimeException(\sprintf('the value at key "%s" is not an integer (or the result overflows)', $key));
        }

        return $result;
    }

    public function expire(string $key, int $ttlSeconds): bool
    {
        if ($ttlSeconds <= 0) {
            return false;
        }

        return \ephpm_kv_expire($key, $ttlSeconds);
    }

    public function ttl(string $key): int
    {
        return \ephpm_kv_ttl($key);
    }

    public function pttl(string $key): int
    {
        return \ephpm_kv_pttl($key);
    }

    public function setNx(string $key, string $value, int $ttlSeconds): bool
    {
        return \ephpm_kv_setnx($key, $value, \max(0, $ttlSeconds));
    }

    public function delIf(string $key, string $value): bool
    {
        return \ephpm_kv_del_if($key, $value);
    }

    public function expireIf(string $key, string $value, int $ttlSeconds): bool
    {
        if ($ttlSeconds <= 0) {
            return false;
        }

        return \ephpm_kv_expire_if($key, $value, $ttlSeconds);
    }
}

<?php

declare(strict_types=1);

/**
 * PHP sessions in the ephpm_kv store: every php-fpm worker (and Apache
 * child) of the same user sees the same sessions, without files or a
 * network round trip. A small stand-in for the composer package
 * `ephpm/session-handler`, which uses exactly these functions.
 *
 * Like the default `files` handler, a session is locked from read() until
 * close(), so concurrent requests of one visitor do not overwrite each
 * other's changes. The lock is a key taken with ephpm_kv_setnx() (atomic
 * across processes) with a TTL, so a worker killed while holding it blocks
 * that session for at most $lockTtl seconds.
 */
final class EphpmKvSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    private ?string $lockKey = null;
    private string $lockToken = '';

    public function __construct(
        private readonly string $prefix = 'sess:',
        private readonly int $lockTimeoutMs = 10000,
        private readonly int $lockTtl = 30,
    ) {
    }

    public function open(string $path, string $name): bool
    {
        return true;
    }

    public function close(): bool
    {
        $this->unlock();
        return true;
    }

    public function read(string $id): string|false
    {
        if (!$this->lock($id)) {
            return false;
        }
        return ephpm_kv_get($this->prefix . $id) ?? '';
    }

    public function write(string $id, string $data): bool
    {
        return ephpm_kv_set($this->prefix . $id, $data, $this->ttl());
    }

    public function destroy(string $id): bool
    {
        ephpm_kv_del($this->prefix . $id);
        return true;
    }

    /** Sessions expire by their TTL: nothing to collect. */
    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }

    /** With session.use_strict_mode = 1: only ids of live sessions are accepted. */
    public function validateId(string $id): bool
    {
        return ephpm_kv_exists($this->prefix . $id);
    }

    /** With session.lazy_write = 1 (the default): an unchanged session only gets a new TTL. */
    public function updateTimestamp(string $id, string $data): bool
    {
        return ephpm_kv_expire($this->prefix . $id, $this->ttl())
            || ephpm_kv_set($this->prefix . $id, $data, $this->ttl());
    }

    private function ttl(): int
    {
        return max(1, (int) ini_get('session.gc_maxlifetime'));
    }

    private function lock(string $id): bool
    {
        $key = 'sess_lock:' . $id;
        $token = getmypid() . ':' . bin2hex(random_bytes(8));
        $deadline = hrtime(true) + $this->lockTimeoutMs * 1_000_000;
        $sleepUs = 500;
        while (!ephpm_kv_setnx($key, $token, $this->lockTtl)) {
            if (hrtime(true) > $deadline) {
                trigger_error("session $id is still locked after {$this->lockTimeoutMs} ms", E_USER_WARNING);
                return false;
            }
            usleep($sleepUs);
            $sleepUs = min($sleepUs * 2, 20000);
        }
        $this->lockKey = $key;
        $this->lockToken = $token;
        return true;
    }

    private function unlock(): void
    {
        // Release only our own lock (not one that expired and was taken since).
        if ($this->lockKey !== null && ephpm_kv_get($this->lockKey) === $this->lockToken) {
            ephpm_kv_del($this->lockKey);
        }
        $this->lockKey = null;
    }
}

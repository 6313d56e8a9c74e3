<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * PHP sessions in a key-value store: ePHPm's or the ephpm_kv extension's by
 * default, or any KvOpsInterface (Redis, in memory).
 *
 *     session_set_save_handler(new KvSessionHandler(), true);
 *
 * The bytes PHP's serializer produces are stored as they are. Each session
 * lives at $prefix . $id and expires after $ttlSeconds unless written or
 * touched again, so gc() has nothing to do.
 *
 * With $locking, read() takes a per-session lock ($prefix . 'lock:' . $id,
 * holding a random owner token, expiring after $lockTtlSeconds should its
 * holder die) and close()/destroy() release it, so that concurrent requests
 * of one session run one after the other. A lock not acquired within
 * $lockWaitMs raises one E_USER_WARNING and the request proceeds without it.
 * Each read, write, updateTimestamp and destroy refreshes the lock's TTL
 * (compare-and-expire on the owner token), so a request that keeps using
 * its session keeps its lock; one whose lock was lost meanwhile (it expired
 * and another request took it, or it was deleted) refuses to write or
 * destroy the session, with one E_USER_WARNING ("session lock ... not
 * held"), instead of overwriting what the other request wrote.
 *
 * A store that fails (an exception from the KvOps: Redis unreachable, a
 * Redis Cluster failover under way) makes the callback fail with one
 * E_USER_WARNING naming the session, the operation and the store's error
 * ("ephpm session store error while reading session ...: ..."), to which
 * PHP adds its own warning ("Failed to read session data"): never an
 * uncaught exception, which would be a fatal error in session_start() or
 * at the end of the request.
 *
 * The session and its lock are two keys used one at a time (no operation
 * touches both: each Lua script of RedisKvOps has one key), so on a Redis
 * Cluster they may live in different slots and need no hash tag.
 */
final class KvSessionHandler implements \SessionHandlerInterface, \SessionUpdateTimestampHandlerInterface, \SessionIdInterface
{
    /**
     * The store; null for the ephpm_kv extension, whose functions are then
     * called directly: a request loads this one class file, not the backend
     * class and its two interfaces as well (which cost more than the store
     * operations themselves on a short request).
     */
    private readonly ?KvOpsInterface $ops;

    /** Fixed TTL, or null to follow session.gc_maxlifetime at each write. */
    private readonly ?int $ttlSeconds;

    /** The lock this handler holds: its key, owner token and session id. */
    private ?string $lockKey = null;

    private ?string $lockedId = null;

    private ?string $lockToken = null;

    public function __construct(
        private readonly string $prefix = 'php_session:',
        ?int $ttlSeconds = null,
        ?KvOpsInterface $ops = null,
        private readonly bool $locking = false,
        private readonly int $lockWaitMs = 5000,
        private readonly int $lockTtlSeconds = 30,
    ) {
        if ($ops === null && !\function_exists('ephpm_kv_get')) {
            new SapiKvOps(); // throws, explaining what is missing
        }
        if ($locking && $ops !== null && !$ops instanceof LockingKvOpsInterface) {
            throw new \InvalidArgumentException(\sprintf(
                'session locking needs a %s (setNx and delIf); %s is not one',
                LockingKvOpsInterface::class,
                $ops::class
            ));
        }
        if ($locking && ($ops === null || $ops instanceof SapiKvOps) && !\function_exists('ephpm_kv_expire_if')) {
            throw new \RuntimeException(
                'session locking needs ephpm_kv_del_if() and ephpm_kv_expire_if(), which this ephpm_kv extension lacks: update the extension'
            );
        }
        $this->ops = $ops;
        $this->ttlSeconds = $ttlSeconds;
    }

    /**
     * The TTL of a write: the one given to the constructor, else the current
     * session.gc_maxlifetime (read at each write, so options passed to
     * session_start() or set after the handler was built count), 1440 when unset.
     */
    private function ttl(): int
    {
        return $this->ttlSeconds ?? (((int) \ini_get('session.gc_maxlifetime')) ?: 1440);
    }

    public function open(string $path, string $name): bool
    {
        return true;
    }

    public function close(): bool
    {
        $id = $this->lockedId ?? '';
        try {
            $this->releaseLock();
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'releasing the lock of', $id);
        }

        return true;
    }

    public function read(string $id): string|false
    {
        try {
            if ($this->locking) {
                $this->acquireLock($id);
            }

            $key = $this->prefix . $id;

            return ($this->ops === null ? \ephpm_kv_get($key) : $this->ops->get($key)) ?? '';
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'reading', $id);
        }
    }

    public function write(string $id, string $data): bool
    {
        try {
            return $this->doWrite($id, $data);
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'writing', $id);
        }
    }

    private function doWrite(string $id, string $data): bool
    {
        if (!$this->lockStillHeld($id, 'writing')) {
            return false;
        }
        $key = $this->prefix . $id;

        return $this->ops === null
            ? \ephpm_kv_set($key, $data, $this->ttl())
            : $this->ops->set($key, $data, $this->ttl());
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        try {
            if (!$this->lockStillHeld($id, 'refreshing')) {
                return false;
            }
            $key = $this->prefix . $id;
            $refreshed = $this->ops === null
                ? \ephpm_kv_expire($key, $this->ttl())
                : $this->ops->expire($key, $this->ttl());

            return $refreshed || $this->doWrite($id, $data);
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'refreshing', $id);
        }
    }

    public function destroy(string $id): bool
    {
        try {
            if (!$this->lockStillHeld($id, 'destroying')) {
                $this->releaseLock();

                return false;
            }
            $key = $this->prefix . $id;
            if ($this->ops === null) {
                \ephpm_kv_del($key);
            } else {
                $this->ops->del($key);
            }
            $this->releaseLock();
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'destroying', $id);
        }

        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }

    public function validateId(string $id): bool
    {
        $key = $this->prefix . $id;
        try {
            return $this->ops === null ? \ephpm_kv_exists($key) : $this->ops->exists($key);
        } catch (\Exception $e) {
            return $this->storeFailed($e, 'validating the id of', $id);
        }
    }

    public function create_sid(): string
    {
        return \session_create_id();
    }

    private function acquireLock(string $id): void
    {
        $ops = $this->ops;
        \assert($ops === null || $ops instanceof LockingKvOpsInterface);
        $lockKey = $this->prefix . 'lock:' . $id;
        if ($this->lockKey === $lockKey) {
            $this->lockStillHeld($id, 'reading');

            return;
        }
        $this->releaseLock();

        $token = \bin2hex(\random_bytes(16));
        $deadline = \hrtime(true) + $this->lockWaitMs * 1_000_000;
        $ttl = $this->lockTtlSeconds;
        while (!($ops === null ? \ephpm_kv_setnx($lockKey, $token, \max(0, $ttl)) : $ops->setNx($lockKey, $token, $ttl))) {
            if (\hrtime(true) >= $deadline) {
                \trigger_error(
                    \sprintf('ephpm session lock for %s not acquired within %d ms; reading without the lock', $id, $this->lockWaitMs),
                    \E_USER_WARNING
                );

                return;
            }
            \usleep(1000);
        }
        $this->lockKey = $lockKey;
        $this->lockToken = $token;
        $this->lockedId = $id;
    }

    /**
     * One E_USER_WARNING for an exception of the store while $doing session
     * $id; false, the callback's failure (PHP then adds its own warning).
     */
    private function storeFailed(\Exception $e, string $doing, string $id): false
    {
        \trigger_error(
            \sprintf('ephpm session store error while %s session %s: %s: %s', $doing, $id, $e::class, $e->getMessage()),
            \E_USER_WARNING
        );

        return false;
    }

    /**
     * Whether this handler may change session $id: true without a lock of
     * its own (locking off, or not acquired: see the class docs); with one,
     * only while the lock still holds this handler's token, whose TTL is
     * then refreshed. Otherwise one E_USER_WARNING.
     */
    private function lockStillHeld(string $id, string $doing): bool
    {
        if ($this->lockKey === null || $this->lockToken === null) {
            return true;
        }
        $ops = $this->ops;
        \assert($ops === null || $ops instanceof LockingKvOpsInterface);
        $ttl = $this->lockTtlSeconds;
        if ($ttl > 0) {
            $held = $ops === null
                ? \ephpm_kv_expire_if($this->lockKey, $this->lockToken, $ttl)
                : $ops->expireIf($this->lockKey, $this->lockToken, $ttl);
        } else {
            // A lock without TTL: nothing to refresh, only to compare.
            $held = ($ops === null ? \ephpm_kv_get($this->lockKey) : $ops->get($this->lockKey)) === $this->lockToken;
        }
        if (!$held) {
            \trigger_error(
                \sprintf('ephpm session lock for %s not held (it expired or was taken over); not %s the session', $id, $doing),
                \E_USER_WARNING
            );
        }

        return $held;
    }

    /**
     * Releases this handler's lock, if any (compare-and-delete on its
     * token). The handler forgets the lock even when the store fails (the
     * exception propagates): the lock then expires after its TTL.
     */
    private function releaseLock(): void
    {
        $lockKey = $this->lockKey;
        $lockToken = $this->lockToken;
        $this->lockKey = null;
        $this->lockToken = null;
        $this->lockedId = null;
        if ($lockKey !== null && $lockToken !== null) {
            $ops = $this->ops;
            \assert($ops === null || $ops instanceof LockingKvOpsInterface);
            if ($ops === null) {
                \ephpm_kv_del_if($lockKey, $lockToken);
            } else {
                $ops->delIf($lockKey, $lockToken);
            }
        }
    }
}

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler;

/**
 * Redis through phpredis (\Redis or \RedisCluster), with the semantics of
 * the ephpm_kv functions. The connection must not use a serializer or
 * compression option that changes the stored bytes.
 *
 * On a Redis Cluster every operation, the Lua scripts included, touches
 * exactly one key (KEYS[1]), so keys need no hash tag: a session and its
 * lock may be served by different masters (tests/RedisClusterSessionHandlerTest.php).
 * Errors of phpredis (RedisException, RedisClusterException: a node down,
 * a failover under way) propagate; KvSessionHandler turns them into warnings.
 */
final class RedisKvOps implements LockingKvOpsInterface
{
    /** Compare-and-delete: removes KEYS[1] only when its value is ARGV[1]. */
    private const DEL_IF_SCRIPT = <<<'LUA'
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        LUA;

    /** Compare-and-expire: a new TTL (ARGV[2] s) on KEYS[1] only when its value is ARGV[1]. */
    private const EXPIRE_IF_SCRIPT = <<<'LUA'
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('EXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        LUA;

    /** The connection, once made. */
    private \Redis|\RedisCluster|null $client;

    /** @var null|\Closure(): (\Redis|\RedisCluster) makes the connection at first use */
    private readonly ?\Closure $connect;

    /**
     * A connection, or a closure that makes one at the first operation:
     * `new RedisKvOps(fn () => new \RedisCluster(null, $seeds, 1.0, 1.0))`.
     * With the closure a failing connection (every seed down, a node
     * closing the socket during a failover) throws inside the operation,
     * where KvSessionHandler turns it into a warning, rather than in the
     * page that builds the handler, where it would be a fatal error. After
     * a failure the next operation tries to connect again.
     */
    public function __construct(\Redis|\RedisCluster|\Closure $redis)
    {
        if ($redis instanceof \Closure) {
            $this->client = null;
            $this->connect = $redis;
        } else {
            $this->client = $redis;
            $this->connect = null;
        }
    }

    private function redis(): \Redis|\RedisCluster
    {
        if ($this->client === null) {
            \assert($this->connect !== null);
            $this->client = ($this->connect)();
        }

        return $this->client;
    }

    public function get(string $key): ?string
    {
        $value = $this->redis()->get($key);

        return \is_string($value) ? $value : null;
    }

    public function set(string $key, string $value, int $ttlSeconds = 0): bool
    {
        $result = $ttlSeconds > 0
            ? $this->redis()->set($key, $value, ['EX' => $ttlSeconds])
            : $this->redis()->set($key, $value);

        return $result === true;
    }

    public function del(string $key): int
    {
        return (int) $this->redis()->del($key);
    }

    public function exists(string $key): bool
    {
        return (int) $this->redis()->exists($key) > 0;
    }

    public function incrBy(string $key, int $delta): int
    {
        try {
            $result = $this->redis()->incrBy($key, $delta);
        } catch (\RedisException|\RedisClusterException $e) {
            throw new \RuntimeException(\sprintf('INCRBY on key "%s" failed: %s', $key, $e->getMessage()), 0, $e);
        }
        if (!\is_int($result)) {
            $error = $this->redis()->getLastError();
            $this->redis()->clearLastError();
            throw new \RuntimeException(\sprintf(
                'the value at key "%s" is not an integer: %s',
                $key,
                $error ?? 'INCRBY failed'
            ));
        }

        return $result;
    }

    public function expire(string $key, int $ttlSeconds): bool
    {
        if ($ttlSeconds <= 0) {
            return false;
        }

        return (bool) $this->redis()->expire($key, $ttlSeconds);
    }

    public function ttl(string $key): int
    {
        return (int) $this->redis()->ttl($key);
    }

    public function pttl(string $key): int
    {
        return (int) $this->redis()->pttl($key);
    }

    public function setNx(string $key, string $value, int $ttlSeconds): bool
    {
        $options = $ttlSeconds > 0 ? ['NX', 'EX' => $ttlSeconds] : ['NX'];

        return $this->redis()->set($key, $value, $options) === true;
    }

    public function delIf(string $key, string $value): bool
    {
        return (int) $this->redis()->eval(self::DEL_IF_SCRIPT, [$key, $value], 1) === 1;
    }

    public function expireIf(string $key, string $value, int $ttlSeconds): bool
    {
        if ($ttlSeconds <= 0) {
            return false;
        }

        return (int) $this->redis()->eval(self::EXPIRE_IF_SCRIPT, [$key, $value, (string) $ttlSeconds], 1) === 1;
    }
}

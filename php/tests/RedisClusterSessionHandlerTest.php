<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\KvSessionHandler;
use Ephpm\SessionHandler\RedisKvOps;
use PHPUnit\Framework\TestCase;

/**
 * The session handler with locking on RedisKvOps over \RedisCluster
 * ($REDIS_CLUSTER_SEEDS, see RedisClusterKvOpsTest): sessions whose data key
 * and lock key live on different masters, the owner-only release through
 * the Lua compare-and-delete, a lost lock, a dead holder's lock expiring,
 * and sessions of several megabytes.
 *
 * @group redis-cluster
 */
final class RedisClusterSessionHandlerTest extends TestCase
{
    use CollectsWarnings;

    private \RedisCluster $redis;

    private RedisKvOps $ops;

    private string $prefix;

    protected function setUp(): void
    {
        $this->redis = RedisClusterKvOpsTest::connect();
        $this->ops = new RedisKvOps($this->redis);
        $this->prefix = 'cluster-session:' . bin2hex(random_bytes(6)) . ':';
    }

    private function handler(int $lockWaitMs = 5000, int $lockTtlSeconds = 30): KvSessionHandler
    {
        return new KvSessionHandler($this->prefix, 100, $this->ops, true, $lockWaitMs, $lockTtlSeconds);
    }

    /** "host:port" of the master serving $key's slot. */
    private function masterOf(string $key): string
    {
        $slot = $this->redis->rawCommand($key, 'CLUSTER', 'KEYSLOT', $key);
        self::assertIsInt($slot);
        foreach ($this->redis->rawCommand($key, 'CLUSTER', 'SLOTS') as $range) {
            if ($range[0] <= $slot && $slot <= $range[1]) {
                return $range[2][0] . ':' . $range[2][1];
            }
        }
        self::fail("no master serves slot $slot");
    }

    /**
     * A session id whose data key and lock key are served by different masters.
     * A node's view of the slots can lag while the cluster settles (a clean-clone
     * run once saw every slot on one master mid-suite): the ids are drawn again,
     * with the map asked afresh, until a 30 s deadline.
     */
    private function idAcrossMasters(): string
    {
        $deadline = microtime(true) + 30;
        do {
            $masters = [];
            for ($i = 0; $i < 100; $i++) {
                $id = bin2hex(random_bytes(13));
                $data = $this->masterOf($this->prefix . $id);
                $lock = $this->masterOf($this->prefix . 'lock:' . $id);
                if ($data !== $lock) {
                    return $id;
                }
                $masters[$data] = true;
            }
            usleep(200_000);
        } while (microtime(true) < $deadline);
        self::fail(
            'for 30 s, 100 session ids at a time all had their data and lock on one master (masters seen: '
            . implode(', ', array_keys($masters)) . '; CLUSTER SLOTS: '
            . json_encode($this->redis->rawCommand($this->prefix, 'CLUSTER', 'SLOTS')) . ')'
        );
    }

    public function testLockAndDataOnDifferentMasters(): void
    {
        $id = $this->idAcrossMasters();
        $lockKey = $this->prefix . 'lock:' . $id;
        $first = $this->handler();
        self::assertSame('', $first->read($id));
        $token = $this->ops->get($lockKey);
        self::assertIsString($token);
        self::assertSame(30, $this->ops->ttl($lockKey));

        $second = $this->handler(lockWaitMs: 50);
        self::assertSame('', $this->collectingWarnings(static fn () => $second->read($id)));
        self::assertSame(
            [[E_USER_WARNING, "ephpm session lock for $id not acquired within 50 ms; reading without the lock"]],
            $this->warnings
        );
        self::assertTrue($second->close());
        self::assertSame($token, $this->ops->get($lockKey), 'a handler that never owned the lock leaves it');

        self::assertTrue($first->write($id, 'user|s:5:"alice";'));
        self::assertTrue($first->close());
        self::assertFalse($this->ops->exists($lockKey), 'the owner released its lock');

        $this->warnings = [];
        $third = $this->handler(lockWaitMs: 50);
        self::assertSame('user|s:5:"alice";', $this->collectingWarnings(static fn () => $third->read($id)));
        self::assertSame([], $this->warnings);
        self::assertTrue($third->destroy($id));
        self::assertFalse($this->ops->exists($this->prefix . $id));
        self::assertFalse($this->ops->exists($lockKey));
    }

    public function testOnlyTheOwnersTokenReleasesAndALostLockRefusesTheWrite(): void
    {
        $id = $this->idAcrossMasters();
        $lockKey = $this->prefix . 'lock:' . $id;
        $h = $this->handler();
        $h->read($id);
        self::assertFalse($this->ops->delIf($lockKey, bin2hex(random_bytes(16))), 'a foreign token releases nothing');
        self::assertTrue($this->ops->exists($lockKey));
        // As if the lock had expired and another request had taken it.
        $this->ops->set($lockKey, 'other-owner', 30);
        self::assertTrue($this->ops->set($this->prefix . $id, 'by|s:5:"other";', 100));

        self::assertFalse($this->collectingWarnings(static fn () => $h->write($id, 'by|s:4:"mine";')));
        self::assertSame(
            [[E_USER_WARNING, "ephpm session lock for $id not held (it expired or was taken over); not writing the session"]],
            $this->warnings
        );
        self::assertSame('by|s:5:"other";', $this->ops->get($this->prefix . $id));
        self::assertTrue($h->close());
        self::assertSame('other-owner', $this->ops->get($lockKey), "close() leaves the other owner's lock");
        self::assertTrue($this->ops->delIf($lockKey, 'other-owner'));
        $this->ops->del($this->prefix . $id);
    }

    public function testLockOfADeadHolderExpiresAfterItsTtl(): void
    {
        $id = $this->idAcrossMasters();
        $dead = $this->handler(lockTtlSeconds: 1);
        $dead->read($id);
        unset($dead); // never closed, as if its process had died
        $next = $this->handler(lockWaitMs: 5000);
        self::assertSame('', $this->collectingWarnings(static fn () => $next->read($id)));
        self::assertSame([], $this->warnings, 'the lock expired within the wait');
        self::assertSame(30, $this->ops->ttl($this->prefix . 'lock:' . $id));
        $next->close();
    }

    /** @return iterable<string, array{int}> */
    public static function sizes(): iterable
    {
        yield '1 MiB' => [1];
        yield '4 MiB' => [4];
    }

    /** @dataProvider sizes */
    public function testLargeSessions(int $mib): void
    {
        $id = $this->idAcrossMasters();
        $data = substr(str_repeat(md5("large:$mib", true), ($mib << 16) + 1), 0, ($mib << 20) + 3);
        $h = $this->handler();
        self::assertSame('', $h->read($id));
        self::assertTrue($h->write($id, $data));
        self::assertTrue($h->close());
        self::assertTrue($data === $h->read($id), "the $mib MiB session came back changed");
        self::assertTrue($h->validateId($id));
        self::assertTrue($h->destroy($id));
        self::assertFalse($h->validateId($id));
        self::assertTrue($h->close());
    }
}

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\KvSessionHandler;
use Ephpm\SessionHandler\LockingKvOpsInterface;
use Ephpm\SessionHandler\RedisKvOps;

/** The contract on Redis through phpredis, at the unix socket named by $REDIS_SOCKET. */
final class RedisKvOpsTest extends KvOpsContractTestCase
{
    protected function createOps(): LockingKvOpsInterface
    {
        $socket = getenv('REDIS_SOCKET');
        if ($socket === false || $socket === '') {
            self::markTestSkipped('REDIS_SOCKET is not set (the unix socket of a redis-server to test against)');
        }
        $redis = new \Redis();
        $redis->connect($socket);

        return new RedisKvOps($redis);
    }

    public function testAClosureConnectsAtTheFirstOperationOnly(): void
    {
        $socket = (string) getenv('REDIS_SOCKET');
        $calls = 0;
        $ops = new RedisKvOps(static function () use (&$calls, $socket): \Redis {
            ++$calls;
            $redis = new \Redis();
            $redis->connect($socket);

            return $redis;
        });
        self::assertSame(0, $calls);
        $key = 'lazy:' . bin2hex(random_bytes(8));
        self::assertNull($ops->get($key));
        self::assertTrue($ops->set($key, 'v', 10));
        self::assertSame('v', $ops->get($key));
        self::assertSame(1, $ops->del($key));
        self::assertSame(1, $calls);
    }

    public function testAFailedLazyConnectionIsAWarningOfTheHandler(): void
    {
        $calls = 0;
        $ops = new RedisKvOps(static function () use (&$calls): \Redis {
            ++$calls;

            throw new \RedisException('socket error on read socket');
        });
        $handler = new KvSessionHandler('lazy:', 10, $ops, true);
        $warnings = [];
        set_error_handler(static function (int $errno, string $message) use (&$warnings): bool {
            $warnings[] = [$errno, $message];

            return true;
        });
        try {
            $read = $handler->read('id');
            $closed = $handler->close();
        } finally {
            restore_error_handler();
        }
        self::assertFalse($read);
        self::assertTrue($closed);
        self::assertSame(
            [[E_USER_WARNING, 'ephpm session store error while reading session id: RedisException: socket error on read socket']],
            $warnings
        );
        self::assertSame(1, $calls);
        $this->expectException(\RedisException::class);
        $ops->get('k');
    }

    public function testExpireWithNonPositiveTtlDoesNotCallRedis(): void
    {
        $redis = $this->getMockBuilder(\Redis::class)->disableOriginalConstructor()->getMock();
        $redis->expects(self::never())->method('expire');
        $ops = new RedisKvOps($redis);
        self::assertFalse($ops->expire('k', 0));
        self::assertFalse($ops->expire('k', -1));
    }
}

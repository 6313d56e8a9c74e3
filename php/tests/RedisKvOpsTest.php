<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

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

    public function testExpireWithNonPositiveTtlDoesNotCallRedis(): void
    {
        $redis = $this->getMockBuilder(\Redis::class)->disableOriginalConstructor()->getMock();
        $redis->expects(self::never())->method('expire');
        $ops = new RedisKvOps($redis);
        self::assertFalse($ops->expire('k', 0));
        self::assertFalse($ops->expire('k', -1));
    }
}

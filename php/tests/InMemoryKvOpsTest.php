<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\LockingKvOpsInterface;

final class InMemoryKvOpsTest extends KvOpsContractTestCase
{
    protected function createOps(): LockingKvOpsInterface
    {
        return new InMemoryKvOps();
    }

    public function testKeysExpireOnTheInjectedClock(): void
    {
        $now = 1_000;
        $ops = new InMemoryKvOps(static function () use (&$now): int {
            return $now;
        });
        $ops->set('k', 'v', 2);
        self::assertSame(2000, $ops->pttl('k'));
        $now += 1;
        self::assertSame(1999, $ops->pttl('k'));
        self::assertSame(2, $ops->ttl('k'));
        $now += 1_000;
        self::assertSame(1, $ops->ttl('k'), 'ttl rounds up');
        $now += 998;
        self::assertSame(1, $ops->pttl('k'));
        self::assertSame(1, $ops->ttl('k'));
        self::assertSame('v', $ops->get('k'));
        $now += 1;
        self::assertNull($ops->get('k'));
        self::assertFalse($ops->exists('k'));
        self::assertSame(-2, $ops->ttl('k'));
        self::assertSame(0, $ops->del('k'));
        self::assertFalse($ops->expire('k', 5));
        self::assertTrue($ops->setNx('k', 'again', 1), 'an expired key counts as absent');
        self::assertSame(1, $ops->incrBy('n', 1));
    }

    public function testIncrByRejectsOverflowAndNonDecimal(): void
    {
        $ops = new InMemoryKvOps();
        $ops->set('max', (string) PHP_INT_MAX);
        foreach (['1.5', ' 1', '0x10', '', '1e3', '99999999999999999999'] as $bad) {
            $ops->set('bad', $bad);
            try {
                $ops->incrBy('bad', 1);
                self::fail("incrBy accepted '{$bad}'");
            } catch (\RuntimeException) {
                self::assertSame($bad, $ops->get('bad'));
            }
        }
        $this->expectException(\RuntimeException::class);
        $ops->incrBy('max', 1);
    }
}

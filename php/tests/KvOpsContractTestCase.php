<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\LockingKvOpsInterface;
use PHPUnit\Framework\TestCase;

/**
 * The contract of KvOpsInterface and LockingKvOpsInterface (the semantics of
 * docs/api.md), run against every backend. Each test uses its own key prefix.
 */
abstract class KvOpsContractTestCase extends TestCase
{
    protected LockingKvOpsInterface $ops;

    private string $prefix;

    abstract protected function createOps(): LockingKvOpsInterface;

    protected function setUp(): void
    {
        $this->ops = $this->createOps();
        $this->prefix = 'contract:' . bin2hex(random_bytes(8)) . ':';
    }

    private function key(string $name): string
    {
        return $this->prefix . $name;
    }

    public function testGetOfMissingKeyIsNull(): void
    {
        self::assertNull($this->ops->get($this->key('missing')));
        self::assertFalse($this->ops->exists($this->key('missing')));
    }

    public function testSetThenGetOverwrites(): void
    {
        $k = $this->key('k');
        self::assertTrue($this->ops->set($k, 'one'));
        self::assertSame('one', $this->ops->get($k));
        self::assertTrue($this->ops->exists($k));
        self::assertTrue($this->ops->set($k, 'two'));
        self::assertSame('two', $this->ops->get($k));
        self::assertTrue($this->ops->set($k, ''));
        self::assertSame('', $this->ops->get($k));
        self::assertTrue($this->ops->exists($k));
    }

    public function testBinaryValuesComeBackExactly(): void
    {
        $k = $this->key('bin');
        $value = implode('', array_map('chr', range(0, 255))) . "\0\0tail\0";
        self::assertTrue($this->ops->set($k, $value));
        self::assertSame($value, $this->ops->get($k));
        self::assertTrue($this->ops->setNx($this->key('bin-nx'), $value, 10));
        self::assertSame($value, $this->ops->get($this->key('bin-nx')));
        self::assertTrue($this->ops->delIf($this->key('bin-nx'), $value));
    }

    public function testDelReturnsCount(): void
    {
        $k = $this->key('d');
        self::assertSame(0, $this->ops->del($k));
        $this->ops->set($k, 'v');
        self::assertSame(1, $this->ops->del($k));
        self::assertNull($this->ops->get($k));
        self::assertFalse($this->ops->exists($k));
        self::assertSame(0, $this->ops->del($k));
    }

    public function testIncrByCreatesAndAdds(): void
    {
        $k = $this->key('n');
        self::assertSame(5, $this->ops->incrBy($k, 5));
        self::assertSame(2, $this->ops->incrBy($k, -3));
        self::assertSame('2', $this->ops->get($k));
        self::assertSame(-1, $this->ops->ttl($k));
        $this->ops->set($k, '40');
        self::assertSame(42, $this->ops->incrBy($k, 2));
        self::assertSame('42', $this->ops->get($k));
    }

    public function testIncrByKeepsTtl(): void
    {
        $k = $this->key('n-ttl');
        $this->ops->set($k, '1', 100);
        self::assertSame(11, $this->ops->incrBy($k, 10));
        $ttl = $this->ops->ttl($k);
        self::assertGreaterThanOrEqual(99, $ttl);
        self::assertLessThanOrEqual(100, $ttl);
    }

    public function testIncrByOnNonIntegerThrowsAndKeepsValue(): void
    {
        $k = $this->key('text');
        $this->ops->set($k, 'not a number');
        try {
            $this->ops->incrBy($k, 1);
            self::fail('incrBy on a non-integer did not throw');
        } catch (\RuntimeException $e) {
            self::assertNotSame('', $e->getMessage());
        }
        self::assertSame('not a number', $this->ops->get($k));
    }

    public function testTtlAndPttlOfMissingAndPersistentKeys(): void
    {
        self::assertSame(-2, $this->ops->ttl($this->key('missing')));
        self::assertSame(-2, $this->ops->pttl($this->key('missing')));
        $k = $this->key('persistent');
        $this->ops->set($k, 'v');
        self::assertSame(-1, $this->ops->ttl($k));
        self::assertSame(-1, $this->ops->pttl($k));
        $this->ops->set($k, 'v', 0);
        self::assertSame(-1, $this->ops->ttl($k));
    }

    public function testSetWithTtl(): void
    {
        $k = $this->key('ttl');
        $this->ops->set($k, 'v', 10);
        $ttl = $this->ops->ttl($k);
        self::assertGreaterThanOrEqual(9, $ttl);
        self::assertLessThanOrEqual(10, $ttl);
        $pttl = $this->ops->pttl($k);
        self::assertGreaterThan(9000, $pttl);
        self::assertLessThanOrEqual(10000, $pttl);
        // set without a TTL drops the old one
        $this->ops->set($k, 'v');
        self::assertSame(-1, $this->ops->ttl($k));
    }

    public function testExpire(): void
    {
        $k = $this->key('exp');
        self::assertFalse($this->ops->expire($k, 10), 'expire of a missing key');
        self::assertFalse($this->ops->exists($k), 'expire must not create the key');
        $this->ops->set($k, 'v');
        self::assertTrue($this->ops->expire($k, 50));
        $ttl = $this->ops->ttl($k);
        self::assertGreaterThanOrEqual(49, $ttl);
        self::assertLessThanOrEqual(50, $ttl);
        self::assertSame('v', $this->ops->get($k));
    }

    public function testExpireWithNonPositiveTtlIsANoOp(): void
    {
        $k = $this->key('exp0');
        $this->ops->set($k, 'v');
        self::assertFalse($this->ops->expire($k, 0));
        self::assertFalse($this->ops->expire($k, -5));
        self::assertSame('v', $this->ops->get($k));
        self::assertSame(-1, $this->ops->ttl($k));
        $this->ops->set($k, 'v', 30);
        self::assertFalse($this->ops->expire($k, 0));
        self::assertGreaterThanOrEqual(29, $this->ops->ttl($k));
    }

    public function testSetNx(): void
    {
        $k = $this->key('nx');
        self::assertTrue($this->ops->setNx($k, 'first', 20));
        self::assertFalse($this->ops->setNx($k, 'second', 20));
        self::assertSame('first', $this->ops->get($k));
        $ttl = $this->ops->ttl($k);
        self::assertGreaterThanOrEqual(19, $ttl);
        self::assertLessThanOrEqual(20, $ttl);
        $this->ops->del($k);
        self::assertTrue($this->ops->setNx($k, 'third', 20));
        self::assertSame('third', $this->ops->get($k));
    }

    public function testDelIfDeletesOnlyOnEqualValue(): void
    {
        $k = $this->key('lock');
        self::assertFalse($this->ops->delIf($k, 'token'), 'delIf of a missing key');
        $this->ops->set($k, 'token-a');
        self::assertFalse($this->ops->delIf($k, 'token-b'));
        self::assertFalse($this->ops->delIf($k, 'token-'));
        self::assertFalse($this->ops->delIf($k, 'token-a '));
        self::assertSame('token-a', $this->ops->get($k));
        self::assertTrue($this->ops->delIf($k, 'token-a'));
        self::assertFalse($this->ops->exists($k));
        self::assertFalse($this->ops->delIf($k, 'token-a'));
    }

    public function testExpireIfRefreshesOnlyOnEqualValue(): void
    {
        $k = $this->key('lock-ttl');
        self::assertFalse($this->ops->expireIf($k, 'token', 10), 'expireIf of a missing key');
        $this->ops->set($k, 'token-a', 5);
        self::assertFalse($this->ops->expireIf($k, 'token-b', 100));
        self::assertFalse($this->ops->expireIf($k, 'token-a ', 100));
        self::assertLessThanOrEqual(5, $this->ops->ttl($k));
        self::assertFalse($this->ops->expireIf($k, 'token-a', 0), 'a TTL <= 0 changes nothing');
        self::assertLessThanOrEqual(5, $this->ops->ttl($k));
        self::assertTrue($this->ops->expireIf($k, 'token-a', 100));
        self::assertGreaterThan(90, $this->ops->ttl($k));
        self::assertSame('token-a', $this->ops->get($k));
        $this->ops->del($k);
    }
}

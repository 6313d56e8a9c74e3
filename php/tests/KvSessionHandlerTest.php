<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\KvSessionHandler;
use Ephpm\SessionHandler\SapiKvOps;
use PHPUnit\Framework\TestCase;

final class KvSessionHandlerTest extends TestCase
{
    use CollectsWarnings;

    private int $now = 1_000_000;

    private InMemoryKvOps $ops;

    protected function setUp(): void
    {
        $this->ops = new InMemoryKvOps(fn (): int => $this->now);
    }

    private function handler(?int $ttl = 100, bool $locking = false, int $lockWaitMs = 5000, int $lockTtlSeconds = 30): KvSessionHandler
    {
        return new KvSessionHandler('s:', $ttl, $this->ops, $locking, $lockWaitMs, $lockTtlSeconds);
    }

    public function testOpenAndCloseReturnTrue(): void
    {
        $h = $this->handler();
        self::assertTrue($h->open('/unused', 'PHPSESSID'));
        self::assertTrue($h->close());
    }

    public function testReadOfMissingSessionIsEmptyString(): void
    {
        self::assertSame('', $this->handler()->read('nosuch'));
    }

    public function testWriteThenReadUsesPrefixAndTtl(): void
    {
        $h = $this->handler(100);
        self::assertTrue($h->write('abc', 'a|s:1:"x";'));
        self::assertSame('a|s:1:"x";', $this->ops->get('s:abc'));
        self::assertSame(100, $this->ops->ttl('s:abc'));
        self::assertSame('a|s:1:"x";', $h->read('abc'));
        $this->now += 100_000;
        self::assertSame('', $h->read('abc'), 'the session expires after its TTL');
    }

    public function testDefaultPrefix(): void
    {
        $h = new KvSessionHandler(ops: $this->ops);
        $h->write('id1', 'data');
        self::assertSame('data', $this->ops->get('php_session:id1'));
    }

    public function testTtlDefaultsToGcMaxlifetime(): void
    {
        // bootstrap.php sets session.gc_maxlifetime = 1234
        self::assertSame('1234', ini_get('session.gc_maxlifetime'));
        $h = new KvSessionHandler('s:', null, $this->ops);
        $h->write('id', 'x');
        self::assertSame(1234, $this->ops->ttl('s:id'));
    }

    public function testTtlFallsBackTo1440WhenGcMaxlifetimeIsZero(): void
    {
        self::assertSame("1440\n", $this->runFixture('default_ttl.php', ['-d', 'session.gc_maxlifetime=0']));
        self::assertSame("77\n", $this->runFixture('default_ttl.php', ['-d', 'session.gc_maxlifetime=77']));
    }

    public function testTtlFollowsGcMaxlifetimeChangedAfterConstruction(): void
    {
        self::assertSame("5\n9\n", $this->runFixture('ttl_set_after_handler.php', []));
    }

    public function testExplicitTtlWins(): void
    {
        $h = $this->handler(5);
        $h->write('id', 'x');
        self::assertSame(5000, $this->ops->pttl('s:id'));
    }

    public function testWriteOverwritesAndResetsTtl(): void
    {
        $h = $this->handler(100);
        $h->write('id', 'one');
        $this->now += 60_000;
        $h->write('id', 'two');
        self::assertSame('two', $h->read('id'));
        self::assertSame(100_000, $this->ops->pttl('s:id'));
    }

    public function testUpdateTimestampRefreshesTtlWithoutRewriting(): void
    {
        $h = $this->handler(100);
        $h->write('id', 'stored');
        $this->now += 70_000;
        self::assertSame(30_000, $this->ops->pttl('s:id'));
        self::assertTrue($h->updateTimestamp('id', 'other'));
        self::assertSame(100_000, $this->ops->pttl('s:id'));
        self::assertSame('stored', $this->ops->get('s:id'), 'updateTimestamp only touches the TTL');
    }

    public function testUpdateTimestampWritesWhenTheKeyVanished(): void
    {
        $h = $this->handler(100);
        $h->write('id', 'old');
        $this->now += 100_000;
        self::assertFalse($this->ops->exists('s:id'));
        self::assertTrue($h->updateTimestamp('id', 'data'));
        self::assertSame('data', $this->ops->get('s:id'));
        self::assertSame(100, $this->ops->ttl('s:id'));
    }

    public function testDestroy(): void
    {
        $h = $this->handler();
        $h->write('id', 'x');
        self::assertTrue($h->destroy('id'));
        self::assertFalse($this->ops->exists('s:id'));
        self::assertTrue($h->destroy('id'), 'destroying a missing session succeeds');
        self::assertTrue($h->destroy('never-existed'));
    }

    public function testGcReturnsZero(): void
    {
        self::assertSame(0, $this->handler()->gc(1440));
    }

    public function testValidateId(): void
    {
        $h = $this->handler(100);
        self::assertFalse($h->validateId('id'));
        $h->write('id', '');
        self::assertTrue($h->validateId('id'), 'an empty session is still a session');
        $this->now += 100_000;
        self::assertFalse($h->validateId('id'), 'an expired session is not valid');
    }

    public function testCreateSid(): void
    {
        $h = $this->handler();
        $a = $h->create_sid();
        $b = $h->create_sid();
        self::assertNotSame($a, $b);
        $length = (int) ini_get('session.sid_length');
        self::assertMatchesRegularExpression('/\A[a-zA-Z0-9,-]{' . $length . '}\z/', $a);
        self::assertFalse($h->validateId($a));
    }

    public function testBinaryDataKeptExactly(): void
    {
        $h = $this->handler();
        $data = implode('', array_map('chr', range(0, 255))) . "\0";
        self::assertTrue($h->write('bin', $data));
        self::assertSame($data, $this->ops->get('s:bin'));
        self::assertSame($data, $h->read('bin'));
    }

    /** @return iterable<string, array{string}> */
    public static function serializeHandlers(): iterable
    {
        yield 'php' => ['php'];
        yield 'php_binary' => ['php_binary'];
        yield 'php_serialize' => ['php_serialize'];
        if (\extension_loaded('igbinary')) {
            yield 'igbinary' => ['igbinary'];
        }
    }

    /** @dataProvider serializeHandlers */
    public function testRealSessionBytesKeptExactly(string $serializer): void
    {
        $args = $serializer === 'igbinary' ? ['-d', 'extension=igbinary.so'] : [];
        $out = $this->runFixture('session_roundtrip.php', [...$args], [$serializer]);
        $result = json_decode($out, true, 8, JSON_THROW_ON_ERROR);
        self::assertNotSame('', base64_decode($result['encoded'], true));
        self::assertSame($result['encoded'], $result['stored'], 'the store holds exactly the bytes PHP encoded');
        self::assertTrue($result['same_session'], 'reading the session back gives the same $_SESSION');
    }

    public function testDefaultOpsAreTheExtension(): void
    {
        if (\function_exists('ephpm_kv_get')) {
            $prefix = 'handler-default:' . bin2hex(random_bytes(8)) . ':';
            $h = new KvSessionHandler($prefix, 60);
            self::assertTrue($h->write('id', "x\0y"));
            self::assertSame("x\0y", ephpm_kv_get($prefix . 'id'));
            self::assertSame("x\0y", $h->read('id'));
            self::assertTrue($h->destroy('id'));
        } else {
            $this->expectException(\RuntimeException::class);
            $this->expectExceptionMessage('the ephpm_kv extension is not loaded');
            new SapiKvOps();
        }
    }

    public function testDefaultOpsRefreshValidateAndLockThroughTheExtension(): void
    {
        if (!\function_exists('ephpm_kv_get')) {
            $this->expectException(\RuntimeException::class);
            $this->expectExceptionMessage('the ephpm_kv extension is not loaded');
            new KvSessionHandler();
        }
        $prefix = 'handler-default:' . bin2hex(random_bytes(8)) . ':';
        $h = new KvSessionHandler($prefix, 60, null, true, 50, 5);
        self::assertFalse($h->validateId('id'));
        self::assertSame('', $h->read('id'));
        self::assertSame(5, ephpm_kv_ttl($prefix . 'lock:id'), 'read() holds the lock, with its TTL');
        $other = new KvSessionHandler($prefix, 60, null, true, 50, 5);
        $this->collectingWarnings(fn () => $other->read('id'));
        self::assertCount(1, $this->warnings, 'a second handler waits for the lock, then warns');
        self::assertTrue($h->write('id', 'a|i:1;'));
        self::assertTrue($h->validateId('id'));
        ephpm_kv_expire($prefix . 'id', 3);
        self::assertTrue($h->updateTimestamp('id', 'a|i:1;'));
        self::assertSame(60, ephpm_kv_ttl($prefix . 'id'), 'updateTimestamp() restores the TTL');
        ephpm_kv_del($prefix . 'id');
        self::assertTrue($h->updateTimestamp('id', 'a|i:2;'), 'a vanished session is written again');
        self::assertSame('a|i:2;', ephpm_kv_get($prefix . 'id'));
        self::assertTrue($h->close());
        self::assertFalse(ephpm_kv_exists($prefix . 'lock:id'), 'close() releases the lock');
        $other->close();
        self::assertTrue($h->destroy('id'));
        self::assertFalse(ephpm_kv_exists($prefix . 'id'));
    }

    public function testLockingNeedsLockingOps(): void
    {
        new KvSessionHandler('s:', 10, new PlainKvOps(), false);
        $this->expectException(\InvalidArgumentException::class);
        new KvSessionHandler('s:', 10, new PlainKvOps(), true);
    }

    public function testLockingIsOffByDefault(): void
    {
        $h = $this->handler();
        $h->read('id');
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testReadTakesTheLockAndCloseReleasesIt(): void
    {
        $h = $this->handler(locking: true);
        self::assertSame('', $h->read('id'));
        $token = $this->ops->get('s:lock:id');
        self::assertIsString($token);
        self::assertMatchesRegularExpression('/\A[0-9a-f]{32}\z/', $token);
        self::assertSame(30, $this->ops->ttl('s:lock:id'));
        $h->write('id', 'data');
        self::assertTrue($h->close());
        self::assertFalse($this->ops->exists('s:lock:id'));
        self::assertSame('data', $this->ops->get('s:id'));
    }

    public function testDestroyReleasesTheLock(): void
    {
        $h = $this->handler(locking: true);
        $h->read('id');
        self::assertTrue($this->ops->exists('s:lock:id'));
        self::assertTrue($h->destroy('id'));
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testSecondHandlerWaitsThenGetsTheLockAfterRelease(): void
    {
        $ops = new HookedKvOps($this->ops);
        $first = new KvSessionHandler('s:', 100, $ops, true);
        $second = new KvSessionHandler('s:', 100, $ops, true, 5000);
        self::assertSame('', $first->read('id'));

        // While the second handler polls, the first one finishes its request.
        $ops->afterFailedSetNx = static function (int $failures) use ($first): void {
            if ($failures === 5) {
                $first->write('id', 'written by first');
                $first->close();
            }
        };
        $data = $this->collectingWarnings(static fn () => $second->read('id'));
        self::assertSame('written by first', $data);
        self::assertSame(5, $ops->failedSetNx, 'the second handler polled until the lock was released');
        self::assertSame([], $this->warnings);
        self::assertTrue($this->ops->exists('s:lock:id'), 'the second handler now holds the lock');
        $second->close();
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testHeldLockTimesOutWithOneWarningAndReadsAnyway(): void
    {
        $first = $this->handler(locking: true);
        $first->read('id');
        $first->write('id', 'data');
        $firstToken = $this->ops->get('s:lock:id');

        $second = $this->handler(locking: true, lockWaitMs: 30);
        $start = hrtime(true);
        $data = $this->collectingWarnings(static fn () => $second->read('id'));
        $elapsedMs = (hrtime(true) - $start) / 1e6;

        self::assertSame('data', $data);
        self::assertGreaterThanOrEqual(30, $elapsedMs);
        self::assertSame(
            [[E_USER_WARNING, 'ephpm session lock for id not acquired within 30 ms; reading without the lock']],
            $this->warnings
        );
        // The second handler never owned the lock: its close must not release it.
        $second->write('id', 'second');
        $second->close();
        self::assertSame($firstToken, $this->ops->get('s:lock:id'));
        $first->close();
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testOnlyTheOwnersTokenReleases(): void
    {
        $first = $this->handler(locking: true);
        $first->read('id');
        $token = $this->ops->get('s:lock:id');
        self::assertIsString($token);
        self::assertFalse($this->ops->delIf('s:lock:id', bin2hex(random_bytes(16))));
        // The lock expires and someone else takes it: the old owner's close leaves it alone.
        $this->now += 30_000;
        $second = $this->handler(locking: true);
        $second->read('id');
        $secondToken = $this->ops->get('s:lock:id');
        self::assertNotSame($token, $secondToken);
        $first->close();
        self::assertSame($secondToken, $this->ops->get('s:lock:id'));
        $second->close();
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testUsingTheSessionRefreshesTheLock(): void
    {
        $h = $this->handler(locking: true, lockTtlSeconds: 10);
        $h->read('id');
        // Each use within the TTL renews it: 25 s in all, lock still ours.
        foreach ([8_000, 8_000, 9_000] as $step) {
            $this->now += $step;
            self::assertTrue($h->write('id', 'n|i:1;'));
            self::assertSame(10_000, $this->ops->pttl('s:lock:id'));
        }
        $this->now += 9_000;
        self::assertTrue($h->updateTimestamp('id', 'n|i:1;'));
        self::assertSame(10_000, $this->ops->pttl('s:lock:id'));
        $h->close();
        self::assertFalse($this->ops->exists('s:lock:id'));
    }

    public function testALostLockRefusesTheWriteWithAWarning(): void
    {
        $first = $this->handler(locking: true, lockTtlSeconds: 10);
        $first->read('id');
        // The lock expires; another request takes it and writes the session.
        $this->now += 10_000;
        $second = $this->handler(locking: true, lockTtlSeconds: 10);
        self::assertSame('', $second->read('id'));
        self::assertTrue($second->write('id', 'by|s:6:"second";'));
        $second->close();

        $written = $this->collectingWarnings(static fn () => $first->write('id', 'by|s:5:"first";'));
        self::assertFalse($written);
        self::assertSame(
            [[E_USER_WARNING, 'ephpm session lock for id not held (it expired or was taken over); not writing the session']],
            $this->warnings
        );
        self::assertSame('by|s:6:"second";', $this->ops->get('s:id'), "the other request's write stays");
        $this->warnings = [];
        self::assertFalse($this->collectingWarnings(static fn () => $first->destroy('id')));
        self::assertCount(1, $this->warnings);
        self::assertSame('by|s:6:"second";', $this->ops->get('s:id'), 'not destroyed either');
        $first->close();
    }

    public function testLockOfADeadHolderExpiresAfterItsTtl(): void
    {
        $dead = $this->handler(locking: true, lockTtlSeconds: 10);
        $dead->read('id');
        unset($dead); // never closed, as if its process had died
        self::assertSame(10_000, $this->ops->pttl('s:lock:id'));

        $this->now += 9_999;
        $waiting = $this->handler(locking: true, lockWaitMs: 5);
        $this->collectingWarnings(static fn () => $waiting->read('id'));
        self::assertCount(1, $this->warnings, 'the lock is still held 1 ms before it expires');
        $waiting->close();

        $this->warnings = [];
        $this->now += 1;
        $next = $this->handler(locking: true, lockWaitMs: 5);
        $this->collectingWarnings(static fn () => $next->read('id'));
        self::assertSame([], $this->warnings, 'the expired lock is free');
        self::assertSame(30, $this->ops->ttl('s:lock:id'));
    }

    public function testReadingAnotherIdReleasesThePreviousLock(): void
    {
        $h = $this->handler(locking: true);
        $h->read('a');
        $h->read('a');
        self::assertTrue($this->ops->exists('s:lock:a'));
        $h->read('b');
        self::assertFalse($this->ops->exists('s:lock:a'));
        self::assertTrue($this->ops->exists('s:lock:b'));
        $h->close();
        self::assertFalse($this->ops->exists('s:lock:b'));
    }

    public function testStoreErrorsAreOneWarningEachAndAFailedCallback(): void
    {
        $ops = new FailingKvOps();
        $h = new KvSessionHandler('s:', 100, $ops, true);
        $ops->down = true;
        $results = $this->collectingWarnings(static fn () => [
            $h->read('id'),
            $h->write('id', 'x'),
            $h->updateTimestamp('id', 'x'),
            $h->validateId('id'),
            $h->destroy('id'),
            $h->close(),
        ]);
        self::assertSame([false, false, false, false, false, true], $results);
        $prefix = 'ephpm session store error while ';
        $suffix = ' session id: RuntimeException: Connection refused';
        self::assertSame(
            [
                [E_USER_WARNING, $prefix . 'reading' . $suffix],
                [E_USER_WARNING, $prefix . 'writing' . $suffix],
                [E_USER_WARNING, $prefix . 'refreshing' . $suffix],
                [E_USER_WARNING, $prefix . 'validating the id of' . $suffix],
                [E_USER_WARNING, $prefix . 'destroying' . $suffix],
            ],
            $this->warnings,
            'close() without a lock has nothing to release'
        );
        $ops->down = false;
        self::assertFalse($ops->inner->exists('s:lock:id'), 'no lock was taken');
        self::assertSame('', $h->read('id'), 'the store is back');
    }

    public function testAStoreErrorAtCloseForgetsTheLockWhichThenExpires(): void
    {
        $ops = new FailingKvOps($this->ops);
        $h = new KvSessionHandler('s:', 100, $ops, true, 5000, 10);
        self::assertSame('', $h->read('id'));
        self::assertTrue($h->write('id', 'data'));
        $ops->down = true;
        self::assertFalse($this->collectingWarnings(static fn () => $h->close()));
        self::assertSame(
            [[E_USER_WARNING, 'ephpm session store error while releasing the lock of session id: RuntimeException: Connection refused']],
            $this->warnings
        );
        $ops->down = false;
        self::assertTrue($this->ops->exists('s:lock:id'), 'the lock could not be released');
        self::assertTrue($h->close(), 'the handler holds no lock any more');
        $this->now += 10_000;
        $next = new KvSessionHandler('s:', 100, $ops, true, 5);
        $this->warnings = [];
        self::assertSame('data', $this->collectingWarnings(static fn () => $next->read('id')));
        self::assertSame([], $this->warnings, 'the lock expired after its TTL');
        $next->close();
    }

    /**
     * Runs a script of tests/fixtures in a fresh php process (no php.ini) and
     * returns its stdout.
     *
     * @param list<string> $phpArgs
     * @param list<string> $scriptArgs
     */
    private function runFixture(string $script, array $phpArgs, array $scriptArgs = []): string
    {
        $cmd = [PHP_BINARY, '-n', ...$phpArgs, __DIR__ . '/fixtures/' . $script, ...$scriptArgs];
        $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($proc);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $status = proc_close($proc);
        self::assertSame(0, $status, "{$script} failed: {$err}{$out}");
        self::assertSame('', $err, "{$script} wrote to stderr");

        return (string) $out;
    }
}

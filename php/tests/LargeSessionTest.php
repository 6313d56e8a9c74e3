<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\InMemoryKvOps;
use Ephpm\SessionHandler\KvSessionHandler;
use PHPUnit\Framework\TestCase;

/**
 * Sessions past a megabyte: what `files` stores, the handler stores too,
 * on the ephpm_kv extension (a 64M store) and in memory.
 */
final class LargeSessionTest extends TestCase
{
    /** @return iterable<string, array{int}> */
    public static function sizes(): iterable
    {
        yield '1 MiB' => [1];
        yield '4 MiB' => [4];
        yield '16 MiB' => [16];
    }

    private static function blob(int $mib): string
    {
        $out = '';
        for ($i = 0; \strlen($out) < ($mib << 20) + 3; $i++) {
            $out .= \md5("large:$mib:$i", true);
        }

        return \substr($out, 0, ($mib << 20) + 3);
    }

    private function roundTrip(KvSessionHandler $handler, int $mib): void
    {
        $id = 'large' . $mib . \bin2hex(\random_bytes(4));
        $data = self::blob($mib);
        self::assertTrue($handler->open('', 'PHPSESSID'));
        self::assertSame('', $handler->read($id));
        self::assertTrue($handler->write($id, $data));
        self::assertTrue($handler->close());
        self::assertTrue($handler->open('', 'PHPSESSID'));
        self::assertTrue($data === $handler->read($id), "the $mib MiB session came back changed");
        self::assertTrue($handler->validateId($id));
        self::assertTrue($handler->destroy($id));
        self::assertFalse($handler->validateId($id));
        self::assertTrue($handler->close());
    }

    /** @dataProvider sizes */
    public function testOnTheExtension(int $mib): void
    {
        if (!\function_exists('ephpm_kv_get')) {
            self::markTestSkipped('the ephpm_kv extension is not loaded');
        }
        $this->roundTrip(new KvSessionHandler('large:', 600, null, true), $mib);
    }

    /** @dataProvider sizes */
    public function testInMemory(int $mib): void
    {
        $this->roundTrip(new KvSessionHandler('large:', 600, new InMemoryKvOps(), true), $mib);
    }
}

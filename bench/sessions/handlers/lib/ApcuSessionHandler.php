<?php
/*
 * The user-space session handler an application would write over APCu, in
 * its own class file like any class of a composer project. No locking: APCu
 * has no compare-and-delete to release a lock safely.
 */

declare(strict_types=1);

final class ApcuSessionHandler implements SessionHandlerInterface
{
    private const PREFIX = 'php_session:';

    public function open(string $path, string $name): bool
    {
        return true;
    }

    public function close(): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        $data = apcu_fetch(self::PREFIX . $id, $found);

        return $found ? $data : '';
    }

    public function write(string $id, string $data): bool
    {
        // APCu drops the entry after the TTL: sessions expire without gc().
        return apcu_store(self::PREFIX . $id, $data, (int) ini_get('session.gc_maxlifetime'));
    }

    public function destroy(string $id): bool
    {
        apcu_delete(self::PREFIX . $id);

        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }
}

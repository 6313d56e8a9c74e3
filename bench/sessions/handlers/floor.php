<?php
/*
 * auto_prepend_file of the "floor" variant: PHP's session machinery with no
 * storage at all. Every read hands back the same ~1 KB session (what the
 * page keeps, serialized), every write is dropped. Whatever a real handler
 * costs comes on top of this; the gap between this and the ceiling is PHP's
 * own session work (cookie, cache headers, unserialize and serialize, the
 * handler calls), which no handler can remove.
 */

declare(strict_types=1);

final class NoStorageSessionHandler implements SessionHandlerInterface
{
    private const SESSION = 'counter|i:1;visitor|a:7:{s:4:"user";a:4:{s:2:"id";i:48213;s:5:"login";s:4:"jdoe";s:4:"name";s:8:"Jane Doe";s:5:"email";s:20:"jane.doe@example.com";}s:5:"roles";a:2:{i:0;s:8:"customer";i:1;s:10:"newsletter";}s:10:"csrf_token";s:64:"5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a5f0c2e9a";s:6:"locale";s:5:"en_GB";s:4:"cart";a:4:{i:0;a:4:{s:3:"sku";s:10:"SKU-007919";s:3:"qty";i:1;s:11:"price_cents";i:1299;s:5:"title";s:25:"Item number 1 of the cart";}i:1;a:4:{s:3:"sku";s:10:"SKU-015838";s:3:"qty";i:2;s:11:"price_cents";i:2598;s:5:"title";s:25:"Item number 2 of the cart";}i:2;a:4:{s:3:"sku";s:10:"SKU-023757";s:3:"qty";i:3;s:11:"price_cents";i:3897;s:5:"title";s:25:"Item number 3 of the cart";}i:3;a:4:{s:3:"sku";s:10:"SKU-031676";s:3:"qty";i:4;s:11:"price_cents";i:5196;s:5:"title";s:25:"Item number 4 of the cart";}}s:15:"recently_viewed";a:10:{i:0;i:1000;i:1;i:1001;i:2;i:1002;i:3;i:1003;i:4;i:1004;i:5;i:1005;i:6;i:1006;i:7;i:1007;i:8;i:1008;i:9;i:1009;}s:5:"flash";a:1:{s:4:"info";s:25:"Your settings were saved.";}}last_seen|i:1763778000;';

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
        return self::SESSION;
    }

    public function write(string $id, string $data): bool
    {
        return true;
    }

    public function destroy(string $id): bool
    {
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }
}

session_set_save_handler(new NoStorageSessionHandler(), true);

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\LockingKvOpsInterface;
use Ephpm\SessionHandler\SapiKvOps;

/** The contract on the ephpm_kv extension (run php with extension=libephpm_kv.so and ephpm_kv.dir set). */
final class SapiKvOpsTest extends KvOpsContractTestCase
{
    protected function createOps(): LockingKvOpsInterface
    {
        if (!\function_exists('ephpm_kv_get')) {
            self::markTestSkipped('the ephpm_kv extension is not loaded (run php with -d extension=.../libephpm_kv.so -d ephpm_kv.dir=...)');
        }

        return new SapiKvOps();
    }
}

<?php

declare(strict_types=1);

namespace Ephpm\SessionHandler\Tests;

use Ephpm\SessionHandler\LockingKvOpsInterface;
use Ephpm\SessionHandler\RedisKvOps;

/**
 * The contract on a Redis Cluster through phpredis's \RedisCluster, seeded
 * with the nodes named by $REDIS_CLUSTER_SEEDS ("host:port,host:port,...";
 * tests/tests/cluster.rs starts a cluster and sets it).
 *
 * @group redis-cluster
 */
final class RedisClusterKvOpsTest extends KvOpsContractTestCase
{
    /** A \RedisCluster on the seeds of $REDIS_CLUSTER_SEEDS; skips the test when unset. */
    public static function connect(): \RedisCluster
    {
        $seeds = getenv('REDIS_CLUSTER_SEEDS');
        if ($seeds === false || $seeds === '') {
            self::markTestSkipped('REDIS_CLUSTER_SEEDS is not set (host:port of the nodes of a Redis Cluster to test against)');
        }

        return new \RedisCluster(null, explode(',', $seeds), 2.0, 2.0);
    }

    protected function createOps(): LockingKvOpsInterface
    {
        return new RedisKvOps(self::connect());
    }
}

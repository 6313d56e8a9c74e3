--TEST--
ephpm_kv_wait: snapshot, versions, what bumps them, timeout, a write from another process wakes the waiter
--INI--
ephpm_kv.name=wait
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

function version(string $key): int { return ephpm_kv_wait($key, 0, 0)['version']; }

echo "-- version 0: the current value and version at once\n";
$r = ephpm_kv_wait('k', 0, 0);
var_dump(array_keys($r), $r['value'], is_int($r['version']) && $r['version'] > 0);
$v = $r['version'];
echo "-- nothing changed: a poll gives false, a wait gives false at the timeout\n";
var_dump(ephpm_kv_wait('k', $v, 0));
$t = hrtime(true);
var_dump(ephpm_kv_wait('k', $v, 150));
var_dump((hrtime(true) - $t) / 1e6 >= 150);
echo "-- negative arguments count as 0\n";
var_dump(ephpm_kv_wait('k', -1, -1)['version'] === $v);

echo "-- what gives a new version\n";
$ops = [
    'set' => fn () => ephpm_kv_set('k', '1'),
    'setnx, present' => fn () => ephpm_kv_setnx('k', 'b'),
    'incr' => fn () => ephpm_kv_incr('k'),
    'decr' => fn () => ephpm_kv_decr('k'),
    'incr_by' => fn () => ephpm_kv_incr_by('k', 5),
    'expire' => fn () => ephpm_kv_expire('k', 100),
    'expire_if, matching' => fn () => ephpm_kv_expire_if('k', '6', 100),
    'another key' => fn () => ephpm_kv_set('other', 'x'),
    'del_if, not matching' => fn () => ephpm_kv_del_if('k', 'nope'),
    'del_if, matching' => fn () => ephpm_kv_del_if('k', '6'),
    'setnx, absent' => fn () => ephpm_kv_setnx('k', 'c'),
    'del' => fn () => ephpm_kv_del('k'),
    'del, absent' => fn () => ephpm_kv_del('k'),
    'set again' => fn () => ephpm_kv_set('k', 'd', 1),
    'expiry reaped' => function () { usleep(1100000); return ephpm_kv_get('k'); },
    'flush_all' => fn () => ephpm_kv_flush_all(),
];
foreach ($ops as $name => $op) {
    $before = version('k');
    $op();
    $after = version('k');
    printf("%-22s %s\n", $name, $after > $before ? 'new version' : ($after === $before ? 'same' : 'WENT BACK'));
}

echo "-- a stale version returns at once with the value\n";
$old = version('k');
ephpm_kv_set('k', 'fresh');
$t = hrtime(true);
$r = ephpm_kv_wait('k', $old, 10000);
var_dump($r['value'], $r['version'] > $old, (hrtime(true) - $t) / 1e6 < 5000);

echo "-- woken by a write from another process\n";
$v = version('k');
$child = proc_open(
    kv_child_cmd(['ephpm_kv.name' => 'wait', 'ephpm_kv.size' => '4M'],
        'usleep(300000); ephpm_kv_set("k", "from php-cli " . getmypid());'),
    [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
$t = hrtime(true);
$r = ephpm_kv_wait('k', $v, 20000);
$waited = (hrtime(true) - $t) / 1e6;
$status = proc_get_status($child);
var_dump(str_starts_with($r['value'], 'from php-cli '), $r['version'] > $v, $waited >= 250 && $waited < 20000);
fclose($pipes[1]); fclose($pipes[2]); proc_close($child);
echo "-- deleted: value null\n";
$v = $r['version'];
ephpm_kv_del('k');
var_dump(ephpm_kv_wait('k', $v, 1000)['value']);

echo "-- bad arguments\n";
kv_try(fn () => ephpm_kv_wait('', 0, 0));
kv_try(fn () => ephpm_kv_wait('k', 'x', 0));
kv_try(fn () => ephpm_kv_wait('k'));
echo "-- stats\n";
$s = ephpm_kv_stats();
var_dump($s['watch_slots'], $s['watched_keys'] >= 1, $s['waited_keys'] >= 1);
var_dump(kv_errors());
?>
--EXPECT--
-- version 0: the current value and version at once
array(2) {
  [0]=>
  string(5) "value"
  [1]=>
  string(7) "version"
}
NULL
bool(true)
-- nothing changed: a poll gives false, a wait gives false at the timeout
bool(false)
bool(false)
bool(true)
-- negative arguments count as 0
bool(true)
-- what gives a new version
set                    new version
setnx, present         same
incr                   new version
decr                   new version
incr_by                new version
expire                 same
expire_if, matching    same
another key            same
del_if, not matching   same
del_if, matching       new version
setnx, absent          new version
del                    new version
del, absent            same
set again              new version
expiry reaped          new version
flush_all              new version
-- a stale version returns at once with the value
string(5) "fresh"
bool(true)
bool(true)
-- woken by a write from another process
bool(true)
bool(true)
bool(true)
-- deleted: value null
NULL
-- bad arguments
ValueError: ephpm_kv_wait(): Argument #1 ($key) must not be empty
TypeError: ephpm_kv_wait(): Argument #2 ($last_version) must be of type int, string given
ArgumentCountError: ephpm_kv_wait() expects exactly 3 arguments, 1 given
-- stats
int(4096)
bool(true)
bool(true)
array(0) {
}

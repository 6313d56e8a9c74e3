--TEST--
ephpm_kv: ephpm_kv_scan() walks every key once (cursor = stripe), filters by glob, gives size and ttl; bad arguments
--INI--
ephpm_kv.name=scan
ephpm_kv.size=4M
ephpm_kv.stripes=8
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

var_dump(ephpm_kv_scan());

$want = [];
for ($i = 0; $i < 300; $i++) {
    $key = "user:$i";
    ephpm_kv_set($key, str_repeat('v', $i));
    $want[$key] = $i;
}
for ($i = 0; $i < 20; $i++) {
    ephpm_kv_set("php_session:s$i", 'n|i:1;', 600);
}
ephpm_kv_set("bin:\x00\xff", "x");
ephpm_kv_incr('counter');
// A large value (stored in parts, entries of their own): one key, its whole size.
ephpm_kv_set('large', str_repeat('L', 300000));
$want['php_session:s0'] = 6;
$want['large'] = 300000;

/** Walks the whole store with ($match, $count); returns [keys => [size, ttl], calls, max page]. */
function walk(string $match, int $count): array {
    $seen = [];
    $cursor = 0;
    $calls = 0;
    $max = 0;
    $cursors = [];
    do {
        $page = ephpm_kv_scan($cursor, $match, $count);
        $calls++;
        if (!is_array($page) || array_keys($page) !== ['cursor', 'keys']) {
            throw new Exception('bad page: ' . var_export($page, true));
        }
        foreach ($page['keys'] as $e) {
            if (array_keys($e) !== ['key', 'size', 'ttl']) {
                throw new Exception('bad entry: ' . var_export($e, true));
            }
            if (isset($seen[$e['key']])) {
                throw new Exception("seen twice: {$e['key']}");
            }
            $seen[$e['key']] = [$e['size'], $e['ttl']];
        }
        $max = max($max, count($page['keys']));
        $cursor = $page['cursor'];
        $cursors[] = $cursor;
    } while ($cursor !== 0 && $calls < 100);
    // Cursors only grow, until the walk ends at 0.
    $ordered = end($cursors) === 0;
    for ($i = 1; $i < count($cursors) - 1; $i++) {
        $ordered = $ordered && $cursors[$i] > $cursors[$i - 1];
    }
    return [$seen, $calls, $max, $ordered];
}

[$all, $calls, $max, $ordered] = walk('*', 10);
echo "all: ", count($all), " keys, ", $calls > 1 && $calls <= 8 ? 'several calls' : "$calls calls",
    ", cursors ordered: ", var_export($ordered, true), "\n";
$ok = true;
foreach ($want as $key => $size) {
    $ok = $ok && isset($all[$key]) && $all[$key][0] === $size;
}
var_dump($ok);
var_dump($all['user:7'][1], $all['counter'], $all["bin:\x00\xff"]);
$ttl = $all['php_session:s3'][1];
var_dump($ttl > 590000 && $ttl <= 600000);

// One call with a large count visits every stripe.
$one = ephpm_kv_scan(0, '*', 100000);
var_dump($one['cursor'], count($one['keys']));

[$sessions] = walk('php_session:*', 5);
var_dump(count($sessions));
[$some] = walk('user:1?', 1000);
ksort($some);
echo implode(' ', array_keys($some)), "\n";
[$none] = walk('nothing*', 3);
var_dump($none);

// A cursor past the last stripe ends the walk.
var_dump(ephpm_kv_scan(8), ephpm_kv_scan(PHP_INT_MAX));

// Expired keys are not listed.
ephpm_kv_set('short', 'x', 1);
usleep(1100000);
[$after] = walk('short', 100);
var_dump($after);

kv_try(fn() => ephpm_kv_scan(-1));
kv_try(fn() => ephpm_kv_scan(0, '*', 0));
kv_try(fn() => ephpm_kv_scan(0, '*', -5));
kv_try(fn() => ephpm_kv_scan('x'));
kv_try(fn() => ephpm_kv_scan(0, '*', 1, 2));
kv_try(fn() => ephpm_kv_scan(0, []));
// A pattern is at most 8 KiB; one that backtracking would take seconds over is linear.
kv_try(fn() => ephpm_kv_scan(0, str_repeat('*', 8193)));
ephpm_kv_set(str_repeat('a', 4000), 'long');
ephpm_kv_set(str_repeat('a', 3999) . 'b', 'long');
[$long] = walk('*' . str_repeat('a', 3000) . 'b', 100);
var_dump(array_map('strlen', array_keys($long)));
// Weak mode coerces as for any internal function.
$c = ephpm_kv_scan("0", 'counter', "5");
var_dump(count($c['keys']));
var_dump(kv_errors());
?>
--EXPECT--
array(2) {
  ["cursor"]=>
  int(0)
  ["keys"]=>
  array(0) {
  }
}
all: 323 keys, several calls, cursors ordered: true
bool(true)
int(-1)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(-1)
}
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(-1)
}
bool(true)
int(0)
int(323)
int(20)
user:10 user:11 user:12 user:13 user:14 user:15 user:16 user:17 user:18 user:19
array(0) {
}
array(2) {
  ["cursor"]=>
  int(0)
  ["keys"]=>
  array(0) {
  }
}
array(2) {
  ["cursor"]=>
  int(0)
  ["keys"]=>
  array(0) {
  }
}
array(0) {
}
ValueError: ephpm_kv_scan(): Argument #1 ($cursor) must be greater than or equal to 0
ValueError: ephpm_kv_scan(): Argument #3 ($count) must be greater than 0
ValueError: ephpm_kv_scan(): Argument #3 ($count) must be greater than 0
TypeError: ephpm_kv_scan(): Argument #1 ($cursor) must be of type int, string given
ArgumentCountError: ephpm_kv_scan() expects at most 3 arguments, 4 given
TypeError: ephpm_kv_scan(): Argument #2 ($match) must be of type string, array given
ValueError: ephpm_kv_scan(): Argument #2 ($match) must be at most 8192 bytes long
array(1) {
  [0]=>
  int(4000)
}
int(1)
array(0) {
}

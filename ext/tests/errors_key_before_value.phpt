--TEST--
ephpm_kv: a bad key throws ValueError even when the value is also too large or the store is full
--INI--
ephpm_kv.name=errors_key_before_value
ephpm_kv.size=1M
ephpm_kv.eviction=noeviction
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

// API.md: an empty key or one over the key limit throws ValueError (a bad
// argument, checked before anything else can fail).
$over = str_repeat('k', 4097);
$big = str_repeat('v', 2 << 20);
echo "-- value over the limit\n";
kv_try(fn() => ephpm_kv_set('', $big));
kv_try(fn() => ephpm_kv_setnx('', $big));
kv_try(fn() => ephpm_kv_set($over, $big));
kv_try(fn() => ephpm_kv_setnx($over, $big, 10));
var_dump(kv_errors());

echo "-- store full (noeviction)\n";
for ($i = 0; @ephpm_kv_set("fill$i", str_repeat('f', 1000)); $i++);
kv_errors();
kv_try(fn() => ephpm_kv_set('', str_repeat('v', 1000)));
kv_try(fn() => ephpm_kv_set($over, str_repeat('v', 1000)));
kv_try(fn() => ephpm_kv_setnx($over, str_repeat('v', 1000)));
kv_try(fn() => ephpm_kv_incr($over));
var_dump(kv_errors());
?>
--EXPECT--
-- value over the limit
ValueError: ephpm_kv_set(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_set(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must be at most 4096 bytes long
array(0) {
}
-- store full (noeviction)
ValueError: ephpm_kv_set(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_set(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_incr(): Argument #1 ($key) must be at most 4096 bytes long
array(0) {
}

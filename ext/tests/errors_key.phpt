--TEST--
ephpm_kv: an empty key or a key over 4096 bytes throws ValueError from every key function
--INI--
ephpm_kv.name=errors_key
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

var_dump(ephpm_kv_stats()['max_key_size']);
$max = str_repeat('k', 4096);
$over = str_repeat('k', 4097);
$over_nul = str_repeat("\0", 4097);
$huge = str_repeat('k', 1 << 20);

foreach (KV_KEY_FUNCTIONS as $f => $rest) {
    echo "-- $f\n";
    kv_try(fn() => $f('', ...$rest));
    kv_try(fn() => $f($over, ...$rest));
    kv_try(fn() => $f($over_nul, ...$rest));
    kv_try(fn() => $f($huge, ...$rest));
    // A too-long key is refused, not truncated: nothing was stored under its prefix.
    echo 'exists(4096-byte prefix): ', var_export(ephpm_kv_exists($max), true), "\n";
}
var_dump(ephpm_kv_stats()['entries']);

echo "-- 4096 bytes is fine\n";
var_dump(ephpm_kv_set($max, 'v'), ephpm_kv_get($max), ephpm_kv_ttl($max), ephpm_kv_del($max));
var_dump(ephpm_kv_setnx($max, '1'), ephpm_kv_incr($max), ephpm_kv_expire($max, 5), ephpm_kv_pttl($max) > 0);

echo "-- no warnings\n";
var_dump(kv_errors());
?>
--EXPECT--
int(4096)
-- ephpm_kv_get
ValueError: ephpm_kv_get(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_get(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_get(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_get(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_set
ValueError: ephpm_kv_set(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_set(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_set(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_set(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_setnx
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_setnx(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_del
ValueError: ephpm_kv_del(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_del(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_del(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_del(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_exists
ValueError: ephpm_kv_exists(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_exists(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_exists(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_exists(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_incr
ValueError: ephpm_kv_incr(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_incr(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_incr(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_incr(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_decr
ValueError: ephpm_kv_decr(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_decr(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_decr(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_decr(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_incr_by
ValueError: ephpm_kv_incr_by(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_incr_by(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_incr_by(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_incr_by(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_expire
ValueError: ephpm_kv_expire(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_expire(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_expire(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_expire(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_ttl
ValueError: ephpm_kv_ttl(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_ttl(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_ttl(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_ttl(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
-- ephpm_kv_pttl
ValueError: ephpm_kv_pttl(): Argument #1 ($key) must not be empty
ValueError: ephpm_kv_pttl(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_pttl(): Argument #1 ($key) must be at most 4096 bytes long
ValueError: ephpm_kv_pttl(): Argument #1 ($key) must be at most 4096 bytes long
exists(4096-byte prefix): false
int(0)
-- 4096 bytes is fine
bool(true)
string(1) "v"
int(-1)
int(1)
bool(true)
int(2)
bool(true)
bool(true)
-- no warnings
array(0) {
}

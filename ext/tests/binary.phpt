--TEST--
ephpm_kv: keys and values are binary-safe (NUL, all 256 byte values, invalid UTF-8)
--INI--
ephpm_kv.name=binary
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$all = '';
for ($i = 0; $i < 256; $i++) {
    $all .= chr($i);
}

echo "-- values\n";
$values = [
    'nul' => "\0",
    'nuls' => "\0\0\0",
    'inner-nul' => "a\0b",
    'trailing-nul' => "abc\0",
    'all-bytes' => $all,
    'all-bytes-x4-reversed' => strrev(str_repeat($all, 4)),
    'invalid-utf8' => "\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc",
    'utf8' => "h\u{e9}llo \u{1f600}",
    'crlf' => "a\r\nb\n",
];
foreach ($values as $k => $v) {
    $ok = ephpm_kv_set($k, $v) && ephpm_kv_get($k) === $v;
    echo $k, ': ', $ok ? 'ok' : 'MISMATCH ' . bin2hex((string) ephpm_kv_get($k)), "\n";
}
var_dump(strlen(ephpm_kv_get('all-bytes')));
var_dump(ephpm_kv_get('all-bytes') === $all);

echo "-- keys\n";
// Every single-byte key is its own key.
$ok = 0;
for ($i = 0; $i < 256; $i++) {
    $ok += ephpm_kv_set(chr($i), "v$i") ? 1 : 0;
}
$same = 0;
for ($i = 0; $i < 256; $i++) {
    $same += ephpm_kv_get(chr($i)) === "v$i" ? 1 : 0;
}
var_dump($ok, $same);

$keys = [
    "\0",
    "\0\0",
    "a\0",
    "a\0b",
    "a\0c",
    "\xff\xfe",
    "\xc3\x28",
    $all,
    str_repeat("\0", 4096),
    substr(str_repeat($all, 16), 0, 4096),
];
foreach ($keys as $i => $k) {
    var_dump(ephpm_kv_set($k, "key$i"));
}
foreach ($keys as $i => $k) {
    echo $i, ': ', ephpm_kv_get($k) === "key$i" ? 'ok' : 'MISMATCH', ' ',
        var_export(ephpm_kv_exists($k), true), "\n";
}
// A key with a NUL is not cut at the NUL.
var_dump(ephpm_kv_get('a'));
var_dump(ephpm_kv_get("a\0"));
var_dump(ephpm_kv_get("a\0b\0"));
var_dump(ephpm_kv_get(str_repeat("\0", 4095)));

echo "-- counters, TTLs and del on binary keys\n";
var_dump(ephpm_kv_incr_by("\0cnt\xff", 41), ephpm_kv_incr("\0cnt\xff"), ephpm_kv_get("\0cnt\xff"));
var_dump(ephpm_kv_expire("a\0b", 100), kv_near(ephpm_kv_ttl("a\0b"), 100), ephpm_kv_ttl("a\0c"));
var_dump(ephpm_kv_del("a\0b"), ephpm_kv_get("a\0b"), ephpm_kv_get("a\0c"));
var_dump(ephpm_kv_setnx("a\0b", "again"), ephpm_kv_setnx("a\0c", "again"), ephpm_kv_get("a\0b"));

var_dump(kv_errors());
?>
--EXPECT--
-- values
nul: ok
nuls: ok
inner-nul: ok
trailing-nul: ok
all-bytes: ok
all-bytes-x4-reversed: ok
invalid-utf8: ok
utf8: ok
crlf: ok
int(256)
bool(true)
-- keys
int(256)
int(256)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
0: ok true
1: ok true
2: ok true
3: ok true
4: ok true
5: ok true
6: ok true
7: ok true
8: ok true
9: ok true
string(3) "v97"
string(4) "key2"
NULL
NULL
-- counters, TTLs and del on binary keys
int(41)
int(42)
string(2) "42"
bool(true)
int(100)
int(-1)
int(1)
NULL
string(4) "key4"
bool(true)
bool(false)
string(5) "again"
array(0) {
}

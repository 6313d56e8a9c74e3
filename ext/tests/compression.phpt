--TEST--
ephpm_kv: ephpm_kv.compression=zstd stores a 20 KB serialized session in a fraction of its size; raw and compressed entries coexist; every read returns the original bytes
--INI--
ephpm_kv.name=compression
ephpm_kv.size=8M
ephpm_kv.stripes=1
ephpm_kv.compression=zstd
session.save_handler=ephpm
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
--FILE--
<?php
// session.use_strict_mode=0 (--INI--): this test names its session ids with
// session_id(); PHP 8.6 turns strict mode on by default, which would replace
// an id the store does not hold yet (as PHP up to 8.5 does not).
require __DIR__ . '/kv.inc';
ob_start();
kv_record_errors();
ephpm_kv_flush_all();

$s = ephpm_kv_stats();
var_dump($s['compression'], $s['compression_level'], $s['compression_min_size']);

echo "-- a 20 KB session\n";
$text = kv_session_text(20 << 10);
$before = ephpm_kv_stats();
var_dump(ephpm_kv_set('sess', $text));
$after = ephpm_kv_stats();
var_dump(ephpm_kv_get('sess') === $text);
var_dump($after['compressed_entries'], $after['compressed_raw_bytes'] === strlen($text));
$stored = $after['compressed_stored_bytes'];
$used = $after['bytes_used'] - $before['bytes_used'];
echo 'stored in under a quarter of its size: ', json_encode($stored * 4 < strlen($text)), "\n";
echo 'segment bytes used under a quarter too: ', json_encode($used * 4 < strlen($text)), "\n";

echo "-- raw beside compressed\n";
$noise = random_bytes(16 << 10);
ephpm_kv_set('noise', $noise);        // does not compress: stored raw
ephpm_kv_set('small', 'short value');  // under compression_min_size: raw
ephpm_kv_incr('counter');
$s = ephpm_kv_stats();
var_dump($s['entries'], $s['compressed_entries']);
var_dump(ephpm_kv_get('noise') === $noise, ephpm_kv_get('small'), ephpm_kv_get('counter'));
var_dump(ephpm_kv_get('sess') === $text);

echo "-- compare and delete or expire with the original bytes\n";
var_dump(ephpm_kv_expire_if('sess', $text . 'x', 60), ephpm_kv_expire_if('sess', $text, 60));
var_dump(ephpm_kv_ttl('sess') > 50);
var_dump(ephpm_kv_del_if('sess', substr($text, 1)), ephpm_kv_del_if('sess', $text));
var_dump(ephpm_kv_get('sess'), ephpm_kv_stats()['compressed_entries']);

echo "-- a compressed value is not an integer for incr\n";
ephpm_kv_set('n', str_repeat('0', 2000) . '5');
var_dump(ephpm_kv_stats()['compressed_entries'], ephpm_kv_incr('n'), strlen(ephpm_kv_get('n')));

echo "-- the session handler stores through the same store\n";
session_id('shop1');
session_start();
$_SESSION = unserialize(kv_session_text(20 << 10));
session_write_close();
$raw = ephpm_kv_get('php_session:shop1');
$s = ephpm_kv_stats();
var_dump($s['compressed_entries']);
$_SESSION = [];
session_id('shop1');
session_start();
var_dump($_SESSION === unserialize(kv_session_text(20 << 10)));
session_write_close();

echo "-- phpinfo\n";
$early = ob_get_clean();
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
ob_start();
echo $early;
foreach (explode("\n", kv_info_section($info)) as $line) {
    if (preg_match('/^(ephpm_kv\.)?compress/', $line)) {
        echo preg_replace('/=> \d{3,}$/', '=> N', $line), "\n";
    }
}
var_dump(kv_errors());
ob_end_flush();
?>
--EXPECT--
string(4) "zstd"
int(3)
int(1024)
-- a 20 KB session
bool(true)
bool(true)
int(1)
bool(true)
stored in under a quarter of its size: true
segment bytes used under a quarter too: true
-- raw beside compressed
int(4)
int(1)
bool(true)
string(11) "short value"
string(1) "1"
bool(true)
-- compare and delete or expire with the original bytes
bool(false)
bool(true)
bool(true)
bool(false)
bool(true)
NULL
int(0)
-- a compressed value is not an integer for incr
int(1)
bool(false)
int(2001)
-- the session handler stores through the same store
int(2)
bool(true)
-- phpinfo
compression => zstd
compression_level => 3
compression_min_size => N
compressed_entries => 2
compressed_raw_bytes => N
compressed_stored_bytes => N
ephpm_kv.compression => zstd => zstd
ephpm_kv.compression_level => no value => no value
ephpm_kv.compression_min_size => no value => no value
array(0) {
}

--TEST--
ephpm_kv: compression settings per process (pool): each compresses its own writes its own way, all read everything; empty settings take the store's default, which a PHP creator records as none
--INI--
ephpm_kv.name=compression_settings
ephpm_kv.size=8M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
$text = kv_session_text(4000);
file_put_contents(ini_get('ephpm_kv.dir') . '/text', $text);

$report = '
    $text = file_get_contents(ini_get("ephpm_kv.dir") . "/text");
    $s = ephpm_kv_stats();
    echo $s["compression"], " ", $s["compression_level"], " ", $s["compression_min_size"], "\n";
';

echo "-- this store was created without compression settings: none, 3, 1024\n";
$s = ephpm_kv_stats();
echo $s['compression'], ' ', $s['compression_level'], ' ', $s['compression_min_size'], "\n";

echo "-- a pool asking for zstd at level 19 from 100 bytes\n";
[$rc, $out, $err] = kv_child(
    ['ephpm_kv.name' => 'compression_settings', 'ephpm_kv.size' => '8M', 'ephpm_kv.compression' => 'zstd',
        'ephpm_kv.compression_level' => '19', 'ephpm_kv.compression_min_size' => '100'],
    $report . 'ephpm_kv_set("child", $text); ephpm_kv_set("short", substr($text, 0, 200));
        echo json_encode(ephpm_kv_get("child") === $text), "\n";'
);
echo $rc, ' ', $out, $err;
$s = ephpm_kv_stats();
var_dump($s['compressed_entries'], ephpm_kv_get('child') === $text, ephpm_kv_get('short') === substr($text, 0, 200));

echo "-- this process (no compression) writes raw\n";
ephpm_kv_set('main', $text);
var_dump(ephpm_kv_stats()['compressed_entries']);

echo "-- a pool asking for zstd, nothing else: the store's level and minimum size\n";
[$rc, $out, $err] = kv_child(
    ['ephpm_kv.name' => 'compression_settings', 'ephpm_kv.size' => '8M', 'ephpm_kv.compression' => 'zstd'],
    $report . 'ephpm_kv_set("child2", $text); echo json_encode(ephpm_kv_get("main") === $text), "\n";'
);
echo $rc, ' ', $out, $err;
var_dump(ephpm_kv_stats()['compressed_entries']);

echo "-- a store created by a pool with zstd records none: which pool comes first changes nothing\n";
$new = ['ephpm_kv.name' => 'compression_settings_new', 'ephpm_kv.size' => '4M'];
[$rc, $out, $err] = kv_child(
    $new + ['ephpm_kv.compression' => 'zstd', 'ephpm_kv.compression_level' => '7'],
    $report . 'ephpm_kv_set("k", $text);'
);
echo $rc, ' ', $out, $err;
[$rc, $out, $err] = kv_child(
    $new,
    $report . 'ephpm_kv_set("k2", $text); $s = ephpm_kv_stats();
        echo $s["compressed_entries"], " ", json_encode(ephpm_kv_get("k") === $text), "\n";'
);
echo $rc, ' ', $out, $err;
// PHP's ini parser turns a bare none (like off, no, false) into an empty
// value (the store's); quoted, or 0, it is none.
foreach (['none', '"none"', '0'] as $value) {
    [$rc, $out, $err] = kv_child($new + ['ephpm_kv.compression' => $value],
        'echo json_encode(ini_get("ephpm_kv.compression")), " ", ephpm_kv_stats()["compression"], "\n";');
    echo str_pad($value, 7), $rc, ' ', $out, $err;
}

echo "-- ini_get and the settings' level\n";
var_dump(ini_get('ephpm_kv.compression'), ini_get('ephpm_kv.compression_level'), ini_get('ephpm_kv.compression_min_size'));
var_dump(ini_set('ephpm_kv.compression', 'zstd'));
var_dump(kv_errors());
?>
--EXPECT--
-- this store was created without compression settings: none, 3, 1024
none 3 1024
-- a pool asking for zstd at level 19 from 100 bytes
0 zstd 19 100
true
int(2)
bool(true)
bool(true)
-- this process (no compression) writes raw
int(2)
-- a pool asking for zstd, nothing else: the store's level and minimum size
0 zstd 3 1024
true
int(3)
-- a store created by a pool with zstd records none: which pool comes first changes nothing
0 zstd 7 1024
0 none 3 1024
1 true
none   0 "" none
"none" 0 "none" none
0      0 "0" none
-- ini_get and the settings' level
string(0) ""
string(0) ""
string(0) ""
bool(false)
array(0) {
}

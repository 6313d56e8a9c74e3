--TEST--
ephpm_kv: session.save_path names a separate session store (with options), so flushing the main store keeps sessions; bad paths and a disabled store fail with clear warnings
--INI--
ephpm_kv.name=session_save_path
ephpm_kv.size=4M
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
$id = 'savepathsavepathsavepath01';
$dir = ini_get('ephpm_kv.dir');

echo "-- a directory (what `files` used) means the main store\n";
ini_set('session.save_path', '/var/lib/php/sessions');
session_id($id);
session_start();
$_SESSION['where'] = 'main';
session_write_close();
var_dump(ephpm_kv_get("php_session:$id"));

echo "-- a name: a store of its own, options taken from the main store's settings\n";
ini_set('session.save_path', 'session_save_path-own?size=2M&eviction=volatile-lru');
session_id($id);
var_dump(session_start(), $_SESSION);
$_SESSION['where'] = 'own';
session_write_close();
var_dump(file_exists("$dir/ephpm_kv.session_save_path-own"), filesize("$dir/ephpm_kv.session_save_path-own") <= 2 << 20);
[$rc, $out] = kv_child(['ephpm_kv.name' => 'session_save_path-own', 'ephpm_kv.size' => '2M'],
    'echo ephpm_kv_get("php_session:' . $id . '"), " ", ephpm_kv_ttl("php_session:' . $id . '") > 0 ? "ttl" : "none";');
echo $out, "\n";
echo "flushing the main store keeps it\n";
ephpm_kv_flush_all();
session_id($id);
session_start();
var_dump($_SESSION);
session_write_close();

echo "-- bad save paths\n";
foreach (['no such name', 'session_save_path-own?colour=red', 'session_save_path-own?size=lots',
        'session_save_path-own?size=4M'] as $path) {
    ini_set('session.save_path', $path);
    session_id($id);
    var_dump(session_start());
    foreach (kv_errors() as $e) {
        echo "  $e\n";
    }
}

echo "-- a disabled store\n";
[$rc, $out, $err] = kv_child(['ephpm_kv.enabled' => '0', 'session.save_handler' => 'ephpm', 'session.use_cookies' => '0'],
    'var_dump(session_start());');
echo $out, $err;
?>
--EXPECTF--
-- a directory (what `files` used) means the main store
string(17) "where|s:4:"main";"
-- a name: a store of its own, options taken from the main store's settings
bool(true)
array(0) {
}
bool(true)
bool(true)
where|s:3:"own"; ttl
flushing the main store keeps it
array(1) {
  ["where"]=>
  string(3) "own"
}
-- bad save paths
bool(false)
  E_WARNING: session_start(): ephpm: invalid ephpm_kv.name: invalid store name "no such name": it has a character outside [A-Za-z0-9._-] (use 1 to 64 characters from [A-Za-z0-9._-])
  E_WARNING: session_start(): Failed to initialize storage module: ephpm (path: no such name)
bool(false)
  E_WARNING: session_start(): ephpm: unknown option "colour" in session.save_path "session_save_path-own?colour=red" (accepted: size, eviction, stripes, max_value_size, compression, compression_level, compression_min_size)
  E_WARNING: session_start(): Failed to initialize storage module: ephpm (path: session_save_path-own?colour=red)
bool(false)
  E_WARNING: session_start(): ephpm: invalid size "lots" in session.save_path "session_save_path-own?size=lots" (expected a size like 64M or 1G)
  E_WARNING: session_start(): Failed to initialize storage module: ephpm (path: session_save_path-own?size=lots)
bool(false)
  E_WARNING: session_start(): ephpm: store "session_save_path-own" is unavailable: segment %s/ephpm_kv.session_save_path-own exists with another geometry (size 2097152 bytes, 1 stripes, 4096 slots/stripe, max key 4096 B, max value %d B) than configured (size 4194304 bytes, 1 stripes, 8192 slots/stripe, max key 4096 B, max value %d B); restore the old settings, or remove the segment to recreate it (its data is lost)
  E_WARNING: session_start(): Failed to initialize storage module: ephpm (path: session_save_path-own?size=4M)
-- a disabled store
bool(false)
Warning: session_start(): ephpm: the store is disabled (ephpm_kv.enabled = Off) in Command line code on line 1
Warning: session_start(): Failed to initialize storage module: ephpm (path: /var/lib/php/sessions) in Command line code on line 1

--TEST--
ephpm_kv: a value larger than what memory_limit leaves is refused by ephpm_kv_get, ephpm_kv_wait and the session handler (failure value, one warning naming the sizes) before PHP allocates it; the script runs on
--INI--
ephpm_kv.name=get_memory_limit
ephpm_kv.size=192M
ephpm_kv.stripes=4
ephpm_kv.compression=zstd
session.save_handler=ephpm
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
memory_limit=256M
--FILE--
<?php
// session.use_strict_mode=0 (--INI--): this test names its session ids with
// session_id(); PHP 8.6 turns strict mode on by default, which would replace
// an id the store does not hold yet (as PHP up to 8.5 does not).
require __DIR__ . '/kv.inc';
register_shutdown_function(function () {
    echo "shutdown function ran\n";
});
kv_record_errors();
ephpm_kv_flush_all();

// Stored with room to spare: 60 MB (incompressible: a large value, in
// parts), 60 MB that compress to almost nothing (one entry, decompressed
// on reading), 2 MB (parts again) and a 6 MB session (compressed).
$v = random_bytes(60 << 20);
var_dump(ephpm_kv_set('big', $v));
$v = str_repeat('x', 60 << 20);
var_dump(ephpm_kv_set('packed', $v));
$v = random_bytes(2 << 20);
var_dump(ephpm_kv_set('mid', $v));
$mid = md5($v);
$id = 'memlimitmemlimitmemlimit01';
session_id($id);
session_start();
$_SESSION['blob'] = str_repeat('y', 6 << 20);
session_write_close();
$_SESSION = [];
unset($v);
ephpm_kv_set('small', 'still here');
$big = ephpm_kv_wait('big', 0, 0)['version'] ?? null;
$stats = ephpm_kv_stats();
echo "stored compressed: ", $stats['compressed_entries'], "\n";
var_dump(kv_errors());

echo "-- memory_limit 8M\n";
var_dump(ini_set('memory_limit', '8M'));
var_dump(ephpm_kv_get('big'));
var_dump(ephpm_kv_get('packed'));
var_dump(ephpm_kv_wait('big', 0, 0));
var_dump(ephpm_kv_wait('packed', 1, 0));
session_id($id);
var_dump(session_start());
var_dump(session_status() === PHP_SESSION_ACTIVE, $_SESSION);
// The session's lock was released when session_start() failed.
var_dump(ephpm_kv_exists("php_session:lock:$id"));
var_dump(ephpm_kv_get('small'));
foreach (kv_errors() as $e) {
    echo $e, "\n";
}

echo "-- memory_limit 3M\n";
var_dump(ini_set('memory_limit', '3M'));
var_dump(ephpm_kv_get('mid'));
foreach (kv_errors() as $e) {
    echo $e, "\n";
}

echo "-- memory_limit 256M again\n";
ini_set('memory_limit', '256M');
var_dump(strlen(ephpm_kv_get('big')), strlen(ephpm_kv_get('packed')), md5(ephpm_kv_get('mid')) === $mid);
var_dump(ephpm_kv_wait('big', 0, 0)['version'] === $big);
session_id($id);
var_dump(session_start(), strlen($_SESSION['blob']));
session_write_close();
var_dump(kv_errors());
echo "done\n";
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
stored compressed: 2
array(0) {
}
-- memory_limit 8M
string(4) "256M"
NULL
NULL
bool(false)
bool(false)
bool(false)
bool(false)
array(0) {
}
bool(false)
string(10) "still here"
E_WARNING: ephpm_kv_get(): the value of key "big" is 62914560 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
E_WARNING: ephpm_kv_get(): the value of key "packed" is 62914560 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
E_WARNING: ephpm_kv_wait(): the value of key "big" is 62914560 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
E_WARNING: ephpm_kv_wait(): the value of key "packed" is 62914560 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
E_WARNING: session_start(): ephpm: session memlim… is 6291474 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
E_WARNING: session_start(): Failed to read session data: ephpm (path: %s)
-- memory_limit 3M
string(2) "8M"
NULL
E_WARNING: ephpm_kv_get(): the value of key "mid" is 2097152 bytes, more than memory_limit leaves this request (%d bytes): not read (raise memory_limit to read it)
-- memory_limit 256M again
int(62914560)
int(62914560)
bool(true)
bool(true)
bool(true)
int(6291456)
array(0) {
}
done
shutdown function ran

--TEST--
ephpm_kv: session.save_handler = ephpm stores sessions under php_session:<id> with the gc_maxlifetime TTL, and supports strict mode, lazy writes, regenerate and destroy
--INI--
ephpm_kv.name=session_handler
ephpm_kv.size=4M
session.save_handler=ephpm
session.use_cookies=0
session.cache_limiter=
session.gc_maxlifetime=600
--FILE--
<?php
require __DIR__ . '/kv.inc';
// Buffered, so that no output counts as sent headers (which would freeze
// the session settings and forbid regenerating the id).
ob_start();
// A 48-character id of 6 bits per character, so that the id checked below
// is PHP's generator's under these settings, not a default of ours. PHP 8.4
// deprecated both settings (they still work): the notice is silenced here,
// before the errors of the test are recorded, so 8.2 and 8.4 see the same.
@ini_set('session.sid_length', '48');
@ini_set('session.sid_bits_per_character', '6');
kv_record_errors();
ephpm_kv_flush_all();
$key = fn(string $id) => "php_session:$id";
$lock = fn(string $id) => "php_session:lock:$id";

echo "-- registered, and a new session gets PHP's generated id\n";
var_dump(ini_get('session.save_handler') === 'ephpm');
var_dump(session_start());
$id = session_id();
var_dump(strlen($id), (bool) preg_match('/\A[0-9a-zA-Z,-]{48}\z/', $id));
echo "lock while open: ", var_export(str_starts_with((string) ephpm_kv_get($lock($id)), 'ephpm-lock pid=' . getmypid() . ' '), true), "\n";
$_SESSION['user'] = 'alice';
$_SESSION['n'] = 1;
var_dump(session_write_close());
echo "lock after close: ", var_export(ephpm_kv_exists($lock($id)), true), "\n";
var_dump(ephpm_kv_get($key($id)), kv_near(ephpm_kv_ttl($key($id)), 600));

echo "-- read back, gc_maxlifetime at write time sets the TTL\n";
ini_set('session.gc_maxlifetime', '300');
session_id($id);
session_start();
var_dump($_SESSION);
$_SESSION['n']++;
session_write_close();
var_dump(ephpm_kv_get($key($id)), kv_near(ephpm_kv_ttl($key($id)), 300));

echo "-- lazy_write: an unchanged session gets its TTL back without a write\n";
ephpm_kv_expire($key($id), 5);
session_id($id);
session_start();
ephpm_kv_set($key($id), 'n|i:99;', 5); // changed behind PHP's back: must survive
session_write_close();
var_dump(ephpm_kv_get($key($id)), kv_near(ephpm_kv_ttl($key($id)), 300));
echo "-- lazy_write: a session that vanished meanwhile is written again\n";
session_id($id);
session_start();
ephpm_kv_del($key($id));
session_write_close();
var_dump(ephpm_kv_get($key($id)), kv_near(ephpm_kv_ttl($key($id)), 300));

echo "-- strict mode: an unknown id is replaced, a known one kept\n";
ini_set('session.use_strict_mode', '1');
session_id('unknownunknownunknownunknown');
session_start();
var_dump(session_id() !== 'unknownunknownunknownunknown', $_SESSION);
session_write_close();
var_dump(ephpm_kv_exists($key('unknownunknownunknownunknown')));
session_id($id);
session_start();
var_dump(session_id() === $id, $_SESSION);

echo "-- regenerate: the old key goes, the data moves, no lock is left\n";
var_dump(session_regenerate_id(true));
$new = session_id();
var_dump($new !== $id, ephpm_kv_exists($key($id)), ephpm_kv_exists($lock($id)), ephpm_kv_exists($lock($new)));
session_write_close();
var_dump(ephpm_kv_get($key($new)), ephpm_kv_exists($lock($new)));

echo "-- destroy: the key goes, no lock is left\n";
session_id($new);
session_start();
var_dump(session_destroy(), ephpm_kv_exists($key($new)), ephpm_kv_exists($lock($new)));

echo "-- locking off: no lock key\n";
ini_set('ephpm_kv.session_locking', '0');
session_id($id);
session_start();
var_dump(ephpm_kv_exists($lock(session_id())));
session_write_close();

echo "-- gc has nothing to do\n";
session_start();
var_dump(session_gc());
session_write_close();
var_dump(kv_errors());
?>
--EXPECT--
-- registered, and a new session gets PHP's generated id
bool(true)
bool(true)
int(48)
bool(true)
lock while open: true
bool(true)
lock after close: false
string(23) "user|s:5:"alice";n|i:1;"
int(600)
-- read back, gc_maxlifetime at write time sets the TTL
array(2) {
  ["user"]=>
  string(5) "alice"
  ["n"]=>
  int(1)
}
string(23) "user|s:5:"alice";n|i:2;"
int(300)
-- lazy_write: an unchanged session gets its TTL back without a write
string(7) "n|i:99;"
int(300)
-- lazy_write: a session that vanished meanwhile is written again
string(7) "n|i:99;"
int(300)
-- strict mode: an unknown id is replaced, a known one kept
bool(true)
array(0) {
}
bool(false)
bool(true)
array(1) {
  ["n"]=>
  int(99)
}
-- regenerate: the old key goes, the data moves, no lock is left
bool(true)
bool(true)
bool(false)
bool(false)
bool(true)
string(7) "n|i:99;"
bool(false)
-- destroy: the key goes, no lock is left
bool(true)
bool(false)
bool(false)
-- locking off: no lock key
bool(false)
-- gc has nothing to do
int(0)
array(0) {
}

--TEST--
ephpm_kv: a session lock has no TTL, and a lock lost mid-request makes the write refuse instead of overwriting
--INI--
ephpm_kv.name=session_lock_lost
ephpm_kv.size=4M
session.save_handler=ephpm
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.save_path=
--FILE--
<?php
// session.use_strict_mode=0 (--INI--): this test names its session ids with
// session_id(); PHP 8.6 turns strict mode on by default, which would replace
// an id the store does not hold yet (as PHP up to 8.5 does not).
require __DIR__ . '/kv.inc';
ob_start();
kv_record_errors();
ephpm_kv_flush_all();
$id = 'lostlocklostlocklostlock01';
$ini = ['ephpm_kv.name' => 'session_lock_lost', 'ephpm_kv.size' => '4M', 'session.save_handler' => 'ephpm',
    'session.use_cookies' => '0', 'session.cache_limiter' => '', 'session.save_path' => '',
    'ephpm_kv.session_lock_wait_ms' => '200'];

echo "-- the lock: no TTL, a deadline for foreign waiters only\n";
session_id($id);
var_dump(session_start());
$lock = ephpm_kv_get("php_session:lock:$id");
var_dump(ephpm_kv_pttl("php_session:lock:$id"));
var_dump((bool) preg_match('/^ephpm-lock pid=' . getmypid() . ' start=\d+ ns=\d+ token=\d+ until=\d+$/', $lock));
$until = (int) substr($lock, strrpos($lock, '=') + 1);
var_dump(abs($until - (int) (microtime(true) * 1000) - 300000) < 60000);

echo "-- while held, another request waits and gives up\n";
[$code, $out, $err] = kv_child($ini, 'session_id(' . var_export($id, true) . '); var_dump(session_start());');
echo $out;

echo "-- the lock is deleted from another process; another request then writes the session\n";
[$code, $out, $err] = kv_child($ini, 'var_dump(ephpm_kv_del(' . var_export("php_session:lock:$id", true) . '));');
echo $out;
[$code, $out, $err] = kv_child($ini, 'session_id(' . var_export($id, true) . '); var_dump(session_start()); $_SESSION["by"] = "other"; var_dump(session_write_close());');
echo $out, $err;

echo "-- this request's write is refused, with a warning\n";
$_SESSION['by'] = 'me';
var_dump(session_write_close());
foreach (kv_errors() as $e) {
    echo preg_replace('/session \w{6}…/', 'session ID…', $e), "\n";
}
var_dump(ephpm_kv_get("php_session:$id"));

echo "-- destroy is refused too\n";
session_id($id);
var_dump(session_start(), $_SESSION);
ephpm_kv_del("php_session:lock:$id");
var_dump(session_destroy());
foreach (kv_errors() as $e) {
    echo preg_replace('/session \w{6}…/', 'session ID…', $e), "\n";
}
var_dump(ephpm_kv_get("php_session:$id"));
?>
--EXPECTF--
-- the lock: no TTL, a deadline for foreign waiters only
bool(true)
int(-1)
bool(true)
bool(true)
-- while held, another request waits and gives up
bool(false)
-- the lock is deleted from another process; another request then writes the session
int(1)
bool(true)
bool(true)
-- this request's write is refused, with a warning
bool(%s)
E_WARNING: session_write_close(): ephpm: session lock not held: the lock on session ID… was lost (flushed, evicted or taken over); not writing it, as another request may have written it meanwhile
E_WARNING: session_write_close(): Failed to write session data%s
E_WARNING: session_write_close(): ephpm: the lock on session ID… was lost before it was released (flushed, evicted or taken over)
string(15) "by|s:5:"other";"
-- destroy is refused too
bool(true)
array(1) {
  ["by"]=>
  string(5) "other"
}
bool(false)
E_WARNING: session_destroy(): ephpm: session lock not held: the lock on session ID… was lost (flushed, evicted or taken over); not destroying it, as another request may have written it meanwhile
E_WARNING: session_destroy(): Session object destruction failed
E_WARNING: session_destroy(): ephpm: the lock on session ID… was lost before it was released (flushed, evicted or taken over)
string(15) "by|s:5:"other";"

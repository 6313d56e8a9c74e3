--TEST--
ephpm_kv: session locks: a bounded wait ends with a warning and writes nothing, a killed holder blocks nobody, session_write_close() releases early
--INI--
ephpm_kv.name=session_locking
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
$id = 'lockedsessionlockedsession01';
$ini = ['ephpm_kv.name' => 'session_locking', 'ephpm_kv.size' => '4M', 'session.save_handler' => 'ephpm',
    'session.use_cookies' => '0', 'session.cache_limiter' => '', 'session.save_path' => ''];

/** Starts a child php that opens session $id, runs $then, and stays until killed or done. */
function holder(array $ini, string $id, string $then): array
{
    $code = 'session_id(' . var_export($id, true) . '); session_start(); $_SESSION["by"] = "holder";'
        . ' echo "holding\n"; ' . $then;
    $proc = proc_open(kv_child_cmd($ini, $code), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $line = fgets($pipes[1]);
    if ($line !== "holding\n") {
        throw new Exception('holder did not start: ' . $line . stream_get_contents($pipes[2]));
    }
    return [$proc, $pipes];
}

function finish(array $holder): string
{
    [$proc, $pipes] = $holder;
    $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
    proc_close($proc);
    return $out;
}

echo "-- the wait bound: a warning naming the holder, session_start() fails, nothing is written\n";
$holder = holder($ini, $id, 'sleep(3); echo "done\n";');
ini_set('ephpm_kv.session_lock_wait_ms', '200');
session_id($id);
var_dump(session_start(), session_status() === PHP_SESSION_NONE, $_SESSION);
$_SESSION['by'] = 'waiter';
session_write_close();
foreach (kv_errors() as $e) {
    echo preg_replace(['/pid \d+/', '/session \w{6}…/'], ['pid N', 'session ID…'], $e), "\n";
}
echo finish($holder);
var_dump(ephpm_kv_get("php_session:$id"));

echo "-- a holder killed with SIGKILL: the next request gets the lock\n";
ini_set('ephpm_kv.session_lock_wait_ms', '5000');
$holder = holder($ini, $id, '$_SESSION["by"] = "killed"; sleep(30);');
proc_terminate($holder[0], 9);
$pid = (int) substr(ephpm_kv_get("php_session:lock:$id"), strlen('ephpm-lock pid='));
var_dump($pid === proc_get_status($holder[0])['pid']);
session_id($id);
var_dump(session_start(), $_SESSION, kv_errors());
session_write_close();
finish($holder);

echo "-- session_write_close() releases the lock before the request ends\n";
// The holder keeps running 3 s after closing; the bound is 1 s.
ini_set('ephpm_kv.session_lock_wait_ms', '1000');
$holder = holder($ini, $id, '$_SESSION["by"] = "early"; session_write_close(); echo "closed\n"; sleep(3);');
fgets($holder[1][1]);
session_id($id);
var_dump(session_start(), $_SESSION, kv_errors());
session_write_close();
finish($holder);
var_dump(ephpm_kv_exists("php_session:lock:$id"));
?>
--EXPECT--
-- the wait bound: a warning naming the holder, session_start() fails, nothing is written
bool(false)
bool(true)
array(0) {
}
E_WARNING: session_start(): ephpm: gave up waiting for the lock on session ID… after 200 ms (ephpm_kv.session_lock_wait_ms), held by the request in pid N; the session is not started and this request writes nothing to it
E_WARNING: session_start(): Failed to read session data: ephpm (path: )
done
string(16) "by|s:6:"holder";"
-- a holder killed with SIGKILL: the next request gets the lock
bool(true)
bool(true)
array(1) {
  ["by"]=>
  string(6) "holder"
}
array(0) {
}
-- session_write_close() releases the lock before the request ends
bool(true)
array(1) {
  ["by"]=>
  string(5) "early"
}
array(0) {
}
bool(false)

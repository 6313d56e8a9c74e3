--TEST--
ephpm_kv: an invalid session setting is named at startup and by session_start(), which fails; the store functions keep working
--INI--
ephpm_kv.name=session_settings_invalid
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';

$code = '
    $errors = [];
    set_error_handler(function ($no, $msg) use (&$errors) { $errors[] = $msg; return true; });
    session_id("invalidsettingsinvalidsettings");
    echo json_encode([session_start(), ephpm_kv_set("k", "v")]), "\n";
    foreach ($errors as $e) echo $e, "\n";
';
$ini = ['ephpm_kv.name' => 'session_settings_invalid', 'session.save_handler' => 'ephpm', 'session.use_cookies' => '0',
    'session.save_path' => ''];
foreach ([['ephpm_kv.session_locking', 'sometimes'], ['ephpm_kv.session_lock_wait_ms', '5s'],
        ['ephpm_kv.session_lock_wait_ms', '-1']] as [$setting, $value]) {
    [$rc, $out, $err] = kv_child([$setting => $value] + $ini, $code);
    $startup = array_values(array_filter(explode("\n", $err), fn($l) => str_contains($l, 'PHP Startup')));
    echo "$setting=", json_encode($value), ": exit $rc, startup warnings naming it: ",
        count(array_filter($startup, fn($l) => str_contains($l, $setting))), "\n", $out;
}
?>
--EXPECT--
ephpm_kv.session_locking="sometimes": exit 0, startup warnings naming it: 1
[false,true]
session_start(): ephpm: invalid ephpm_kv.session_locking value "sometimes" (expected On or Off; default "1")
session_start(): Failed to read session data: ephpm (path: )
ephpm_kv.session_lock_wait_ms="5s": exit 0, startup warnings naming it: 1
[false,true]
session_start(): ephpm: invalid ephpm_kv.session_lock_wait_ms value "5s" (expected a number of milliseconds; default "10000")
session_start(): Failed to read session data: ephpm (path: )
ephpm_kv.session_lock_wait_ms="-1": exit 0, startup warnings naming it: 1
[false,true]
session_start(): ephpm: invalid ephpm_kv.session_lock_wait_ms value "-1" (expected a number of milliseconds; default "10000")
session_start(): Failed to read session data: ephpm (path: )

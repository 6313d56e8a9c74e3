--TEST--
ephpm_kv: sessions of 1, 4 and 16 MiB round-trip through session.save_handler = ephpm on a 64M store
--INI--
ephpm_kv.name=session_large
ephpm_kv.size=64M
session.save_handler=ephpm
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_maxlifetime=600
memory_limit=512M
--FILE--
<?php
// session.use_strict_mode=0 (--INI--): this test names its session ids with
// session_id(); PHP 8.6 turns strict mode on by default, which would replace
// an id the store does not hold yet (as PHP up to 8.5 does not).
require __DIR__ . '/kv.inc';
ob_start();
kv_record_errors();
ephpm_kv_flush_all();

foreach ([1, 4, 16] as $mib) {
    $blob = '';
    for ($i = 0; strlen($blob) < $mib << 20; $i++) {
        $blob .= md5("s$mib:$i");
    }
    $id = "large$mib";
    session_id($id);
    session_start();
    $_SESSION['blob'] = $blob;
    $_SESSION['n'] = $mib;
    session_write_close();
    $stored = strlen((string) ephpm_kv_get("php_session:$id"));
    $_SESSION = [];
    session_id($id);
    session_start();
    $same = ($_SESSION['blob'] ?? null) === $blob && $_SESSION['n'] === $mib;
    session_write_close();
    echo "$mib MiB session: stored ", $stored > $mib << 20 ? 'whole' : "only $stored bytes",
        ", read back ", $same ? 'intact' : 'CHANGED',
        ", ttl ", ephpm_kv_ttl("php_session:$id") > 590 ? 'kept' : 'LOST', "\n";
}
var_dump(kv_errors());
ob_end_flush();
?>
--EXPECT--
1 MiB session: stored whole, read back intact, ttl kept
4 MiB session: stored whole, read back intact, ttl kept
16 MiB session: stored whole, read back intact, ttl kept
array(0) {
}

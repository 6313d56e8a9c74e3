--TEST--
ephpm_kv: polling 600 keys with ephpm_kv_wait($key, $v, 0) holds no slot of the watch table (waited_keys stays 0), and another process's 50 sleeping waits on keys of their own all get one
--INI--
ephpm_kv.name=wait_polling
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

// A page polling 600 keys: a version-0 call each, then polls with the
// versions, round after round (nothing changes, so each poll is false).
$versions = [];
for ($i = 0; $i < 600; $i++) {
    $versions[$i] = ephpm_kv_wait("polled$i", 0, 0)['version'] ?? null;
}
$unchanged = 0;
for ($round = 0; $round < 3; $round++) {
    foreach ($versions as $i => $v) {
        $unchanged += ephpm_kv_wait("polled$i", $v, 0) === false;
    }
}
$s = ephpm_kv_stats();
echo "polls unchanged: $unchanged, watched_keys {$s['watched_keys']}, waited_keys {$s['waited_keys']}\n";

// Another process meanwhile: 50 waits that sleep (20 ms each, on keys of
// their own, which nobody writes): each registers, sleeps, times out.
[$rc, $out, $err] = kv_child(['ephpm_kv.name' => 'wait_polling', 'ephpm_kv.size' => '4M'], '
    $timed_out = 0;
    for ($i = 0; $i < 50; $i++) {
        $v = ephpm_kv_wait("waited$i", 0, 0)["version"];
        $timed_out += ephpm_kv_wait("waited$i", $v, 20) === false;
    }
    echo "timed out: $timed_out\n";');
echo "exit $rc\n", $out, $err;

// The polled keys kept their versions: one written is seen by its next poll.
ephpm_kv_set('polled7', 'new');
$r = ephpm_kv_wait('polled7', $versions[7], 0);
var_dump($r['value'], $r['version'] > $versions[7], ephpm_kv_wait('polled8', $versions[8], 0));
var_dump(kv_errors());
?>
--EXPECT--
polls unchanged: 1800, watched_keys 600, waited_keys 0
exit 0
timed out: 50
string(3) "new"
bool(true)
bool(false)
array(0) {
}

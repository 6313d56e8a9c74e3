--TEST--
ephpm_kv: an ephpm_kv_scan() page too large for what memory_limit leaves is refused (false, one warning) before PHP allocates it; narrower pages still work
--INI--
ephpm_kv.name=scan_memory_limit
ephpm_kv.size=16M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
for ($i = 0; $i < 20000; $i++) {
    ephpm_kv_set(sprintf('k%05d', $i), 'v');
}
$entries = ephpm_kv_stats()['entries'];
var_dump($entries);
$ini = ['ephpm_kv.name' => 'scan_memory_limit', 'ephpm_kv.size' => '16M', 'memory_limit' => '4M'];
// Every key at once (about 11 MB of arrays) does not fit in 4 MB; a
// hundred keys do, in the same process afterwards.
[$rc, $out, $err] = kv_child($ini, 'var_dump(ephpm_kv_scan(0, "*", 100000));
    $p = ephpm_kv_scan(0, "k000*", 100000); echo count($p["keys"]), " ", $p["cursor"], "\n";');
echo "exit $rc\n", $out;
echo substr_count($err, 'Warning: ephpm_kv_scan(): a page of 20000 keys needs about'), ' ',
    str_contains($err, 'more than memory_limit leaves') ? 'names memory_limit' : $err, "\n";
// Without the limit, the whole store in one page.
$p = ephpm_kv_scan(0, '*', 100000);
var_dump(count($p['keys']) === $entries, $p['cursor']);
var_dump(kv_errors());
?>
--EXPECT--
int(20000)
exit 0
bool(false)
100 0
1 names memory_limit
bool(true)
int(0)
array(0) {
}

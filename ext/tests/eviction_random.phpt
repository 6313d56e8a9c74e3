--TEST--
ephpm_kv: allkeys-random keeps accepting writes, evicting keys picked at random (old ones survive, unlike allkeys-lru)
--INI--
ephpm_kv.name=eviction_random
ephpm_kv.size=1M
ephpm_kv.stripes=1
ephpm_kv.eviction=allkeys-random
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

$value = fn(int $i) => str_pad("value $i ", 400, '.');
$n = 0;
while (ephpm_kv_stats()['evictions'] === 0) {
    ephpm_kv_set("k$n", $value($n));
    $n++;
}
$failed = 0;
for ($i = 0; $i < intdiv($n, 2); $i++) {
    $failed += ephpm_kv_set("new$i", $value($i)) ? 0 : 1;
}
var_dump($failed, kv_errors(), ephpm_kv_stats()['eviction']);

$oldest = 0;
for ($i = 0; $i < intdiv($n, 2); $i++) {
    $oldest += ephpm_kv_exists("k$i") ? 1 : 0;
}
$share = $oldest / intdiv($n, 2);
echo $share > 0.45 && $share < 0.8 ? "about 61% of the oldest half survive\n" : "the oldest half kept $share\n";

$bad = 0;
for ($i = 0; $i < $n; $i++) {
    $v = ephpm_kv_get("k$i");
    $bad += $v !== null && $v !== $value($i) ? 1 : 0;
}
var_dump($bad);
?>
--EXPECT--
int(0)
array(0) {
}
string(14) "allkeys-random"
about 61% of the oldest half survive
int(0)

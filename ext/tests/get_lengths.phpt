--TEST--
ephpm_kv: a get returns every value exactly, whatever its length, on both sides of the one-look small read's limit (4096 bytes) and of the parts of a large value
--INI--
ephpm_kv.name=get_lengths
ephpm_kv.size=64M
ephpm_kv.compression=0
--FILE--
<?php
ephpm_kv_flush_all();
$bad = [];
foreach ([0, 1, 63, 64, 255, 256, 257, 1000, 4095, 4096, 4097, 8192, 65535, 65536, 65537, 300000] as $len) {
    // Bytes that differ from position to position, so a shifted or torn copy shows.
    $v = substr(str_repeat(hash('sha256', (string) $len, true), intdiv($len, 32) + 1), 0, $len);
    if (!ephpm_kv_set("len$len", $v)) {
        $bad[] = "set $len";
        continue;
    }
    $got = ephpm_kv_get("len$len");
    if ($got !== $v) {
        $bad[] = "get $len: " . (is_string($got) ? strlen($got) . ' bytes, ' . ($got === $v ? 'same' : 'different') : gettype($got));
    }
    // Read again after a rewrite of another length in place.
    ephpm_kv_set("len$len", $v . 'x');
    if (ephpm_kv_get("len$len") !== $v . 'x') {
        $bad[] = "reread $len";
    }
}
var_dump($bad);
var_dump(ephpm_kv_get('never set'));
echo "done\n";
?>
--EXPECT--
array(0) {
}
NULL
done

--TEST--
ephpm_kv: the SIGBUS guard of a process with a store open catches only faults on its segments: a SIGBUS sent to it still kills it
--INI--
ephpm_kv.name=sigbus_sent
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
[$status, $out, $err] = kv_child(['ephpm_kv.name' => 'sigbus_sent', 'ephpm_kv.size' => '4M'], '
    var_dump(ephpm_kv_set("k", "v"), ephpm_kv_get("k"));
    exec("kill -BUS " . getmypid());
    echo "survived\n";
');
echo $out;
var_dump($status & 0x7f, $err);
?>
--EXPECT--
bool(true)
string(1) "v"
int(7)
string(0) ""

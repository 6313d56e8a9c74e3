--TEST--
APCUIterator: the memory_limit fatal error while a chunk of large values is built leaves no lock held and the store usable (checked in a shutdown function)
--INI--
apc.enable_cli=1
apc.shm_size=128M
memory_limit=32M
--FILE--
<?php
register_shutdown_function(function () {
    echo "shutdown\n";
    var_dump(apcu_store('x', 1), apcu_fetch('x'));
    var_dump(apcu_exists('big3'));
    var_dump(apcu_delete(new APCUIterator('/^big/')), (new APCUIterator())->getTotalCount());
});
for ($i = 0; $i < 6; $i++) {
    apcu_store("big$i", str_repeat(chr(65 + $i), 8 << 20));
}
var_dump((new APCUIterator('/^big/'))->getTotalCount());
echo "values of 8 MB each, until the memory limit:\n";
$values = [];
foreach (new APCUIterator('/^big/', APC_ITER_VALUE, 2) as $entry) {
    $values[] = $entry['value'];
}
echo "not reached\n";
?>
--EXPECTF--
int(6)
values of 8 MB each, until the memory limit:

Fatal error: Allowed memory size of 33554432 bytes exhausted %s
shutdown
bool(true)
int(1)
bool(true)
bool(true)
int(1)

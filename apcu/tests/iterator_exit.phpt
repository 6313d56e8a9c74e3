--TEST--
APCUIterator: exit() in a __wakeup while a chunk is built leaves no lock held, the store and the iterator usable (checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
class Leaves {
    public function __wakeup() {
        echo "exit in __wakeup\n";
        exit;
    }
}
register_shutdown_function(function () {
    global $it;
    echo "shutdown\n";
    var_dump(apcu_store('x', 1), apcu_fetch('x'), apcu_delete('leaves'));
    $keys = array_keys(iterator_to_array(new APCUIterator(null, APC_ITER_KEY)));
    sort($keys);
    echo implode(',', $keys), "\n";
    echo "the iterator that was building its chunk: ";
    $it->rewind();
    var_dump($it->valid());
});
for ($i = 0; $i < 20; $i++) {
    apcu_store("k$i", $i);
}
apcu_store('leaves', new Leaves);
$it = new APCUIterator('/^leaves$/');
foreach ($it as $entry) {
    echo "not reached\n";
}
?>
--EXPECT--
exit in __wakeup
shutdown
bool(true)
int(1)
bool(true)
k0,k1,k10,k11,k12,k13,k14,k15,k16,k17,k18,k19,k2,k3,k4,k5,k6,k7,k8,k9,x
the iterator that was building its chunk: bool(false)

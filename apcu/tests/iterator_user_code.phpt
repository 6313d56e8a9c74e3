--TEST--
APCUIterator: user code run while a chunk is built (__wakeup storing, deleting, iterating, using the iterator itself; destructors of the previous chunk) finds no lock held and cannot corrupt the iterator
--INI--
apc.enable_cli=1
--FILE--
<?php
class Reenter {
    public static $it;
    public static $log = [];
    public function __construct(public string $tag) {}
    public function __wakeup() {
        self::$log[] = "wakeup $this->tag";
        if ($this->tag === 'same iterator') {
            self::$it->valid();
        }
        if ($this->tag === 'store') {
            apcu_store('stored by wakeup', 1);
            apcu_delete('z deleted by wakeup');
            self::$log[] = 'nested: ' . implode(',', array_keys(iterator_to_array(new APCUIterator('/^z/'))));
            apcu_delete(new APCUIterator('/^y/'));
        }
    }
}
class Dtor {
    public static $it;
    public function __destruct() {
        if (!self::$it) return;
        try {
            self::$it->next();
            echo "next ran\n";
        } catch (Error $e) {
            echo "in a destructor: ", $e->getMessage(), "\n";
        }
    }
}
apcu_store('a', new Reenter('store'));
apcu_store('z deleted by wakeup', 1);
apcu_store('z kept', 1);
apcu_store('y1', 1);
$it = Reenter::$it = new APCUIterator('/^a$/');
foreach ($it as $k => $v) {
    echo "$k: ", get_class($v['value']), "\n";
}
echo implode("\n", Reenter::$log), "\n";
var_dump(apcu_exists('stored by wakeup'), apcu_exists('z deleted by wakeup'), apcu_exists('y1'));

echo "the iterator used from inside its own chunk:\n";
apcu_store('b', new Reenter('same iterator'));
$it = Reenter::$it = new APCUIterator('/^b$/');
try {
    foreach ($it as $k => $v) {
        echo "$k\n";
    }
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
Reenter::$it = null;
echo "then usable again: ";
apcu_store('b', 'plain');
foreach ($it as $k => $v) {
    var_dump($v['value']);
}

echo "destructors of the previous chunk's values:\n";
apcu_store('d1', new Dtor);
apcu_store('d2', new Dtor);
$it = Dtor::$it = new APCUIterator('/^d\d$/', APC_ITER_VALUE, 1);
$n = 0;
foreach ($it as $k => $v) {
    $n++;
    unset($v);
}
Dtor::$it = null;
echo "$n listed\n";
var_dump(apcu_fetch('b'), apcu_cache_info()['num_entries']);
?>
--EXPECT--
a: Reenter
wakeup store
nested: z kept
bool(true)
bool(false)
bool(false)
the iterator used from inside its own chunk:
Error: Trying to use uninitialized APCUIterator
then usable again: string(5) "plain"
destructors of the previous chunk's values:
in a destructor: Trying to use uninitialized APCUIterator
in a destructor: Trying to use uninitialized APCUIterator
2 listed
string(5) "plain"
int(6)

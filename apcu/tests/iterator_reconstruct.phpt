--TEST--
APCUIterator: calling the constructor again replaces the iterator's state; the old chunk's values are released then, and exit() in one of their destructors leaves the iterator with its new state and the store usable (checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
class E {
    public static $armed = false;
    public function __destruct() {
        if (self::$armed) {
            echo "exit in a destructor of the old chunk\n";
            exit;
        }
    }
}
register_shutdown_function(function () {
    global $it;
    E::$armed = false;
    echo "shutdown\n";
    var_dump(apcu_fetch('e') instanceof E, apcu_store('after', 1));
    var_dump(iterator_to_array($it));
});
apcu_store('e', new E);
$it = new APCUIterator('/^e$/');
$it->rewind();
var_dump(get_class($it->current()['value']));
$it->__construct('/^nothing$/');
var_dump($it->valid());
$it = new APCUIterator('/^e$/');
$it->rewind();
E::$armed = true;
$it->__construct('/^after$/', APC_ITER_VALUE);
echo "not reached\n";
?>
--EXPECT--
string(1) "E"
bool(false)
exit in a destructor of the old chunk
shutdown
bool(true)
bool(true)
array(1) {
  ["after"]=>
  array(1) {
    ["value"]=>
    int(1)
  }
}

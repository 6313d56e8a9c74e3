--TEST--
APCUIterator with the API disabled (apc.enable_cli=0): the class and constants are there, constructing one throws APCu's Error
--INI--
apc.enable_cli=0
--FILE--
<?php
var_dump(class_exists('APCUIterator'), APC_ITER_ALL);
try {
    new APCUIterator();
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
class Sub extends APCUIterator { public function __construct() {} }
try {
    apcu_delete(new Sub);
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
?>
--EXPECT--
bool(true)
int(4294967295)
Error: APC must be enabled to use APCUIterator
Error: Trying to use uninitialized APCUIterator

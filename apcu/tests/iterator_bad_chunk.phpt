--TEST--
APCUIterator: a negative chunk size is APCu's fatal error, a format above APC_ITER_ALL too (the second checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
register_shutdown_function(function () {
    echo "shutdown\n";
    new APCUIterator(null, APC_ITER_ALL + 1);
    echo "not reached\n";
});
new APCUIterator(null, APC_ITER_ALL, -1);
echo "not reached\n";
?>
--EXPECTF--
Fatal error: APCUIterator::__construct(): APCUIterator chunk size must be 0 or greater in %s on line %d
shutdown

Fatal error: APCUIterator::__construct(): APCUIterator format is invalid in %s on line %d

--TEST--
apcu_delete() of an object that is no APCUIterator: APCu's fatal error, nothing deleted (checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
register_shutdown_function(function () {
    echo "shutdown\n";
    var_dump(apcu_fetch('kept'), (new APCUIterator())->getTotalCount());
});
apcu_store('kept', 'value');
apcu_delete(new ArrayIterator(['kept']));
echo "not reached\n";
?>
--EXPECTF--
Fatal error: apcu_delete(): apc_delete object argument must be instance of APCUIterator. in %s on line %d
shutdown
string(5) "value"
int(1)

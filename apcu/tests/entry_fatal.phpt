--TEST--
apcu_entry: a callback that ends in a fatal error leaves its lock released (checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
register_shutdown_function(function () {
    echo "shutdown\n";
    var_dump(apcu_cache_info()['entry_locks'], apcu_exists('fatal'));
    var_dump(apcu_entry('fatal', fn() => 'computed after the fatal error'));
});
apcu_entry('fatal', function () {
    trigger_error('the callback dies', E_USER_ERROR);
});
echo "not reached\n";
?>
--EXPECTF--
Fatal error: the callback dies in %s on line %d
shutdown
int(0)
bool(false)
string(30) "computed after the fatal error"

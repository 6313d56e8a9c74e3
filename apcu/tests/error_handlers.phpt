--TEST--
User error handlers that throw or die on this module's warnings break nothing
--INI--
apc.enable_cli=1
--FILE--
<?php
apcu_store('k', 'old');
$f = fopen('php://memory', 'r');
set_error_handler(function ($no, $message) { throw new ErrorException($message); });
try {
    apcu_store('k', $f);
} catch (ErrorException $e) {
    echo 'caught: ', $e->getMessage(), "\n";
}
try {
    apcu_fetch(new stdClass);
} catch (ErrorException $e) {
    echo 'caught: ', $e->getMessage(), "\n";
}
var_dump(apcu_fetch('k'), apcu_store('k', 'new'), apcu_fetch('k'));
restore_error_handler();

register_shutdown_function(function () {
    echo "shutdown\n";
    var_dump(apcu_fetch('k'), apcu_store('k', 'after'), apcu_fetch('k'), apcu_inc('n'));
});
set_error_handler(function ($no, $message) {
    echo "handler: $message\n";
    trigger_error('fatal inside the handler', E_USER_ERROR);
});
apcu_store('k', [$f]);
echo "not reached\n";
?>
--EXPECTF--
caught: apcu_store(): Cannot store resources in apcu cache
caught: apcu_fetch(): apc_fetch() expects a string or array of strings.
string(3) "old"
bool(true)
string(3) "new"
handler: apcu_store(): Cannot store resources in apcu cache

Fatal error: fatal inside the handler in %s on line %d
shutdown
string(3) "new"
bool(true)
string(5) "after"
int(1)

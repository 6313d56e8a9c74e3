--TEST--
APCUIterator: a pattern PCRE cannot compile gives PCRE's warning, then APCu's fatal error; the store is left usable (checked in a shutdown function)
--INI--
apc.enable_cli=1
--FILE--
<?php
register_shutdown_function(function () {
    echo "shutdown\n";
    var_dump(apcu_fetch('kept'), apcu_store('more', 2));
    var_dump(array_keys(iterator_to_array(new APCUIterator('/^(kept|more)$/'))));
});
apcu_store('kept', 1);
new APCUIterator('/(unclosed/');
echo "not reached\n";
?>
--EXPECTF--
Warning: preg_match(): Compilation failed: missing closing parenthesis at offset %d in %s on line %d

Fatal error: APCUIterator::__construct(): Could not compile regular expression: /(unclosed/ in %s on line %d
shutdown
int(1)
bool(true)
array(2) {
  [0]=>
  string(4) "kept"
  [1]=>
  string(4) "more"
}

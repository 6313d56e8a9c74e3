--TEST--
An unknown apc.serializer is a startup warning; values are then stored with php's serializer
--INI--
apc.enable_cli=1
apc.serializer=msgpackish
--FILE--
<?php
var_dump(apcu_store('o', new ArrayObject([1])), apcu_fetch('o') == new ArrayObject([1]));
?>
--EXPECTF--
Warning: PHP Startup: apcu (ephpm-apcu): apc.serializer = "msgpackish" is not a serializer this module knows (php or igbinary): values are stored with php's in %s on line %d
bool(true)
bool(true)

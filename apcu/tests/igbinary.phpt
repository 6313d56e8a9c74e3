--TEST--
apc.serializer=igbinary stores objects with igbinary (when the extension is loaded)
--INI--
apc.enable_cli=1
apc.serializer=igbinary
--EXTENSIONS--
igbinary
--FILE--
<?php
class P { public $a = 1; public $list = [1, 'two', 3.0]; }
$value = ['object' => new P, 'array' => ['x' => [1, 2]]];
$value['ref'] = &$value['array'];
var_dump(apcu_store('v', $value));
$back = apcu_fetch('v');
var_dump($back['object'] == new P, $back['array'] === ['x' => [1, 2]]);
$back['ref']['y'] = 1;
var_dump(isset($back['array']['y']));
var_dump(str_contains(print_r(ini_get_all('apcu'), true), 'igbinary'));
ob_start();
phpinfo(INFO_MODULES);
var_dump(str_contains(ob_get_clean(), 'Serialization Support => igbinary'));
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)

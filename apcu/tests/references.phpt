--TEST--
References and cycles inside a value are kept (through the serializer)
--INI--
apc.enable_cli=1
--FILE--
<?php
$a = [1, 2];
$a[2] = &$a[0];
apcu_store('refs', $a);
$b = apcu_fetch('refs');
$b[0] = 'changed';
var_dump($b[2]);

$cycle = ['name' => 'loop'];
$cycle['self'] = &$cycle;
apcu_store('cycle', $cycle);
$c = apcu_fetch('cycle');
var_dump($c['self']['self']['name']);

$o = new stdClass;
$o->self = $o;
apcu_store('object cycle', $o);
$p = apcu_fetch('object cycle');
var_dump($p->self === $p);

// A reference as the value itself stores what it points to.
$x = 'target';
$r = &$x;
apcu_store('by reference', $r);
$x = 'moved on';
var_dump(apcu_fetch('by reference'));
?>
--EXPECT--
string(7) "changed"
string(4) "loop"
bool(true)
string(6) "target"

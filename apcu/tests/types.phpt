--TEST--
Values of every type come back exactly (same type, same bits, same keys in the same order)
--INI--
apc.enable_cli=1
--FILE--
<?php
class Point { public $x = 1; protected $y = 2; private $z = 3; public ?Point $next = null; }
class Custom {
    public $data;
    function __construct($d) { $this->data = $d; }
    function __serialize(): array { return ['d' => $this->data]; }
    function __unserialize(array $a): void { $this->data = $a['d'] . '!'; }
}
$shared = new Point;
$values = [
    'string' => "hello",
    'empty string' => "",
    'binary' => "\0\x01\xff\x1f-12",
    'numeric string' => "42",
    'negative numeric string' => "-7",
    'int' => 42,
    'zero' => 0,
    'negative' => -123456789,
    'max' => PHP_INT_MAX,
    'min' => PHP_INT_MIN,
    'float' => 0.1 + 0.2,
    'float integral' => 3.0,
    'negative zero' => -0.0,
    'inf' => INF,
    'nan' => NAN,
    'tiny' => 5e-324,
    'true' => true,
    'false' => false,
    'null' => null,
    'empty array' => [],
    'list' => [1, 2, 3],
    'sparse' => [5 => 'a', 2 => 'b', -1 => 'c'],
    'mixed keys' => ['b' => 1, 0 => 'zero', 'a' => [true, null, 1.5], "k\0ey" => "\xff"],
    'nested' => ['a' => ['b' => ['c' => ['d' => ['e' => 'deep']]]]],
    'deeper than the compact format' => array_reduce(range(1, 40), fn($carry) => [$carry], 'bottom'),
    'object' => new Point,
    'objects in an array' => [new Point, 'x' => new ArrayObject([1, 2])],
    'custom serialization' => new Custom('data'),
    'same object twice' => [$shared, $shared],
    'stdClass' => (object) ['a' => 1],
];
foreach ($values as $name => $value) {
    if (!apcu_store($name, $value)) {
        echo "$name: not stored\n";
        continue;
    }
    $back = apcu_fetch($name);
    if ($name === 'custom serialization') {
        $ok = $back instanceof Custom && $back->data === 'data!';
    } elseif ($name === 'nan') {
        $ok = is_float($back) && is_nan($back);
    } elseif (is_float($value)) {
        $ok = is_float($back) && pack('e', $back) === pack('e', $value);
    } elseif (is_object($value) || (is_array($value) && $name !== 'same object twice')) {
        $ok = serialize($back) === serialize($value) && var_export($back, true) === var_export($value, true);
    } else {
        $ok = $back === $value || serialize($back) === serialize($value);
    }
    echo $name, ": ", $ok ? "same" : "DIFFERENT " . var_export($back, true), "\n";
}
// Identity within one value is kept (the same object twice is one object).
$back = apcu_fetch('same object twice');
var_dump($back[0] === $back[1]);
// Each fetch is a copy: changing it changes nothing stored.
$list = apcu_fetch('list');
$list[] = 4;
var_dump(apcu_fetch('list') === [1, 2, 3]);
// Key order is kept.
var_dump(array_keys(apcu_fetch('sparse')) === [5, 2, -1]);
?>
--EXPECT--
string: same
empty string: same
binary: same
numeric string: same
negative numeric string: same
int: same
zero: same
negative: same
max: same
min: same
float: same
float integral: same
negative zero: same
inf: same
nan: same
tiny: same
true: same
false: same
null: same
empty array: same
list: same
sparse: same
mixed keys: same
nested: same
deeper than the compact format: same
object: same
objects in an array: same
custom serialization: same
same object twice: same
stdClass: same
bool(true)
bool(true)
bool(true)

--TEST--
APCUIterator: APCu's errors (an object whose constructor did not run, an invalid list, arguments of the wrong type or number, cloning), each leaving the store as it was
--INI--
apc.enable_cli=1
--FILE--
<?php
apcu_store('kept', 'value');
class NoParent extends APCUIterator {
    public function __construct() {}
}
$calls = [
    'rewind' => fn($it) => $it->rewind(),
    'valid' => fn($it) => $it->valid(),
    'current' => fn($it) => $it->current(),
    'key' => fn($it) => $it->key(),
    'next' => fn($it) => $it->next(),
    'getTotalHits' => fn($it) => $it->getTotalHits(),
    'getTotalSize' => fn($it) => $it->getTotalSize(),
    'getTotalCount' => fn($it) => $it->getTotalCount(),
    'apcu_delete' => fn($it) => apcu_delete($it),
    'foreach' => function ($it) { foreach ($it as $v) {} },
];
foreach ($calls as $name => $call) {
    try {
        $call(new NoParent);
        echo "$name: no error\n";
    } catch (Error $e) {
        echo "$name: ", get_class($e), ': ', $e->getMessage(), "\n";
    }
}
echo "a subclass that calls the parent's constructor works:\n";
class Prefixed extends APCUIterator {
    public function __construct(string $prefix) { parent::__construct('/^' . preg_quote($prefix, '/') . '/', APC_ITER_VALUE); }
}
var_dump(iterator_to_array(new Prefixed('ke')));

echo "an invalid list: a warning, and an object that cannot be used:\n";
$it = new APCUIterator(null, APC_ITER_ALL, 0, 3);
try { $it->valid(); } catch (Error $e) { echo $e->getMessage(), "\n"; }

echo "arguments:\n";
foreach ([[null, 'x'], [null, APC_ITER_ALL, []], [null, APC_ITER_ALL, 0, new stdClass], [null, 1, 2, 1, 5]] as $args) {
    try {
        new APCUIterator(...$args);
        echo "no error\n";
    } catch (Error $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
$it = new APCUIterator();
try { $it->rewind(1); } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
try { apcu_delete($it, 2); } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
try { $copy = clone $it; } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
echo "a numeric string and a float are ints, as PHP's weak mode takes them: ";
var_dump(iterator_to_array(new APCUIterator(['kept'], '2', 1.0)));
echo "an error handler that throws on the list warning:\n";
set_error_handler(function ($no, $message) { throw new ErrorException($message); });
try { new APCUIterator(null, APC_ITER_ALL, 0, 0); } catch (ErrorException $e) { echo 'ErrorException: ', $e->getMessage(), "\n"; }
restore_error_handler();
var_dump(apcu_fetch('kept'), (new APCUIterator())->getTotalCount());
?>
--EXPECTF--
rewind: Error: Trying to use uninitialized APCUIterator
valid: Error: Trying to use uninitialized APCUIterator
current: Error: Trying to use uninitialized APCUIterator
key: Error: Trying to use uninitialized APCUIterator
next: Error: Trying to use uninitialized APCUIterator
getTotalHits: Error: Trying to use uninitialized APCUIterator
getTotalSize: Error: Trying to use uninitialized APCUIterator
getTotalCount: Error: Trying to use uninitialized APCUIterator
apcu_delete: Error: Trying to use uninitialized APCUIterator
foreach: Error: Trying to use uninitialized APCUIterator
a subclass that calls the parent's constructor works:
array(1) {
  ["kept"]=>
  array(1) {
    ["value"]=>
    string(5) "value"
  }
}
an invalid list: a warning, and an object that cannot be used:

Warning: APCUIterator::__construct(): APCUIterator invalid list type in %s on line %d
Trying to use uninitialized APCUIterator
arguments:
TypeError: APCUIterator::__construct(): Argument #2 ($format) must be of type int, string given
TypeError: APCUIterator::__construct(): Argument #3 ($chunk_size) must be of type int, array given
TypeError: APCUIterator::__construct(): Argument #4 ($list) must be of type int, stdClass given
ArgumentCountError: APCUIterator::__construct() expects at most 4 arguments, 5 given
ArgumentCountError: APCUIterator::rewind() expects exactly 0 arguments, 1 given
ArgumentCountError: apcu_delete() expects exactly 1 argument, 2 given
Error: Trying to clone an uncloneable object of class APCUIterator
a numeric string and a float are ints, as PHP's weak mode takes them: array(1) {
  ["kept"]=>
  array(1) {
    ["key"]=>
    string(4) "kept"
  }
}
an error handler that throws on the list warning:
ErrorException: APCUIterator::__construct(): APCUIterator invalid list type
string(5) "value"
int(1)

<?php
/**
 * The values of the APCu API benchmark (apcu_ops.php, apcu_instr.php):
 * strings, an int, arrays of scalars and a small object, by group name.
 */

declare(strict_types=1);

/** The "small object" of the benchmark: a user class, four typed properties. */
final class BenchItem
{
    public function __construct(
        public int $id = 0,
        public string $name = '',
        public float $price = 0.0,
        public array $tags = [],
    ) {
    }
}

/** An array of $n scalars with string keys: ints, strings, floats and bools in turn. */
function bench_array(int $n): array
{
    $a = [];
    for ($i = 0; $i < $n; $i++) {
        $a["field_$i"] = match ($i % 4) {
            0 => $i * 7919,
            1 => "value number $i",
            2 => $i + 0.25,
            3 => $i % 8 === 3,
        };
    }
    return $a;
}

/** The value a group stores, and its label in the tables. */
function group_value(string $group): array
{
    return match ($group) {
        '64' => [str_repeat('0123456789abcdef', 4), '64 B string'],
        '1024' => [str_repeat('0123456789abcdef', 64), '1 KB string'],
        'int' => [1234567, 'int'],
        'a10' => [bench_array(10), 'array, 10 scalars'],
        'a100' => [bench_array(100), 'array, 100 scalars'],
        'obj' => [new BenchItem(42, 'A small object', 19.99, ['new', 'sale']), 'small object'],
    };
}

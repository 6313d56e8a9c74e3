<?php
/**
 * A fixed number of one apcu_* operation, for counting instructions per
 * call under callgrind: 1,000 keys of each kind are stored first; `none`
 * runs the same loop without an apcu call, so that its count can be
 * subtracted. Runs under the apcu module of this project or APCu's.
 *
 *   php -d apc.enable_cli=1 apcu_ops_loop.php OP COUNT [only]
 *
 * `only` stores just the keys OP reads (for a profile of OP alone, with
 * callgrind's --toggle-collect; counts to subtract need the same setup).
 * OP: fetch64 fetchint fetcharr100 fetchobj store64 inc exists none
 */

declare(strict_types=1);

[$op, $count] = [$argv[1], (int) $argv[2]];
$string = str_repeat('v', 64);
$array = range(1, 100);
$object = new stdClass();
$object->id = 42;
$object->name = 'apcu';
$object->tags = ['a', 'b'];
$values = ['s' => $string, 'i' => null, 'a' => $array, 'o' => $object];
if (($argv[3] ?? '') === 'only') {
    $kind = ['fetchint' => 'i', 'fetcharr100' => 'a', 'fetchobj' => 'o'][$op] ?? 's';
    $values = [$kind => $values[$kind]];
}
for ($i = 0; $i < 1000; $i++) {
    foreach ($values as $kind => $value) {
        apcu_store("$kind$i", $value ?? $i);
    }
}
apcu_store('ctr', 0);
// Each read is checked once, so that a build that fails counts nothing.
if (count($values) === 4 && (apcu_fetch('s1') !== $string || apcu_fetch('i7') !== 7 || apcu_fetch('a1') !== $array
    || apcu_fetch('o1') != $object || !apcu_exists('s1'))) {
    fwrite(STDERR, "the store does not work\n");
    exit(1);
}
for ($i = 0; $i < $count; $i++) {
    $n = $i % 1000;
    match ($op) {
        'fetch64' => apcu_fetch("s$n"),
        'fetchint' => apcu_fetch("i$n"),
        'fetcharr100' => apcu_fetch("a$n"),
        'fetchobj' => apcu_fetch("o$n"),
        'store64' => apcu_store("s$n", $string),
        'inc' => apcu_inc('ctr'),
        'exists' => apcu_exists("s$n"),
        'none' => strlen("s$n"),
    };
}

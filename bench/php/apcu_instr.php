<?php
/**
 * A fixed number of one APCu-API call, for counting instructions per call
 * under callgrind (scripts/bench-apcu): 1,000 keys each of a 64-byte
 * string, an int and a 100-element array (the values of apcu_ops.php) are
 * stored first; `none` runs the same loop without a store call, so that
 * its count can be subtracted. `delete` deletes COUNT keys of 64 bytes,
 * each once, stored before the loop; `nonedelete` stores them and runs
 * the loop without the call, its baseline. Exit status 1 if a call did
 * not have the expected outcome (a failing call would count its warning
 * instead).
 *
 *   php <module's -d flags> apcu_instr.php fetch64|fetchint|fetcha100|store64|inc|delete|none|nonedelete COUNT
 */

declare(strict_types=1);

require __DIR__ . '/apcu_values.php';

[$op, $count] = [$argv[1] ?? '', (int) ($argv[2] ?? 0)];
$s64 = group_value('64')[0];
$int = group_value('int')[0];
$a100 = group_value('a100')[0];
for ($i = 0; $i < 1000; $i++) {
    $ok = apcu_store("s$i", $s64) && apcu_store("i$i", $int) && apcu_store("a$i", $a100);
    if (!$ok) {
        fwrite(STDERR, "apcu_instr.php: the fill failed at $i\n");
        exit(1);
    }
}
apcu_store('ctr', 0);
if ($op === 'delete' || $op === 'nonedelete') {
    for ($i = 0; $i < $count; $i++) {
        if (!apcu_store("d$i", $s64)) {
            fwrite(STDERR, "apcu_instr.php: the fill failed at d$i\n");
            exit(1);
        }
    }
}
$bad = 0;
for ($i = 0; $i < $count; $i++) {
    $j = $i % 1000;
    $bad += match ($op) {
        'fetch64' => (int) (apcu_fetch("s$j") === false),
        'fetchint' => (int) (apcu_fetch("i$j") === false),
        'fetcha100' => (int) (apcu_fetch("a$j") === false),
        'store64' => (int) !apcu_store("s$j", $s64),
        'inc' => (int) (apcu_inc('ctr') === false),
        'delete' => (int) !apcu_delete("d$i"),
        'none' => (int) ("s$j" === ''),
        'nonedelete' => (int) ("d$i" === ''),
    };
}
if ($bad > 0 || ($op === 'inc' && apcu_fetch('ctr') !== $count)) {
    fwrite(STDERR, "apcu_instr.php: $bad of $count calls of $op failed\n");
    exit(1);
}

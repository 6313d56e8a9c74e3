<?php
// APCUIterator over 20k entries (10k "ns:<i>" strings of ~60 bytes, 10k
// "other:<i>" arrays): the best of 7 runs of each, in ms, as a markdown
// table. Run it with this module and with APCu, in turn:
//   php -n -d extension=$PWD/target/release/libephpm_apcu.so -d apc.enable_cli=1 -d apc.shm_size=64M apcu/bench/iterator.php
//   php -n -d extension=apcu.so -d apc.enable_cli=1 -d apc.shm_size=64M apcu/bench/iterator.php
echo "| op | best of 7 | entries |\n|---|---|---|\n";
$n = 10000;
for ($i = 0; $i < $n; $i++) apcu_store("ns:$i", "value $i " . str_repeat('x', 50));
for ($i = 0; $i < $n; $i++) apcu_store("other:$i", [$i, 'a' => 'b']);
function t($label, $f) {
    $best = INF;
    for ($r = 0; $r < 7; $r++) { $t = hrtime(true); $c = $f(); $best = min($best, hrtime(true) - $t); }
    printf("| %-52s | %7.2f ms | %5d |\n", $label, $best / 1e6, $c);
}
t('iterator_to_array(new APCUIterator()), 20k entries', fn() => count(iterator_to_array(new APCUIterator())));
t('foreach (new APCUIterator(null, APC_ITER_KEY))', function () { $c = 0; foreach (new APCUIterator(null, APC_ITER_KEY) as $k => $v) $c++; return $c; });
t("getTotalCount(), search '/^ns:/' (a literal prefix)", fn() => (new APCUIterator('/^ns:/'))->getTotalCount());
t("getTotalCount(), search '/^ns:\\d+$/' (PCRE)", fn() => (new APCUIterator('/^ns:\d+$/'))->getTotalCount());
t("foreach, search '/^ns:\\d+$/', APC_ITER_ALL", function () { $c = 0; foreach (new APCUIterator('/^ns:\d+$/') as $v) $c++; return $c; });
foreach (['/^ns:/' => 'Symfony-style prefix', '/^ns:\d+$/' => 'PCRE'] as $re => $what) {
    $best = INF;
    for ($r = 0; $r < 7; $r++) {
        for ($i = 0; $i < $n; $i++) apcu_store("ns:$i", "v");
        $t = hrtime(true);
        apcu_delete(new APCUIterator($re, APC_ITER_KEY));
        $best = min($best, hrtime(true) - $t);
    }
    printf("| %-52s | %7.2f ms | %5d |\n", "apcu_delete(iterator), 10k of 20k, $what", $best / 1e6, count(iterator_to_array(new APCUIterator('/^ns:/'))));
}

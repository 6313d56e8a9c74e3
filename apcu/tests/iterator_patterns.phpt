--TEST--
APCUIterator: every pattern selects the keys preg_match selects (literal prefixes as preg_quote writes them, which are matched without PCRE, and other patterns); a key PCRE fails on (its backtracking limit) is no match and the others are still matched
--INI--
apc.enable_cli=1
pcre.backtrack_limit=1000
--FILE--
<?php
$keys = ['app', 'app.v1/x', 'appXv1/x', "app.v1/x\nline", 'a.b/c+:-#', 'a.b/c+:-#tail', 'aXb/c+:-#', "nul\0key", "nul\0", 'nul',
    'café ns:1', 'CAFÉ ns:1', 'x#y', 'x~y', 'back\\slash', '[br]acket', '$dollar', 'a', '', 'b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', 'aaa'];
foreach ($keys as $k) {
    apcu_store($k, 1);
}
$patterns = [];
foreach (['app', 'app.v1/', 'a.b/c+:-#', "nul\0", 'café ns:', 'back\\', '[br]', '$', ''] as $prefix) {
    $patterns[] = '/^' . preg_quote($prefix, '/') . '/';
    $patterns[] = '#^' . preg_quote($prefix, '#') . '#';
}
array_push($patterns, '~^x\~~', '/^app\./', '/^app./', '/^app$/', '/^APP/i', '/app/', '/^a.b/', '/^caf\x{e9}/u', '/^nul\0/', '/\d$/', '/^(a+)+$/');
$failures = 0;
foreach ($patterns as $pattern) {
    $got = array_keys(iterator_to_array(new APCUIterator($pattern, APC_ITER_NONE)));
    $want = array_values(array_filter($keys, fn($k) => preg_match($pattern, $k) === 1));
    $got = array_map('strval', $got);
    sort($got);
    sort($want);
    if ($got !== $want) {
        $failures++;
        echo 'differs: ', json_encode($pattern), ' got ', json_encode($got), ' want ', json_encode($want), "\n";
    }
    // The same keys counted and deleted.
    if ((new APCUIterator($pattern))->getTotalCount() !== count($want)) echo 'count differs: ', json_encode($pattern), "\n";
}
echo count($patterns), " patterns, $failures differ\n";
echo "PCRE fails on long keys (backtracking limit): ";
var_dump(preg_match('/^(a+)+$/', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'), preg_last_error_msg());
for ($i = 1; $i <= 200; $i++) apcu_store(str_repeat('a', $i), 1);
for ($i = 0; $i < 50; $i++) apcu_store(str_repeat('a', 12 + $i) . 'b', 1);
$matched = array_keys(iterator_to_array(new APCUIterator('/^(a+)+$/')));
$lengths = array_map('strlen', $matched);
sort($lengths);
var_dump(count($matched), $lengths === range(1, 200));
var_dump(apcu_delete(new APCUIterator('/^(a+)+$/')), apcu_exists(['a', 'aaa', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab']), (new APCUIterator('/^a+b$/'))->getTotalCount());
$prefixed = new APCUIterator('/^' . preg_quote('a.b/c+:-#', '/') . '/');
var_dump(apcu_delete($prefixed), apcu_exists(['a.b/c+:-#', 'a.b/c+:-#tail', 'aXb/c+:-#']));
?>
--EXPECT--
29 patterns, 0 differ
PCRE fails on long keys (backtracking limit): bool(false)
string(25) "Backtrack limit exhausted"
int(200)
bool(true)
bool(true)
array(1) {
  ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"]=>
  bool(true)
}
int(50)
bool(true)
array(1) {
  ["aXb/c+:-#"]=>
  bool(true)
}

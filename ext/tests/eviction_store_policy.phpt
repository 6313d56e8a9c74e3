--TEST--
ephpm_kv: the eviction policy belongs to the store: recorded by its creator, applied to every opener, one warning naming both for an opener that asks for another
--INI--
ephpm_kv.name=store_policy
ephpm_kv.size=1M
ephpm_kv.eviction=allkeys-lru
--FILE--
<?php
require __DIR__ . '/kv.inc';
@unlink(ini_get('ephpm_kv.dir') . '/ephpm_kv.store_policy');

echo "-- another process creates the store with noeviction\n";
[$code, $out, $err] = kv_child(['ephpm_kv.name' => 'store_policy', 'ephpm_kv.size' => '1M',
    'ephpm_kv.eviction' => 'noeviction'], 'var_dump(ephpm_kv_set("k", "v"), ephpm_kv_stats()["eviction"]);');
echo $code, ' ', $out, $err === '' ? "no warning\n" : $err;

echo "-- this process asks for allkeys-lru: one warning, then the store's policy applies\n";
kv_record_errors();
var_dump(ephpm_kv_get('k'));
foreach (kv_errors() as $e) {
    echo str_contains($e, 'ephpm_kv.eviction = allkeys-lru') && str_contains($e, 'evicts by noeviction')
        && str_contains($e, 'store_policy') ? "warning names both policies\n" : "$e\n";
}
var_dump(ephpm_kv_get('k'), kv_errors(), ephpm_kv_stats()['eviction']);
$value = str_repeat('x', 1000);
for ($i = 0; $i < 5000 && ephpm_kv_set("f$i", $value); $i++);
$errors = kv_errors();
echo $i < 5000 ? "the full store refuses writes (noeviction)\n" : "never full\n";
echo count($errors) === 1 && str_contains($errors[0], 'noeviction') ? "one warning, naming noeviction\n" : implode("\n", $errors) . "\n";
var_dump(ephpm_kv_stats()['evictions'], ephpm_kv_get('k'));

echo "-- an opener asking for what the store has gets no warning\n";
[$code, $out, $err] = kv_child(['ephpm_kv.name' => 'store_policy', 'ephpm_kv.size' => '1M',
    'ephpm_kv.eviction' => 'noeviction'], 'var_dump(ephpm_kv_get("k"));');
echo $code, ' ', $out, $err === '' ? "no warning\n" : $err;
?>
--EXPECT--
-- another process creates the store with noeviction
0 bool(true)
string(10) "noeviction"
no warning
-- this process asks for allkeys-lru: one warning, then the store's policy applies
string(1) "v"
warning names both policies
string(1) "v"
array(0) {
}
string(10) "noeviction"
the full store refuses writes (noeviction)
one warning, naming noeviction
int(0)
string(1) "v"
-- an opener asking for what the store has gets no warning
0 string(1) "v"
no warning

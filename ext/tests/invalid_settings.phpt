--TEST--
ephpm_kv: every invalid setting is named at startup and by each call (child processes)
--INI--
ephpm_kv.name=invalid_settings
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';

$cases = [
    ['ephpm_kv.enabled', 'maybe'],
    ['ephpm_kv.name', '../etc'],
    ['ephpm_kv.name', 'a/b'],
    ['ephpm_kv.name', ''],
    ['ephpm_kv.size', 'lots'],
    ['ephpm_kv.size', '-1M'],
    ['ephpm_kv.dir', 'relative/dir'],
    ['ephpm_kv.eviction', 'random'],
    ['ephpm_kv.eviction', 'lru'],
    ['ephpm_kv.stripes', '-1'],
    ['ephpm_kv.stripes', 'many'],
    ['ephpm_kv.max_value_size', 'big'],
    ['ephpm_kv.compression', 'gzip'],
    ['ephpm_kv.compression_level', '99'],
    ['ephpm_kv.compression_level', 'fast'],
    ['ephpm_kv.compression_min_size', 'lots'],
];
$code = '
    $errors = [];
    set_error_handler(function ($no, $msg) use (&$errors) { $errors[] = $msg; return true; });
    $r = [ephpm_kv_get("k"), ephpm_kv_set("k", "v"), ephpm_kv_incr("k"), ephpm_kv_ttl("k")];
    echo json_encode($r), " ", count($errors), "\n";
    foreach ($errors as $e) echo $e, "\n";
';
foreach ($cases as [$setting, $value]) {
    [$rc, $out, $err] = kv_child([$setting => $value] + ['ephpm_kv.name' => 'invalid_settings'], $code);
    $lines = explode("\n", trim($out));
    $startup = array_values(array_filter(explode("\n", $err), fn($l) => str_contains($l, 'PHP Startup')));
    $setting_short = substr($setting, strlen('ephpm_kv.'));
    $names = fn($l) => str_contains($l, $setting) || ($setting === 'ephpm_kv.name' && str_contains($l, 'name'));
    echo str_pad("$setting=" . json_encode($value), 34), ' exit ', $rc,
        ', startup warnings: ', count($startup), ' naming it: ', count(array_filter($startup, $names)),
        ', calls: ', $lines[0],
        ', naming it: ', count(array_filter(array_slice($lines, 1), $names)), "\n";
}

echo "-- a valid configuration, for comparison\n";
[$rc, $out, $err] = kv_child(['ephpm_kv.name' => 'invalid_settings', 'ephpm_kv.size' => '4M'], $code);
echo $rc, ' ', json_encode($err), ' ', $out;
?>
--EXPECT--
ephpm_kv.enabled="maybe"           exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.name="..\/etc"            exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.name="a\/b"               exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.name=""                   exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.size="lots"               exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.size="-1M"                exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.dir="relative\/dir"       exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.eviction="random"         exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.eviction="lru"            exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.stripes="-1"              exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.stripes="many"            exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.max_value_size="big"      exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.compression="gzip"        exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.compression_level="99"    exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.compression_level="fast"  exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
ephpm_kv.compression_min_size="lots" exit 0, startup warnings: 1 naming it: 1, calls: [null,false,false,-2] 4, naming it: 4
-- a valid configuration, for comparison
0 "" [null,true,false,-1] 0

--TEST--
ephpm_kv: ephpm_kv_scan() and ephpm_kv_stripes() without a store: false and one warning naming the cause
--INI--
ephpm_kv.name=scan_unavailable
ephpm_kv.size=4M
ephpm_kv.dir=/nonexistent-ephpm-kv-phpt/dir
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
foreach (['scan' => fn() => ephpm_kv_scan(), 'stripes' => fn() => ephpm_kv_stripes()] as $name => $call) {
    var_dump($call());
    $errors = kv_errors();
    echo $name, ': ', count($errors), ' error(s), ',
        count(array_filter($errors, fn($e) => str_contains($e, 'unavailable')
            && str_contains($e, '/nonexistent-ephpm-kv-phpt/dir'))), " naming the cause\n";
}
// A bad argument is still a ValueError.
kv_try(fn() => ephpm_kv_scan(-1));
?>
--EXPECT--
bool(false)
scan: 1 error(s), 1 naming the cause
bool(false)
stripes: 1 error(s), 1 naming the cause
ValueError: ephpm_kv_scan(): Argument #1 ($cursor) must be greater than or equal to 0

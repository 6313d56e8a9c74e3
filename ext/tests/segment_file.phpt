--TEST--
ephpm_kv: the segment file: mode 0600, kept geometry, and unsafe or foreign files refused with a warning (never wiped)
--INI--
ephpm_kv.name=segment_file
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();
ephpm_kv_set('a', 'kept');
$dir = ini_get('ephpm_kv.dir');
$path = "$dir/ephpm_kv.segment_file";

echo "-- created with mode 0600 at <dir>/ephpm_kv.<name>\n";
clearstatcache();
printf("%o %s\n", fileperms($path) & 0777, ephpm_kv_stats()['path'] === $path ? 'path ok' : 'path differs');

// A child call on store $name with $ini; prints what get() returned and its warnings.
function child(string $name, array $ini = []): void {
    [$rc, $out, $err] = kv_child($ini + ['ephpm_kv.name' => $name, 'ephpm_kv.size' => '4M'], '
        set_error_handler(function ($no, $msg) { echo "warning: $msg\n"; return true; });
        var_dump(ephpm_kv_get("a"));');
    echo $out, $err, $rc === 0 ? '' : "exit $rc\n";
}

echo "-- other geometry: refused, naming both, data kept\n";
child('segment_file', ['ephpm_kv.size' => '8M']);
child('segment_file', ['ephpm_kv.stripes' => '2']);
child('segment_file', ['ephpm_kv.max_value_size' => '100K']);
echo "another eviction policy is not a geometry: the store opens, its own policy applies\n";
child('segment_file', ['ephpm_kv.eviction' => 'noeviction']);
var_dump(ephpm_kv_get('a'));

echo "-- readable by others: refused\n";
chmod($path, 0644);
child('segment_file');
chmod($path, 0600);
child('segment_file');

echo "-- a symbolic link: refused\n";
symlink($path, "$dir/ephpm_kv.segment_file-link");
child('segment_file-link');

echo "-- not a segment: refused and left alone\n";
file_put_contents("$dir/ephpm_kv.segment_file-junk", str_repeat("junk\n", 1000));
chmod("$dir/ephpm_kv.segment_file-junk", 0600);
child('segment_file-junk');
var_dump(file_get_contents("$dir/ephpm_kv.segment_file-junk") === str_repeat("junk\n", 1000));
var_dump(kv_errors());
?>
--CLEAN--
<?php
$dir = ini_get('ephpm_kv.dir');
@unlink("$dir/ephpm_kv.segment_file-link");
@unlink("$dir/ephpm_kv.segment_file-junk");
?>
--EXPECTF--
-- created with mode 0600 at <dir>/ephpm_kv.<name>
600 path ok
-- other geometry: refused, naming both, data kept
warning: ephpm_kv_get(): store "segment_file" is unavailable: %sanother geometry (size 4194304 %s) than configured (size 8%d %s)%s
NULL
warning: ephpm_kv_get(): store "segment_file" is unavailable: %sanother geometry (%s1 stripes%s) than configured (%s2 stripes%s)%s
NULL
warning: ephpm_kv_get(): store "segment_file" is unavailable: %sanother geometry (%smax value %d B) than configured (%smax value 102400 B)%s
NULL
another eviction policy is not a geometry: the store opens, its own policy applies
warning: ephpm_kv_get(): ephpm_kv.eviction = noeviction is not the policy of store "segment_file": it evicts by allkeys-lru, %s
string(4) "kept"
string(4) "kept"
-- readable by others: refused
warning: ephpm_kv_get(): store "segment_file" is unavailable: %s/ephpm_kv.segment_file%s644%s
NULL
string(4) "kept"
-- a symbolic link: refused
warning: ephpm_kv_get(): store "segment_file-link" is unavailable: %s/ephpm_kv.segment_file-link%ssymbolic link%s
NULL
-- not a segment: refused and left alone
warning: ephpm_kv_get(): store "segment_file-junk" is unavailable: %s/ephpm_kv.segment_file-junk is not an ephpm-shm segment%s
NULL
bool(true)
array(0) {
}

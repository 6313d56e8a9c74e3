--TEST--
ephpm_kv: 20000 random operations agree with a PHP array model
--INI--
ephpm_kv.name=model
ephpm_kv.size=16M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

mt_srand(20240601);
$model = [];   // key => value
$ttls = [];    // key => true when it has a (long) TTL
$randomBytes = function (int $n): string {
    $s = '';
    for ($i = 0; $i < $n; $i++) {
        $s .= chr(mt_rand(0, 255));
    }
    return $s;
};
$keys = [];
for ($i = 0; $i < 64; $i++) {
    $keys[] = $i % 4 === 0 ? $randomBytes(mt_rand(1, 40)) : "key$i";
}
$mismatches = [];
$check = function (string $op, $got, $want) use (&$mismatches) {
    if ($got !== $want && count($mismatches) < 10) {
        $mismatches[] = "$op: got " . var_export($got, true) . ', want ' . var_export($want, true);
    }
};
for ($n = 0; $n < 20000; $n++) {
    $k = $keys[mt_rand(0, count($keys) - 1)];
    $op = mt_rand(0, 10);
    switch ($op) {
        case 0:
        case 1:
            $v = mt_rand(0, 3) === 0 ? (string) mt_rand(-1000, 1000) : $randomBytes(mt_rand(0, 3000));
            $ttl = mt_rand(0, 2) === 0 ? 3600 : 0;
            $check('set', ephpm_kv_set($k, $v, $ttl), true);
            $model[$k] = $v;
            $ttls[$k] = $ttl > 0;
            break;
        case 2:
            $v = $randomBytes(mt_rand(0, 100));
            $check('setnx', ephpm_kv_setnx($k, $v), !isset($model[$k]));
            if (!isset($model[$k])) {
                $model[$k] = $v;
                $ttls[$k] = false;
            }
            break;
        case 3:
        case 4:
            $check('get', ephpm_kv_get($k), $model[$k] ?? null);
            break;
        case 5:
            $check('del', ephpm_kv_del($k), isset($model[$k]) ? 1 : 0);
            unset($model[$k], $ttls[$k]);
            break;
        case 6:
            $check('exists', ephpm_kv_exists($k), isset($model[$k]));
            break;
        case 7:
            $d = mt_rand(-100, 100);
            $cur = $model[$k] ?? '0';
            $want = preg_match('/\A-?[0-9]+\z/', $cur) && strlen($cur) < 10 ? (int) $cur + $d : false;
            if (preg_match('/\A-?[0-9]+\z/', $cur) && strlen($cur) >= 10) {
                break; // leave long digit strings alone (no big-int model)
            }
            if ($want !== false && (string) (int) $cur !== $cur) {
                break; // "-0", "007": not in the model (see API.md notes)
            }
            $check('incr_by', ephpm_kv_incr_by($k, $d), $want);
            if ($want !== false) {
                if (!isset($model[$k])) {
                    $ttls[$k] = false;
                }
                $model[$k] = (string) $want;
            }
            break;
        case 8:
            $t = ephpm_kv_ttl($k);
            $want = !isset($model[$k]) ? -2 : ($ttls[$k] ? 3600 : -1);
            $check('ttl', $want === 3600 ? ($t >= 3500 && $t <= 3600 ? 3600 : $t) : $t, $want);
            break;
        case 9:
            $check('expire', ephpm_kv_expire($k, 3600), isset($model[$k]));
            if (isset($model[$k])) {
                $ttls[$k] = true;
            }
            break;
        case 10:
            if (mt_rand(0, 200) === 0) {
                $check('flush_all', ephpm_kv_flush_all(), true);
                $model = $ttls = [];
            }
            break;
    }
}
echo "-- final state\n";
foreach ($keys as $k) {
    $check('final get', ephpm_kv_get($k), $model[$k] ?? null);
}
$check('entries', ephpm_kv_stats()['entries'], count($model));
var_dump($mismatches);
var_dump(kv_errors());
?>
--EXPECT--
-- final state
array(0) {
}
array(0) {
}

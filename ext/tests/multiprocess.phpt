--TEST--
ephpm_kv: setnx and incr_by are atomic across concurrent processes
--INI--
ephpm_kv.name=multiprocess
ephpm_kv.size=4M
--FILE--
<?php
require __DIR__ . '/kv.inc';
kv_record_errors();
ephpm_kv_flush_all();

const WORKERS = 6;
const KEYS = 200;
const INCRS = 300;

// Every worker waits for the "go" key, then races on KEYS setnx keys and
// increments two counters INCRS times; it prints the keys it won.
$code = '
    $id = (int) $argv[1];
    while (ephpm_kv_get("go") === null) { usleep(1000); }
    $won = [];
    for ($i = 0; $i < ' . KEYS . '; $i++) {
        if (ephpm_kv_setnx("lock:$i", "worker $id", 100)) { $won[] = $i; }
        ephpm_kv_incr("hits");
    }
    for ($i = 0; $i < ' . INCRS . '; $i++) {
        ephpm_kv_incr_by("total", 3);
        ephpm_kv_decr("down");
    }
    echo json_encode($won);
';
$procs = [];
for ($w = 0; $w < WORKERS; $w++) {
    $cmd = kv_child_cmd(['ephpm_kv.name' => 'multiprocess', 'ephpm_kv.size' => '4M'], $code) . ' -- ' . $w;
    $procs[$w] = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes[$w]);
}
usleep(200000);
ephpm_kv_set('go', '1');

$winners = array_fill(0, KEYS, 0);
$bad = [];
foreach ($procs as $w => $proc) {
    $out = stream_get_contents($pipes[$w][1]);
    $err = stream_get_contents($pipes[$w][2]);
    $rc = proc_close($proc);
    if ($rc !== 0 || $err !== '') {
        $bad[] = "worker $w: exit $rc, $err";
    }
    foreach (json_decode($out, true) ?? [] as $i) {
        $winners[$i]++;
        if (ephpm_kv_get("lock:$i") !== "worker $w") {
            $bad[] = "lock:$i won by $w but holds " . var_export(ephpm_kv_get("lock:$i"), true);
        }
    }
}
var_dump($bad);
echo 'keys won exactly once: ', count(array_filter($winners, fn($n) => $n === 1)), ' of ', KEYS, "\n";
var_dump(ephpm_kv_get('hits') === (string) (WORKERS * KEYS));
var_dump(ephpm_kv_get('total') === (string) (WORKERS * INCRS * 3));
var_dump(ephpm_kv_get('down') === (string) -(WORKERS * INCRS));
var_dump(ephpm_kv_ttl('total'));
var_dump(kv_errors());
?>
--EXPECT--
array(0) {
}
keys won exactly once: 200 of 200
bool(true)
bool(true)
bool(true)
int(-1)
array(0) {
}

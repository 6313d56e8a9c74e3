<?php
/**
 * Shared by the benchmarks (workload.php, contention.php, suite.php,
 * apcu_suite.php, apcu_ops.php). check_store() makes sure the store named
 * on the command line is loaded and working before anything is
 * timed, so that a missing extension or an unusable segment ends the run
 * with one clear line on stderr (exit status 3) instead of a PHP fatal error
 * halfway.
 */

declare(strict_types=1);

function bench_fail(string $store, string $why): never
{
    fwrite(STDERR, "$store: $why\n");
    exit(3);
}

/** Exits with a message unless $store ('apcu' or 'ephpm') can store and read back a value. */
function check_store(string $store): void
{
    $warnings = [];
    set_error_handler(function (int $no, string $msg) use (&$warnings): bool {
        $warnings[] = $msg;
        return true;
    });
    switch ($store) {
        case 'apcu':
            if (!extension_loaded('apcu')) {
                bench_fail($store, 'the APCu extension is not loaded (install php' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION . '-apcu, or point $APCU_SO at apcu.so)');
            }
            if (!apcu_enabled()) {
                bench_fail($store, 'APCu is loaded but not enabled (apc.enable_cli=1 missing?)');
            }
            $ok = apcu_store('bench:probe', 'x') && apcu_fetch('bench:probe') === 'x' && apcu_delete('bench:probe');
            break;
        case 'ephpm':
            if (!extension_loaded('ephpm_kv')) {
                bench_fail($store, 'the ephpm_kv extension is not loaded (is target/release/libephpm_kv.so built?)');
            }
            $ok = ephpm_kv_set('bench:probe', 'x') && ephpm_kv_get('bench:probe') === 'x' && ephpm_kv_del('bench:probe') === 1;
            break;
        default:
            bench_fail($store, "unknown store (expected apcu or ephpm)");
    }
    restore_error_handler();
    if (!$ok) {
        bench_fail($store, 'a probe set/get/del failed' . ($warnings ? ': ' . implode('; ', $warnings) : ''));
    }
}

/** ephpm_kv's eviction counter, or 0 for APCu (which has no such counter). */
function evictions(string $store): int
{
    return $store === 'ephpm' ? (int) ephpm_kv_stats()['evictions'] : 0;
}

/** 10,000-ish session ids: 'sess_' + 26 characters of [a-z0-9] from mt_rand (seed it first). */
function session_ids(int $count, array $exclude = []): array
{
    $alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    $ids = [];
    while (count($ids) < $count) {
        $id = 'sess_';
        for ($i = 0; $i < 26; $i++) {
            $id .= $alphabet[mt_rand(0, 35)];
        }
        if (!isset($exclude[$id])) {
            $ids[$id] = true;
        }
    }
    return array_map('strval', array_keys($ids));
}

/** Busy CPU time of the whole machine (all processes, all cores) so far, in ns; null without /proc/stat. */
function machine_busy_ns(): ?int
{
    $line = @file('/proc/stat', FILE_IGNORE_NEW_LINES)[0] ?? '';
    if (!str_starts_with($line, 'cpu ')) {
        return null;
    }
    // user nice system idle iowait irq softirq steal ..., in USER_HZ (100/s) ticks
    $f = array_map('intval', preg_split('/\s+/', trim(substr($line, 4))));
    return ($f[0] + $f[1] + $f[2] + $f[5] + $f[6] + ($f[7] ?? 0)) * 10000000;
}

/**
 * PHP-serialized session data of at least $len bytes, as a shop's session
 * holds it (a user, a CSRF token, flash messages, a cart of items), the
 * same for the same $len: realistic text, not random bytes.
 */
function session_text(int $len): string
{
    mt_srand($len);
    $data = [
        'user' => ['id' => mt_rand(1, 99999), 'name' => 'Alice Example', 'email' => 'alice@example.org',
            'roles' => ['editor', 'viewer'], 'last_login' => 1700000000 + mt_rand(0, 9999999)],
        'csrf' => hash('sha256', (string) mt_rand()),
        'flash' => ['success' => 'Item added to your cart.'],
        'cart' => [],
    ];
    $text = serialize($data);
    for ($i = 0; strlen($text) < $len; $i++) {
        $data['cart'][] = ['sku' => mt_rand(100000, 999999), 'title' => 'Product ' . mt_rand(1, 5000)
            . ' in colour ' . dechex(mt_rand(0, 0xffffff)), 'qty' => mt_rand(1, 5),
            'price' => mt_rand(100, 50000) / 100, 'added' => 1700000000 + mt_rand(0, 9999999)];
        if ($i % 16 === 0 || strlen($text) + 140 * 4 >= $len) {
            $text = serialize($data);
        }
    }
    return $text;
}

/** The median of a list of numbers. */
function median(array $xs): float
{
    sort($xs);
    $mid = intdiv(count($xs), 2);
    return count($xs) % 2 ? (float) $xs[$mid] : ($xs[$mid - 1] + $xs[$mid]) / 2;
}

/**
 * The php-cli flags of a benchmark worker whose store needs $own ("-n -d
 * extension=... -d setting=..."). Normally $own alone: `php -n` and only
 * that store's extension. With BENCH_FULL=1 (`./scripts/bench-php --full`)
 * the process production runs instead: the system php.ini, the conf.d
 * that bench-php prepared in $PHP_INI_SCAN_DIR (Debian's default extension
 * set without APCu and ephpm_kv, which the flags load), and the other
 * stores' extensions and settings ($beside) loaded beside $own, so every
 * store is measured in the same kind of process. Extensions the conf.d
 * already loads are not loaded twice.
 */
function worker_flags(string $own, string $beside): string
{
    if (getenv('BENCH_FULL') !== '1') {
        return $own;
    }
    static $loaded = null;
    if ($loaded === null) {
        $loaded = [];
        foreach (glob(rtrim((string) getenv('PHP_INI_SCAN_DIR'), '/') . '/*.ini') ?: [] as $ini) {
            preg_match_all('/^\s*(?:zend_)?extension\s*=\s*"?([^"\s;]+)/m', (string) file_get_contents($ini), $m);
            foreach ($m[1] as $ext) {
                $loaded[basename($ext, '.so')] = true;
            }
        }
    }
    $flags = [];
    foreach ([$own, $beside] as $set) {
        // "-d name=value" pairs (values hold no spaces in these scripts).
        preg_match_all('/-d\s+(\S+)/', $set, $m);
        foreach ($m[1] as $d) {
            $d = trim($d, "'\"");
            if (preg_match('/^(?:zend_)?extension=(.+)$/', $d, $ext) && isset($loaded[basename($ext[1], '.so')])) {
                continue;
            }
            $name = explode('=', $d, 2)[0];
            if (str_starts_with($name, 'extension') || str_starts_with($name, 'zend_extension') || !isset($flags[$name])) {
                $flags[$name === 'extension' || $name === 'zend_extension' ? $d : $name] = $d; // $own's settings win
            }
        }
    }
    return implode(' ', array_map(fn(string $d) => '-d ' . escapeshellarg($d), $flags));
}

/** One line for a table's notes: how the worker processes were set up. */
function worker_setup_note(): string
{
    if (getenv('BENCH_FULL') !== '1') {
        return 'Each store runs in php-cli processes of its own (`php -n`, only its extension and settings).';
    }
    $inis = glob(rtrim((string) getenv('PHP_INI_SCAN_DIR'), '/') . '/*.ini') ?: [];
    return sprintf(
        'Full process (`--full`): every worker runs with the system php.ini, the %d files of Debian\'s default conf.d (opcache and the usual extensions), and APCu and ephpm_kv both loaded.',
        count($inis),
    );
}

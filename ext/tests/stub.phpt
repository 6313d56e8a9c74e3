--TEST--
ephpm_kv: ephpm_kv.stub.php matches the loaded extension (names, parameters, types, defaults, return types)
--INI--
ephpm_kv.name=stub
ephpm_kv.size=4M
--FILE--
<?php
/**
 * Signatures of the stub file: name => [params => [[name, type, default|null,
 * variadic, byref]], return]. Plain PHP (no tokenizer: it is not loaded
 * under -n): comments and strings are blanked, then each
 * `function name(params): type` is read.
 */
function parse_stub(string $file): array {
    $src = file_get_contents($file);
    // Blank comments, keep string literals (defaults may be strings).
    $src = preg_replace_callback('~/\*.*?\*/|//[^\n]*|#(?!\[)[^\n]*|\'(?:[^\'\\\\]|\\\\.)*\'|"(?:[^"\\\\]|\\\\.)*"~s',
        fn($m) => $m[0][0] === '\'' || $m[0][0] === '"' ? $m[0] : str_repeat(' ', strlen($m[0])), $src);
    preg_match_all('~\bfunction\s+(\w+)\s*\(~', $src, $matches, PREG_OFFSET_CAPTURE);
    $functions = [];
    foreach ($matches[1] as $k => [$name, $offset]) {
        $pos = $matches[0][$k][1] + strlen($matches[0][$k][0]);
        // The parameter list, up to the matching parenthesis; split at top-level commas.
        $depth = 0;
        $params = [];
        $current = '';
        $quote = null;
        for (; $pos < strlen($src); $pos++) {
            $c = $src[$pos];
            if ($quote !== null) {
                $current .= $c;
                if ($c === '\\') {
                    $current .= $src[++$pos];
                } elseif ($c === $quote) {
                    $quote = null;
                }
                continue;
            }
            if ($c === '\'' || $c === '"') {
                $quote = $c;
            } elseif ($c === '(' || $c === '[') {
                $depth++;
            } elseif ($c === ')' || $c === ']') {
                if ($depth === 0) {
                    break;
                }
                $depth--;
            } elseif ($c === ',' && $depth === 0) {
                $params[] = $current;
                $current = '';
                continue;
            }
            $current .= $c;
        }
        if (trim($current) !== '') {
            $params[] = $current;
        }
        $parsed = [];
        foreach ($params as $param) {
            if (!preg_match('~^\s*(?:([^$&.=]*?)\s*)?(&)?\s*(\.\.\.)?\s*\$(\w+)\s*(?:=\s*(.*?))?\s*$~s', $param, $m)) {
                throw new Exception("$name: cannot read parameter \"$param\"");
            }
            $parsed[] = [$m[4], ($m[1] ?? '') === '' ? null : preg_replace('~\s+~', '', $m[1]),
                isset($m[5]) && $m[5] !== '' ? $m[5] : null, ($m[3] ?? '') !== '', ($m[2] ?? '') !== ''];
        }
        $rest = substr($src, $pos + 1);
        $return = preg_match('~^\s*:\s*([^{;]+?)\s*[{;]~', $rest, $m) ? preg_replace('~\s+~', '', $m[1]) : null;
        $functions[$name] = ['params' => $parsed, 'return' => $return];
    }
    return $functions;
}

/** A type in one spelling: "?string" = "string|null" = "null|string". */
function canonical(?string $type): ?string {
    if ($type === null) return null;
    $parts = [];
    if ($type[0] === '?') {
        $parts[] = 'null';
        $type = substr($type, 1);
    }
    $parts = array_merge($parts, explode('|', strtolower($type)));
    sort($parts);
    return implode('|', array_unique($parts));
}

/** The same shape from Reflection. */
function reflect(string $name): array {
    $f = new ReflectionFunction($name);
    $params = [];
    foreach ($f->getParameters() as $p) {
        $default = null;
        if ($p->isDefaultValueAvailable()) {
            $default = var_export($p->getDefaultValue(), true);
        }
        $params[] = [$p->getName(), $p->hasType() ? (string) $p->getType() : null, $default, $p->isVariadic(),
            $p->isPassedByReference(), $p->isOptional()];
    }
    return ['params' => $params, 'return' => $f->hasReturnType() ? (string) $f->getReturnType() : null,
        'required' => $f->getNumberOfRequiredParameters(), 'count' => $f->getNumberOfParameters()];
}

$stubFile = __DIR__ . '/../ephpm_kv.stub.php';
$stub = parse_stub($stubFile);
$ext = get_extension_funcs('ephpm_kv');
$stubNames = array_keys($stub);
sort($ext);
sort($stubNames);
echo "-- functions only in the extension\n";
var_dump(array_values(array_diff($ext, $stubNames)));
echo "-- functions only in the stub\n";
var_dump(array_values(array_diff($stubNames, $ext)));

echo "-- differences\n";
foreach (array_intersect($ext, $stubNames) as $name) {
    $s = $stub[$name];
    $r = reflect($name);
    if (count($s['params']) !== $r['count']) {
        echo "$name: stub has ", count($s['params']), " parameters, extension {$r['count']}\n";
    }
    $required = 0;
    foreach ($s['params'] as $i => [$pname, $type, $default, $variadic, $byref]) {
        if ($default === null && !$variadic) {
            $required = $i + 1;
        }
        if (!isset($r['params'][$i])) continue;
        [$rname, $rtype, $rdefault, $rvariadic, $rbyref, $roptional] = $r['params'][$i];
        $n = $i + 1;
        if ($pname !== $rname) echo "$name #$n: name \$$pname in the stub, \$$rname in the extension\n";
        if (canonical($type) !== canonical($rtype)) {
            echo "$name #$n: type ", var_export($type, true), " in the stub, ", var_export($rtype, true), " in the extension\n";
        }
        $sdefault = $default === null ? null : var_export(eval("return $default;"), true);
        if ($sdefault !== $rdefault) {
            echo "$name #$n: default ", var_export($default, true), " in the stub, ", var_export($rdefault, true), " in the extension\n";
        }
        if (($default !== null || $variadic) !== $roptional) {
            echo "$name #$n: optional ", var_export($default !== null, true), " in the stub, ", var_export($roptional, true), " in the extension\n";
        }
        if ($variadic !== $rvariadic) echo "$name #$n: variadic differs\n";
        if ($byref !== $rbyref) echo "$name #$n: by-reference differs\n";
    }
    if ($required !== $r['required']) {
        echo "$name: $required required parameters in the stub, {$r['required']} in the extension\n";
    }
    if (canonical($s['return']) !== canonical($r['return'])) {
        echo "$name: returns ", var_export($s['return'], true), " in the stub, ", var_export($r['return'], true), " in the extension\n";
    }
}
echo "-- end\n";

echo "-- the extension's signatures\n";
foreach ($ext as $name) {
    $r = reflect($name);
    $ps = array_map(fn($p) => "$p[1] \$$p[0]" . ($p[2] !== null ? " = $p[2]" : ''), $r['params']);
    echo "$name(", implode(', ', $ps), "): {$r['return']}\n";
}
?>
--EXPECT--
-- functions only in the extension
array(0) {
}
-- functions only in the stub
array(0) {
}
-- differences
-- end
-- the extension's signatures
ephpm_kv_decr(string $key): int|false
ephpm_kv_del(string $key): int
ephpm_kv_del_if(string $key, string $value): bool
ephpm_kv_exists(string $key): bool
ephpm_kv_expire(string $key, int $ttl): bool
ephpm_kv_expire_if(string $key, string $value, int $ttl): bool
ephpm_kv_flush_all(): bool
ephpm_kv_get(string $key): ?string
ephpm_kv_incr(string $key): int|false
ephpm_kv_incr_by(string $key, int $delta): int|false
ephpm_kv_pttl(string $key): int
ephpm_kv_scan(int $cursor = 0, string $match = '*', int $count = 100): array|false
ephpm_kv_set(string $key, string $value, int $ttl = 0): bool
ephpm_kv_setnx(string $key, string $value, int $ttl = 0): bool
ephpm_kv_stats(): array
ephpm_kv_stripes(): array|false
ephpm_kv_ttl(string $key): int
ephpm_kv_wait(string $key, int $last_version, int $timeout_ms): array|false

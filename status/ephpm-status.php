<?php
/**
 * ephpm-status.php: a status page for the ephpm_kv shared-memory store,
 * used the way apc.php is: drop this one file into a protected location
 * of a site whose PHP loads ext-ephpm_kv (nothing else needed; tested on PHP 8.2).
 *
 * It shows the store's figures (the same as ephpm_kv_stats()), pictures
 * drawn on the server as inline SVG (memory used and free, hit ratio, the
 * load of each stripe), a key browser (glob filter, pages, size and TTL),
 * a decoder for session payloads (`php_session:<id>`), and deletes a key
 * or flushes the store on a POST carrying a CSRF token. No JavaScript, no
 * CDN: it works offline, and its Content-Security-Policy forbids scripts.
 *
 * Locked down by default:
 * - the password is the environment variable EPHPM_STATUS_PASSWORD (a
 *   pool's `env[EPHPM_STATUS_PASSWORD] = ...`, or nginx's
 *   `fastcgi_param EPHPM_STATUS_PASSWORD ...;`), else ADMIN_PASSWORD below;
 *   it is asked for with HTTP Basic authentication (any user name);
 * - without a password configured, only requests from 127.0.0.1 or ::1
 *   are served, and only the figures and key names: session contents,
 *   values, delete and flush always need the password;
 * - anyone else gets 403 (no password configured) or 401 (password
 *   missing or wrong).
 *
 * A test can `require` this file: it then defines its functions and
 * renders nothing (the page runs only when it is the script PHP started).
 */

declare(strict_types=1);

namespace Ephpm\Status;

/** The password, when EPHPM_STATUS_PASSWORD is not set. Empty: none. */
const ADMIN_PASSWORD = '';

/** Keys listed per page (the page may hold more: whole stripes are read). */
const PAGE_SIZE = 50;
/** Rows shown at most on one page, whatever a stripe holds. */
const MAX_ROWS = 1000;
/** Bytes of a value shown at most. */
const MAX_VALUE_SHOWN = 65536;
/** The data keys of PHP sessions in the store (ext and composer handler). */
const SESSION_PREFIX = 'php_session:';
/** The session handlers' lock keys (not sessions themselves). */
const SESSION_LOCK_PREFIX = 'php_session:lock:';
/** The longest key filter accepted, in bytes (as ephpm_kv_scan's). */
const MAX_MATCH_LENGTH = 8192;
/** The cookie the CSRF token is derived from. */
const CSRF_COOKIE = 'ephpm_status_csrf';

/** What a request may see and do. */
enum Access: string
{
    /** The figures and key names only (localhost, no password given). */
    case Local = 'local';
    /** Everything, actions included (the password was given). */
    case Admin = 'admin';
}

/** One request, as the page sees it (built from the superglobals by main()). */
final class Request
{
    /**
     * @param array<string, mixed> $get
     * @param array<string, mixed> $post
     * @param array<string, mixed> $cookies
     * @param array<string, mixed> $server
     */
    public function __construct(
        public readonly string $method = 'GET',
        public readonly array $get = [],
        public readonly array $post = [],
        public readonly array $cookies = [],
        public readonly array $server = [],
    ) {
    }

    public static function fromGlobals(): self
    {
        return new self(
            strtoupper((string) ($_SERVER['REQUEST_METHOD'] ?? 'GET')),
            $_GET,
            $_POST,
            $_COOKIE,
            $_SERVER,
        );
    }

    public function remoteAddr(): string
    {
        return (string) ($this->server['REMOTE_ADDR'] ?? '');
    }

    /**
     * From this machine, and not forwarded: a reverse proxy on the same
     * host makes every visitor's request come from 127.0.0.1, so a request
     * that carries a forwarding header is never local.
     */
    public function isLocal(): bool
    {
        foreach (['HTTP_X_FORWARDED_FOR', 'HTTP_FORWARDED', 'HTTP_X_REAL_IP', 'HTTP_CLIENT_IP'] as $header) {
            if (isset($this->server[$header])) {
                return false;
            }
        }
        return in_array($this->remoteAddr(), ['127.0.0.1', '::1', '::ffff:127.0.0.1'], true);
    }

    /** The Basic-auth password sent, or null when none was. */
    public function password(): ?string
    {
        if (isset($this->server['PHP_AUTH_PW'])) {
            return (string) $this->server['PHP_AUTH_PW'];
        }
        foreach (['HTTP_AUTHORIZATION', 'REDIRECT_HTTP_AUTHORIZATION'] as $name) {
            $header = (string) ($this->server[$name] ?? '');
            if (preg_match('/^Basic\s+([A-Za-z0-9+\/=]+)\s*$/i', $header, $m)) {
                $decoded = base64_decode($m[1], true);
                if ($decoded !== false && str_contains($decoded, ':')) {
                    return substr($decoded, strpos($decoded, ':') + 1);
                }
            }
        }
        return null;
    }

    public function query(string $name, string $default = ''): string
    {
        $v = $this->get[$name] ?? $default;
        return is_string($v) ? $v : $default;
    }

    public function field(string $name): string
    {
        $v = $this->post[$name] ?? '';
        return is_string($v) ? $v : '';
    }
}

/** What the page answers: status, headers, body. */
final class Response
{
    /** @param array<string, string> $headers */
    public function __construct(
        public readonly int $status,
        public readonly string $body,
        public readonly array $headers = [],
    ) {
    }
}

/** The configured password: EPHPM_STATUS_PASSWORD, else ADMIN_PASSWORD; '' for none. */
function configured_password(array $server = []): string
{
    $env = getenv('EPHPM_STATUS_PASSWORD');
    if (is_string($env) && $env !== '') {
        return $env;
    }
    $param = $server['EPHPM_STATUS_PASSWORD'] ?? '';
    if (is_string($param) && $param !== '') {
        return $param;
    }
    return ADMIN_PASSWORD;
}

/**
 * Who may do what: an Access, or the refusal as a Response (401 asks for
 * the password, 403 refuses outright).
 */
function access(Request $r, string $password): Access|Response
{
    $given = $r->password();
    if ($password !== '') {
        if ($given !== null) {
            return hash_equals($password, $given) ? Access::Admin : challenge('Wrong password.');
        }
        if ($r->isLocal() && $r->query('login') === '') {
            return Access::Local;
        }
        return challenge('This page needs the password (HTTP Basic authentication, any user name).');
    }
    if ($r->isLocal()) {
        return Access::Local;
    }
    return refusal(403, 'Forbidden', 'No password is configured, so this page only answers requests from '
        . 'localhost (127.0.0.1 or ::1). Set EPHPM_STATUS_PASSWORD in the environment of PHP '
        . '(e.g. env[EPHPM_STATUS_PASSWORD] in the php-fpm pool) or ADMIN_PASSWORD in this file.');
}

function challenge(string $message): Response
{
    $r = refusal(401, 'Unauthorized', $message);
    return new Response(401, $r->body, $r->headers + [
        'WWW-Authenticate' => 'Basic realm="ephpm status", charset="UTF-8"',
    ]);
}

function refusal(int $status, string $title, string $message): Response
{
    $body = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>' . h("$status $title")
        . '</title></head><body><h1>' . h("$status $title") . '</h1><p id="refusal">' . h($message)
        . '</p></body></html>';
    return new Response($status, $body, security_headers());
}

/** @return array<string, string> */
function security_headers(): array
{
    return [
        'Content-Type' => 'text/html; charset=utf-8',
        'Content-Security-Policy' => "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            . "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        'X-Content-Type-Options' => 'nosniff',
        'X-Frame-Options' => 'DENY',
        'Referrer-Policy' => 'no-referrer',
        'Cache-Control' => 'no-store',
    ];
}

// ------------------------------------------------------------ escaping

/** HTML-escapes text that is already displayable (see show()). */
function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

/**
 * Bytes made readable and safe: valid UTF-8 is kept, control characters
 * and bytes that are not UTF-8 become \xNN, a backslash \\ (so a shown key
 * is never ambiguous); not HTML-escaped yet (show() does both).
 */
function printable(string $bytes): string
{
    static $utf8 = '/([\x20-\x5b\x5d-\x7e]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]'
        . '|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}'
        . '|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})|(\\\\)|(.)/s';
    $shown = (string) preg_replace_callback($utf8, static function (array $m): string {
        if (($m[1] ?? '') !== '') {
            return $m[1];
        }
        if (($m[2] ?? '') !== '') {
            return '\\\\';
        }
        return sprintf('\\x%02x', ord($m[3]));
    }, $bytes);
    // Invisible and direction-changing characters (which could make one key
    // look like another) as \u{XXXX}.
    return (string) preg_replace_callback('/[\x{00ad}\x{200b}-\x{200f}\x{2028}-\x{202e}\x{2060}-\x{2069}\x{feff}]/u',
        static fn(array $m): string => sprintf('\\u{%04x}', code_point($m[0])), $shown);
}

/** The code point of one UTF-8 character (no mbstring needed). */
function code_point(string $c): int
{
    $b = array_values(unpack('C*', $c) ?: []);
    return match (count($b)) {
        1 => $b[0],
        2 => (($b[0] & 0x1f) << 6) | ($b[1] & 0x3f),
        3 => (($b[0] & 0x0f) << 12) | (($b[1] & 0x3f) << 6) | ($b[2] & 0x3f),
        default => (($b[0] & 0x07) << 18) | (($b[1] & 0x3f) << 12) | (($b[2] & 0x3f) << 6) | ($b[3] & 0x3f),
    };
}

/** Bytes, shown in HTML. */
function show(string $bytes): string
{
    return h(printable($bytes));
}

// ------------------------------------------------------------ figures

function human_bytes(int|float $n): string
{
    $units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    $i = 0;
    while (abs($n) >= 1024 && $i < count($units) - 1) {
        $n /= 1024;
        $i++;
    }
    return $i === 0 ? sprintf('%d B', $n) : sprintf('%.1f %s', $n, $units[$i]);
}

/** A TTL in ms (-1: none) as text. */
function human_ttl(int $ms): string
{
    if ($ms < 0) {
        return 'none';
    }
    $s = intdiv($ms + 999, 1000);
    if ($s < 120) {
        return "{$s} s";
    }
    if ($s < 7200) {
        return sprintf('%d min %d s', intdiv($s, 60), $s % 60);
    }
    if ($s < 172800) {
        return sprintf('%d h %d min', intdiv($s, 3600), intdiv($s % 3600, 60));
    }
    return sprintf('%d d %d h', intdiv($s, 86400), intdiv($s % 86400, 3600));
}

/** hits / (hits + misses), or null before any read. */
function hit_ratio(array $stats): ?float
{
    $hits = (int) ($stats['hits'] ?? 0);
    $reads = $hits + (int) ($stats['misses'] ?? 0);
    return $reads > 0 ? $hits / $reads : null;
}

// ------------------------------------------------------------ SVG

/** A ring of $fraction (0..1) with a label in the middle; $title for screen readers. */
function svg_donut(string $id, ?float $fraction, string $label, string $title, string $color): string
{
    $r = 40;
    $c = 2 * M_PI * $r;
    $f = $fraction === null ? 0.0 : max(0.0, min(1.0, $fraction));
    $on = round($f * $c, 2);
    $off = max(0.0, round($c - $on, 2));
    return '<svg id="' . h($id) . '" class="donut" role="img" aria-label="' . h($title)
        . '" width="140" height="140" viewBox="0 0 100 100" xmlns="http://www.w3.org/2000/svg">'
        . '<title>' . h($title) . '</title>'
        . '<circle cx="50" cy="50" r="' . $r . '" fill="none" stroke="#e3e6ea" stroke-width="14"/>'
        . ($on > 0 ? '<circle cx="50" cy="50" r="' . $r . '" fill="none" stroke="' . h($color)
            . '" stroke-width="14" stroke-dasharray="' . $on . ' ' . $off
            . '" transform="rotate(-90 50 50)"/>' : '')
        . '<text x="50" y="55" text-anchor="middle" font-size="15" font-family="sans-serif">'
        . h($label) . '</text></svg>';
}

/**
 * A bar per stripe of $values, scaled to the largest, with the mean as a
 * dashed line (so an imbalance shows); $format renders a value.
 *
 * @param list<int> $values
 */
function svg_bars(string $id, array $values, string $title, string $color, callable $format): string
{
    $n = max(1, count($values));
    $width = 560;
    $height = 140;
    $top = 10;
    $bottom = 20;
    $plot = $height - $top - $bottom;
    $max = max(1, ...($values ?: [0]));
    $mean = $values ? array_sum($values) / count($values) : 0;
    $step = $width / $n;
    $bar = max(1.0, $step * 0.8);
    $out = '<svg id="' . h($id) . '" class="bars" role="img" aria-label="' . h($title) . '" width="'
        . $width . '" height="' . $height . '" viewBox="0 0 ' . $width . ' ' . $height
        . '" xmlns="http://www.w3.org/2000/svg"><title>' . h($title) . '</title>'
        . '<rect x="0" y="' . $top . '" width="' . $width . '" height="' . $plot . '" fill="#f6f7f9"/>';
    foreach ($values as $i => $v) {
        $bh = round($v / $max * $plot, 2);
        $x = round($i * $step + ($step - $bar) / 2, 2);
        $y = round($top + $plot - $bh, 2);
        $out .= '<rect x="' . $x . '" y="' . $y . '" width="' . round($bar, 2) . '" height="' . $bh
            . '" fill="' . h($color) . '"><title>' . h("stripe $i: " . $format($v)) . '</title></rect>';
    }
    $my = round($top + $plot - $mean / $max * $plot, 2);
    $out .= '<line x1="0" x2="' . $width . '" y1="' . $my . '" y2="' . $my
        . '" stroke="#333" stroke-dasharray="4 3" stroke-width="1"/>'
        . '<text x="4" y="' . ($height - 5) . '" font-size="11" font-family="sans-serif">stripe 0</text>'
        . '<text x="' . ($width - 4) . '" y="' . ($height - 5)
        . '" font-size="11" font-family="sans-serif" text-anchor="end">stripe ' . ($n - 1) . '</text>'
        . '<text x="' . ($width / 2) . '" y="' . ($height - 5)
        . '" font-size="11" font-family="sans-serif" text-anchor="middle">max '
        . h($format($max)) . ', mean ' . h($format((int) round($mean))) . ' (dashed)</text></svg>';
    return $out;
}

/** max / mean of $values: 1.0 is an even spread. */
function imbalance(array $values): ?float
{
    if (!$values) {
        return null;
    }
    $mean = array_sum($values) / count($values);
    return $mean > 0 ? max($values) / $mean : null;
}

// ------------------------------------------------------------ sessions

/**
 * Decodes a PHP session payload (serialize_handler `php` or
 * `php_serialize`, found out as `ephpm-shm session` does: `a:` first means
 * php_serialize unless that fails) with unserialize(..., allowed_classes:
 * false): objects stay __PHP_Incomplete_Class, no user code runs.
 *
 * @return array{format: string, vars: array<string, mixed>}|array{error: string}
 */
function decode_session(string $data): array
{
    if ($data === '') {
        return ['format' => 'empty', 'vars' => []];
    }
    if (str_starts_with($data, 'a:')) {
        $v = safe_unserialize($data);
        if (is_array($v) && serialized_length($data, 0) === strlen($data)) {
            return ['format' => 'php_serialize', 'vars' => $v];
        }
    }
    $vars = [];
    $pos = 0;
    $len = strlen($data);
    while ($pos < $len) {
        $bar = strpos($data, '|', $pos);
        if ($bar === false) {
            return ['error' => "not a session payload: no variable name ended by '|' at byte $pos"];
        }
        $name = substr($data, $pos, $bar - $pos);
        $end = serialized_length($data, $bar + 1);
        if ($end === null) {
            return ['error' => 'not a session payload: the value of ' . printable($name)
                . ' at byte ' . ($bar + 1) . ' is not a serialized value'];
        }
        $piece = substr($data, $bar + 1, $end - $bar - 1);
        $value = safe_unserialize($piece);
        // An enum, or anything else unserialize() refuses without classes: shown raw.
        $vars[$name] = $value === false && $piece !== 'b:0;' ? new Undecodable($piece) : $value;
        $pos = $end;
    }
    return ['format' => 'php', 'vars' => $vars];
}

function safe_unserialize(string $s): mixed
{
    set_error_handler(static fn(): bool => true);
    try {
        return unserialize($s, ['allowed_classes' => false, 'max_depth' => 64]);
    } catch (\Throwable) {
        return false;
    } finally {
        restore_error_handler();
    }
}

/**
 * Where the serialized value that starts at $pos ends (the offset after
 * it), or null when there is none: a scanner over serialize()'s grammar
 * that interprets nothing (the `php` handler's pairs have no lengths).
 */
function serialized_length(string $s, int $pos, int $depth = 0): ?int
{
    $len = strlen($s);
    if ($pos >= $len || $depth > 64) {
        return null;
    }
    $t = $s[$pos];
    $num = static function (int $at, string $end) use ($s): ?array {
        if (!preg_match('/\G(-?[0-9]+)' . preg_quote($end, '/') . '/A', $s, $m, 0, $at)) {
            return null;
        }
        return [(int) $m[1], $at + strlen($m[0])];
    };
    switch ($t) {
        case 'N':
            return substr($s, $pos, 2) === 'N;' ? $pos + 2 : null;
        case 'b':
        case 'i':
        case 'r':
        case 'R':
            return preg_match('/\G' . $t . ':-?[0-9]+;/A', $s, $m, 0, $pos) ? $pos + strlen($m[0]) : null;
        case 'd':
            return preg_match('/\Gd:(-?[0-9.]+(E[+-]?[0-9]+)?|NAN|-?INF);/Ai', $s, $m, 0, $pos)
                ? $pos + strlen($m[0]) : null;
        case 's':
        case 'S':
        case 'E':
            $n = $num($pos + 2, ':"');
            if ($n === null || substr($s, $pos + 1, 1) !== ':' || $n[0] < 0) {
                return null;
            }
            $end = $n[1] + $n[0];
            return substr($s, $end, 2) === '";' ? $end + 2 : null;
        case 'a':
            $n = $num($pos + 2, ':{');
            if ($n === null || substr($s, $pos + 1, 1) !== ':' || $n[0] < 0) {
                return null;
            }
            $at = $n[1];
            for ($i = 0; $i < $n[0] * 2; $i++) {
                $at = serialized_length($s, $at, $depth + 1);
                if ($at === null) {
                    return null;
                }
            }
            return ($s[$at] ?? '') === '}' ? $at + 1 : null;
        case 'O':
        case 'C':
            $n = $num($pos + 2, ':"');
            if ($n === null || substr($s, $pos + 1, 1) !== ':' || $n[0] < 0) {
                return null;
            }
            $at = $n[1] + $n[0];
            if (substr($s, $at, 2) !== '":') {
                return null;
            }
            $m = $num($at + 2, ':{');
            if ($m === null) {
                return null;
            }
            $at = $m[1];
            if ($t === 'C') {
                $at += $m[0];
                return ($s[$at] ?? '') === '}' ? $at + 1 : null;
            }
            for ($i = 0; $i < $m[0] * 2; $i++) {
                $at = serialized_length($s, $at, $depth + 1);
                if ($at === null) {
                    return null;
                }
            }
            return ($s[$at] ?? '') === '}' ? $at + 1 : null;
    }
    return null;
}

/** A session variable that unserialize() refuses without classes (an enum): its serialized bytes. */
final class Undecodable
{
    public function __construct(public readonly string $raw)
    {
    }
}

/** A property name as serialize() writes it ("\0Class\0name", "\0*\0name") made readable. */
function property_name(string $raw): string
{
    if (preg_match('/^\0\*\0(.*)$/s', $raw, $m)) {
        return $m[1] . ' (protected)';
    }
    if (preg_match('/^\0(.+?)\0(.*)$/s', $raw, $m)) {
        return $m[2] . ' (private ' . $m[1] . ')';
    }
    return $raw;
}

/** A decoded value as HTML (nested lists), every string escaped. */
function render_value(mixed $v, int $depth = 0): string
{
    if ($depth > 32) {
        return '<i>…</i>';
    }
    if ($v === null) {
        return '<code>null</code>';
    }
    if (is_bool($v)) {
        return '<code>' . ($v ? 'true' : 'false') . '</code>';
    }
    if (is_int($v) || is_float($v)) {
        return '<code>' . h(var_export($v, true)) . '</code>';
    }
    if (is_string($v)) {
        $shown = strlen($v) > MAX_VALUE_SHOWN ? substr($v, 0, MAX_VALUE_SHOWN) . '…' : $v;
        return '<code>"' . show($shown) . '"</code> <small>(' . strlen($v) . ' bytes)</small>';
    }
    if ($v instanceof Undecodable) {
        return '<code>' . show($v->raw) . '</code> <small>(not decoded)</small>';
    }
    $class = null;
    if (is_object($v)) {
        $props = (array) $v;
        $class = (string) ($props['__PHP_Incomplete_Class_Name'] ?? get_class($v));
        unset($props['__PHP_Incomplete_Class_Name']);
        $v = $props;
    }
    $out = ($class !== null ? '<code>object ' . show($class) . '</code> ' : '<code>array(' . count($v) . ')</code>')
        . '<ul>';
    foreach ($v as $k => $item) {
        $name = is_string($k) ? property_name($k) : (string) $k;
        $out .= '<li><b>' . show($name) . '</b> ⇒ ' . render_value($item, $depth + 1) . '</li>';
    }
    return $out . '</ul>';
}

// ------------------------------------------------------------ CSRF

/** The token a form must send back: an HMAC, keyed by the password, of the page's cookie. */
function csrf_token(string $cookie, string $password): string
{
    return hash_hmac('sha256', 'ephpm-status|' . $cookie, $password);
}

function csrf_ok(Request $r, string $password): bool
{
    $cookie = $r->cookies[CSRF_COOKIE] ?? '';
    $token = $r->field('csrf');
    if (!is_string($cookie) || strlen($cookie) < 32 || $token === '' || $password === '') {
        return false;
    }
    return hash_equals(csrf_token($cookie, $password), $token);
}

// ------------------------------------------------------------ the page

/** Answers one request; $password is the configured one ('' for none). */
function handle(Request $r, string $password): Response
{
    $access = access($r, $password);
    if ($access instanceof Response) {
        return $access;
    }
    if (!function_exists('ephpm_kv_stats') || !function_exists('ephpm_kv_scan')) {
        return refusal(503, 'Service Unavailable', function_exists('ephpm_kv_stats')
            ? 'This ephpm_kv extension is too old for this page (it has no ephpm_kv_scan): install the one '
                . 'that came with this file.'
            : 'The ephpm_kv extension is not loaded in this PHP (extension=ephpm_kv.so in its php.ini), '
                . 'so there is no store to show.');
    }
    $headers = security_headers();
    $cookie = $r->cookies[CSRF_COOKIE] ?? '';
    if ($access === Access::Admin && (!is_string($cookie) || strlen($cookie) < 32)) {
        $cookie = bin2hex(random_bytes(16));
        $headers['Set-Cookie'] = CSRF_COOKIE . '=' . $cookie . '; Path=/; HttpOnly; SameSite=Strict'
            . (($r->server['HTTPS'] ?? '') !== '' && ($r->server['HTTPS'] ?? '') !== 'off' ? '; Secure' : '');
    }
    if ($r->method === 'POST') {
        return act($r, $access, $password, $headers);
    }
    $notice = match ($r->query('done')) {
        'deleted' => 'The key was deleted.',
        'missing' => 'The key was already gone.',
        'flushed' => 'The store was flushed.',
        default => '',
    };
    $csrf = $access === Access::Admin ? csrf_token((string) $cookie, $password) : '';
    $body = page($r, $access, $csrf, $notice, $password !== '');
    return new Response(200, $body, $headers);
}

/** A POST: delete or flush, with the password and a valid CSRF token only. */
function act(Request $r, Access $access, string $password, array $headers): Response
{
    if ($access !== Access::Admin) {
        return refusal(403, 'Forbidden', 'Deleting and flushing need the password.');
    }
    if (!csrf_ok($r, $password)) {
        return refusal(403, 'Forbidden', 'The form is stale or forged (CSRF token missing or wrong): '
            . 'reload the page and try again. Nothing was changed.');
    }
    switch ($r->field('action')) {
        case 'delete':
            $key = hex2bin_or_null($r->field('key'));
            if ($key === null || $key === '') {
                return refusal(400, 'Bad Request', 'No key to delete.');
            }
            $warnings = [];
            $deleted = collecting($warnings, static fn(): int => ephpm_kv_del($key));
            if ($warnings) {
                return refusal(500, 'Internal Server Error', 'The key was not deleted: ' . implode(' ', $warnings));
            }
            $done = $deleted === 1 ? 'deleted' : 'missing';
            break;
        case 'flush':
            if ($r->field('confirm') !== 'yes') {
                return refusal(400, 'Bad Request', 'Flushing needs the confirmation box ticked. Nothing was changed.');
            }
            $warnings = [];
            if (!collecting($warnings, static fn(): bool => ephpm_kv_flush_all())) {
                return refusal(500, 'Internal Server Error', 'The store was not flushed: ' . implode(' ', $warnings));
            }
            $done = 'flushed';
            break;
        default:
            return refusal(400, 'Bad Request', 'Unknown action.');
    }
    // Back to the page the form was on (its filter and cursor), saying what was done.
    $location = self_url($r, ['match' => $r->query('match'), 'cursor' => $r->query('cursor'), 'done' => $done]);
    return new Response(303, '<!DOCTYPE html><a href="' . h($location) . '">back</a>',
        $headers + ['Location' => $location]);
}

function hex2bin_or_null(string $hex): ?string
{
    if ($hex === '' || strlen($hex) % 2 !== 0 || !preg_match('/\A[0-9a-fA-F]+\z/', $hex)) {
        return null;
    }
    return hex2bin($hex);
}

/**
 * A link to this page with the query $params: relative ("?..."), so it
 * works under whatever path and prefix the server maps the file to.
 */
function self_url(Request $r, array $params): string
{
    $q = http_build_query(array_filter($params, static fn($v) => $v !== '' && $v !== null && $v !== 0));
    return '?' . $q;
}

/**
 * Runs $f, collecting the warnings it raises (the extension's, e.g. a
 * store that is unavailable) instead of letting PHP print them unescaped.
 *
 * @param list<string> $warnings
 */
function collecting(array &$warnings, callable $f): mixed
{
    set_error_handler(static function (int $no, string $message) use (&$warnings): bool {
        $warnings[] = $message;
        return true;
    }, E_WARNING | E_NOTICE | E_USER_WARNING | E_DEPRECATED);
    try {
        return $f();
    } finally {
        restore_error_handler();
    }
}

function page(Request $r, Access $access, string $csrf, string $notice, bool $has_password): string
{
    $warnings = [];
    $body = collecting($warnings, static fn(): string => page_body($r, $access, $csrf, $notice, $has_password));
    $shown = '';
    foreach (array_unique($warnings) as $w) {
        $shown .= '<p class="error warning">' . h($w) . '</p>';
    }
    return str_replace('<!--warnings-->', $shown, $body);
}

function page_body(Request $r, Access $access, string $csrf, string $notice, bool $has_password): string
{
    $stats = ephpm_kv_stats();
    $available = ($stats['available'] ?? false) === true;
    $out = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ephpm_kv status</title>'
        . '<meta name="viewport" content="width=device-width, initial-scale=1">' . style() . '</head><body>'
        . '<header><h1>ephpm_kv status</h1><p class="who" id="access">'
        . ($access === Access::Admin ? 'Signed in: sessions, values and actions are shown.'
            : 'Local view: figures and key names only. Session contents, values, delete and flush need '
            . 'the password' . ($has_password
                ? ' (<a href="' . h(self_url($r, ['login' => '1'])) . '">sign in</a>).' : ' (none is configured).'))
        . '</p></header><!--warnings-->';
    if ($notice !== '') {
        $out .= '<p class="notice" id="notice">' . h($notice) . '</p>';
    }
    if (!$available) {
        return $out . '<p class="error" id="unavailable">The store is unavailable: '
            . h((string) ($stats['error'] ?? 'unknown reason')) . '</p>' . settings_table() . '</body></html>';
    }
    $view = $r->query('key');
    if ($view !== '') {
        $out .= key_view($r, $access, $csrf, hex2bin_or_null($view));
    }
    $out .= overview($stats) . key_browser($r, $access, $csrf) . figures($stats);
    if ($access === Access::Admin) {
        $out .= '<section id="flush"><h2>Flush</h2><form method="post" action="' . h(self_url($r, []))
            . '"><input type="hidden" name="csrf" value="' . h($csrf) . '"><input type="hidden" name="action" value="flush">'
            . '<label><input type="checkbox" name="confirm" value="yes"> remove every key of this store</label> '
            . '<button type="submit">Flush the store</button></form></section>';
    }
    return $out . '<footer>ephpm_kv ' . h((string) ($stats['version'] ?? '')) . ' · PHP ' . h(PHP_VERSION)
        . ' · ' . h(gmdate('Y-m-d H:i:s')) . ' UTC</footer></body></html>';
}

function style(): string
{
    return '<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}'
        . 'h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;border-bottom:1px solid #ddd;margin-top:1.5em}'
        . 'table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}'
        . 'td.n{text-align:right;font-variant-numeric:tabular-nums}.grid{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}'
        . '.figure{text-align:center}.figure p{margin:0}.who{color:#555}.notice{background:#e7f6e7;padding:.5em}'
        . '.error{background:#fbe9e9;padding:.5em}code{font-size:13px;word-break:break-all}form.inline{display:inline}'
        . 'ul{margin:.2em 0 .2em 1.2em;padding:0}footer{margin-top:2em;color:#777;font-size:12px}</style>';
}

/** The summary beside the pictures: memory, hit ratio, then the load of each stripe. */
function overview(array $stats): string
{
    $ratio = hit_ratio($stats);
    $used = (int) ($stats['bytes_used'] ?? 0);
    $free = (int) ($stats['bytes_free'] ?? 0);
    $fraction = $used + $free > 0 ? $used / ($used + $free) : 0.0;
    $summary = '<table class="summary"><tr><th>segment</th><td colspan="2"><code id="path">'
        . show((string) ($stats['path'] ?? '')) . '</code></td></tr>'
        . '<tr><th>size</th><td class="n">' . h(human_bytes((int) ($stats['size'] ?? 0))) . '</td><td>'
        . (int) ($stats['stripes'] ?? 0) . ' stripes, evicts by ' . h((string) ($stats['eviction'] ?? '')) . '</td></tr>'
        . '<tr><th>entries</th><td class="n" id="entries">' . (int) ($stats['entries'] ?? 0) . '</td><td></td></tr>'
        . '<tr><th>used / free</th><td class="n">' . h(human_bytes($used)) . ' / ' . h(human_bytes($free))
        . '</td><td>' . h(sprintf('%.1f%% used', 100 * $fraction)) . '</td></tr>'
        . '<tr><th>hit ratio</th><td class="n" id="hit-ratio">' . ($ratio === null ? 'n/a' : h(sprintf('%.1f%%', 100 * $ratio)))
        . '</td><td>' . (int) ($stats['hits'] ?? 0) . ' hits, ' . (int) ($stats['misses'] ?? 0) . ' misses</td></tr>'
        . '<tr><th>expirations</th><td class="n">' . (int) ($stats['expirations'] ?? 0) . '</td><td></td></tr>'
        . '<tr><th>evictions</th><td class="n">' . (int) ($stats['evictions'] ?? 0) . '</td><td></td></tr>'
        . '<tr><th>recoveries</th><td class="n">' . (int) ($stats['recoveries'] ?? 0) . '</td><td>stripes rebuilt after a crash</td></tr>'
        . '</table>';
    $out = '<section id="overview"><h2>Overview</h2><div class="grid">' . $summary
        . '<div class="figure">' . svg_donut('svg-memory', $fraction, sprintf('%.0f%%', 100 * $fraction),
            'memory used ' . human_bytes($used) . ' of ' . human_bytes($used + $free), '#d9822b')
        . '<p>memory used</p></div>'
        . '<div class="figure">' . svg_donut('svg-hits', $ratio, $ratio === null ? 'n/a' : sprintf('%.0f%%', 100 * $ratio),
            'hit ratio', '#2b8a3e')
        . '<p>hit ratio</p></div></div>';
    $stripes = ephpm_kv_stripes();
    if (is_array($stripes) && $stripes) {
        $entries = array_map('intval', array_column($stripes, 'entries'));
        $bytes = array_map('intval', array_column($stripes, 'bytes'));
        $ie = imbalance($entries);
        $ib = imbalance($bytes);
        $out .= '<h3>Load per stripe (' . count($stripes) . ' stripes)</h3>'
            . '<p id="imbalance">busiest stripe / mean: entries ' . ($ie === null ? 'n/a' : sprintf('%.2f', $ie))
            . ', bytes ' . ($ib === null ? 'n/a' : sprintf('%.2f', $ib)) . ' (1.00 is an even spread)</p>'
            . '<div class="grid"><div class="figure">' . svg_bars('svg-stripe-entries', $entries, 'entries per stripe',
                '#3b6fb6', static fn(int $v): string => "$v entries") . '<p>entries per stripe</p></div>'
            . '<div class="figure">' . svg_bars('svg-stripe-bytes', $bytes, 'bytes per stripe', '#7d4fb6',
                static fn(int $v): string => human_bytes($v)) . '<p>bytes in use per stripe</p></div></div>';
    }
    return $out . '</section>';
}

/** Every figure of ephpm_kv_stats(), each in a cell with id "stat-<name>", beside the settings. */
function figures(array $stats): string
{
    $bytes = ['size', 'bytes_used', 'bytes_free', 'max_key_size', 'max_value_size', 'compression_min_size',
        'compressed_raw_bytes', 'compressed_stored_bytes'];
    $rows = '';
    foreach ($stats as $name => $value) {
        $text = is_bool($value) ? ($value ? 'yes' : 'no') : (string) $value;
        $extra = in_array($name, $bytes, true) && is_int($value) ? ' <small>(' . h(human_bytes($value)) . ')</small>' : '';
        $rows .= '<tr><th>' . h((string) $name) . '</th><td class="n" id="stat-' . h((string) $name) . '">'
            . h($text) . '</td><td>' . $extra . '</td></tr>';
    }
    return '<section id="figures"><h2>Figures and settings</h2><div class="grid"><div><h3>'
        . '<code>ephpm_kv_stats()</code></h3><table id="stats">' . $rows . '</table></div><div>'
        . settings_table() . '</div></div></section>';
}

function settings_table(): string
{
    $rows = '';
    $ini = ini_get_all('ephpm_kv', false) ?: [];
    ksort($ini);
    foreach ($ini as $name => $value) {
        $rows .= '<tr><th>' . h((string) $name) . '</th><td><code>' . show((string) $value) . '</code></td></tr>';
    }
    return '<h3>Settings (<code>ephpm_kv.*</code>)</h3><table id="settings">' . $rows . '</table>';
}

function key_browser(Request $r, Access $access, string $csrf): string
{
    $match = $r->query('match', '*');
    if ($match === '') {
        $match = '*';
    }
    $cursor = max(0, (int) $r->query('cursor', '0'));
    $page = strlen($match) > MAX_MATCH_LENGTH ? null : scan_page($access, $cursor, $match);
    $out = '<section id="keys"><h2>Keys</h2><form method="get" action="' . h(self_url($r, [])) . '">'
        . '<label>glob <input name="match" value="' . h($match) . '" size="40"></label> '
        . '<button type="submit">Filter</button> <small>(<code>*</code> any run of bytes, <code>?</code> one byte; '
        . '<a href="' . h(self_url($r, ['match' => SESSION_PREFIX . '*'])) . '">sessions</a>)</small></form>';
    if ($page === null) {
        return $out . '<p class="error" id="scan-failed">The filter is longer than ' . MAX_MATCH_LENGTH
            . ' bytes.</p></section>';
    }
    if (!is_array($page)) {
        $stripes = (int) (ephpm_kv_stats()['stripes'] ?? 0);
        return $out . '<p class="error" id="scan-failed">The keys of stripe ' . $cursor . ' on cannot be listed '
            . '(the warning above says why).'
            . ($cursor + 1 < $stripes ? ' <a href="' . h(self_url($r, ['match' => $match === '*' ? '' : $match,
                'cursor' => $cursor + 1])) . '">skip to stripe ' . ($cursor + 1) . '</a>' : '')
            . '</p></section>';
    }
    $keys = $page['keys'];
    // The local view sorts by what it shows: an order by whole keys
    // would tell which of two masked session ids is the smaller.
    $shown = $access === Access::Admin ? static fn(string $k): string => $k : masked(...);
    usort($keys, static fn(array $a, array $b): int => strcmp($shown($a['key']), $shown($b['key'])));
    $more = count($keys) > MAX_ROWS;
    $keys = array_slice($keys, 0, MAX_ROWS);
    $rows = '';
    foreach ($keys as $e) {
        $key = (string) $e['key'];
        $hex = bin2hex($key);
        $actions = '';
        if ($access === Access::Admin) {
            $actions = '<a href="' . h(self_url($r, ['key' => $hex, 'match' => $match === '*' ? '' : $match, 'cursor' => $cursor ?: '']))
                . '">' . (is_session_key($key) ? 'session' : 'value') . '</a> <form class="inline" method="post" action="'
                . h(self_url($r, ['match' => $match === '*' ? '' : $match, 'cursor' => $cursor ?: ''])) . '">'
                . '<input type="hidden" name="csrf" value="' . h($csrf) . '"><input type="hidden" name="action" value="delete">'
                . '<input type="hidden" name="key" value="' . h($hex) . '"><button type="submit">delete</button></form>';
        }
        $rows .= '<tr><td><code class="key">' . show($access === Access::Admin ? $key : masked($key)) . '</code></td><td class="n">' . (int) $e['size']
            . '</td><td class="n" title="' . (int) $e['ttl'] . ' ms">' . h(human_ttl((int) $e['ttl'])) . '</td><td>'
            . $actions . '</td></tr>';
    }
    $next = (int) $page['cursor'];
    $out .= '<p id="page-info">' . count($keys) . ' key(s) on this page, from stripe ' . $cursor
        . ($next === 0 ? ' to the last stripe.' : ' to stripe ' . ($next - 1) . '.')
        . ($more ? ' <b>More keys than shown: narrow the filter.</b>' : '') . '</p>'
        . '<table id="key-table"><tr><th>key</th><th>size (bytes)</th><th>TTL</th><th></th></tr>' . $rows . '</table><p>';
    if ($cursor > 0) {
        $out .= '<a href="' . h(self_url($r, ['match' => $match === '*' ? '' : $match])) . '">first page</a> ';
    }
    if ($next !== 0) {
        $out .= '<a id="next-page" href="' . h(self_url($r, ['match' => $match === '*' ? '' : $match, 'cursor' => $next]))
            . '">next page</a>';
    }
    return $out . '</p></section>';
}

/**
 * One page of keys matching $match. The admin's filter is the extension's
 * glob over whole keys. The local view's is the same glob over the keys
 * as it shows them (masked): matched against whole keys, a filter such
 * as `php_session:a*` would say, a character at a time, whether a
 * session id exists, and a session id is as good as the session. So the
 * local view walks every key and filters here, until it has a page.
 *
 * @return array{cursor: int, keys: list<array{key: string, size: int, ttl: int}>}|false
 */
function scan_page(Access $access, int $cursor, string $match): array|false
{
    if ($access === Access::Admin) {
        return ephpm_kv_scan($cursor, $match, PAGE_SIZE);
    }
    $keys = [];
    do {
        $page = ephpm_kv_scan($cursor, '*', PAGE_SIZE);
        if (!is_array($page)) {
            // The stripe that failed is where the next page starts (and fails, with its link past it).
            return $keys === [] ? false : ['cursor' => $cursor, 'keys' => $keys];
        }
        foreach ($page['keys'] as $e) {
            if (glob_matches($match, masked((string) $e['key']))) {
                $keys[] = $e;
            }
        }
        $cursor = (int) $page['cursor'];
    } while ($cursor !== 0 && count($keys) < PAGE_SIZE);
    return ['cursor' => $cursor, 'keys' => $keys];
}

/**
 * Whether $text matches the glob $pattern as ephpm_kv_scan matches keys:
 * `*` any run of bytes, `?` one byte, every other byte itself. The pieces
 * between `*`s are found leftmost first (never wrong: a later piece only
 * gains from more text left), so a pattern costs one search per piece,
 * never a backtracking search over every split of the text.
 */
function glob_matches(string $pattern, string $text): bool
{
    $pieces = explode('*', $pattern);
    if (count($pieces) === 1) {
        return strlen($text) === strlen($pattern) && piece_at($pattern, $text, 0);
    }
    $first = array_shift($pieces);
    $last = array_pop($pieces);
    $end = strlen($text) - strlen($last);
    if ($end < strlen($first) || !piece_at($first, $text, 0) || !piece_at($last, $text, $end)) {
        return false;
    }
    $between = substr($text, 0, $end);
    $at = strlen($first);
    foreach ($pieces as $piece) {
        if ($piece === '') {
            continue;
        }
        if (preg_match('/' . piece_regex($piece) . '/s', $between, $m, PREG_OFFSET_CAPTURE, $at) !== 1) {
            return false;
        }
        $at = $m[0][1] + strlen($piece);
    }
    return true;
}

/** A glob piece without `*` as a regex body: `?` any byte, the rest literal. */
function piece_regex(string $piece): string
{
    return implode('.', array_map(static fn(string $s): string => preg_quote($s, '/'), explode('?', $piece)));
}

/** Whether the glob piece $piece matches $text at byte $at. */
function piece_at(string $piece, string $text, int $at): bool
{
    return preg_match('/\G' . piece_regex($piece) . '/s', $text, $m, 0, $at) === 1;
}

/**
 * A key as the local view shows it: a session id is as good as the
 * session, so only its first 4 bytes are shown without the password.
 */
function masked(string $key): string
{
    foreach ([SESSION_LOCK_PREFIX, SESSION_PREFIX] as $prefix) {
        if (str_starts_with($key, $prefix)) {
            $id = substr($key, strlen($prefix));
            return $prefix . substr($id, 0, 4) . (strlen($id) > 4 ? '…' : '');
        }
    }
    return $key;
}

function is_session_key(string $key): bool
{
    return str_starts_with($key, SESSION_PREFIX) && !str_starts_with($key, SESSION_LOCK_PREFIX);
}

/** One key: a session decoded, or its value; needs the password. */
function key_view(Request $r, Access $access, string $csrf, ?string $key): string
{
    $out = '<section id="key-view"><h2>Key</h2>';
    if ($access !== Access::Admin) {
        return $out . '<p class="error" id="needs-password">Session contents and values need the password.</p></section>';
    }
    if ($key === null || $key === '') {
        return $out . '<p class="error">No such key.</p></section>';
    }
    $value = ephpm_kv_get($key);
    $out .= '<p><code class="key">' . show($key) . '</code></p>';
    if ($value === null) {
        return $out . '<p class="error">The key is missing or expired.</p></section>';
    }
    $ttl = ephpm_kv_pttl($key);
    $out .= '<p>' . strlen($value) . ' bytes, TTL ' . h(human_ttl($ttl)) . '</p>';
    if (is_session_key($key)) {
        $decoded = decode_session($value);
        if (isset($decoded['error'])) {
            $out .= '<p class="error">' . h($decoded['error']) . '</p>';
        } else {
            $out .= '<h3>Session <code>' . show(substr($key, strlen(SESSION_PREFIX))) . '</code> (format '
                . h($decoded['format']) . ', ' . count($decoded['vars']) . ' variable(s))</h3><div id="session-vars">'
                . render_value($decoded['vars']) . '</div>';
        }
    }
    $shown = strlen($value) > MAX_VALUE_SHOWN ? substr($value, 0, MAX_VALUE_SHOWN) : $value;
    $out .= '<h3>Raw value' . (strlen($value) > MAX_VALUE_SHOWN ? ' (first ' . MAX_VALUE_SHOWN . ' bytes)' : '')
        . '</h3><pre id="raw-value"><code>' . show($shown) . '</code></pre>'
        . '<form method="post" action="' . h(self_url($r, [])) . '"><input type="hidden" name="csrf" value="' . h($csrf)
        . '"><input type="hidden" name="action" value="delete"><input type="hidden" name="key" value="' . h(bin2hex($key))
        . '"><button type="submit">delete this key</button></form>';
    return $out . '</section>';
}

/** Sends a Response. */
function emit(Response $response): void
{
    http_response_code($response->status);
    foreach ($response->headers as $name => $value) {
        header("$name: $value");
    }
    echo $response->body;
}

function main(): void
{
    emit(handle(Request::fromGlobals(), configured_password($_SERVER)));
}

// Only when PHP started this file (not when a test requires it).
if ((get_included_files()[0] ?? '') === __FILE__) {
    main();
}

<?php
declare(strict_types=1);

use Ephpm\Status\Request;
use Ephpm\Status\Response;
use PHPUnit\Framework\TestCase;

use function Ephpm\Status\csrf_token;
use function Ephpm\Status\decode_session;
use function Ephpm\Status\glob_matches;
use function Ephpm\Status\handle;
use function Ephpm\Status\printable;

/** A class whose code must never run when the page decodes a session. */
final class StatusPageTrap
{
    public static int $woken = 0;

    public function __wakeup(): void
    {
        self::$woken++;
    }

    public function __destruct()
    {
        self::$woken++;
    }
}

/**
 * The status page, request by request: what each kind of visitor gets
 * (the lock-down rules), that what it shows is the store's figures, that
 * every shown byte is escaped, the session decoder, and the POST actions
 * with their CSRF token. The page runs in this process on the store that
 * tests/tests/status_page.rs names (ephpm_kv.name).
 */
final class StatusPageTest extends TestCase
{
    private const PASSWORD = 'correct horse battery staple';
    private const COOKIE = '0123456789abcdef0123456789abcdef';
    private const SECRET = 'secret-session-value-42';

    protected function setUp(): void
    {
        ephpm_kv_flush_all();
        for ($i = 0; $i < 120; $i++) {
            ephpm_kv_set("user:$i", str_repeat('u', $i), $i % 2 ? 0 : 3600);
        }
        ephpm_kv_set('php_session:abcdef0123456789', 'user|s:23:"' . self::SECRET . '";n|i:7;', 1440);
        ephpm_kv_set('php_session:serialized1', serialize(['cart' => [1, 2, 3], 'who' => 'bob']), 1440);
        ephpm_kv_set('<script>alert(1)</script>', '<b>hostile value</b>');
        ephpm_kv_set("bin:\xff\xfe\x00end", 'binary key');
        ephpm_kv_incr('counter:visits');
        StatusPageTrap::$woken = 0;
    }

    /** A request from $addr, with the Basic-auth password $password (null: none). */
    private static function request(
        string $addr,
        ?string $password = null,
        array $get = [],
        string $method = 'GET',
        array $post = [],
        array $cookies = [],
    ): Request {
        $server = ['REMOTE_ADDR' => $addr, 'SCRIPT_NAME' => '/status/ephpm-status.php'];
        if ($password !== null) {
            $server['PHP_AUTH_USER'] = 'admin';
            $server['PHP_AUTH_PW'] = $password;
        }
        return new Request($method, $get, $post, $cookies, $server);
    }

    private static function admin(array $get = [], string $method = 'GET', array $post = [], array $cookies = []): Response
    {
        return handle(self::request('192.0.2.10', self::PASSWORD, $get, $method, $post, $cookies), self::PASSWORD);
    }

    private static function deletePost(string $key, ?string $token): array
    {
        $post = ['action' => 'delete', 'key' => bin2hex($key)];
        if ($token !== null) {
            $post['csrf'] = $token;
        }
        return $post;
    }

    // ---------------------------------------------------------------- lock-down

    public function testNoPasswordAndRemoteIsForbidden(): void
    {
        foreach (['192.0.2.10', '10.0.0.1', '::ffff:10.0.0.1', '', '127.0.0.2'] as $addr) {
            $r = handle(self::request($addr), '');
            $this->assertSame(403, $r->status, $addr);
            $this->assertStringContainsString('EPHPM_STATUS_PASSWORD', $r->body);
            $this->assertStringNotContainsString('user:1', $r->body);
            $this->assertStringNotContainsString('stat-entries', $r->body);
        }
    }

    public function testARequestForwardedByALocalProxyIsNotLocal(): void
    {
        foreach (['HTTP_X_FORWARDED_FOR' => '198.51.100.7', 'HTTP_FORWARDED' => 'for=198.51.100.7',
            'HTTP_X_REAL_IP' => '198.51.100.7'] as $header => $value) {
            $r = handle(new Request('GET', [], [], [], ['REMOTE_ADDR' => '127.0.0.1', $header => $value]), '');
            $this->assertSame(403, $r->status, $header);
            $r = handle(new Request('GET', [], [], [], ['REMOTE_ADDR' => '127.0.0.1', $header => $value]), self::PASSWORD);
            $this->assertSame(401, $r->status, $header);
        }
    }

    public function testNoPasswordConfiguredAPasswordSentGivesNothingMore(): void
    {
        $r = handle(self::request('192.0.2.10', 'anything'), '');
        $this->assertSame(403, $r->status);
        $r = handle(self::request('127.0.0.1', 'anything', ['key' => bin2hex('php_session:abcdef0123456789')]), '');
        $this->assertSame(200, $r->status);
        $this->assertStringNotContainsString(self::SECRET, $r->body);
    }

    public function testLocalhostGetsTheOverviewWithoutPassword(): void
    {
        foreach (['127.0.0.1', '::1'] as $addr) {
            $r = handle(self::request($addr), '');
            $this->assertSame(200, $r->status, $addr);
            $this->assertStringContainsString('id="stat-entries">' . ephpm_kv_stats()['entries'] . '<', $r->body);
            $this->assertStringContainsString('Local view', $r->body);
            $this->assertStringNotContainsString('name="csrf"', $r->body, 'no forms for actions');
            $this->assertStringNotContainsString('Set-Cookie', implode("\n", array_keys($r->headers)));
        }
    }

    public function testLocalhostSeesNoSessionContentsAndMaskedSessionIds(): void
    {
        $r = handle(self::request('127.0.0.1', null, ['key' => bin2hex('php_session:abcdef0123456789')]), '');
        $this->assertSame(200, $r->status);
        $this->assertStringContainsString('id="needs-password"', $r->body);
        $this->assertStringNotContainsString(self::SECRET, $r->body);
        $r = handle(self::request('127.0.0.1', null, ['match' => 'php_session:*']), '');
        $this->assertStringContainsString('php_session:abcd…', $r->body);
        $this->assertStringNotContainsString('abcdef0123456789', $r->body);
        $this->assertStringNotContainsString(self::SECRET, $r->body);
    }

    /** The keys the key browser lists for $match over every page, as shown. */
    private static function listedKeys(string $match, ?string $password = null, string $configured = ''): array
    {
        $keys = [];
        $get = ['match' => $match];
        for ($pages = 0; $pages < 100; $pages++) {
            $body = handle(self::request('127.0.0.1', $password, $get), $configured)->body;
            preg_match_all('~<code class="key">([^<]*)</code>~', $body, $m);
            array_push($keys, ...array_map('html_entity_decode', $m[1]));
            if (!preg_match('~<a id="next-page" href="[^"?]*\?([^"]*)"~', $body, $next)) {
                break;
            }
            parse_str(html_entity_decode($next[1]), $get);
        }
        return $keys;
    }

    /**
     * The attack the local view must not allow: with a password configured
     * and none given, from localhost, extend a session id a character at a
     * time by asking whether `php_session:<guess><c>*` lists a key. Before
     * the filter matched what the page shows, it recovered both whole ids.
     */
    public function testTheLocalKeyFilterRevealsNoMoreOfASessionIdThanShown(): void
    {
        $alphabet = str_split('0123456789abcdefghijklmnopqrstuvwxyz,-');
        $recovered = [];
        $frontier = [''];
        $requests = 0;
        while ($frontier !== [] && $requests < 20000) {
            $guess = array_pop($frontier);
            $longer = false;
            foreach ($alphabet as $c) {
                $requests++;
                if (self::listedKeys('php_session:' . $guess . $c . '*', null, self::PASSWORD) !== []) {
                    $frontier[] = $guess . $c;
                    $longer = true;
                }
            }
            if (!$longer) {
                $recovered[] = $guess;
            }
        }
        sort($recovered);
        $this->assertSame(['abcd', 'seri'], $recovered, "after $requests requests");
        // A `?` past the shown part matches the mark, whatever the id has there.
        $this->assertSame(['php_session:abcd…'], self::listedKeys('php_session:abcd?*'));
        $this->assertSame([], self::listedKeys('php_session:abcde*'));
        $this->assertSame([], self::listedKeys('php_session:abcdef0123456789'));
        // The admin's filter is over whole keys.
        $this->assertSame(['php_session:abcdef0123456789'],
            self::listedKeys('php_session:abcde*', self::PASSWORD, self::PASSWORD));
    }

    public function testTheLocalViewSortsByTheMaskedKey(): void
    {
        ephpm_kv_flush_all();
        // Ids that share the shown part, each value one byte longer than
        // the one before in id order: an order by whole keys would show the
        // sizes 1, 2, 3, ... and so tell which hidden id is the smaller.
        foreach (range(1, 40) as $i) {
            ephpm_kv_set('php_session:same' . sprintf('%02d', $i) . 'x', str_repeat('s', $i));
        }
        $body = handle(self::request('127.0.0.1', null, ['match' => 'php_session:*']), '')->body;
        preg_match_all('~<tr><td><code class="key">php_session:same…</code></td><td class="n">(\d+)</td>~', $body, $m);
        $shown = array_map('intval', $m[1]);
        $this->assertCount(40, $shown);
        $this->assertStringNotContainsString('same01', $body);
        // Ties keep the store's order, which is no order of the ids.
        $page = ephpm_kv_scan(0, '*', 50);
        $this->assertSame(0, $page['cursor'], 'one page');
        $this->assertSame(array_column($page['keys'], 'size'), $shown);
        $this->assertNotSame(range(1, 40), $shown);
    }

    public function testTheGlobOfTheLocalViewIsTheExtensionsGlob(): void
    {
        $keys = array_merge(...array_map(static fn(array $p): array => array_column($p, 'key'), (static function (): array {
            $pages = [];
            $cursor = 0;
            do {
                $page = ephpm_kv_scan($cursor, '*', 1000);
                $pages[] = $page['keys'];
                $cursor = $page['cursor'];
            } while ($cursor !== 0);
            return $pages;
        })()));
        $this->assertCount(125, $keys);
        foreach (['*', '', 'user:1*', 'user:?', '*1', '*:1?', 'u*r*1*', '*?*?*?*?*?*?*', 'php_session:*', '*e*e*',
            "bin:*\x00*", '<*>', '??', 'counter:visits', 'x*', '*s', 'user:1?1', '*?', '?*?', 'user:**9'] as $pattern) {
            $want = [];
            $cursor = 0;
            do {
                $page = ephpm_kv_scan($cursor, $pattern === '' ? '' : $pattern, 1000);
                array_push($want, ...array_column($page['keys'], 'key'));
                $cursor = $page['cursor'];
            } while ($cursor !== 0);
            $got = array_values(array_filter($keys, static fn(string $k): bool => glob_matches($pattern, $k)));
            sort($want);
            sort($got);
            $this->assertSame($want, $got, "pattern '$pattern'");
        }
    }

    public function testAFilterTooLongIsRefusedOnThePage(): void
    {
        foreach ([null, self::PASSWORD] as $password) {
            $r = handle(self::request('127.0.0.1', $password, ['match' => str_repeat('*a', 5000)]), self::PASSWORD);
            $this->assertSame(200, $r->status);
            $this->assertStringContainsString('The filter is longer than 8192 bytes', $r->body);
            $this->assertStringContainsString('id="stat-entries"', $r->body, 'the rest of the page');
        }
    }

    public function testLocalhostCannotDeleteOrFlush(): void
    {
        foreach (['', self::PASSWORD] as $configured) {
            $token = csrf_token(self::COOKIE, self::PASSWORD);
            $r = handle(self::request('127.0.0.1', null, [], 'POST', self::deletePost('user:1', $token),
                ['ephpm_status_csrf' => self::COOKIE]), $configured);
            $this->assertSame(403, $r->status);
            $r = handle(self::request('127.0.0.1', null, [], 'POST', ['action' => 'flush', 'confirm' => 'yes',
                'csrf' => $token], ['ephpm_status_csrf' => self::COOKIE]), $configured);
            $this->assertSame(403, $r->status);
            $this->assertSame('u', ephpm_kv_get('user:1'));
        }
    }

    public function testWrongOrMissingPasswordIsAskedFor(): void
    {
        $r = handle(self::request('192.0.2.10', 'wrong'), self::PASSWORD);
        $this->assertSame(401, $r->status);
        $this->assertStringStartsWith('Basic ', $r->headers['WWW-Authenticate']);
        $this->assertStringNotContainsString('stat-entries', $r->body);
        // Remote with none sent: asked for it.
        $r = handle(self::request('192.0.2.10'), self::PASSWORD);
        $this->assertSame(401, $r->status);
        // A wrong password from localhost is refused too (not the local view).
        $r = handle(self::request('127.0.0.1', 'wrong'), self::PASSWORD);
        $this->assertSame(401, $r->status);
        // The raw Authorization header (php-fpm behind nginx) is understood.
        $server = ['REMOTE_ADDR' => '192.0.2.10',
            'HTTP_AUTHORIZATION' => 'Basic ' . base64_encode('x:' . self::PASSWORD)];
        $this->assertSame(200, handle(new Request('GET', [], [], [], $server), self::PASSWORD)->status);
        $server['HTTP_AUTHORIZATION'] = 'Basic ' . base64_encode('x:nope');
        $this->assertSame(401, handle(new Request('GET', [], [], [], $server), self::PASSWORD)->status);
        // A wrong password is refused before any POST is looked at.
        $r = handle(self::request('192.0.2.10', 'wrong', [], 'POST', ['action' => 'flush', 'confirm' => 'yes']),
            self::PASSWORD);
        $this->assertSame(401, $r->status);
        $this->assertSame('u', ephpm_kv_get('user:1'));
    }

    public function testLocalhostMaySignIn(): void
    {
        $r = handle(self::request('127.0.0.1'), self::PASSWORD);
        $this->assertSame(200, $r->status);
        $this->assertStringContainsString('sign in', $r->body);
        $this->assertSame(401, handle(self::request('127.0.0.1', null, ['login' => '1']), self::PASSWORD)->status);
    }

    public function testThePasswordComesFromTheEnvironment(): void
    {
        putenv('EPHPM_STATUS_PASSWORD=from-env');
        try {
            $this->assertSame('from-env', \Ephpm\Status\configured_password([]));
        } finally {
            putenv('EPHPM_STATUS_PASSWORD');
        }
        $this->assertSame('from-param', \Ephpm\Status\configured_password(['EPHPM_STATUS_PASSWORD' => 'from-param']));
        $this->assertSame(\Ephpm\Status\ADMIN_PASSWORD, \Ephpm\Status\configured_password([]));
        $this->assertSame('', \Ephpm\Status\ADMIN_PASSWORD, 'the file ships without a password');
    }

    // ---------------------------------------------------------------- rendering

    public function testTheFiguresAreThoseOfEphpmKvStats(): void
    {
        $r = self::admin();
        $this->assertSame(200, $r->status);
        $stats = ephpm_kv_stats();
        foreach (['entries', 'size', 'bytes_used', 'bytes_free', 'stripes', 'expirations', 'evictions',
            'recoveries', 'max_key_size', 'max_value_size', 'eviction', 'path'] as $name) {
            $shown = htmlspecialchars((string) $stats[$name], ENT_QUOTES | ENT_HTML5);
            $this->assertStringContainsString('id="stat-' . $name . '">' . $shown . '<', $r->body, $name);
        }
        foreach (array_keys($stats) as $name) {
            $this->assertStringContainsString('id="stat-' . $name . '"', $r->body, $name);
        }
        $this->assertSame(125, $stats['entries']);
        $this->assertStringContainsString('id="entries">125<', $r->body);
        // Hits and misses: this process's reads are in the figures.
        ephpm_kv_get('user:1');
        ephpm_kv_get('user:2');
        ephpm_kv_get('missing');
        $stats = ephpm_kv_stats();
        $r = self::admin();
        $ratio = sprintf('%.1f%%', 100 * $stats['hits'] / ($stats['hits'] + $stats['misses']));
        $this->assertStringContainsString('id="hit-ratio">' . $ratio . '<', $r->body);
        $this->assertStringContainsString('id="stat-hits">' . $stats['hits'] . '<', $r->body);
        $this->assertStringContainsString('ephpm_kv.name', $r->body, 'the settings');
    }

    public function testThePicturesAreInlineSvg(): void
    {
        $body = self::admin()->body;
        foreach (['svg-memory', 'svg-hits', 'svg-stripe-entries', 'svg-stripe-bytes'] as $id) {
            $this->assertMatchesRegularExpression('~<svg id="' . $id . '"[^>]*xmlns="http://www.w3.org/2000/svg"~', $body);
        }
        // One bar per stripe, whose title gives its figure from ephpm_kv_stripes().
        $stripes = ephpm_kv_stripes();
        $this->assertSame(ephpm_kv_stats()['stripes'], count($stripes));
        foreach ($stripes as $i => $s) {
            $this->assertStringContainsString("<title>stripe $i: {$s['entries']} entries</title>", $body);
        }
        $this->assertSame(array_sum(array_column($stripes, 'entries')), ephpm_kv_stats()['entries']);
        // Nothing from elsewhere: no script, no external resource.
        $this->assertStringNotContainsString('<script', $body);
        $this->assertDoesNotMatchRegularExpression('~(src|href)="(https?:)?//~', $body);
        $this->assertStringContainsString("default-src 'none'", self::admin()->headers['Content-Security-Policy']);
    }

    public function testHostileKeysAndValuesAreEscaped(): void
    {
        ephpm_kv_set('php_session:evil', 'x|s:29:"<img src=x onerror=alert(1)>";', 100);
        $r = handle(self::request('127.0.0.1', null, ['match' => '<script>*']), '');
        $this->assertStringContainsString('&lt;script&gt;alert(1)&lt;/script&gt;', $r->body);
        $this->assertStringNotContainsString('<script>', $r->body);
        // The filter itself is echoed escaped.
        $r = handle(self::request('127.0.0.1', null, ['match' => '"><script>x</script>']), '');
        $this->assertStringNotContainsString('<script>', $r->body);
        // Non-UTF-8 bytes and NUL are shown as \xNN.
        $r = handle(self::request('127.0.0.1', null, ['match' => 'bin:*']), '');
        $this->assertStringContainsString('bin:\\xff\\xfe\\x00end', $r->body);
        $this->assertSame(1, preg_match('//u', $r->body), 'the page is valid UTF-8');
        $this->assertSame('a\\\\b\\x01é\\xc3', printable("a\\b\x01é\xc3"));
        // Characters that hide or reorder text are shown as code points.
        $this->assertSame('user:\\u{202e}nimda\\u{200b}', printable("user:\u{202e}nimda\u{200b}"));
        // A session's and a value's contents, as the admin sees them.
        $r = self::admin(['key' => bin2hex('php_session:evil')]);
        $this->assertStringContainsString('&lt;img src=x onerror=alert(1)&gt;', $r->body);
        $this->assertStringNotContainsString('<img', $r->body);
        $r = self::admin(['key' => bin2hex('<script>alert(1)</script>')]);
        $this->assertStringContainsString('&lt;b&gt;hostile value&lt;/b&gt;', $r->body);
        $this->assertStringNotContainsString('<script>', $r->body);
        $this->assertStringNotContainsString('<b>hostile', $r->body);
        // A key parameter that is not hex is no key.
        $this->assertSame(200, self::admin(['key' => 'zz<script>'])->status);
        $this->assertStringNotContainsString('<script>', self::admin(['key' => 'zz<script>'])->body);
    }

    public function testTheKeyBrowserPagesThroughEveryKeyOnce(): void
    {
        $seen = [];
        $get = ['match' => 'user:*'];
        for ($pages = 0; $pages < 100; $pages++) {
            $body = handle(self::request('127.0.0.1', null, $get), '')->body;
            preg_match_all('~<code class="key">([^<]*)</code>~', $body, $m);
            foreach ($m[1] as $key) {
                $this->assertArrayNotHasKey($key, $seen, "listed twice: $key");
                $seen[$key] = true;
            }
            if (!preg_match('~<a id="next-page" href="[^"?]*\?([^"]*)"~', $body, $next)) {
                break;
            }
            parse_str(html_entity_decode($next[1]), $get);
        }
        $this->assertGreaterThan(1, $pages, 'more than one page');
        ksort($seen);
        $want = array_map(fn($i) => "user:$i", range(0, 119));
        sort($want);
        $this->assertSame($want, array_keys($seen));
    }

    public function testSizesAndTtlsAreListed(): void
    {
        $body = handle(self::request('127.0.0.1', null, ['match' => 'user:10?']), '')->body;
        // user:100 (even: TTL 3600 s) and user:101 (no TTL).
        $this->assertMatchesRegularExpression('~<code class="key">user:100</code></td><td class="n">100</td><td class="n" title="\d+ ms">(59 min \d+ s|60 min 0 s)</td>~', $body);
        $this->assertMatchesRegularExpression('~<code class="key">user:101</code></td><td class="n">101</td><td class="n" title="-1 ms">none</td>~', $body);
    }

    // ---------------------------------------------------------------- sessions

    public function testTheAdminSeesDecodedSessions(): void
    {
        $r = self::admin(['key' => bin2hex('php_session:abcdef0123456789')]);
        $this->assertSame(200, $r->status);
        $this->assertStringContainsString('format php,', $r->body);
        $this->assertStringContainsString(self::SECRET, $r->body);
        $this->assertStringContainsString('<b>n</b> ⇒ <code>7</code>', $r->body);
        $r = self::admin(['key' => bin2hex('php_session:serialized1')]);
        $this->assertStringContainsString('format php_serialize,', $r->body);
        $this->assertStringContainsString('<b>who</b> ⇒ <code>"bob"</code>', $r->body);
    }

    public function testSessionDecodingRunsNoUserCode(): void
    {
        $trap = 'O:14:"StatusPageTrap":1:{s:1:"p";s:1:"v";}';
        $php = 'a|' . $trap . 'b|i:1;';
        $d = decode_session($php);
        $this->assertSame('php', $d['format']);
        $this->assertInstanceOf(\__PHP_Incomplete_Class::class, $d['vars']['a']);
        $this->assertSame(1, $d['vars']['b']);
        $d = decode_session('a:2:{s:1:"t";' . $trap . 's:1:"x";s:1:"y";}');
        $this->assertSame('php_serialize', $d['format']);
        $this->assertInstanceOf(\__PHP_Incomplete_Class::class, $d['vars']['t']);
        unset($d);
        gc_collect_cycles();
        ephpm_kv_set('php_session:trap', $php, 60);
        $r = self::admin(['key' => bin2hex('php_session:trap')]);
        $this->assertStringContainsString('object StatusPageTrap', $r->body);
        $this->assertStringContainsString('<b>p</b> ⇒ <code>"v"</code>', $r->body);
        $this->assertSame(0, StatusPageTrap::$woken, 'no __wakeup or __destruct ran');
    }

    public function testSessionPayloadsOfBothFormats(): void
    {
        $value = ['s' => "two\nlines", 'f' => 1.5, 'neg' => -3, 'none' => null, 't' => true, 'f0' => false,
            'nested' => ['a' => ['b' => 'c']], 'list' => [1, 2], 'bin' => "\xff\x00", 'pipe|name' => 'x'];
        $d = decode_session(serialize($value));
        $this->assertSame(['format' => 'php_serialize', 'vars' => $value], $d);
        // The php handler: name|value pairs (a name cannot hold '|' there).
        unset($value['pipe|name']);
        $php = '';
        foreach ($value as $k => $v) {
            $php .= $k . '|' . serialize($v);
        }
        $this->assertSame(['format' => 'php', 'vars' => $value], decode_session($php));
        $this->assertSame(['format' => 'empty', 'vars' => []], decode_session(''));
        // "a:" first is still a php-handler payload when it is not one array.
        $this->assertSame(['format' => 'php', 'vars' => ['a:b' => 1]], decode_session('a:b|i:1;'));
        foreach (['garbage', 'x|s:5:"ab";', 'x|i:1', 'x|a:1:{i:0;}', 'x|O:1:"A":1:{s:1:"a";}'] as $bad) {
            $this->assertArrayHasKey('error', decode_session($bad), $bad);
        }
        // PHP's own session module writes what the decoder reads.
        $this->assertSame('php', decode_session('user|s:3:"bob";n|i:1;')['format']);
    }

    // ---------------------------------------------------------------- actions

    public function testDeleteWithoutOrWithAWrongCsrfTokenIsRefused(): void
    {
        $cookie = ['ephpm_status_csrf' => self::COOKIE];
        $cases = [
            'no token' => [self::deletePost('user:5', null), $cookie],
            'empty token' => [self::deletePost('user:5', ''), $cookie],
            'wrong token' => [self::deletePost('user:5', str_repeat('0', 64)), $cookie],
            'no cookie' => [self::deletePost('user:5', csrf_token(self::COOKIE, self::PASSWORD)), []],
            'other cookie' => [self::deletePost('user:5', csrf_token(self::COOKIE, self::PASSWORD)),
                ['ephpm_status_csrf' => str_repeat('f', 32)]],
            'token of another password' => [self::deletePost('user:5', csrf_token(self::COOKIE, 'other')), $cookie],
            'token as an array' => [['action' => 'delete', 'key' => bin2hex('user:5'), 'csrf' => ['x']], $cookie],
        ];
        foreach ($cases as $name => [$post, $cookies]) {
            $r = self::admin([], 'POST', $post, $cookies);
            $this->assertSame(403, $r->status, $name);
            $this->assertStringContainsString('CSRF', $r->body, $name);
            $this->assertSame('uuuuu', ephpm_kv_get('user:5'), $name);
        }
    }

    public function testDeleteWithTheRightTokenDeletes(): void
    {
        // The page hands out the cookie and the token in its forms.
        $page = self::admin();
        $this->assertMatchesRegularExpression('~^ephpm_status_csrf=([0-9a-f]{32}); Path=/; HttpOnly; SameSite=Strict$~',
            $page->headers['Set-Cookie']);
        preg_match('~^ephpm_status_csrf=([0-9a-f]{32})~', $page->headers['Set-Cookie'], $m);
        $cookie = $m[1];
        preg_match('~name="csrf" value="([0-9a-f]{64})"~', $page->body, $t);
        $this->assertSame(csrf_token($cookie, self::PASSWORD), $t[1]);

        $r = self::admin([], 'POST', self::deletePost('user:5', $t[1]), ['ephpm_status_csrf' => $cookie]);
        $this->assertSame(303, $r->status);
        $this->assertStringContainsString('done=deleted', $r->headers['Location']);
        $this->assertNull(ephpm_kv_get('user:5'));
        $this->assertSame('uuuuuu', ephpm_kv_get('user:6'), 'nothing else');
        // A binary key goes through the form as hex.
        $r = self::admin([], 'POST', self::deletePost("bin:\xff\xfe\x00end", $t[1]), ['ephpm_status_csrf' => $cookie]);
        $this->assertSame(303, $r->status);
        $this->assertFalse(ephpm_kv_exists("bin:\xff\xfe\x00end"));
        // Again: already gone.
        $r = self::admin([], 'POST', self::deletePost('user:5', $t[1]), ['ephpm_status_csrf' => $cookie]);
        $this->assertStringContainsString('done=missing', $r->headers['Location']);
        $this->assertStringContainsString('The key was deleted.', self::admin(['done' => 'deleted'],
            'GET', [], ['ephpm_status_csrf' => $cookie])->body);
    }

    public function testFlushNeedsTokenAndConfirmation(): void
    {
        $cookies = ['ephpm_status_csrf' => self::COOKIE];
        $token = csrf_token(self::COOKIE, self::PASSWORD);
        $r = self::admin([], 'POST', ['action' => 'flush', 'confirm' => 'yes'], $cookies);
        $this->assertSame(403, $r->status);
        $r = self::admin([], 'POST', ['action' => 'flush', 'csrf' => $token], $cookies);
        $this->assertSame(400, $r->status);
        $this->assertSame(125, ephpm_kv_stats()['entries']);
        $r = self::admin([], 'POST', ['action' => 'flush', 'confirm' => 'yes', 'csrf' => $token], $cookies);
        $this->assertSame(303, $r->status);
        $this->assertSame(0, ephpm_kv_stats()['entries']);
        $r = self::admin([], 'POST', ['action' => 'other', 'csrf' => $token], $cookies);
        $this->assertSame(400, $r->status);
    }

    // ---------------------------------------------------------------- the file

    /** Runs the page as its own script in a child php (CLI: $_SERVER comes from the environment). */
    private static function runPage(array $ini, array $env): string
    {
        $cmd = [PHP_BINARY, '-n'];
        foreach ($ini as $k => $v) {
            $cmd[] = '-d';
            $cmd[] = "$k=$v";
        }
        $cmd[] = __DIR__ . '/../ephpm-status.php';
        $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env + ['PATH' => '/usr/bin:/bin']);
        $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        proc_close($proc);
        return $out;
    }

    public function testAPageOfKeysTooLargeForMemoryLimitIsAWarningOnThePage(): void
    {
        $so = (string) getenv('EPHPM_KV_SO');
        $ini = ['extension' => $so, 'ephpm_kv.dir' => ini_get('ephpm_kv.dir'), 'ephpm_kv.name' => 'statusmem',
            'ephpm_kv.stripes' => '2', 'ephpm_kv.size' => '16M'];
        $fill = [PHP_BINARY, '-n'];
        foreach ($ini as $k => $v) {
            array_push($fill, '-d', "$k=$v");
        }
        array_push($fill, '-r', 'ephpm_kv_flush_all(); for ($i = 0; $i < 20000; $i++) ephpm_kv_set("bulk:$i", "v"); '
            . 'ephpm_kv_set("<i>x</i>", "y"); echo ephpm_kv_stats()["entries"];');
        $proc = proc_open($fill, [1 => ['pipe', 'w']], $pipes);
        $this->assertSame('20001', stream_get_contents($pipes[1]));
        fclose($pipes[1]);
        proc_close($proc);
        $out = self::runPage($ini + ['memory_limit' => '4M', 'display_errors' => '1'], ['REMOTE_ADDR' => '127.0.0.1']);
        $this->assertStringContainsString('id="scan-failed"', $out);
        $this->assertMatchesRegularExpression('~<p class="error warning">ephpm_kv_scan\(\): a page of \d+ keys needs about~', $out);
        $this->assertStringContainsString('skip to stripe 1', $out);
        $this->assertStringContainsString('id="stat-entries">20001<', $out, 'the rest of the page');
        $this->assertStringNotContainsString('Fatal', $out);
        $this->assertStringNotContainsString('Warning:', $out, 'no warning printed by PHP itself');
        // With room, the same stripe is listed.
        $out = self::runPage($ini + ['memory_limit' => '64M'], ['REMOTE_ADDR' => '127.0.0.1']);
        $this->assertMatchesRegularExpression('~id="page-info">\d{4,} key\(s\) on this page, from stripe 0 to stripe 0~', $out);
    }

    public function testWithoutTheExtensionItSaysSo(): void
    {
        $out = self::runPage([], ['REMOTE_ADDR' => '127.0.0.1']);
        $this->assertStringContainsString('The ephpm_kv extension is not loaded', $out);
        $this->assertStringNotContainsString('Fatal', $out);
        $this->assertStringContainsString('No password is configured', self::runPage([], ['REMOTE_ADDR' => '192.0.2.1']));
    }

    public function testAnUnavailableStoreIsShownAsSuch(): void
    {
        $so = getenv('EPHPM_KV_SO');
        $this->assertNotFalse($so, 'EPHPM_KV_SO names the extension');
        $out = self::runPage(['extension' => $so, 'ephpm_kv.dir' => '/nonexistent-ephpm-status'],
            ['REMOTE_ADDR' => '127.0.0.1']);
        $this->assertStringContainsString('id="unavailable"', $out);
        $this->assertStringContainsString('/nonexistent-ephpm-status', $out);
        $this->assertStringNotContainsString('Fatal', $out);
        $this->assertStringNotContainsString('Warning', $out);
        // Run as a script with a store, it renders the page.
        $out = self::runPage(['extension' => $so, 'ephpm_kv.dir' => ini_get('ephpm_kv.dir'),
            'ephpm_kv.name' => ini_get('ephpm_kv.name')], ['REMOTE_ADDR' => '127.0.0.1']);
        $this->assertStringContainsString('id="stat-entries">125<', $out);
    }
}

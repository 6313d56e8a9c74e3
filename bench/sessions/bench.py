#!/usr/bin/python3
"""End-to-end PHP session benchmark: wrk -> nginx -> php-fpm -> a session page.

Every variant (a session handler, with or without locking) is a php-fpm pool
of one master (pm = static, same workers and php.ini for all), reached
through nginx at /<variant>/session.php. Rounds run every variant in turn
(warm-up, then a measured wrk run with fresh session ids, then a check that
every session's counter equals the answers wrk counted for it), so drift on
the machine affects all variants alike. The table gives the median of the
rounds; RESULTS.md and sessions.png are written to --out.

Run it through scripts/bench-sessions, which installs what it needs and
builds the extension.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
POOL_USER = "www-data"
FPM_WORKERS = 4
START_TIMEOUT_S = 30


@dataclass
class Variant:
    key: str  # pool name and URL prefix
    handler: str  # as the table shows it
    locking: str  # "on", "off", "always" (files), "none" (the handler has no locking) or "-" (no session)
    ini: dict[str, str] = field(default_factory=dict)  # php_admin_value of its pool
    env: dict[str, str] = field(default_factory=dict)  # env[] of its pool
    with_session: bool = True


@dataclass
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failures: int  # answers that were not "200 <id> <counter>", plus socket errors
    lost: int  # increments wrk saw answered but missing from the store
    extra: int  # increments in the store that wrk never saw answered
    php_log_lines: int  # lines the run added to the PHP error log
    sessions: int  # distinct sessions answered (at most one per connection)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ext-so", required=True, type=Path, help="the built libephpm_kv.so")
    p.add_argument("--php", default=None,
                   help="the php CLI to use (default: `php-config --php-binary`; ./scripts/bench-sessions passes it)")
    p.add_argument("--php-fpm", default=None,
                   help="the php-fpm to use (default: php-fpm with the php binary's suffix, php-fpm8.2 for php8.2)")
    p.add_argument("--duration", type=int, default=10, help="seconds of each measured run (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measured run (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over all variants; the table shows medians (default 3)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections = concurrent sessions (default 8)")
    p.add_argument("--only", default="", help="comma-separated variant keys to run (default: all; 'none' is always run)")
    p.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md and sessions.png go (default bench/sessions)")
    p.add_argument("--disk-dir", type=Path, default=Path("/var/tmp"), help="parent of the on-disk save_path (default /var/tmp; must not be tmpfs)")
    return p.parse_args()


def log(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


def fs_type(path: Path) -> str:
    """The file system type of path's mount, as df names it (ext4, tmpfs, overlay, ...)."""
    out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()[-1]


# The PHP under test: set by main() from --php and --php-fpm.
PHP = "php"
PHP_FPM = "php-fpm"


def php_config_binary() -> str:
    """The php CLI that `$PHP_CONFIG` (else `php-config`) describes."""
    php_config = os.environ.get("PHP_CONFIG", "php-config")
    return subprocess.run([php_config, "--php-binary"], capture_output=True, text=True, check=True).stdout.strip()


def has_native_handler(ext_so: Path) -> bool:
    """Whether this build of the extension registers the `ephpm` save handler (it brings ephpm_kv.session_locking)."""
    out = subprocess.run(
        [PHP, "-n", "-d", f"extension={ext_so}", "-r", 'var_dump(ini_get("ephpm_kv.session_locking"));'],
        capture_output=True, text=True,
    ).stdout
    return "bool(false)" not in out and "string(" in out


# For listing the variants' keys before any directory exists.
PLACEHOLDER_DIRS = {name: Path("/nonexistent") for name in ("run", "site", "disk", "tmpfs_files")}


def make_variants(dirs: dict[str, Path], native: bool) -> list[Variant]:
    redis = f"unix://{dirs['run']}/redis.sock"
    memcached = f"{dirs['run']}/memcached.sock"
    prepend = dirs["site"] / "handlers"
    variants = [
        Variant("none", "no session (ceiling)", "-", env={"BENCH_NO_SESSION": "1"}, with_session=False),
        # PHP's own session work with no storage: what no handler can go below.
        Variant("floor", "PHP sessions, no storage (floor)", "-", {"auto_prepend_file": str(prepend / "floor.php")},
                with_session=False),
        Variant("files-disk", "files, disk", "always", {"session.save_handler": "files", "session.save_path": str(dirs["disk"])}),
        Variant("files-tmpfs", "files, tmpfs", "always", {"session.save_handler": "files", "session.save_path": str(dirs["tmpfs_files"])}),
        Variant("redis", "redis (phpredis)", "off", {"session.save_handler": "redis", "session.save_path": redis, "redis.session.locking_enabled": "0"}),
        Variant("redis-lock", "redis (phpredis)", "on", {"session.save_handler": "redis", "session.save_path": redis, "redis.session.locking_enabled": "1"}),
        Variant("memcached-lock", "memcached (php-memcached)", "on", {"session.save_handler": "memcached", "session.save_path": memcached, "memcached.sess_locking": "1"}),
        Variant("memcached", "memcached (php-memcached)", "off", {"session.save_handler": "memcached", "session.save_path": memcached, "memcached.sess_locking": "0"}),
        Variant("apcu", "APCu user handler", "none", {"auto_prepend_file": str(prepend / "apcu.php")}),
        Variant("kv", "KvSessionHandler (composer)", "off", {"auto_prepend_file": str(prepend / "kv.php")}, {"BENCH_LOCKING": "0"}),
        Variant("kv-lock", "KvSessionHandler (composer)", "on", {"auto_prepend_file": str(prepend / "kv.php")}, {"BENCH_LOCKING": "1"}),
    ]
    if native:
        variants += [
            Variant("ephpm-lock", "ephpm (native)", "on", {"session.save_handler": "ephpm", "ephpm_kv.session_locking": "1"}),
            Variant("ephpm", "ephpm (native)", "off", {"session.save_handler": "ephpm", "ephpm_kv.session_locking": "0"}),
        ]
    return variants


class Servers:
    """The servers of one benchmark, each in its own process group, stopped by PID."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.out", "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **(env or {})})
        self.procs.append((name, proc))
        return proc

    def check_running(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.logs}/{name}.out")

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    log(f"{name} (pid {proc.pid}) ignored SIGTERM: SIGKILL")
            # Workers that outlived their master.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self.procs.clear()


def wait_until(what: str, ready, servers: Servers) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        servers.check_running()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_php_ini(path: Path, ext_so: Path, dirs: dict[str, Path]) -> None:
    # Every pool loads every extension, so all variants (the ceiling too)
    # pay the same per-request cost of loaded extensions.
    path.write_text(f"""\
zend_extension=opcache.so
opcache.enable=1
extension=igbinary.so
extension=msgpack.so
extension=apcu.so
extension=redis.so
extension=memcached.so
extension={ext_so}
ephpm_kv.dir={dirs['kv']}
ephpm_kv.name=sessions
; Debian's php.ini: old sessions are removed by cron, not by requests.
session.gc_probability=0
; wrk picks the session ids.
session.use_strict_mode=0
display_errors=Off
log_errors=On
error_log={dirs['logs']}/php-errors.log
""")


def write_fpm_conf(path: Path, variants: list[Variant], dirs: dict[str, Path]) -> None:
    conf = [
        "[global]",
        f"pid = {dirs['run']}/php-fpm.pid",
        f"error_log = {dirs['logs']}/php-fpm.log",
        "daemonize = no",
    ]
    for v in variants:
        conf += [
            "",
            f"[{v.key}]",
            f"user = {POOL_USER}",
            f"group = {POOL_USER}",
            f"listen = {dirs['run']}/fpm-{v.key}.sock",
            "listen.mode = 0666",
            "listen.backlog = 511",
            "pm = static",
            f"pm.max_children = {FPM_WORKERS}",
            "catch_workers_output = yes",
        ]
        conf += [f"php_admin_value[{k}] = {val}" for k, val in v.ini.items()]
        conf += [f"env[{k}] = {val}" for k, val in v.env.items()]
    path.write_text("\n".join(conf) + "\n")


def write_nginx_conf(path: Path, port: int, variants: list[Variant], dirs: dict[str, Path]) -> None:
    locations = "".join(f"""
        location = /{v.key}/session.php {{
            fastcgi_pass unix:{dirs['run']}/fpm-{v.key}.sock;
            fastcgi_param SCRIPT_FILENAME {dirs['site']}/www/session.php;
            fastcgi_param SCRIPT_NAME /session.php;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_NAME 127.0.0.1;
            fastcgi_param SERVER_PORT {port};
        }}""" for v in variants)
    tmp = dirs["logs"] / "nginx-tmp"
    tmp.mkdir(exist_ok=True)
    # One worker: PHP is what is measured, and the two cores are shared.
    path.write_text(f"""\
user {POOL_USER};
worker_processes 1;
pid {dirs['run']}/nginx.pid;
error_log {dirs['logs']}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    fastcgi_temp_path {tmp}/fastcgi;
    proxy_temp_path {tmp}/proxy;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
""")


def http_get(port: int, path: str, session_id: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": f"PHPSESSID={session_id}"} if session_id else {})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def run_wrk(args: argparse.Namespace, port: int, variant: Variant, seconds: int, sid_prefix: str, result: Path) -> dict:
    env = {**os.environ, "BENCH_SID_PREFIX": sid_prefix, "BENCH_RESULT": str(result)}
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(HERE / "sessions.lua"), f"http://127.0.0.1:{port}/{variant.key}/session.php"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0 or not result.exists():
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr}{out.stdout}")
    return json.loads(result.read_text())


def count_lost_increments(port: int, variant: Variant, wrk_result: dict) -> tuple[int, int]:
    """(lost, extra): each session's counter, read back without incrementing,
    against the answers wrk counted for it. A session whose last request was
    still in flight when wrk stopped may hold one increment more."""
    lost = extra = 0
    in_flight = set(wrk_result["in_flight"])
    for session_id in set(wrk_result["successes"]) | in_flight:
        answered = wrk_result["successes"].get(session_id, 0)
        status, body = http_get(port, f"/{variant.key}/session.php?read", session_id)
        match = re.match(r"^(\S+) (\d+)\n", body)
        if status != 200 or not match or match.group(1) != session_id:
            raise RuntimeError(f"{variant.key}: reading session {session_id} back gave {status} {body!r}")
        stored = int(match.group(2))
        lost += max(0, answered - stored)
        extra += max(0, stored - answered - (session_id in in_flight))
    return lost, extra


def line_count(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def measure(args: argparse.Namespace, port: int, variant: Variant, index: int, round_no: int, dirs: dict[str, Path]) -> Run:
    php_log = dirs["logs"] / "php-errors.log"
    result = dirs["logs"] / f"wrk-r{round_no}-{variant.key}.json"
    if args.warmup > 0:
        run_wrk(args, port, variant, args.warmup, f"w{round_no}v{index}", result.with_suffix(".warmup.json"))
    log_lines_before = line_count(php_log)
    r = run_wrk(args, port, variant, args.duration, f"r{round_no}v{index}", result)
    lost, extra = count_lost_increments(port, variant, r) if variant.with_session else (0, 0)
    socket_errors = sum(v for k, v in r["errors"].items() if k != "status")
    return Run(
        requests_per_s=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["latency_us"]["p50"] / 1000,
        p99_ms=r["latency_us"]["p99"] / 1000,
        failures=r["failures"] + socket_errors,
        lost=lost,
        extra=extra,
        php_log_lines=line_count(php_log) - log_lines_before,
        sessions=len(r["successes"]),
    )


def command_version(argv: list[str], pattern: str = r"(\d+\.\d+(\.\d+)?)") -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


def machine_info(php_ini: Path) -> list[str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    ext_versions = subprocess.run(
        [PHP, "-c", str(php_ini), "-r",
         'echo PHP_VERSION, " apcu ", phpversion("apcu"), " redis ", phpversion("redis"), " memcached ", phpversion("memcached");'],
        capture_output=True, text=True, env={**os.environ, "PHP_INI_SCAN_DIR": ""},
    ).stdout.split()
    php = dict(zip(["php"] + ext_versions[1::2], [ext_versions[0]] + ext_versions[2::2])) if ext_versions else {}
    redis_version = command_version(["redis-server", "--version"], r"v=(\S+)")
    wrk_version = command_version(["wrk", "-v"], r"wrk (\S+)")
    return [
        f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem_kb // 1024 // 1024} GiB RAM, Linux {platform.release()}",
        f"- PHP {php.get('php', '?')} (php-fpm, opcache on), APCu {php.get('apcu', '?')}, phpredis {php.get('redis', '?')}, "
        f"php-memcached {php.get('memcached', '?')}",
        f"- nginx {command_version(['nginx', '-v'])}, redis-server {redis_version}, "
        f"memcached {command_version(['memcached', '-V'])}, wrk {wrk_version}",
    ]


def git_commit() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "?"
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def summarize(variants: list[Variant], runs: dict[str, list[Run]]) -> list[dict]:
    rows = []
    for v in variants:
        rs = runs[v.key]
        rows.append({
            "variant": v,
            "rps": statistics.median(r.requests_per_s for r in rs),
            "p50": statistics.median(r.p50_ms for r in rs),
            "p99": statistics.median(r.p99_ms for r in rs),
            "lost": sum(r.lost for r in rs),
            "extra": sum(r.extra for r in rs),
            "failures": sum(r.failures for r in rs),
            "php_log_lines": sum(r.php_log_lines for r in rs),
        })
    return rows


def markdown_table(rows: list[dict]) -> str:
    ceiling = rows[0]["rps"]
    lines = [
        "| variant | locking | requests/s | % of ceiling | p50 ms | p99 ms | lost increments |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        v = row["variant"]
        lost = str(row["lost"]) if v.with_session else "-"
        lines.append(f"| {v.handler} | {v.locking} | {row['rps']:.0f} | {100 * row['rps'] / ceiling:.1f}% "
                     f"| {row['p50']:.2f} | {row['p99']:.2f} | {lost} |")
    return "\n".join(lines)


def rounds_table(variants: list[Variant], runs: dict[str, list[Run]]) -> str:
    """Requests/s of every round: how far apart the runs of one variant are."""
    rounds = max(len(runs[v.key]) for v in variants)
    lines = [
        "| variant | locking | " + " | ".join(f"round {i + 1}" for i in range(rounds)) + " |",
        "|---|---|" + "--:|" * rounds,
    ]
    for v in variants:
        figures = " | ".join(f"{r.requests_per_s:.0f}" for r in runs[v.key])
        lines.append(f"| {v.handler} | {v.locking} | {figures} |")
    return "\n".join(lines)


def anomalies(rows: list[dict]) -> list[str]:
    notes = []
    for row in rows:
        v = row["variant"]
        if row["extra"]:
            notes.append(f"{v.key}: {row['extra']} increments stored that wrk never saw answered")
        if row["failures"]:
            notes.append(f"{v.key}: {row['failures']} failed requests (not 200 with a counter, or socket errors)")
        if row["php_log_lines"]:
            notes.append(f"{v.key}: {row['php_log_lines']} lines in the PHP error log")
    return notes


def goal_checks(rows: list[dict]) -> list[str]:
    """The targets this benchmark was written for, checked for the variants this run measured."""
    by_key = {row["variant"].key: row for row in rows}
    ceiling = by_key["none"]["rps"]
    checks = []

    def check(goal: str, met: bool, figures: str) -> None:
        checks.append(f"{'met' if met else 'NOT met'}: {goal} ({figures})")

    if "ephpm-lock" in by_key:
        native = by_key["ephpm-lock"]["rps"]
        if "files-tmpfs" in by_key:
            files = by_key["files-tmpfs"]["rps"]
            check("native handler, locking on, at least as fast as files on tmpfs", native >= files,
                  f"{native:.0f} vs {files:.0f} requests/s")
        check("native handler, locking on, within 5% of the no-session ceiling", native >= 0.95 * ceiling,
              f"{100 * native / ceiling:.1f}% of {ceiling:.0f} requests/s")
        if "floor" in by_key:
            floor = by_key["floor"]["rps"]
            check("native handler, locking on, within 5% of PHP's sessions with no storage at all (floor)",
                  native >= 0.95 * floor, f"{100 * native / floor:.1f}% of {floor:.0f} requests/s; "
                  f"the floor itself is {100 * floor / ceiling:.1f}% of the ceiling")
    if "kv" in by_key and "apcu" in by_key:
        composer, apcu = by_key["kv"]["rps"], by_key["apcu"]["rps"]
        check("composer KvSessionHandler (locking off, as APCu has none) ahead of the APCu user handler",
              composer > apcu, f"{composer:.0f} vs {apcu:.0f} requests/s")
    return checks


def draw_chart(rows: list[dict], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows[::-1]  # first variant on top
    suffixes = {"on": ", locking on", "off": ", locking off", "always": ", locking always", "none": ", no locking", "-": ""}
    labels = [r["variant"].handler + suffixes[r["variant"].locking] for r in rows]
    family_colors = {"none": "#9e9e9e", "floor": "#cfcfcf", "files": "#8d6e63", "redis": "#d32f2f", "memcached": "#388e3c",
                     "apcu": "#7b1fa2", "kv": "#1976d2", "ephpm": "#f57c00"}
    colors = [family_colors[r["variant"].key.split("-")[0]] for r in rows]
    rps = [r["rps"] for r in rows]
    p99 = [r["p99"] for r in rows]
    ceiling = rows[-1]["rps"]

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.6), sharey=True,
                                         gridspec_kw={"width_ratios": [3, 2]})
    y = range(len(rows))
    ax_rps.barh(y, rps, color=colors)
    ax_rps.axvline(ceiling, color="#424242", linestyle="--", linewidth=1)
    for i, value in enumerate(rps):
        ax_rps.text(value, i, f" {value:.0f} ({100 * value / ceiling:.0f}%)", va="center", fontsize=8)
    ax_rps.set_yticks(list(y), labels, fontsize=9)
    ax_rps.set_xlabel("requests/s (median; dashed: no-session ceiling)")
    ax_rps.set_xlim(0, max(rps) * 1.25)
    ax_p99.barh(y, p99, color=colors)
    for i, value in enumerate(p99):
        ax_p99.text(value, i, f" {value:.1f}", va="center", fontsize=8)
    ax_p99.set_xlabel("p99 latency, ms (median)")
    ax_p99.set_xlim(0, max(p99) * 1.25)
    fig.suptitle(f"PHP sessions through nginx + php-fpm\n{subtitle}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


README_RESULTS_START = "<!-- results: written by scripts/bench-sessions -->"
README_RESULTS_END = "<!-- end of results -->"


def update_readme(readme: Path, block: str) -> None:
    """Replaces the results section of this folder's README (only there: --out elsewhere has none)."""
    if not readme.exists():
        return
    text = readme.read_text()
    start, end = text.find(README_RESULTS_START), text.find(README_RESULTS_END)
    if start < 0 or end < start:
        return
    readme.write_text(text[:start + len(README_RESULTS_START)] + "\n" + block + "\n" + text[end:])


def make_dirs(args: argparse.Namespace) -> dict[str, Path]:
    work = Path(tempfile.mkdtemp(prefix="ephpm-bench-sessions-"))
    shm = Path(tempfile.mkdtemp(prefix="ephpm-bench-sessions-", dir="/dev/shm"))
    disk = Path(tempfile.mkdtemp(prefix="ephpm-bench-sessions-", dir=args.disk_dir))
    if fs_type(disk) == "tmpfs":
        raise SystemExit(f"{args.disk_dir} is a tmpfs: give an on-disk directory with --disk-dir")
    dirs = {
        "work": work, "shm": shm, "disk_root": disk,
        "site": work / "site", "run": work / "run", "logs": work / "logs",
        "disk": disk, "tmpfs_files": shm / "files", "kv": shm / "kv",
    }
    user = pwd.getpwnam(POOL_USER)
    for d in (work, shm, disk):
        d.chmod(0o755)
    for name in ("run", "logs", "tmpfs_files", "kv"):
        dirs[name].mkdir()
    for name in ("run", "logs"):
        dirs[name].chmod(0o1777)  # sockets of servers running as www-data, logs written by workers
    for name in ("disk", "tmpfs_files", "kv"):
        os.chown(dirs[name], user.pw_uid, user.pw_gid)
        dirs[name].chmod(0o700)
    # The pages and handlers, with the composer package beside them, where www-data can read them.
    shutil.copytree(HERE / "www", dirs["site"] / "www")
    shutil.copytree(HERE / "handlers", dirs["site"] / "handlers")
    shutil.copytree(REPO / "php" / "src", dirs["site"] / "php-src")
    for root, subdirs, files in os.walk(dirs["site"]):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return dirs


def raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    global PHP, PHP_FPM
    args = parse_args()
    args.ext_so = args.ext_so.resolve()
    PHP = args.php or php_config_binary()
    # Debian's binaries carry the version as a suffix (php8.2, php-fpm8.2).
    PHP_FPM = args.php_fpm or "php-fpm" + Path(PHP).name.removeprefix("php")
    # Before this run writes its own results into the tree.
    commit = git_commit()
    command = (f"./scripts/bench-sessions --duration {args.duration} --warmup {args.warmup} --rounds {args.rounds} "
               f"--threads {args.threads} --connections {args.connections}" + (f" --only {shlex.quote(args.only)}" if args.only else ""))
    caption = subprocess.run([str(REPO / "scripts" / "bench-caption"), command],
                             check=True, capture_output=True, text=True).stdout.strip()
    native = has_native_handler(args.ext_so)
    notes = []
    if not native:
        notes.append("the native `ephpm` save handler is not in this build of the extension "
                     "(no ephpm_kv.session_locking setting): its two variants were skipped")
        log(notes[-1])

    known = {v.key for v in make_variants(PLACEHOLDER_DIRS, native)}
    wanted = {"none", *args.only.split(",")} if args.only else known
    if wanted - known:
        raise SystemExit(f"unknown or unavailable variants: {', '.join(sorted(wanted - known))}")
    dirs = make_dirs(args)
    variants = [v for v in make_variants(dirs, native) if v.key in wanted]

    servers = Servers(dirs["logs"])
    # SIGTERM (e.g. from a CI timeout) stops the servers like Ctrl-C does.
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    try:
        run_dir = dirs["run"]
        servers.start("redis", ["redis-server", "--port", "0", "--unixsocket", f"{run_dir}/redis.sock",
                                "--unixsocketperm", "777", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        servers.start("memcached", ["memcached", "-u", POOL_USER, "-s", f"{run_dir}/memcached.sock", "-a", "0777", "-m", "256"])
        php_ini = dirs["work"] / "php.ini"
        write_php_ini(php_ini, args.ext_so, dirs)
        write_fpm_conf(dirs["work"] / "php-fpm.conf", variants, dirs)
        servers.start("php-fpm", [PHP_FPM, "-F", "-c", str(php_ini), "-y", str(dirs["work"] / "php-fpm.conf")],
                      env={"PHP_INI_SCAN_DIR": ""})
        port = free_port()
        write_nginx_conf(dirs["work"] / "nginx.conf", port, variants, dirs)
        servers.start("nginx", ["nginx", "-p", str(dirs["work"]), "-e", str(dirs["logs"] / "nginx-error.log"),
                                "-c", str(dirs["work"] / "nginx.conf"), "-g", "daemon off;"])
        wait_until("redis-server and memcached", lambda: all((run_dir / s).exists() for s in ("redis.sock", "memcached.sock")), servers)

        def serving(v: Variant) -> bool:
            try:
                status, body = http_get(port, f"/{v.key}/session.php?read", "readycheck0000000000000000000000")
                return status == 200 and body.startswith("readycheck")
            except OSError:
                return False

        for v in variants:
            wait_until(f"pool {v.key} through nginx", lambda: serving(v), servers)
        machine = machine_info(php_ini)
        disk_fs = fs_type(dirs["disk"])
        log(f"nginx on 127.0.0.1:{port}, php-fpm: {len(variants)} pools of {FPM_WORKERS} workers; work dir {dirs['work']}")

        runs: dict[str, list[Run]] = {v.key: [] for v in variants}
        for round_no in range(1, args.rounds + 1):
            for index, v in enumerate(variants):
                r = measure(args, port, v, index, round_no, dirs)
                runs[v.key].append(r)
                log(f"round {round_no}/{args.rounds} {v.key:15} {r.requests_per_s:8.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
                    f"p99 {r.p99_ms:6.2f} ms  {r.sessions} sessions  lost {r.lost}  failed {r.failures}")
                servers.check_running()
    except BaseException as e:
        servers.stop_all()
        shutil.rmtree(dirs["shm"], ignore_errors=True)
        shutil.rmtree(dirs["disk_root"], ignore_errors=True)
        if isinstance(e, KeyboardInterrupt):
            shutil.rmtree(dirs["work"], ignore_errors=True)
        else:
            log(f"failed: configs and logs kept in {dirs['work']}")
        raise
    servers.stop_all()
    for d in ("work", "shm", "disk_root"):
        shutil.rmtree(dirs[d], ignore_errors=True)

    rows = summarize(variants, runs)
    notes += anomalies(rows)
    settings = (f"wrk -t{args.threads} -c{args.connections} (one session per connection), {args.duration} s runs after "
                f"{args.warmup} s warm-up, median of {args.rounds} round(s); php-fpm pm=static, {FPM_WORKERS} workers")
    table = markdown_table(rows)
    goals = goal_checks(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    chart = args.out / "sessions.png"
    draw_chart(rows, chart, settings)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results = "\n".join([
        "# Session benchmark results",
        "",
        caption,
        "",
        f"- date: {date}, commit {commit}",
        *machine,
        f"- command: `{command}`",
        f"- {settings}",
        f"- `files` save_path on disk: under {args.disk_dir} ({disk_fs}); on tmpfs and the ephpm_kv segment: /dev/shm",
        "",
        table,
        "",
        *(f"- {line}" for line in goals + notes),
        "",
        f"![requests/s and p99 latency per variant]({chart.name})",
        "",
        "Requests/s of each round (the table above gives the medians):",
        "",
        rounds_table(variants, runs),
        "",
    ])
    (args.out / "RESULTS.md").write_text(results)
    update_readme(args.out / "README.md", "\n".join([
        caption,
        "",
        f"{settings}. Details: [RESULTS.md](RESULTS.md).",
        "",
        table,
        "",
        *(f"- {line}" for line in goals + notes),
        "",
        f"![requests/s and p99 latency per variant]({chart.name})",
    ]))
    print(caption)
    print()
    print(table)
    print()
    for line in goals + notes:
        print(f"- {line}")
    log(f"wrote {args.out / 'RESULTS.md'} and {chart}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: servers stopped")
        sys.exit(130)

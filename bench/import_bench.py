"""Import throughput: citations/second of `archiver import` for a large citations CSV.

Writes a deterministic CSV (``--reports`` × ``--per-report`` rows over ``--hosts`` hosts,
columns report,report_title,report_date,footnote,url,context) into a temp folder, then times
two whole processes, ``python -m archiver --db DB import FILE``, on a fresh database: the first
import, and the re-import of the same file (which must change nothing). Each child's wall time
and peak RSS (``ru_maxrss`` from ``os.wait4`` on exactly that child) are reported. The URLs are
only data: nothing is fetched. Every child runs under a wall-clock cap and is killed past it.

    python bench/import_bench.py                             # 2,000 reports × 100 = 200,000 rows
    python bench/import_bench.py --reports 200 --per-report 50
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(
    r"(\d+) added, (\d+) updated, (\d+) removed, (\d+) restored, (\d+) unchanged\.$"
)
COUNTS = ("added", "updated", "removed", "restored", "unchanged")


def write_csv(path: Path, reports: int, per_report: int, hosts: int) -> int:
    """The benchmark's input; returns its number of citation rows.

    Every 10th footnote cites a second URL (position 2); every 7th URL carries a tracking
    parameter (the same source as without it); every 20th cites a page shared by many reports,
    so sources are shared across reports as in real citations files.
    """
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("report", "report_title", "report_date", "footnote", "url", "context"))
        for r in range(1, reports + 1):
            title = f"Report {r}: sources of the year"
            date = f"20{10 + r % 15:02d}-{1 + r % 12:02d}-{1 + r % 28:02d}"
            footnote = 0
            for n in range(per_report):
                i = (r - 1) * per_report + n
                host = f"host-{i % hosts + 1:04d}.example"
                if n % 20 == 19:
                    url = f"https://host-{i % 97 + 1:04d}.example/shared/page-{i % 97}"
                else:
                    url = f"https://{host}/report-{r}/page-{n + 1}"
                if n % 7 == 3:
                    url += "?utm_source=bench&id=" + str(n)
                if n % 10 != 1 or footnote == 0:  # every 10th row shares the previous footnote
                    footnote += 1
                context = f"Footnote {footnote} of report {r}, citing page {n + 1}."
                writer.writerow((f"report-{r:04d}", title, date, footnote, url, context))
                rows += 1
    return rows


@dataclass
class Run:
    name: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    counts: dict[str, int]
    reports: int


def run_import(name: str, db: Path, csv_path: Path, work: Path, max_seconds: float) -> Run:
    """Time one `archiver import` child process; its peak RSS from os.wait4."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for var in list(env):
        if var.startswith("ARCHIVER_"):
            del env[var]
    command = [sys.executable, "-m", "archiver", "--db", str(db), "import", str(csv_path)]
    out_path = work / f"{name}.out"
    with out_path.open("w") as out:
        started = time.monotonic()
        child = subprocess.Popen(
            command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = started + max_seconds
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    sys.exit(f"{name}: killed after {max_seconds:.0f} s (--max-seconds)")
                time.sleep(0.02)
        except BaseException:  # past the cap, or Ctrl-C: the child does not outlive us
            os.killpg(child.pid, signal.SIGKILL)
            os.wait4(child.pid, 0)
            raise
        seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(encoding="utf-8")
    if child.returncode != 0:
        sys.exit(f"{name}: exit {child.returncode}\n{text[-2000:]}")
    totals = dict.fromkeys(COUNTS, 0)
    reports = 0
    for line in text.splitlines():
        match = SUMMARY.search(line)
        if match:
            reports += 1
            for key, value in zip(COUNTS, match.groups(), strict=True):
                totals[key] += int(value)
    return Run(
        name,
        seconds,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        totals,
        reports,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--per-report", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="cap per import")
    parser.add_argument("--keep-work", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        csv_path = work / "citations.csv"
        rows = write_csv(csv_path, args.reports, args.per_report, args.hosts)
        csv_mb = csv_path.stat().st_size / 1e6
        db = work / "bench.sqlite"
        runs = [
            run_import("first", db, csv_path, work, args.max_seconds),
            run_import("re-import", db, csv_path, work, args.max_seconds),
        ]
        with sqlite3.connect(db) as conn:
            stored = {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("reports", "sources", "citations", "citation_changes", "imports")
            }
    finally:
        if args.keep_work:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{rows:,} rows, {args.reports:,} reports × {args.per_report} citations, "
        f"{args.hosts:,} hosts, {csv_mb:.1f} MB; stored: "
        + ", ".join(f"{n:,} {t}" for t, n in stored.items())
    )
    header = f"{'run':>10} {'secs':>8} {'rows/s':>9} {'RSS MB':>8} {'CPU s':>7}  " + " ".join(
        f"{c:>9}" for c in COUNTS
    )
    print(header)
    for run in runs:
        print(
            f"{run.name:>10} {run.seconds:8.2f} {rows / run.seconds:9,.0f} "
            f"{run.peak_rss_mb:8.1f} {run.cpu_seconds:7.2f}  "
            + " ".join(f"{run.counts[c]:>9,}" for c in COUNTS)
        )
    problems = []
    first, again = runs
    if first.reports != args.reports or again.reports != args.reports:
        problems.append(f"expected {args.reports} report summaries per run")
    if first.counts["added"] != rows:
        problems.append(f"first import added {first.counts['added']:,}, expected {rows:,}")
    if again.counts["unchanged"] != rows or any(again.counts[c] for c in COUNTS[:4]):
        problems.append("re-import changed something (it must be idempotent)")
    if stored["citations"] != rows or stored["citation_changes"] != rows:
        problems.append("stored citations or citation_changes differ from the rows")
    for problem in problems:
        print(f"BROKEN: {problem}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()

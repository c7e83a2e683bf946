"""The dashboard at scale: how long each page takes over the views benchmark's database, alone
and while another connection writes in short transactions (as a scheduled run does).

    python bench/web_bench.py                  # 1,000,000 citations (the database is reused)
    python bench/web_bench.py --quick          # 20,000 citations

The database is ``views_bench``'s (built once under bench/work/, reused after). The server is
``archiver serve``'s own (waitress, a connection per request) on a loopback port, without
replay; each page is fetched ``--repeat`` times and the median and worst are printed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import views_bench  # noqa: E402  (bench/ is not a package)

from archiver.config import load_settings  # noqa: E402
from archiver.web.server import DashboardServer  # noqa: E402


def timed(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def writer(path: Path, stop: threading.Event, writes: list[float]) -> None:
    """Short write transactions, back to back, as a scheduled run makes them."""
    conn = sqlite3.connect(path, timeout=30)
    while not stop.is_set():
        started = time.perf_counter()
        conn.execute("begin immediate")
        conn.execute(
            "insert into runs (job, trigger, started_at, status) values "
            "('check', 'schedule', '2026-01-01T00:00:00+00:00', 'running')"
        )
        conn.execute("delete from runs where id = (select max(id) from runs)")
        conn.commit()
        writes.append(time.perf_counter() - started)
        time.sleep(0.01)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    args = parser.parse_args()
    citations = views_bench.QUICK_CITATIONS if args.quick else views_bench.DEFAULT_CITATIONS
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    path, meta, _ = views_bench.database(args.work, citations, False, env)
    work = args.work
    conn = sqlite3.connect(path)
    report = conn.execute("select id from reports order by id limit 1").fetchone()[0]
    url = conn.execute(
        "select url from citations where report_id = ? order by footnote limit 1", [report]
    ).fetchone()[0]
    conn.close()
    settings = load_settings(environ={"ARCHIVER_DB": str(path)}, cwd=work)
    pages = {
        "reports": "/",
        "reports-json": "/index.json",
        "report": f"/report?id={quote(report)}",
        "report-broken": f"/report?id={quote(report)}&verdict=broken",
        "source": f"/source?url={quote(url, safe='')}",
        "search": "/search?q=page",
        "runs": "/runs",
    }
    print(f"{citations:,} citations, {meta['rows'].get('reports', '?')} reports")
    with DashboardServer(settings, port=0, replay=False, read_only=True) as server:
        base = server.url.rstrip("/")
        for phase in ("alone", "beside a writer"):
            stop, writes = threading.Event(), []
            thread = threading.Thread(target=writer, args=(path, stop, writes))
            if phase != "alone":
                thread.start()
            for name, page in pages.items():
                times = [timed(base + page) for _ in range(args.repeat)]
                seconds = [t for t, _ in times]
                print(
                    f"{phase:16} {name:14} median {statistics.median(seconds) * 1000:8.1f} ms"
                    f"  worst {max(seconds) * 1000:8.1f} ms  {times[0][1]:>9,} bytes"
                )
            if phase != "alone":
                stop.set()
                thread.join()
                print(
                    f"{phase:16} writer: {len(writes)} transactions, worst "
                    f"{max(writes) * 1000:.1f} ms, median {statistics.median(writes) * 1000:.1f} ms"
                )


if __name__ == "__main__":
    main()

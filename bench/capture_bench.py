"""Capture throughput: pages/second and MB/second into WARC files, and peak memory.

Serves the test suite's local web (tests/testweb.py) on three loopback hosts, imports a list
of its pages (articles, pages with requisites, 1 MB pages), then times `archiver capture` in
a child process and reads that process's peak RSS. Loopback only; bounded; stops by itself.

    python bench/capture_bench.py            # 600 pages
    python bench/capture_bench.py --pages 120
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from testweb import TestWeb  # noqa: E402 - the tests' local web, reused here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()
    sites = [TestWeb(host=f"127.0.0.{i}").start() for i in (1, 2, 3)]
    try:
        with tempfile.TemporaryDirectory() as work:
            urls = []
            for n in range(args.pages):
                site = sites[n % len(sites)]
                kind = n % 10
                if kind == 0:
                    urls.append(site.url(f"/with-assets?page={n}"))
                elif kind == 1:
                    urls.append(site.url(f"/big/{1_000_000 + n}"))
                else:
                    urls.append(site.url(f"/article/bench-{n}"))
            csv = Path(work) / "pages.csv"
            csv.write_text("footnote,url\n" + "".join(f"{i + 1},{u}\n" for i, u in enumerate(urls)))
            env = {
                **os.environ,
                "ARCHIVER_DB": str(Path(work) / "bench.sqlite"),
                "ARCHIVER_DATA_DIR": str(Path(work) / "data"),
                "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
                "ARCHIVER_PER_HOST_DELAY": "0",
                "ARCHIVER_CONCURRENCY": str(args.concurrency),
                "ARCHIVER_PER_HOST_CONCURRENCY": str(max(1, args.concurrency // len(sites))),
            }
            archiver = [sys.executable, "-m", "archiver"]
            subprocess.run(
                [*archiver, "import", str(csv)], env=env, check=True, stdout=subprocess.DEVNULL
            )
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.monotonic()
            done = subprocess.run(
                [*archiver, "capture", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=args.max_seconds,
            )
            seconds = time.monotonic() - started
            peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
            summary = json.loads(done.stdout)
            stored = sum(p.stat().st_size for p in (Path(work) / "data").rglob("*.warc.gz"))
    finally:
        for site in sites:
            site.stop()
    pages = summary["captured"] + summary["revisits"]
    result = {
        "pages": pages,
        "failed": summary["failed"],
        "seconds": round(seconds, 2),
        "pages_per_second": round(pages / seconds, 1),
        "mb_fetched_per_second": round(summary["bytes"] / 1e6 / seconds, 2),
        "warc_mb": round(stored / 1e6, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "concurrency": args.concurrency,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

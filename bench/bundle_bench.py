"""Bundles: time and peak memory of `archiver bundle --sign` and `archiver verify BUNDLE` for
a report of 100 and 1,000 captured sources, to show memory stays flat as the bundle grows.

The captures are made here, not fetched: for each source a WARC file as archiver writes it
(warcinfo, request and response for the page, N requisites of incompressible bytes, a
provenance resource) and its rows in a fresh database. Nothing touches the network; the sizes
are bounded by the options; each run is a child process measured with wait4().

    python bench/bundle_bench.py             # 100 and 1,000 captures, 4 requisites of 40 KB
    python bench/bundle_bench.py --captures 200 --requisites 2 --requisite-kb 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from check_bench import run_measured  # noqa: E402 - same harness: wait4 and tree RSS

from archiver.capture.exchanges import warc_date  # noqa: E402
from archiver.capture.warcfile import CaptureWarc, SpooledPayload  # noqa: E402
from archiver.ingest.importer import import_report  # noqa: E402
from archiver.ingest.model import CitedURL, ParsedReport  # noqa: E402
from archiver.store import open_db, stamp  # noqa: E402

PAGE = "<!doctype html><html><head><title>Source {n}</title></head><body><h1>Source {n}</h1>{p}"
PARAGRAPH = "<p>The court in Almaty heard the case of the journalists for the {n}th day.</p>"


def make_captures(work: Path, count: int, requisites: int, requisite_kb: int) -> None:
    """A report of ``count`` footnotes, each source with one capture as archiver stores it."""
    db = open_db(work / "db" / "archive.sqlite")
    urls = [f"https://site{n % 50}.example/source/{n:05d}" for n in range(count)]
    citations = [
        CitedURL(n + 1, 1, url, context=f"Sentence {n + 1}.") for n, url in enumerate(urls)
    ]
    import_report(
        db, ParsedReport(path="bench", citations=citations), report_id="bench", date="2018-04-03"
    )
    data_dir = work / "db" / "data"
    when = datetime(2018, 4, 5, tzinfo=UTC)
    rows = []
    for n, url in enumerate(urls):
        moment = when + timedelta(seconds=n)
        date = warc_date(moment)
        relative = Path(moment.strftime("%Y/%m/%d")) / f"{moment:%H%M%S}-bench-{n}.warc.gz"
        warc = CaptureWarc(data_dir / relative)
        page = SpooledPayload.of(PAGE.format(n=n, p=PARAGRAPH.format(n=n) * 200).encode())
        request = warc.request(url, "GET", [("User-Agent", "bench")], date)
        headers = [("Content-Type", "text/html; charset=utf-8")]
        warc.response(
            url, "200 OK", headers, "HTTP/1.1", page, date, concurrent_to=request.record_id
        )
        for r in range(requisites):
            asset = f"{url}/asset-{r}.bin"
            body = SpooledPayload.of(os.urandom(requisite_kb * 1024))
            warc.request(asset, "GET", [], date)
            warc.response(asset, "200 OK", [("Content-Type", "image/png")], "HTTP/1.1", body, date)
        provenance = json.dumps({"cited_url": url, "captured_at": stamp(moment)})
        warc.resource(
            f"urn:provenance:{url}",
            "application/json",
            SpooledPayload.of(provenance.encode()),
            date,
        )
        sha256 = warc.close()
        rows.append(
            {
                "source_id": n + 1,
                "url": url,
                "captured_at": stamp(moment),
                "status": "captured",
                "warc_path": relative.as_posix(),
                "warc_sha256": sha256,
                "status_code": 200,
                "holds": "content",
                "method": "http",
                "provenance": provenance,
                "title": f"Source {n}",
            }
        )
    db.table("captures").insert_all(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", default="100,1000", help="comma list of report sizes")
    parser.add_argument("--requisites", type=int, default=4)
    parser.add_argument("--requisite-kb", type=int, default=40)
    parser.add_argument("--cap", type=float, default=900.0, help="seconds a run may take")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = []
    for count in (int(c) for c in args.captures.split(",")):
        with tempfile.TemporaryDirectory(prefix="bundle-bench-") as tmp:
            work = Path(tmp)
            make_captures(work, count, args.requisites, args.requisite_kb)
            cli = [sys.executable, "-m", "archiver"]
            run_measured([*cli, "keys", "init"], env, work, 60, work / "keys")
            for step, command in (
                ("bundle", [*cli, "bundle", "--report", "bench", "--sign", "--json"]),
                ("verify", [*cli, "verify", "bench.wacz", "--json"]),
            ):
                measured = run_measured(command, env, work, args.cap, work / step)
                if measured.returncode != 0:
                    sys.exit(f"{step} failed:\n{measured.stdout}\n{measured.stderr}")
                size = (work / "bench.wacz").stat().st_size
                results.append((count, step, measured.seconds, measured.peak_rss_mb, size))
    print(f"{'captures':>8} {'step':>7} {'seconds':>8} {'peak RSS MB':>12} {'bundle MB':>10}")
    for count, step, seconds, rss, size in results:
        print(f"{count:>8} {step:>7} {seconds:>8.1f} {rss:>12.1f} {size / 1e6:>10.1f}")


if __name__ == "__main__":
    main()

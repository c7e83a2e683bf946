"""Browser capture: pages per minute and peak memory (archiver and its Chromium) at
``browser_concurrency`` 1, 2 and 4, and what media download adds.

Serves the tests' local web (tests/testweb.py) on two loopback hosts with pages whose text a
script writes, pages with requisites, and video pages (a small clip and subtitles), imports
them, then times `archiver capture` in a child process per setting, sampling the memory of
the whole process tree (Python, Playwright's driver, Chromium's processes) as PSS: a page
shared by several processes counts once, not once per process.
Loopback only; bounded in pages and seconds; stops by itself.

    python bench/browser_bench.py                       # 40 pages at 1, 2 and 4
    python bench/browser_bench.py --pages 12 --concurrency 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from check_bench import run_measured  # noqa: E402 - same harness: wait4 and tree RSS
from testweb import TestWeb  # noqa: E402 - the tests' local web, reused here

SCRIPTED = """<!doctype html><html><head><meta charset="utf-8"><title>Loading</title></head>
<body><div id="app">Loading…</div><img src="/assets/logo.png"><script>
document.getElementById('app').innerHTML = '<h1>Report {n}</h1>' +
  '<p>'.concat('The court in Almaty heard the case of the journalists for the {n}th day. '
  .repeat(40), '</p>');
</script></body></html>"""
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4000  # about 1 MB
VIDEO = """<!doctype html><html><head><meta charset="utf-8"><title>Video {n}</title></head>
<body><h1>Video {n}</h1><p>Filmed on the square by a witness.</p>
<video controls src="/media/clip-{n}.mp4"></video></body></html>"""


def pages(sites: list[TestWeb], count: int, video: bool) -> list[str]:
    urls = []
    for n in range(count):
        site = sites[n % len(sites)]
        if video:
            site.set_page(f"/video/{n}", VIDEO.replace("{n}", str(n)))
            site.set_page(f"/media/clip-{n}.mp4", CLIP, headers={"Content-Type": "video/mp4"})
            urls.append(site.url(f"/video/{n}"))
        elif n % 2:
            urls.append(site.url(f"/with-assets?page={n}"))
        else:
            site.set_page(f"/app/{n}", SCRIPTED.replace("{n}", str(n)))
            urls.append(site.url(f"/app/{n}"))
    return urls


def run(urls: list[str], work: Path, env_extra: dict[str, str], cap: float) -> dict[str, object]:
    work.mkdir()
    csv = work / "pages.csv"
    csv.write_text("footnote,url\n" + "".join(f"{i + 1},{u}\n" for i, u in enumerate(urls)))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ARCHIVER_DB": str(work / "bench.sqlite"),
        "ARCHIVER_DATA_DIR": str(work / "data"),
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        "ARCHIVER_PER_HOST_DELAY": "0",
        "ARCHIVER_PER_HOST_CONCURRENCY": "8",
        **env_extra,
    }
    archiver = [sys.executable, "-m", "archiver"]
    imported = run_measured([*archiver, "import", str(csv)], env, work, 120, work / "import")
    if imported.returncode != 0:
        raise SystemExit(f"import failed: {imported.stderr[-500:]}")
    done = run_measured(
        [*archiver, "capture", "--json"], env, work, cap, work / "capture", proportional=True
    )
    if done.returncode != 0:
        raise SystemExit(f"capture failed ({done.returncode}): {done.stderr[-800:]}")
    summary = json.loads(done.stdout)
    captured = summary["captured"] + summary["revisits"]
    return {
        "pages": captured,
        "failed": summary["failed"],
        "method": summary["method"],
        "seconds": round(done.seconds, 1),
        "pages_per_minute": round(captured / done.seconds * 60, 1),
        "peak_tree_pss_mb": round(done.peak_rss_sum_mb),
        "peak_one_process_rss_mb": round(done.peak_rss_mb),
        "cpu_seconds": round(done.cpu_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--concurrency", type=str, default="1,2,4")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    sites = [TestWeb(host=f"127.0.0.{i}").start() for i in (1, 2)]
    results = []
    try:
        with tempfile.TemporaryDirectory() as work:
            plain = pages(sites, args.pages, video=False)
            runs = [("http", 0, {"ARCHIVER_BROWSER": "off", "ARCHIVER_MEDIA": "off"}, plain)]
            for c in (int(v) for v in args.concurrency.split(",")):
                extra = {"ARCHIVER_BROWSER_CONCURRENCY": str(c), "ARCHIVER_MEDIA": "off"}
                runs.append(("browser", c, extra, plain))
            videos = pages(sites, max(4, args.pages // 4), video=True)
            for media in ("off", "auto"):
                extra = {"ARCHIVER_BROWSER_CONCURRENCY": "2", "ARCHIVER_MEDIA": media}
                runs.append((f"video, media {media}", 2, extra, videos))
            for n, (name, concurrency, extra, urls) in enumerate(runs):
                result = run(urls, Path(work) / f"run{n}", extra, args.max_seconds)
                results.append({"run": name, "browser_concurrency": concurrency, **result})
                print(json.dumps(results[-1]), flush=True)
    finally:
        for site in sites:
            site.stop()


if __name__ == "__main__":
    main()

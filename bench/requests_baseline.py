"""The simplest fast checker one would write by hand: C threads, a requests.Session per thread.

It is the baseline row of ``check_bench.py``: what plain blocking I/O with enough threads
reaches, so a dedicated checker slower than this has no excuse. Run as its own process so its
peak memory and CPU are measured apart from the harness.

Example: python bench/requests_baseline.py urls.txt --threads 64 --out result.json
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

_local = threading.local()


def session() -> requests.Session:
    """One Session per thread: Sessions are not thread-safe, and each keeps its connections."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        current.trust_env = False  # never route benchmark traffic through a configured proxy
        _local.session = current
    return current


def check(url: str, timeout: float) -> str:
    """GET one URL; the outcome is the status code, or the exception's class name."""
    try:
        response = session().get(url, timeout=timeout)
        response.content  # noqa: B018 - read the body, as a checker that keeps pages would
        return str(response.status_code)
    except requests.RequestException as exc:
        return type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("urls", type=Path, help="file with one URL per line")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--out", type=Path, help="write outcome counts here as JSON")
    args = parser.parse_args(argv)

    urls = [line.strip() for line in args.urls.read_text().splitlines() if line.strip()]
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        outcomes = Counter(pool.map(lambda u: check(u, args.timeout), urls))
    ok = sum(
        n for outcome, n in outcomes.items() if outcome.isdigit() and 200 <= int(outcome) < 300
    )
    result = {"checked": len(urls), "ok": ok, "outcomes": dict(outcomes)}
    if args.out:
        args.out.write_text(json.dumps(result))
    print(json.dumps(result))
    return 0 if ok == len(urls) else 1


if __name__ == "__main__":
    sys.exit(main())

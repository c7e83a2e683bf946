"""Rendering a page in headless Chromium, every request it makes answered by archiver's fetcher.

Playwright's request routing hands us each request before it leaves the browser; the capture
answers it with the same Fetcher (address guard, limits, deadline) that plain captures use and
writes the exchange into the capture's WARC. Routing rather than a recording proxy (brozzler's
warcprox) because a proxy sees HTTPS only by intercepting TLS with a CA the browser must trust,
while routing sees every request in the clear, and the one HTTP policy stays in ``net/``.
Nothing leaves Chromium by itself: it is started with a proxy that does not exist and a resolver
that resolves nothing, so a request that escapes routing (a prefetch, a service worker, a
WebSocket) fails instead of going out unguarded.

Playwright's API is asyncio; the capture workers are threads. One thread runs the event loop
and the browser; workers hand it pages to render and wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Names Debian, Ubuntu, Fedora and Google give the binary, in the order we prefer them.
_BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Where `playwright install chromium` puts its build.
_PLAYWRIGHT_BUILDS = "~/.cache/ms-playwright/chromium-*/chrome-linux*/chrome"

NO_BROWSER = (
    "no Chromium found: captured over plain HTTP (no screenshot, PDF or rendered text). "
    "To capture as a reader sees pages, install Chromium (Debian: apt-get install chromium) "
    "or run `playwright install chromium`, or set `browser` to the path of a Chromium binary."
)

VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16_384  # Chromium's largest texture; a taller page is cut there
SCROLL_STEPS = 40  # an endless feed stops loading more after this many screens

_CHROMIUM_ARGS = (
    # A proxy that does not exist, used even for loopback, and a resolver that resolves
    # nothing: only requests that Playwright routes to our fetcher get an answer.
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
)

# Scroll a screen at a time so lazy images and infinite lists load, then back to the top.
_SCROLL = """async ([steps, pause]) => {
  let moved = 0;
  for (; moved < steps; moved++) {
    const before = window.scrollY;
    window.scrollBy(0, window.innerHeight);
    if (window.scrollY === before) break;
    await new Promise(r => setTimeout(r, pause));
  }
  window.scrollTo(0, 0);
  return [document.documentElement ? document.documentElement.scrollHeight : 0, moved];
}"""


def find_browser(setting: str) -> str | None:
    """The Chromium binary the ``browser`` setting names: ``off`` → None, ``auto`` → the first
    one found (None when there is none), anything else → that path, which must exist."""
    choice = setting.strip()
    if choice == "off":
        return None
    if choice != "auto":
        path = Path(choice).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"setting browser = {setting!r}: no executable file there")
        return str(path)
    for name in _BINARIES:
        found = shutil.which(name)
        if found:
            return found
    builds = sorted(glob.glob(os.path.expanduser(_PLAYWRIGHT_BUILDS)))
    return builds[-1] if builds else None


@dataclass(frozen=True)
class Answer:
    """What the capture gives the browser for one request; ``None`` in its place aborts it."""

    status: int
    headers: dict[str, str]
    body: bytes


# (url, method, headers, body) -> Answer | None; runs on a worker thread, may block.
Answerer = Callable[[str, str, dict[str, str], bytes | None], "Answer | None"]


@dataclass
class Rendering:
    """What the browser made of a page."""

    final_url: str
    dom: str = ""
    text: str = ""
    title: str = ""
    screenshot: bytes | None = None
    pdf: bytes | None = None
    settled: bool = True
    notes: list[str] = field(default_factory=list)  # what did not work, in plain words


@dataclass(frozen=True)
class RenderOptions:
    timeout: float  # seconds to wait for the page to settle
    screenshot: bool = True
    pdf: bool = True
    user_agent: str = ""


class BrowserSession:
    """One headless Chromium shared by the capture workers; at most ``concurrency`` pages."""

    def __init__(self, executable: str, concurrency: int) -> None:
        self.executable = executable
        self._slots = threading.BoundedSemaphore(concurrency)
        # Route handlers wait on the fetcher here, not on the event loop.
        self._fetching = ThreadPoolExecutor(
            max_workers=max(8, concurrency * 8), thread_name_prefix="archiver-browser-fetch"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="archiver-browser", daemon=True
        )
        self._thread.start()
        self._playwright: Any = None
        self._browser: Any = None
        try:
            self.version = self._call(self._start(), 60)
        except BaseException:
            self.close()
            raise

    def _call(self, coroutine: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self._loop)
        try:
            return future.result(timeout + 5)
        except TimeoutError:
            future.cancel()
            raise

    async def _start(self) -> str:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=self.executable, headless=True, args=list(_CHROMIUM_ARGS)
        )
        return str(self._browser.version)

    def render(
        self, url: str, first: Answer, answer: Answerer, options: RenderOptions, deadline: float
    ) -> Rendering:
        """Load ``url`` (whose document is ``first``, already fetched), let it settle, scroll,
        and record it. Every other request goes to ``answer``. Stops by ``deadline``
        (``time.monotonic()``); raises TimeoutError when the page could not be recorded."""
        with self._slots:
            left = deadline - time.monotonic()
            if left <= 1:
                raise TimeoutError("no time left to render the page")
            return self._call(self._render(url, first, answer, options, deadline), left)

    async def _render(
        self, url: str, first: Answer, answer: Answerer, options: RenderOptions, deadline: float
    ) -> Rendering:
        loop = asyncio.get_running_loop()
        context = await self._browser.new_context(
            viewport=VIEWPORT,
            user_agent=options.user_agent or None,
            service_workers="block",  # a worker could answer later requests from its cache
            accept_downloads=False,
        )
        served_first = False

        async def route(route: Any) -> None:
            nonlocal served_first
            request = route.request
            if not served_first and request.url == url and request.is_navigation_request():
                served_first = True
                reply: Answer | None = first
            else:
                reply = await loop.run_in_executor(
                    self._fetching,
                    answer,
                    request.url,
                    request.method,
                    await request.all_headers(),
                    request.post_data_buffer,
                )
            if reply is None:
                await route.abort("blockedbyclient")
            else:
                await route.fulfill(status=reply.status, headers=reply.headers, body=reply.body)

        async def refuse_socket(socket: Any) -> None:
            await socket.close(code=1008, reason="archiver captures do not open WebSockets")

        await context.route("**/*", route)
        await context.route_web_socket("**/*", refuse_socket)
        try:
            return await self._record(context, url, options, deadline)
        finally:
            # A renderer that hangs on close is killed with the browser at the end of the run.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 10)

    async def _record(
        self, context: Any, url: str, options: RenderOptions, deadline: float
    ) -> Rendering:
        from playwright.async_api import Error as PlaywrightError

        def ms_left(cap: float | None = None) -> float:
            left = deadline - time.monotonic() - 3  # keep time to record what is there
            return max(1.0, min(left, cap if cap is not None else left)) * 1000

        page = await context.new_page()
        rendering = Rendering(final_url=url)
        try:
            await page.goto(url, wait_until="load", timeout=ms_left(options.timeout))
        except PlaywrightError as exc:
            rendering.notes.append(f"page did not finish loading: {_first_line(exc)}")
        try:
            await page.wait_for_load_state("networkidle", timeout=ms_left(options.timeout))
        except PlaywrightError:
            rendering.settled = False
            rendering.notes.append(f"page did not settle within {options.timeout:g} s")
        height = 0
        try:
            height, moved = await page.evaluate(_SCROLL, [SCROLL_STEPS, 150])
            height = int(height)
            if moved:  # what scrolling brought into view may still be loading
                await page.wait_for_load_state("networkidle", timeout=ms_left(5))
        except PlaywrightError as exc:
            if rendering.settled:
                rendering.notes.append(f"scrolling the page: {_first_line(exc)}")
        rendering.final_url = page.url
        rendering.dom = await page.content()
        rendering.title = await page.title()
        rendering.text = str(
            await page.evaluate("() => document.body ? document.body.innerText : ''")
        )
        if options.screenshot:
            clip_height = min(max(height, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
            if height > MAX_SCREENSHOT_HEIGHT:
                rendering.notes.append(
                    f"screenshot cut at {MAX_SCREENSHOT_HEIGHT} px of {height} px"
                )
            try:
                rendering.screenshot = await page.screenshot(
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": clip_height},
                    timeout=ms_left(30),
                    animations="disabled",
                )
            except PlaywrightError as exc:
                rendering.notes.append(f"screenshot failed: {_first_line(exc)}")
        if options.pdf:
            try:
                rendering.pdf = await page.pdf(print_background=True)
            except PlaywrightError as exc:
                rendering.notes.append(f"PDF failed: {_first_line(exc)}")
        return rendering

    def close(self) -> None:
        """Stop the browser and its thread; safe to call twice."""

        async def stop() -> None:
            if self._browser is not None:
                await self._browser.close()
            if self._playwright is not None:
                await self._playwright.stop()

        if self._thread.is_alive():
            # A browser that will not close still dies with our process.
            with contextlib.suppress(Exception):
                self._call(stop(), 20)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._browser = self._playwright = None
        self._fetching.shutdown(wait=False, cancel_futures=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]

"""The video or audio of a page, through yt-dlp used as a library.

yt-dlp knows how YouTube, Facebook, Vimeo and plain ``<video>`` pages hide their media; it
does not get to open a socket. Every request it makes goes through a request handler of ours
that answers with archiver's Fetcher, so the media download passes the same address guard,
limits and deadline as every other fetch (brozzler sends yt-dlp through warcprox for the same
reason).
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..net.fetch import Fetcher

# Hosts whose pages are video pages even when their HTML shows no <video> element.
_VIDEO_HOSTS = ("youtube.com", "youtu.be", "facebook.com", "fb.watch", "vimeo.com")
_MEDIA_TAG = re.compile(r"<(?:video|audio)[\s>]", re.IGNORECASE)  # no repetition: linear
DECODED_BYTES = 8_000_000  # a compressed answer (an API's JSON) is read decoded up to this
MAX_INFO_BYTES = 1_000_000
MAX_SUBTITLE_LANGUAGES = 20  # YouTube offers a hundred machine translations; the rest wait
MAX_SUBTITLE_BYTES = 5_000_000  # yt-dlp's info JSON of a page, beyond which it is cut
_SUBTITLE_LINE = re.compile(r"^\s*(?:WEBVTT.*|NOTE.*|\d+|[\d:.,]+ --> [\d:.,]+.*)\s*$")


def has_media(url: str, markup: str | None) -> bool:
    """Whether a page is worth asking yt-dlp about: a video site, or media on the page."""
    host = (urlsplit(url).hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _VIDEO_HOSTS):
        return True
    return bool(markup and _MEDIA_TAG.search(markup))


@dataclass
class MediaFile:
    """One downloaded file (the media or a subtitle track), on disk until it is stored."""

    path: Path
    url: str
    role: str  # media | subtitles
    content_type: str
    meta: dict[str, Any]
    truncated: bool = False


@dataclass
class MediaResult:
    """What yt-dlp found and fetched for a page; ``error`` says why nothing was."""

    files: list[MediaFile] = field(default_factory=list)
    info: dict[str, Any] | None = None
    error: str | None = None
    folder: tempfile.TemporaryDirectory[str] | None = None

    def text(self) -> str:
        """Words a reader would search for: title, uploader, description, subtitles."""
        info = self.info or {}
        parts = [str(info.get(key) or "") for key in ("title", "uploader", "description")]
        for file in self.files:
            if file.role == "subtitles":
                parts.append(subtitle_text(file.path.read_text("utf-8", errors="replace")))
        return "\n".join(part for part in parts if part)

    def close(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()


def subtitle_text(vtt: str) -> str:
    """The spoken words of a WebVTT or SRT file, without cue numbers and timings.

    >>> subtitle_text("WEBVTT\\n\\n1\\n00:00:01.000 --> 00:00:02.000\\nHello there\\n")
    'Hello there'
    """
    lines = (line.strip() for line in vtt.splitlines())
    return " ".join(line for line in lines if line and not _SUBTITLE_LINE.match(line))


_CONTENT_TYPES = {
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "webm": "video/webm",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "ogv": "video/ogg",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
}


def fetch_media(page_url: str, fetcher: Fetcher, *, max_bytes: int, deadline: float) -> MediaResult:
    """Ask yt-dlp for the page's media: the best single file under ``max_bytes``, its
    subtitles and info JSON, all fetched through ``fetcher`` until ``deadline``."""
    from yt_dlp.utils import DownloadError

    folder = tempfile.TemporaryDirectory(prefix="archiver-media-")
    result = MediaResult(folder=folder)
    logger = _QuietLogger()
    options = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "playlist_items": "1",
        # One file holding picture and sound: merging formats would need ffmpeg.
        "format": f"best[filesize<{max_bytes}]/best[filesize_approx<{max_bytes}]/best",
        "max_filesize": max_bytes,
        "paths": {"home": folder.name},
        "outtmpl": {"default": "media.%(ext)s"},
        "retries": 0,
        "fragment_retries": 0,
        "socket_timeout": 30,
        "cachedir": False,
        "logger": logger,
    }
    try:
        with _guarded_class()(options, fetcher, deadline, max_bytes) as ydl:
            info = ydl.extract_info(page_url, download=True)
            if info is None:
                result.error = "yt-dlp found no media"
                return result
            info = ydl.sanitize_info(info)
    except DownloadError as exc:
        result.error = _first_line(str(exc)).removeprefix("ERROR: ")
        return result
    except Exception as exc:  # an extractor that breaks on a hostile page is that page's failure
        result.error = f"yt-dlp failed: {_first_line(repr(exc))}"
        return result
    if info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if e]
        info = entries[0] if entries else info
    result.info = _trimmed(info)
    meta = {
        key: info.get(key)
        for key in ("title", "uploader", "upload_date", "duration", "description", "ext")
    }
    for path in sorted(Path(folder.name).iterdir()):
        ext = path.suffix.lstrip(".").lower()
        if path.name.startswith("media.") and not path.name.endswith(".part"):
            result.files.append(
                MediaFile(
                    path,
                    str(info.get("url") or info.get("webpage_url") or page_url),
                    "media",
                    _CONTENT_TYPES.get(ext, "application/octet-stream"),
                    meta,
                    truncated=path.stat().st_size >= max_bytes,
                )
            )
    _fetch_subtitles(info, fetcher, Path(folder.name), result, logger)
    if not any(f.role == "media" for f in result.files):
        why = "; ".join(logger.errors) or f"none under {max_bytes} bytes"
        result.error = f"no media file was downloaded ({why})"
    elif logger.errors:
        result.error = "; ".join(logger.errors)
    return result


def _fetch_subtitles(
    info: dict[str, Any],
    fetcher: Fetcher,
    folder: Path,
    result: MediaResult,
    logger: _QuietLogger,
) -> None:
    """One track per language (WebVTT or SRT preferred), fetched by us: a track that fails
    costs only itself (yt-dlp would give up the video for it)."""
    tracks = info.get("subtitles") or {}
    for n, (language, formats) in enumerate(sorted(tracks.items())[:MAX_SUBTITLE_LANGUAGES]):
        usable = [f for f in formats or [] if isinstance(f, dict) and f.get("url")]
        usable.sort(key=lambda f: f.get("ext") not in ("vtt", "srt"))
        if not usable:
            continue
        track = usable[0]
        fetched = fetcher.fetch(str(track["url"]), max_bytes=MAX_SUBTITLE_BYTES)
        if not fetched.ok:
            logger.error(f"subtitles ({language}): {fetched.error_type or fetched.status}")
            continue
        ext = str(track.get("ext") or "vtt")
        path = folder / f"subtitles-{n}.{ext}"
        path.write_bytes(fetched.body)
        result.files.append(
            MediaFile(
                path,
                str(track["url"]),
                "subtitles",
                _CONTENT_TYPES.get(ext, "text/plain"),
                {"language": str(language)[:35], "ext": ext, "url": str(track["url"])},
            )
        )


def _trimmed(info: dict[str, Any]) -> dict[str, Any]:
    """The info JSON without the long format and thumbnail lists, at most MAX_INFO_BYTES."""
    kept = {
        k: v for k, v in info.items() if k not in ("formats", "thumbnails", "requested_formats")
    }
    if len(json.dumps(kept, default=str)) > MAX_INFO_BYTES:
        kept = {k: v for k, v in kept.items() if isinstance(v, str | int | float | bool)}
        kept["description"] = str(kept.get("description") or "")[:10_000]
    return kept


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


class _QuietLogger:
    """yt-dlp's messages stay off stderr; its errors are kept (a few) to say what failed."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, message: str) -> None:
        pass

    info = warning = debug

    def error(self, message: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(_first_line(message).removeprefix("ERROR: "))


@cache
def _handler_class() -> type:
    """Our request handler, built on first use: importing yt-dlp costs a quarter second."""
    from yt_dlp.networking.common import RequestHandler, Response
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    class ArchiverRH(RequestHandler):  # yt-dlp wants the RH suffix
        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = None
        _SUPPORTED_FEATURES = None

        def __init__(
            self, *, fetcher: Fetcher, deadline: float, max_bytes: int, **kwargs: Any
        ) -> None:
            super().__init__(**kwargs)
            self.fetcher, self.deadline, self.max_bytes = fetcher, deadline, max_bytes

        def _check_extensions(self, extensions: dict[str, Any]) -> None:
            super()._check_extensions(extensions)
            for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing", "impersonate"):
                extensions.pop(name, None)

        def _send(self, request: Any) -> Any:
            if time.monotonic() >= self.deadline:
                raise TransportError(msg="the media download ran out of time (media_timeout)")
            headers = {**self.headers, **request.headers}
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to yt-dlp, which closes it
            result = self.fetcher.fetch(
                request.url,
                method=request.method,
                headers={k: v for k, v in headers.items() if k.lower() != "user-agent"},
                data=request.data if isinstance(request.data, bytes) else None,
                raw_sink=spool.write,  # type: ignore[arg-type]
                raw_limit=self.max_bytes,
                max_bytes=DECODED_BYTES,
            )
            if result.status is None:
                spool.close()
                raise TransportError(msg=f"{result.error_type}: {result.error_message}")
            encoded = result.headers.get("content-encoding", "identity") not in ("", "identity")
            body: Any
            if encoded:  # hand over the decoded copy; media itself is not sent encoded
                spool.close()
                body = io.BytesIO(result.body)
            else:
                spool.seek(0)
                body = spool
            headers_out = {
                k: v for k, v in result.headers.items() if k not in ("content-encoding",)
            }
            if encoded:
                headers_out["content-length"] = str(len(result.body))
            response = Response(
                body,
                result.final_url or request.url,
                headers_out,
                status=result.status,
                reason=result.reason,
            )
            if not 200 <= result.status < 300:
                raise HTTPError(response)
            return response

    return ArchiverRH


@cache
def _guarded_class() -> type:
    from yt_dlp import YoutubeDL

    class GuardedYoutubeDL(YoutubeDL):
        """A YoutubeDL whose only way onto the network is archiver's fetcher."""

        def __init__(
            self, params: dict[str, Any], fetcher: Fetcher, deadline: float, max_bytes: int
        ) -> None:
            self._archiver = {"fetcher": fetcher, "deadline": deadline, "max_bytes": max_bytes}
            super().__init__(params)

        def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
            from yt_dlp.networking.common import RequestDirector

            director = RequestDirector(logger=self._logger_adapter())
            director.add_handler(
                _handler_class()(
                    logger=director.logger,
                    headers=self.params["http_headers"].copy(),
                    cookiejar=self.cookiejar,
                    **self._archiver,
                )
            )
            return director

        def _logger_adapter(self) -> Any:
            from yt_dlp.YoutubeDL import _YDLLogger

            return _YDLLogger(self)

    return GuardedYoutubeDL

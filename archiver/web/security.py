"""Who may use the dashboard, and proof that a form was sent from one of its pages.

- Bound to anything but loopback, ``archiver serve`` needs ``serve_token`` and refuses to
  start without one: anyone who reaches the port could read every report and start runs.
- With a token, every request carries it: ``Authorization: Bearer TOKEN``, or the cookie the
  login form sets (derived from the token, HttpOnly, SameSite=Strict; changing the token
  logs everyone out).
- Without one, a request must name a loopback host (``Host: 127.0.0.1:8000``,
  ``localhost``): a web page whose name an attacker rebinds to 127.0.0.1 gets nothing.
- Every POST carries a CSRF token only a page of this dashboard shows (an HMAC of its time
  under a key made when the server starts), and, when the browser says where the form comes
  from (``Origin``), comes from this dashboard's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import ArchiverError

SESSION_COOKIE = "archiver_session"
# How long a page's forms stay good: a page left open for a day still works.
CSRF_LIFETIME = 24 * 3600.0


def is_loopback(host: str) -> bool:
    """An address or name that only this machine reaches (``127.0.0.1``, ``::1``,
    ``localhost``).

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.5")]
    [True, True, True, False, False]
    """
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str) -> None:
    """Refuse, saying why, to listen on a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise ArchiverError(
            f"refusing to serve on {host} without serve_token: anyone who can reach this "
            "machine could read every report and start runs. Set serve_token (in "
            "archiver.toml or ARCHIVER_SERVE_TOKEN; every request then needs it), or serve "
            "on 127.0.0.1"
        )


def host_name(host_header: str) -> str:
    """The host part of a Host header, without its port (``[::1]:8000`` → ``[::1]``)."""
    try:
        return urlsplit("//" + host_header).hostname or ""
    except ValueError:
        return ""


class Guard:
    """The dashboard's checks on each request (see the module docstring)."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self._clock = clock
        self._key = secrets.token_bytes(32)  # forms from before a restart are refused
        self.session = (
            hmac.new(token.encode(), b"archiver dashboard session", hashlib.sha256).hexdigest()
            if token
            else ""
        )

    def host_ok(self, host_header: str) -> bool:
        """Without a token, only loopback names may be asked for (no DNS rebinding)."""
        return bool(self.token) or is_loopback(host_name(host_header))

    def authorized(self, authorization: str, cookie: str | None) -> bool:
        """Does the request carry the token (as a bearer token or the login cookie)?"""
        if not self.token:
            return True
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return True
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    def token_ok(self, value: str) -> bool:
        """Is ``value`` the token (the login form)?"""
        return bool(self.token) and hmac.compare_digest(value.encode(), self.token.encode())

    def csrf_token(self) -> str:
        stamp = str(int(self._clock()))
        return f"{stamp}.{self._sign(stamp)}"

    def csrf_ok(self, value: str, origin: str | None, host_header: str) -> bool:
        """A token this server made less than a day ago, from a page of this origin."""
        if origin is not None and origin not in (f"http://{host_header}", f"https://{host_header}"):
            return False  # another site, or a sandboxed frame ("null")
        stamp, _, signature = value.partition(".")
        if not (stamp.isascii() and stamp.isdigit()) or not hmac.compare_digest(
            signature.encode(), self._sign(stamp).encode()
        ):
            return False
        return 0 <= self._clock() - int(stamp) <= CSRF_LIFETIME

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()

"""The test network guard: tests may reach loopback and nothing else.

``install()`` patches the socket module so that, in this process:

- a name other than ``localhost`` (or a name a test mapped to loopback with
  :func:`map_to_loopback`) does not resolve: ``socket.gaierror`` EAI_NONAME, exactly what
  DNS on a machine without internet says. Numeric hosts (``127.0.0.1``, ``::1``,
  ``2130706433``, ``10.0.0.1``) resolve as usual: no DNS is asked for them;
- a connection to an address outside 127.0.0.0/8 and ``::1`` is refused with ENETUNREACH
  before any packet leaves.

Both are *violations*, recorded (:func:`violations`) so that the test fails even when the code
under test swallows the error into a verdict such as ``dns_nxdomain``. A test that means to
show what happens to names that do not resolve (a network that is down, DNS failing) says so
with the ``offline_names`` marker (or :func:`offline_names`), naming the names (``"a.kz"``;
``".invalid"`` for a whole domain) or, with no names, every name: then those names failing to
resolve is the expected behaviour, not a violation, on a machine with or without internet.

With ``ARCHIVER_TEST_RESOLVE_ALL=1`` the guard instead simulates a network that resolves
everything: outside ``offline_names`` every name resolves to ``203.0.113.7`` (TEST-NET-3,
documentation only), so code that would have gone on to connect does, and the connect is
blocked and recorded. Running the suite that way shows that no test passes only because DNS
fails here.

Subprocesses get the same guard from ``tests/subprocess_guard/sitecustomize.py``; it records
violations in the file named by ``NETGUARD_VIOLATIONS_FILE``.

This is test code: archiver itself never reads these variables.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

RESOLVE_ALL_VAR = "ARCHIVER_TEST_RESOLVE_ALL"
VIOLATIONS_FILE_VAR = "NETGUARD_VIOLATIONS_FILE"
OFFLINE_NAMES_VAR = "NETGUARD_OFFLINE_NAMES"
# Where every name points in resolve-everything mode: TEST-NET-3, reserved for documentation.
RESOLVE_ALL_ADDRESS = "203.0.113.7"
SUBPROCESS_DIR = Path(__file__).resolve().parent / "subprocess_guard"

_real = {
    "getaddrinfo": socket.getaddrinfo,
    "gethostbyname": socket.gethostbyname,
    "gethostbyname_ex": socket.gethostbyname_ex,
    "gethostbyaddr": socket.gethostbyaddr,
    "create_connection": socket.create_connection,
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
}

_lock = threading.Lock()
_violations: list[str] = []
_loopback_names: dict[str, str] = {}
# Names expected not to resolve in the running test: () none, ("*",) every name.
_offline: tuple[str, ...] = ()
_state = {"installed": False}
_violations_file: Path | None = None


def resolve_all() -> bool:
    """Is the resolve-everything mode on (``ARCHIVER_TEST_RESOLVE_ALL=1``)?

    Read once, when the guard is installed: tests that clear ARCHIVER_* variables for the
    code under test do not switch it off.
    """
    if "resolve_all" not in _state:
        value = os.environ.get(RESOLVE_ALL_VAR, "").strip().lower()
        _state["resolve_all"] = value in {"1", "true", "yes", "on"}
    return bool(_state["resolve_all"])


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ``::1`` and IPv4-mapped loopback; anything else (or not an address) is not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _numeric(host: str) -> bool:
    """True when ``host`` is an address in some notation getaddrinfo takes without DNS."""
    try:
        _real["getaddrinfo"](host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    return True


def _host_text(host: Any) -> str | None:
    if host is None:
        return None
    if isinstance(host, bytes | bytearray):
        return bytes(host).decode("idna", "replace")
    return str(host)


def _record(what: str) -> None:
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    entry = f"{what} (pid {os.getpid()}, thread {threading.current_thread().name})\n{stack}"
    with _lock:
        _violations.append(entry)
        if _violations_file is not None:
            with _violations_file.open("a", encoding="utf-8") as f:
                f.write(entry.replace("\n", "\n    ") + "\n")


def _allowed_name(name: str) -> str | None:
    """The name to hand to the real resolver, or None when the name must not be looked up."""
    lowered = name.lower().rstrip(".")
    if lowered == "localhost":
        return name
    with _lock:
        mapped = _loopback_names.get(lowered)
    return mapped


def _unresolvable(name: str) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"Name or service not known ({name}: test guard)")


def _check_name(name: str) -> str | None:
    """Decide about a name: a host to resolve for real, None for "resolves nowhere", or raise."""
    allowed = _allowed_name(name)
    if allowed is not None:
        return allowed
    if _expected_offline(name):
        raise _unresolvable(name)
    _record(f"resolved non-loopback name {name!r}")
    if resolve_all():
        return None
    raise _unresolvable(name)


def _getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    name = _host_text(host)
    if name is None or _numeric(name):
        return _real["getaddrinfo"](host, port, family, type, proto, flags)
    if flags & socket.AI_NUMERICHOST:
        return _real["getaddrinfo"](host, port, family, type, proto, flags)
    target = _check_name(name)
    if target is not None:
        return _real["getaddrinfo"](target, port, family, type, proto, flags)
    if family not in (0, socket.AF_INET):
        raise _unresolvable(name)
    return _real["getaddrinfo"](RESOLVE_ALL_ADDRESS, port, socket.AF_INET, type, proto, flags)


def _gethostbyname(host: str) -> str:
    if _numeric(host):
        return _real["gethostbyname"](host)
    target = _check_name(host)
    return RESOLVE_ALL_ADDRESS if target is None else _real["gethostbyname"](target)


def _gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
    if _numeric(host):
        return _real["gethostbyname_ex"](host)
    target = _check_name(host)
    if target is not None:
        return _real["gethostbyname_ex"](target)
    return host, [], [RESOLVE_ALL_ADDRESS]


def _gethostbyaddr(host: str) -> tuple[str, list[str], list[str]]:
    """Reverse lookups ask DNS too, unless the address is loopback (the hosts file says)."""
    if _numeric(host) and not is_loopback(host):
        _record(f"reverse lookup of non-loopback address {host!r}")
        raise socket.herror(1, "Unknown host (test guard)")
    if not _numeric(host):
        target = _check_name(host)
        if target is None:
            raise socket.herror(1, "Unknown host (test guard)")
        host = target
    return _real["gethostbyaddr"](host)


def _check_connect(sock: socket.socket, address: Any) -> Any:
    """Return the address to connect to, or raise ENETUNREACH for a non-loopback one."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return address
    host = _host_text(address[0]) or ""
    if not _numeric(host):
        # connect(("name", port)) resolves inside C: resolve here, through the guard.
        infos = _getaddrinfo(host, address[1], sock.family, socket.SOCK_STREAM)
        host = str(infos[0][4][0])
        address = (host, *address[1:])
    else:
        # Any notation ("2130706433", "::ffff:127.0.0.1") to the address it stands for.
        with contextlib.suppress(socket.gaierror):
            host = str(_real["getaddrinfo"](host, None, sock.family)[0][4][0])
    if not is_loopback(host):
        _record(f"connect to non-loopback address {host!r}")
        raise OSError(errno.ENETUNREACH, f"Network is unreachable ({host}: test guard)")
    return address


def _connect(self: socket.socket, address: Any) -> None:
    _real["connect"](self, _check_connect(self, address))


def _connect_ex(self: socket.socket, address: Any) -> int:
    try:
        address = _check_connect(self, address)
    except socket.gaierror:
        raise  # connect_ex raises for names that do not resolve, as the real one does
    except OSError as exc:
        return exc.errno or errno.ENETUNREACH
    return _real["connect_ex"](self, address)


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    host = _host_text(address[0]) or ""
    if _numeric(host) and not is_loopback(host):
        _record(f"connect to non-loopback address {host!r}")
        raise OSError(errno.ENETUNREACH, f"Network is unreachable ({host}: test guard)")
    # The real create_connection looks names up with the patched getaddrinfo and connects
    # with the patched socket.connect: both checks apply.
    return _real["create_connection"](address, *args, **kwargs)


def install(violations_file: Path | None = None) -> None:
    """Patch the socket module for the rest of this process (idempotent)."""
    global _violations_file
    if violations_file is not None:
        _violations_file = violations_file
    if _state["installed"]:
        return
    _state["installed"] = True
    resolve_all()
    start_test(_parse_offline(os.environ.get(OFFLINE_NAMES_VAR, "")))
    patches: dict[str, Callable[..., Any]] = {
        "getaddrinfo": _getaddrinfo,
        "gethostbyname": _gethostbyname,
        "gethostbyname_ex": _gethostbyname_ex,
        "gethostbyaddr": _gethostbyaddr,
        "create_connection": _create_connection,
    }
    for name, function in patches.items():
        setattr(socket, name, function)
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex


def violations() -> list[str]:
    with _lock:
        return list(_violations)


def clear() -> None:
    """Forget recorded violations (once a test has been judged on them)."""
    with _lock:
        _violations.clear()


def start_test(offline: Sequence[str] = ()) -> None:
    """A new test: no names mapped to loopback, and the names it expects not to resolve."""
    global _offline
    with _lock:
        _loopback_names.clear()
    _offline = tuple(n.lower().rstrip(".") or n for n in offline)


@contextlib.contextmanager
def offline_names(*names: str) -> Iterator[None]:
    """Within the block these names (or with none, every name) are expected not to resolve."""
    global _offline
    before = _offline
    _offline = before + (names or ("*",))
    try:
        yield
    finally:
        _offline = before


def _expected_offline(name: str) -> bool:
    lowered = name.lower().rstrip(".")
    return any(
        pattern == "*"
        or lowered == pattern
        or (pattern.startswith(".") and lowered.endswith(pattern))
        for pattern in _offline
    )


def _parse_offline(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def map_to_loopback(name: str, address: str = "127.0.0.1") -> None:
    """Let ``name`` resolve, to a loopback address only (for tests that need a host name)."""
    if not is_loopback(address):
        raise ValueError(f"map_to_loopback: {address!r} is not a loopback address")
    with _lock:
        _loopback_names[name.lower().rstrip(".")] = address


def subprocess_env(violations_file: Path, *, offline: Sequence[str] = ()) -> dict[str, str]:
    """Variables that give a Python subprocess this guard, recording into ``violations_file``;
    ``offline``: the names it expects not to resolve, as for :func:`start_test`."""
    paths = [str(SUBPROCESS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        "PYTHONPATH": os.pathsep.join(paths),
        VIOLATIONS_FILE_VAR: str(violations_file),
        OFFLINE_NAMES_VAR: ",".join(offline),
    }
    if resolve_all():
        env[RESOLVE_ALL_VAR] = "1"
    return env

"""Text from pages and report files, made safe to show: no control character or bidi control
of a hostile title, URL or context can steer the terminal it is printed on (retitle, clear,
recolour) or reorder what is shown."""

from __future__ import annotations

import re

# C0 controls but tab and line ends, DEL and C1 controls (U+009B opens a control sequence as
# ESC [ does), bidi embeddings, overrides and isolates. One pass, no backtracking.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    r"""``text`` with each such character replaced by U+FFFD.

    >>> shown("ok\x1b]0;owned\x07 \u202eevil\tend")
    'ok\ufffd]0;owned\ufffd \ufffdevil\tend'
    """
    return CONTROL.sub("\ufffd", text)

"""Imported first by the CLI, to start every command quickly.

sqlite-utils imports numpy and pandas when they are installed, only to map their number types
to SQL types, which archiver never stores: about 0.1 s on every command. They are hidden while
sqlite-utils loads and import normally afterwards, for anything that does need them.
"""

import sys

_hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # import fails: sqlite-utils skips it
try:
    import sqlite_utils.db  # noqa: F401
finally:
    for _name in _hidden:
        del sys.modules[_name]

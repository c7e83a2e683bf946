"""The test network guard for Python subprocesses that tests start (scheduler, ``-m archiver``).

Python imports ``sitecustomize`` at startup from the first folder on ``sys.path`` that has one;
tests put this folder first on PYTHONPATH (see ``netguard.subprocess_env``), so the process runs
under the same guard as the tests and writes its violations to ``$NETGUARD_VIOLATIONS_FILE``,
which the test that started it checks.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_where = os.environ.get("NETGUARD_VIOLATIONS_FILE")
if _where:
    _spec = importlib.util.spec_from_file_location(
        "netguard", Path(__file__).resolve().parents[1] / "netguard.py"
    )
    assert _spec is not None and _spec.loader is not None
    _netguard = importlib.util.module_from_spec(_spec)
    sys.modules["netguard"] = _netguard
    _spec.loader.exec_module(_netguard)
    _netguard.install(Path(_where))

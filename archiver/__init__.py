"""archiver keeps the sources cited in published reports alive.

From Python, the same work the CLI does::

    import archiver

    settings = archiver.load_settings()            # archiver.toml, ARCHIVER_* variables
    db = archiver.open_db(settings.db)
    run = archiver.run_main_job(db, settings, stages=["check"], report_id="odf-2018-dck")
    print(run.check.verdicts, run.lines())

The names below load their modules on first use, so ``import archiver`` (and the CLI) stays
quick and a command pulls in only what it needs.
"""

import importlib as _importlib
from typing import Any as _Any

from .version import __version__

# Each public name and the module that defines it.
_WHERE = {
    "ArchiverError": ".errors",
    "BundleCheck": ".bundle.check",
    "BundleResult": ".bundle.wacz",
    "CallFailed": ".errors",
    "CaptureOptions": ".capture",
    "CaptureSummary": ".capture",
    "CheckOptions": ".check",
    "CheckSummary": ".check",
    "CitedURL": ".ingest",
    "Clock": ".clock",
    "ConfigError": ".errors",
    "DashboardServer": ".web.server",
    "ImportResult": ".ingest.importer",
    "InputError": ".errors",
    "Interrupted": ".errors",
    "InvalidURL": ".errors",
    "MAIN_JOB": ".pipeline",
    "MementoOptions": ".memento.client",
    "MementoSummary": ".memento.lookup",
    "ParseLimits": ".parsing",
    "ParseTimeout": ".errors",
    "ParsedReport": ".ingest",
    "Paused": ".errors",
    "RunSummary": ".pipeline",
    "STAGES": ".pipeline",
    "SYSTEM_CLOCK": ".clock",
    "Settings": ".config",
    "Skipped": ".ingest",
    "StorageError": ".errors",
    "VerifyResult": ".capture.verify",
    "WaybackError": ".errors",
    "WaybackOptions": ".wayback",
    "WaybackSummary": ".wayback",
    "build_report": ".views.report",
    "capture_options": ".capture",
    "capture_sources": ".capture",
    "changes": ".views.changes",
    "check_options": ".check",
    "check_sources": ".check",
    "citation_rows": ".views.status",
    "export_capture": ".views.retrieve",
    "export_copy": ".views.retrieve",
    "import_report": ".ingest.importer",
    "load_settings": ".config",
    "lookup_and_save": ".wayback",
    "lookup_mementos": ".memento.lookup",
    "init_key": ".bundle.keys",
    "make_inert": ".views.inert",
    "memento_options": ".memento.client",
    "open_db": ".store",
    "read_report": ".ingest",
    "render": ".views.report",
    "report_rows": ".views.status",
    "run_main_job": ".pipeline",
    "search_text": ".views.retrieve",
    "source_copies": ".views.retrieve",
    "source_states": ".views.changes",
    "verify_bundle": ".bundle.check",
    "verify_captures": ".capture.verify",
    "wayback_options": ".wayback",
    "write_bundle": ".bundle.wacz",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> _Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'archiver' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))

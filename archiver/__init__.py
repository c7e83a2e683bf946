"""archiver keeps the sources cited in published reports alive."""

from .config import Settings, load_settings
from .db import open_db
from .errors import ArchiverError, ConfigError, InputError, InvalidURL
from .importer import ImportResult, import_report
from .ingest import CitedURL, ParsedReport, Skipped, read_report
from .status import citation_rows, report_rows
from .version import __version__

__all__ = [
    "ArchiverError",
    "CitedURL",
    "ConfigError",
    "ImportResult",
    "InputError",
    "InvalidURL",
    "ParsedReport",
    "Settings",
    "Skipped",
    "__version__",
    "citation_rows",
    "import_report",
    "load_settings",
    "open_db",
    "read_report",
    "report_rows",
]

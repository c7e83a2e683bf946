"""The Wayback Machine stage: find each source's copies, save the ones it lacks.

- ``client``: the one rate-limited, pause-respecting client every call goes through;
- ``lookup``: CDX (through waybackpy's query building) and the availability API;
- ``save``: Save Page Now 2 jobs as explicit states (:class:`SaveState`);
- ``run``: the stage as the CLI, the scheduler and the main job call it.
"""

from .client import ArchiveClient, RateLimiter
from .lookup import lookup
from .options import WaybackOptions, WaybackSummary, wayback_options
from .run import lookup_and_save
from .save import SaveState, save

__all__ = [
    "ArchiveClient",
    "RateLimiter",
    "SaveState",
    "WaybackOptions",
    "WaybackSummary",
    "lookup",
    "lookup_and_save",
    "save",
    "wayback_options",
]

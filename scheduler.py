"""The long-running service entry point: ``python scheduler.py``.

Scheduled checking, capture and Wayback runs arrive with their own stages; until then this runs
the main job (``archiver run``) once; global options (``--db``, ``--config``) work as in the CLI.
"""

import sys

from archiver.cli import cli

if __name__ == "__main__":
    cli([*sys.argv[1:], "run"], prog_name="scheduler.py")

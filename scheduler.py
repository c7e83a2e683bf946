"""The long-running service entry point: ``python scheduler.py`` is ``archiver schedule``.

Global options (``--db``, ``--config``) work as in the CLI; the jobs live in archiver.schedule.
"""

import sys

from archiver.cli import cli

if __name__ == "__main__":
    cli([*sys.argv[1:], "schedule"], prog_name="scheduler.py")

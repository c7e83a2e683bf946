"""The checking stage: fetch every source, classify it, turn the run into verdicts."""

from .run import CheckOptions, CheckSummary, check_options, check_sources
from .verdicts import Outcome, Rules, classify, next_state

__all__ = [
    "CheckOptions",
    "CheckSummary",
    "Outcome",
    "Rules",
    "check_options",
    "check_sources",
    "classify",
    "next_state",
]

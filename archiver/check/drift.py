"""Drift: whether a page's main text moved away from the text its source had when cited (the
first good page the checker saw, ``reference_texts``). One rule for the live page (check) and
for local copies (capture)."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

from sqlite_utils import Database

from ..errors import ParseTimeout
from ..pagetext import Page, similarity
from ..parsing import DEFAULT_PARSE_LIMITS, ParseLimits


@dataclass(frozen=True)
class Drift:
    """How similar a text is to the citation-time text, and whether that is too little."""

    drifted: bool
    similarity: float


def measure_drift(
    db: Database,
    source_id: int,
    text: str,
    threshold: float,
    limits: ParseLimits = DEFAULT_PARSE_LIMITS,
) -> Drift | None:
    """Compare ``text`` with the source's reference text; None when it has none yet, or it
    cannot be read within ``limits`` (drift then stays unknown).

    The reference is kept compressed as fetched; its main text is extracted the first time
    it is needed and stored beside it.
    """
    reference = next(db.table("reference_texts").rows_where("source_id = ?", [source_id]), None)
    if reference is None:
        return None
    reference_text = reference["text"]
    if reference_text is None:
        page = Page(zlib.decompress(reference["body"]).decode("utf-8"), limits)
        try:
            reference_text = page.main_text
        except ParseTimeout:
            return None
        db.table("reference_texts").update(
            source_id, {"text": reference_text, "text_hash": text_hash(reference_text)}
        )
    score = similarity(reference_text, text)
    return Drift(score < threshold, round(score, 3))


def text_hash(text: str | None) -> str | None:
    """The SHA-256 of a main text, to tell whether it changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None

"""The capture stage: evidence-grade local copies (WARC), their text, and their verification."""

from .run import CaptureOptions, CaptureSummary, capture_options, capture_sources

__all__ = ["CaptureOptions", "CaptureSummary", "capture_options", "capture_sources"]

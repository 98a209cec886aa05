"""Times as the records write them: UTC ISO 8601 text and seconds since the epoch."""

from __future__ import annotations

import datetime


def utc_iso(seconds: float | None = None) -> str:
    """``seconds`` since the epoch (default: now) as UTC ISO 8601 with milliseconds."""
    moment = (
        datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        if seconds is not None
        else datetime.datetime.now(datetime.timezone.utc)
    )
    return moment.isoformat(timespec="milliseconds")


def iso_seconds(text: str) -> float:
    """An ISO 8601 time with a UTC offset as seconds since the epoch."""
    return datetime.datetime.fromisoformat(text).timestamp()

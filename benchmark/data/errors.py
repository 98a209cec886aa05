"""The single exception type raised by ``benchmark.data`` for bad input."""

from __future__ import annotations

from benchmark.errors import McnnBenchError


class DataError(McnnBenchError):
    """Bad input data: a missing, unreadable or malformed file, or arguments that cannot be met.

    The message names the offending file (when there is one) and says what is wrong with it.
    """

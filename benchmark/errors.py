"""The suite's one error base: every error a user can cause and mend (bad settings, a missing file, a
scheduler that cannot be asked) derives from :class:`McnnBenchError`, which the command line maps to exit
status 2 in one place (``mcnn_bench.cli.main``)."""

from __future__ import annotations


class McnnBenchError(Exception):
    """An error the user can mend; its message says what is wrong and names the file, key or job."""

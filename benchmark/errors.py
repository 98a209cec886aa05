"""The suite's one error base: every error a user can cause and mend (bad settings, a missing file, a
scheduler that cannot be asked) derives from :class:`McnnBenchError`, which the command line maps to exit
status 2 in one place (``mcnn_bench.cli.main``).

A file or folder the suite cannot read or write (no permission, a full disk, a read-only file system) is a
:class:`FileAccessError`: its one-line message names the path, what the suite was doing and the operating
system's cause."""

from __future__ import annotations

import os
from pathlib import Path


class McnnBenchError(Exception):
    """An error the user can mend; its message says what is wrong and names the file, key or job."""


def os_cause(exc: OSError) -> str:
    """The operating system's words for ``exc`` without the path: ``"No space left on device"``,
    ``"Permission denied"``; the whole message when it carries no ``strerror``."""
    return exc.strerror or str(exc) or type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` that nobody caught where it happened: the path(s) it names and its cause,
    e.g. ``"/r/s/sweep.lock: Permission denied (errno 13)"``; without a path, its cause only."""
    if isinstance(exc, McnnBenchError):
        return str(exc)
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    cause = os_cause(exc) + (f" (errno {exc.errno})" if exc.errno is not None else "")
    return f"{paths}: {cause}" if paths else cause


class FileAccessError(McnnBenchError, OSError):
    """A file or folder that cannot be read or written; the message names it, what was being done and the
    cause (``"cannot write /r/s/run/record.json (No space left on device); the file as it was is kept"``).

    Also an ``OSError`` (``errno``, ``strerror`` and ``filename`` are the original error's, ``filename`` the
    path named), so that code catching ``OSError`` keeps working."""

    def __init__(
        self, message: str, errno: int | None = None, strerror: str | None = None, filename: str | None = None
    ):
        super().__init__(errno, strerror, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # pickled with its message (an exception crosses processes: submitit, process pools)
        return type(self), (self.message, self.errno, self.strerror, self.filename)

    @classmethod
    def of(cls, exc: OSError, path: str | os.PathLike, message: str) -> FileAccessError:
        """The error ``message`` (which names ``path``) for ``exc``, keeping its ``errno`` and ``strerror``."""
        return cls(message, exc.errno, os_cause(exc), str(Path(path)))

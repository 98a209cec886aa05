"""Atomic file writes: a reader sees either the old file or the complete new one, never a partial file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

from benchmark.errors import FileAccessError, os_cause


@contextlib.contextmanager
def atomic_writer(path: str | Path):
    """A binary file to write ``path``'s new content into, piece by piece; ``path`` gets it atomically when
    the block ends without an error.

    The data go to a temporary file in the same folder (so the rename stays on one file system),
    which is flushed, fsynced and then moved over ``path`` with ``os.replace``. The file gets the
    usual permissions (0o666 less the umask), so results stay readable on a shared cluster. Missing
    parent folders are created. On any error the temporary file is removed and ``path`` is left untouched
    (the old file, or none). A failure to write (no permission, a full disk, a read-only file system) is
    raised as :class:`benchmark.errors.FileAccessError`, an ``OSError`` whose message names ``path`` and
    the cause; an ``OSError`` the block raises about another file, and any other error, propagate as they are.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _write_error(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        named = None if not isinstance(exc, OSError) or exc.filename is None else str(exc.filename)
        if isinstance(exc, OSError) and not isinstance(exc, FileAccessError) and named in (None, str(tmp), str(path)):
            raise _write_error(exc, path) from exc
        raise


def _write_error(exc: OSError, path: Path) -> FileAccessError:
    """The error of a failed write of ``path``: the path, the cause, and what became of the file."""
    if exc.filename is not None and Path(exc.filename) in path.parents:  # its folder could not be made
        return FileAccessError.of(exc, path, f"cannot write {path}: cannot create {exc.filename} ({os_cause(exc)})")
    kept = "the file as it was is kept" if os.path.lexists(path) else "nothing was written"
    return FileAccessError.of(exc, path, f"cannot write {path} ({os_cause(exc)}); {kept}")


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`) and return ``path``; ``str`` data are
    encoded as UTF-8.

    Raises:
        FileAccessError: ``path`` cannot be written (naming it and the cause); it is left as it was.
    """
    with atomic_writer(path) as stream:
        stream.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json_atomic(path: str | Path, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, json.dumps(data, indent=2) + "\n")

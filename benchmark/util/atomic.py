"""Atomic file writes: a reader sees either the old file or the complete new one, never a partial file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path


@contextlib.contextmanager
def atomic_writer(path: str | Path):
    """A binary file to write ``path``'s new content into, piece by piece; ``path`` gets it atomically when
    the block ends without an error.

    The data go to a temporary file in the same folder (so the rename stays on one file system),
    which is flushed, fsynced and then moved over ``path`` with ``os.replace``. The file gets the
    usual permissions (0o666 less the umask), so results stay readable on a shared cluster. Missing
    parent folders are created. On any error the temporary file is removed and the error propagates
    (``OSError`` and subclasses); ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`) and return ``path``; ``str`` data are
    encoded as UTF-8."""
    with atomic_writer(path) as stream:
        stream.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json_atomic(path: str | Path, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, json.dumps(data, indent=2) + "\n")

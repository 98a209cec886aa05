"""The workers' malloc (``run.allocator``): glibc's own, or jemalloc or tcmalloc preloaded.

TensorFlow on CPUs allocates and frees many large, short-lived tensors from many threads; glibc's malloc
keeps per-thread arenas whose freed memory it seldom returns, so a run's peak RSS grows with its threads.
jemalloc and tcmalloc (gperftools' ``tcmalloc_minimal``) are drop-in replacements that take the place of
glibc's ``malloc`` when the dynamic linker preloads them (``LD_PRELOAD``, ld.so(8)). Preloading must happen
before the process starts, so :func:`ensure_allocator` runs the current command again in place
(``os.execve``: same process id, arguments and environment, plus ``LD_PRELOAD``) when the allocator it asks
for is not the one in use. Launchers (horovodrun, mpirun, srun, the local executor) need no change: every
worker re-runs itself before TensorFlow, Horovod or MPI start. Debian's packages ``libjemalloc2`` and
``libtcmalloc-minimal4`` hold the libraries (``setup.sh`` installs them).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import re
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import McnnBenchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AllocatorKind:
    """A named malloc.

    Attributes:
        name: what ``run.allocator`` says.
        description: one line for ``--help`` and the docs.
        library: the shared library that :func:`ensure_allocator` preloads, by file name as Debian installs
            it; None for the C library's own malloc, which is never preloaded.
        package: the Debian package that installs ``library``.
        prefix: how the allocator's libraries start, whatever their version or variant
            (``libtcmalloc.so.4`` is tcmalloc too): the name :func:`loaded_allocator` gives a mapped library,
            and what a re-run removes from an inherited ``LD_PRELOAD``.
    """

    name: str
    description: str
    library: str | None = None
    package: str | None = None
    prefix: str | None = None


#: Every value of ``run.allocator``. The first is the default.
ALLOCATORS: dict[str, AllocatorKind] = {
    kind.name: kind
    for kind in (
        AllocatorKind("system", "the C library's own malloc (glibc's)"),
        AllocatorKind(
            "jemalloc",
            "jemalloc, preloaded (LD_PRELOAD; Debian's libjemalloc2, setup.sh installs it)",
            "libjemalloc.so.2",
            "libjemalloc2",
            "libjemalloc",
        ),
        AllocatorKind(
            "tcmalloc",
            "gperftools' tcmalloc_minimal, preloaded (LD_PRELOAD; Debian's libtcmalloc-minimal4, setup.sh installs it)",
            "libtcmalloc_minimal.so.4",
            "libtcmalloc-minimal4",
            "libtcmalloc",
        ),
    )
}
#: Set (to the allocator asked for) in the environment of a re-run, so that a re-run whose preload did not
#: take raises instead of re-running again; the re-run removes it, so the processes it starts never see it.
RERUN_MARKER = "MCNN_BENCH_ALLOCATOR_RERUN"


class AllocatorError(McnnBenchError, RuntimeError):
    """An allocator that cannot be used: its library is missing, or preloading it did not take."""


def library_dirs() -> list[Path]:
    """Folders that may hold the allocators' libraries, in search order: this interpreter's Debian
    multiarch folders (``/usr/lib/<triplet>``, ``/lib/<triplet>``, triplet from ``sysconfig``'s
    ``MULTIARCH``), every other ``/usr/lib/*-linux-gnu*``, then ``/usr/lib64`` and ``/usr/lib``."""
    triplet = sysconfig.get_config_var("MULTIARCH")
    dirs = [f"/usr/lib/{triplet}", f"/lib/{triplet}"] if triplet else []
    dirs += sorted(glob.glob("/usr/lib/*-linux-gnu*")) + ["/usr/lib64", "/usr/lib"]
    return [Path(d) for d in dict.fromkeys(dirs)]


def library_path(name: str) -> Path:
    """The shared library of allocator ``name`` (one of :data:`ALLOCATORS` with a library), the first found in
    :func:`library_dirs`.

    Raises ValueError for an unknown name and :class:`AllocatorError`, saying to run ``./setup.sh``, when the
    library is not installed."""
    kind = ALLOCATORS.get(name)
    if kind is None or kind.library is None:
        preloadable = [other.name for other in ALLOCATORS.values() if other.library is not None]
        raise ValueError(f"unknown allocator {name!r}: one of {', '.join(preloadable)} can be preloaded")
    dirs = library_dirs()
    for folder in dirs:
        if (folder / kind.library).is_file():
            return folder / kind.library
    raise AllocatorError(
        f"run.allocator = {name!r}: {kind.library} is not installed (looked in "
        f"{', '.join(map(str, dirs))}); run ./setup.sh, which installs Debian's {kind.package} "
        f"(or: apt-get install {kind.package})"
    )


def _malloc_library() -> str | None:
    """The path of the mapped file that holds the ``malloc`` this process calls (the symbol the dynamic
    linker resolves first, ``dlsym(RTLD_DEFAULT)``, found among /proc/self/maps' ranges), or None when
    /proc/self/maps cannot be read or no file mapping holds it."""
    address = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    assert address is not None, "malloc resolved to a null pointer"
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for match in re.finditer(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+ +(/.*)$", maps, re.MULTILINE):
        if int(match[1], 16) <= address < int(match[2], 16):
            return match[3]
    return None


def loaded_allocator() -> str:
    """The malloc this process runs with: ``"jemalloc"`` or ``"tcmalloc"`` when one of their libraries
    provides ``malloc``, ``"system"`` when the C library does (or it cannot be told), else the file name of
    the library that provides it (another preloaded allocator)."""
    path = _malloc_library()
    if path is None:
        return "system"
    name = Path(path).name
    for kind in ALLOCATORS.values():
        if kind.prefix is not None and name.startswith(kind.prefix):
            return kind.name
    return "system" if name.startswith("libc.") or name.startswith("libc-") else name


def preload(name: str, inherited: str = "") -> str:
    """The ``LD_PRELOAD`` value that makes allocator ``name`` (one of :data:`ALLOCATORS`) provide malloc:
    its library (:func:`library_path`) before the ``inherited`` entries (colon- or space-separated, as
    ld.so(8) reads them), from which any jemalloc or tcmalloc library is removed. For ``"system"``: the
    inherited entries without those libraries. Raises as :func:`library_path` does."""
    prefixes = tuple(kind.prefix for kind in ALLOCATORS.values() if kind.prefix is not None)
    others = [entry for entry in re.split(r"[:\s]+", inherited) if entry and not Path(entry).name.startswith(prefixes)]
    return ":".join(([] if name == "system" else [str(library_path(name))]) + others)


def ensure_allocator(name: str, argv: Sequence[str]) -> None:
    """Make this process run with allocator ``name`` (one of :data:`ALLOCATORS`). When another malloc is in
    use, run ``argv`` (this interpreter's full command line, ``sys.orig_argv``) again in place of this
    process, with ``sys.executable`` and the same environment plus ``LD_PRELOAD`` from :func:`preload`; call
    it before TensorFlow, Horovod or MPI start, which then start only once. Returns when ``name`` is in use.

    Raises ValueError for an unknown name, :class:`AllocatorError` when the library is missing (saying to
    run ``./setup.sh``) or when a re-run still has another malloc (e.g. one linked in rather than preloaded),
    instead of running again."""
    if name not in ALLOCATORS:
        raise ValueError(f"unknown allocator {name!r}: one of {', '.join(ALLOCATORS)}")
    rerun_for = os.environ.pop(RERUN_MARKER, None)
    loaded = loaded_allocator()
    if loaded == name:
        return
    if rerun_for == name:
        raise AllocatorError(
            f"run.allocator = {name!r}: this process was run again with "
            f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}, yet its malloc is still "
            f"{loaded}'s ({_malloc_library()})"
        )
    value = preload(name, os.environ.get("LD_PRELOAD", ""))
    log.info("running again with LD_PRELOAD=%s (malloc: %s, asked for %s)", value, loaded, name)
    env = {**os.environ, "LD_PRELOAD": value, RERUN_MARKER: name}
    if not value:
        del env["LD_PRELOAD"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(argv), env)

"""Ctrl-C (SIGINT) in the sweep driver: swapping its handler for the length of a block, in the main thread
(the only one whose signal handlers Python lets change; elsewhere the blocks are left as they are)."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def sigint_handler(handler):
    """While in the block, SIGINT goes to ``handler`` (a function, or ``signal.SIG_IGN``); the previous
    handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def deferred_interrupt():
    """Ctrl-C inside the block takes effect at its end (``KeyboardInterrupt``), so that, say, no job is
    submitted without being saved."""
    caught = []
    with sigint_handler(lambda *_: caught.append(True)):
        yield
    if caught:
        raise KeyboardInterrupt

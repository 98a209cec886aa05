"""Starting a command as a person's terminal would, for the tests that press Ctrl-C."""

import signal


def as_foreground_job() -> None:
    """``preexec_fn`` of a command that the test treats as a terminal's foreground job: SIGINT at its default
    action, as an interactive shell gives a foreground job, whatever the test process inherited (a shell
    without job control, as in a CI script, starts background commands with SIGINT ignored, and an ignored
    signal stays ignored in every child, so Ctrl-C would never reach the command)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

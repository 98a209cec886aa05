"""The run loop and what it keeps: schedule, task, checkpoints, metrics, mllog, progress."""

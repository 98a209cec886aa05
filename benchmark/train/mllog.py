"""A run's MLPerf-style log, ``RUN_DIR/mllog.log``: ``:::MLLOG`` lines written by rank 0 through the
``mlperf-logging`` package's ``mllog`` (MLCommons, https://github.com/mlcommons/logging), checked with that
package's compliance checker against the suite's own rules, :data:`RULES` (``benchmark/compliance/mcnn.yaml``).

One log per run, one block per segment. Each segment (a start of the run in its folder) logs
``init_start`` (when the worker started), the submission and system keys, the hyperparameters,
``init_stop``, ``run_start``, then per epoch ``epoch_start``, ``epoch_stop``, ``eval_start``,
``eval_accuracy`` (validation top-1, when there is a validation set) and ``eval_stop``, and ends with
``run_stop`` whose metadata ``status`` is ``success`` (the run completed; logged just before its record is
written) or
``aborted`` (it failed, or it was stopped to be requeued; the reason is in the metadata). A segment that
starts the run from scratch truncates the log; one that resumes from a checkpoint appends to it, its
``run_start`` naming the checkpoint and the epochs and steps already done. A killed worker leaves a segment
without ``run_stop``. The rules accept such a history when it is consistent and its last segment ends in
``success``.

Only rank 0 logs: on the other ranks a :class:`RunLog` is disabled and every method does nothing. As with
MLPerf's reference implementations, ``mllog``'s shared logger also prints each line on rank 0's stdout. The
file is written through :class:`benchmark.util.logfile.LogFile`: on a full disk it says once on stderr that it
cannot write the log, and the run goes on without its further lines.
"""

from __future__ import annotations

import logging
import sys
from importlib import resources
from pathlib import Path

from mlperf_logging import mllog
from mlperf_logging.mllog import constants
from mlperf_logging.mllog.constants import ABORTED
from mlperf_logging.mllog.constants import SUCCESS as SUCCESS  # the run loop reports success with it

from benchmark.util.logfile import LogFile
from benchmark.util.provenance import cpu_model

log = logging.getLogger(__name__)

#: The log's name in the run's folder.
LOG_NAME = "mllog.log"
#: The suite's compliance rules, in the checker's YAML format (modelled on its ``hpc_3.0.0/common.yaml``).
RULES = resources.files("benchmark") / "compliance" / "mcnn.yaml"
#: The checker's log-line parser and default rules these logs are read with (``--usage``, ``--ruleset``);
#: our rules replace the rules (``--config``), the parser is the MLPerf HPC v3.0 one.
CHECKER_USAGE, CHECKER_RULESET = "hpc", "3.0.0"
#: The submission keys (MLPerf's submission rules): this suite's own benchmark, in the open division, as
#: research (not a result submitted to MLCommons).
BENCHMARK, ORG, DIVISION, STATUS = "mcnn", "mcnn-bench", "open", "research"
#: Keys without a constant in ``mllog.constants``: nodes as in the HPC rules, workers per node ours.
NUMBER_OF_NODES, WORKERS_PER_NODE = "number_of_nodes", "workers_per_node"
#: Frames between ``mllog``'s caller lookup and the trainer's call, so that each line's ``file`` and
#: ``lineno`` name the trainer's line (see ``mllog.mllog.get_caller``).
_STACK_OFFSET = 3


def log_path(run_dir: str | Path) -> Path:
    """The run's MLPerf-style log: ``run_dir/mllog.log``."""
    return Path(run_dir) / LOG_NAME


def rules_path() -> Path:
    """The suite's compliance rules as a file path (the checker's ``--config`` needs an absolute path:
    it joins a relative one to its own package folder)."""
    return Path(str(RULES)).resolve()


def checker_command(log: str | Path, output: str | Path | None = None) -> list[str]:
    """The command that checks ``log`` against :data:`RULES` with mlperf-logging's compliance checker, run by
    this Python; it exits with 0 and logs ``SUCCESS`` on a compliant log, 1 and ``FAILED`` otherwise.
    ``output``: where the checker writes its own log (default: ``compliance_checker.log`` in the working
    folder)."""
    command = [
        sys.executable,
        "-m",
        "mlperf_logging.compliance_checker",
        "--usage",
        CHECKER_USAGE,
        "--ruleset",
        CHECKER_RULESET,
        "--config",
        str(rules_path()),
    ]
    if output is not None:
        command += ["--log_output", str(output)]
    return [*command, str(log)]


def platform(nodes: int) -> str:
    """``submission_platform``: nodes x this host's CPU model, e.g. ``2xIntel(R) Xeon(R) CPU @ 2.20GHz``."""
    return f"{nodes}x{cpu_model()}"


class RunLog:
    """Rank 0's MLPerf-style log of one segment of a run (see the module's docstring); ``run_dir`` None
    disables it (the other ranks). Nothing is written until :meth:`open` (the trainer knows by then whether
    the segment starts from scratch) or :meth:`stop`/:meth:`abort` (a failure before that: appended). Times are the
    ``time_ms`` of each line: milliseconds since the epoch.
    """

    def __init__(self, run_dir: str | Path | None, started_at: float):
        """``started_at``: when the worker started, in seconds since the epoch (``init_start``)."""
        self.path = None if run_dir is None else log_path(run_dir)
        self.started_at, self.stopped = started_at, False
        self.handler: LogFile | None = None

    @property
    def enabled(self) -> bool:
        """Whether this log writes (rank 0)."""
        return self.path is not None

    def open(self, fresh: bool) -> None:
        """Start the segment's block: truncate the log if ``fresh`` (the run starts from scratch), else append
        (a resume), and log ``init_start`` at ``started_at``. Does nothing if disabled or already open."""
        self._open(fresh, depth=0)

    def _open(self, fresh: bool, depth: int) -> None:
        if self.path is None or self.handler is not None:  # disabled, or already open
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.write_text("")
        mllog.config(root_dir=str(Path(str(resources.files("benchmark"))).parent))
        self.handler = LogFile(self.path)  # not mllog.config(filename=...): its plain handler is noisy on a full disk
        self.handler.setLevel(logging.INFO)
        mllog.get_mllogger().logger.addHandler(self.handler)
        self._log("start", constants.INIT_START, time_ms=int(self.started_at * 1e3), depth=depth + 1)

    def initialized(
        self,
        *,
        nodes: int,
        workers_per_node: int,
        global_batch_size: int,
        seed: int,
        train_samples: int,
        eval_samples: int,
        base_lr: float,
        end_lr: float,
        warmup_epochs: float,
        weight_decay: float,
    ) -> None:
        """Log the submission and system keys, the hyperparameters and ``init_stop``.

        Args:
            nodes, workers_per_node: the run's topology (Horovod's view).
            global_batch_size: images per training step over all workers.
            seed: ``training.seed``.
            train_samples, eval_samples: images in the training and validation splits (0 for synthetic data).
            base_lr: the peak learning rate after the linear scaling rule (``base_lr`` x workers, capped;
                :func:`benchmark.train.schedule.scaled_peak`), reached at the end of the warm-up.
            end_lr: the rate at the last epoch. warmup_epochs: length of the linear warm-up, in epochs.
            weight_decay: the L2 coefficient.
        """
        for key, value in (
            (constants.SUBMISSION_BENCHMARK, BENCHMARK),
            (constants.SUBMISSION_ORG, ORG),
            (constants.SUBMISSION_DIVISION, DIVISION),
            (constants.SUBMISSION_STATUS, STATUS),
            (constants.SUBMISSION_PLATFORM, platform(nodes)),
            (NUMBER_OF_NODES, nodes),
            (WORKERS_PER_NODE, workers_per_node),
            (constants.GLOBAL_BATCH_SIZE, global_batch_size),
            (constants.SEED, seed),
            (constants.TRAIN_SAMPLES, train_samples),
            (constants.EVAL_SAMPLES, eval_samples),
            (constants.OPT_NAME, constants.SGD),
            (constants.OPT_BASE_LR, base_lr),
            (constants.OPT_END_LR, end_lr),
            (constants.OPT_LR_WARMUP_EPOCHS, warmup_epochs),
            (constants.OPT_WEIGHT_DECAY, weight_decay),
        ):
            self._log("event", key, value)
        self._log("end", constants.INIT_STOP)

    def run_start(self, resumed: dict | None = None) -> None:
        """Log ``run_start``; for a resumed segment, ``resumed`` (the checkpoint's name, ``epoch``: epochs done,
        ``step``: steps done in the next one) goes into the metadata as ``resumed_from``,
        ``resumed_epochs`` and ``resumed_step``."""
        metadata = (
            None
            if resumed is None
            else {
                "resumed_from": resumed["checkpoint"],
                "resumed_epochs": resumed["epoch"],
                "resumed_step": resumed["step"],
            }
        )
        self._log("start", constants.RUN_START, metadata=metadata)

    def epoch_start(self, epoch_num: int, step: int = 0) -> None:
        """Log ``epoch_start`` of epoch ``epoch_num`` (1-based); ``step``: its steps already done (a resume)."""
        self._log("start", constants.EPOCH_START, metadata={constants.EPOCH_NUM: epoch_num, "step": step})

    def epoch_stop(self, epoch_num: int) -> None:
        """Log ``epoch_stop``: epoch ``epoch_num``'s training steps are done."""
        self._log("end", constants.EPOCH_STOP, metadata={constants.EPOCH_NUM: epoch_num})

    def eval_start(self, epoch_num: int) -> None:
        """Log ``eval_start`` of the evaluation after epoch ``epoch_num``."""
        self._log("start", constants.EVAL_START, metadata={constants.EPOCH_NUM: epoch_num})

    def eval_stop(self, epoch_num: int, top1: float | None) -> None:
        """Log ``eval_accuracy`` (``top1``: validation top-1, a fraction; skipped when None: no validation set)
        and ``eval_stop`` of the evaluation after epoch ``epoch_num``."""
        if top1 is not None:
            self._log("event", constants.EVAL_ACCURACY, top1, metadata={constants.EPOCH_NUM: epoch_num})
        self._log("end", constants.EVAL_STOP, metadata={constants.EPOCH_NUM: epoch_num})

    def stop(self, status: str, **metadata) -> None:
        """Log ``run_stop`` with ``status`` (``mllog.constants.SUCCESS`` or ``ABORTED``) and ``metadata``, and
        close the log; later calls do nothing. Opens the log first (appending) if a failure came before
        :meth:`open`."""
        self._stop(status, metadata)

    def abort(self, reason: str, **metadata) -> None:
        """:meth:`stop` with status ``aborted`` and ``reason``; never raises: an error writing the log is only
        logged, so that the run's own failure is the one raised."""
        try:
            self._stop(ABORTED, {"reason": reason, **metadata})
        except Exception as problem:  # noqa: BLE001 - see the docstring
            log.error("could not write %s: %s: %s", self.path, type(problem).__name__, problem)

    def close(self) -> None:
        """Detach and close the log's file handler (the segment ends without ``run_stop`` if not stopped)."""
        if self.handler is not None:
            mllog.get_mllogger().logger.removeHandler(self.handler)
            self.handler.close()
            self.handler = None

    def _stop(self, status: str, metadata: dict) -> None:
        if not self.enabled or self.stopped:
            return
        self._open(fresh=False, depth=1)
        self.stopped = True
        try:
            self._log("end", constants.RUN_STOP, metadata={constants.STATUS: status, **metadata}, depth=1)
        finally:
            self.close()

    def _log(
        self, kind: str, key: str, value=None, metadata: dict | None = None, time_ms: int | None = None, depth: int = 0
    ) -> None:
        """Write one line through ``mllog``; ``depth``: frames of this class between the caller to name and
        the public method it called."""
        if self.handler is None:
            return
        write = getattr(mllog.get_mllogger(), kind)
        write(key, value, metadata=metadata, time_ms=time_ms, stack_offset=_STACK_OFFSET + depth)

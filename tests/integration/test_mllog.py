"""The MLPerf-style log (benchmark.train.mllog): ``:::MLLOG`` lines written through mlperf-logging's ``mllog``,
judged by mlperf-logging's own compliance checker (its command line) against the suite's rules
(``benchmark/compliance/mcnn.yaml``). First a log history written with :class:`RunLog` and broken in each way
the rules forbid; then real two-worker Horovod runs (marked ``horovod``): a completed run, one stopped and
resumed (its segments appended to one log), and a diverging one."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from mlperf_logging.mllog import constants
from test_horovod import RESUMABLE, launch, make_config, start_and_signal

from benchmark.train.mllog import ABORTED, RULES, SUCCESS, RunLog, checker_command, log_path, rules_path

#: What the checker prints last on a compliant log, and on another.
PASSED, FAILED = "INFO - SUCCESS", "ERROR - FAILED"


def check(log: Path) -> subprocess.CompletedProcess:
    """mlperf-logging's compliance checker run on ``log`` with the suite's rules (its own log beside it)."""
    return subprocess.run(
        checker_command(log, output=log.with_suffix(".checker.log")), capture_output=True, text=True, timeout=120
    )


def assert_passes(log: Path) -> subprocess.CompletedProcess:
    done = check(log)
    assert done.returncode == 0 and done.stderr.strip().endswith(PASSED), done.stdout + done.stderr
    return done


def assert_fails(log: Path, *messages: str) -> subprocess.CompletedProcess:
    done = check(log)
    assert done.returncode == 1 and done.stderr.strip().endswith(FAILED), done.stdout + done.stderr
    for message in messages:
        assert message in done.stderr
    return done


def lines(log: Path) -> list[dict]:
    """The log's ``:::MLLOG`` lines as JSON."""
    return [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines() if line.startswith(":::MLLOG")]


def write(log: Path, entries: list[dict]) -> Path:
    log.write_text("".join(f":::MLLOG {json.dumps(entry)}\n" for entry in entries))
    return log


# ---- the rules, on a history written by RunLog ----

SETTINGS = dict(
    nodes=1,
    workers_per_node=2,
    global_batch_size=16,
    seed=0,
    train_samples=480,
    eval_samples=240,
    base_lr=0.02,
    end_lr=1e-5,
    warmup_epochs=1.0,
    weight_decay=5e-5,
)


def segment(run_dir: Path, fresh: bool, resumed: dict | None, epochs: list[tuple[int, int, float]]) -> RunLog:
    """Write one segment: ``epochs`` as (epoch_num, steps already done, top-1 or None for an epoch cut short)."""
    run_log = RunLog(run_dir, 1.7e9)
    run_log.open(fresh=fresh)
    run_log.initialized(**SETTINGS)
    run_log.run_start(resumed)
    for epoch, step, top1 in epochs:
        run_log.epoch_start(epoch, step)
        if top1 is not None:
            run_log.epoch_stop(epoch)
            run_log.eval_start(epoch)
            run_log.eval_stop(epoch, top1)
    return run_log


@pytest.fixture
def history(tmp_path) -> Path:
    """A run of 3 epochs over 3 segments: stopped for a requeue in epoch 2, killed in epoch 3 after a periodic
    checkpoint at the end of epoch 2, then completed."""
    segment(tmp_path, True, None, [(1, 0, 0.5), (2, 0, None)]).abort("stopped on request", epochs_done=1, step=2)
    segment(
        tmp_path, False, {"checkpoint": "ckpt-000005.json", "epoch": 1, "step": 2}, [(2, 2, 0.6), (3, 0, None)]
    ).close()
    segment(tmp_path, False, {"checkpoint": "ckpt-000006.json", "epoch": 2, "step": 0}, [(3, 0, 0.7)]).stop(
        SUCCESS, epoch_num=3
    )
    return log_path(tmp_path)


def test_the_rules_ship_with_the_package_in_the_checkers_format():
    assert RULES.is_file() and rules_path().is_absolute()
    rules = yaml.safe_load(RULES.read_text())
    names = {entry["KEY"]["NAME"] for entry in rules if "KEY" in entry}
    assert {
        "init_start",
        "init_stop",
        "run_start",
        "run_stop",
        "epoch_start",
        "epoch_stop",
        "eval_accuracy",
        "global_batch_size",
        "number_of_nodes",
        "opt_base_learning_rate",
        "opt_learning_rate_warmup_epochs",
        "submission_benchmark",
        "submission_platform",
    } <= names
    command = checker_command("run/mllog.log")
    assert command[1:3] == ["-m", "mlperf_logging.compliance_checker"]
    assert command[command.index("--config") + 1] == str(rules_path()) and command[-1] == "run/mllog.log"


def test_a_stopped_killed_and_resumed_history_passes(history):
    entries = lines(history)
    assert [e["key"] for e in entries].count(constants.INIT_START) == 3
    stops = [e for e in entries if e["key"] == constants.RUN_STOP]
    assert [s["metadata"]["status"] for s in stops] == [ABORTED, SUCCESS]  # the killed segment has none
    assert stops[0]["metadata"]["reason"] == "stopped on request"
    # each line names the caller's line (here: this test module's), not benchmark/train/mllog.py
    assert {Path(e["metadata"]["file"]).name for e in entries} == {"test_mllog.py"}
    assert_passes(history)


def test_a_fresh_start_truncates_and_a_resume_appends(tmp_path):
    segment(tmp_path, True, None, [(1, 0, 0.5)]).stop(SUCCESS, epoch_num=1)
    segment(tmp_path, True, None, [(1, 0, 0.5)]).stop(SUCCESS, epoch_num=1)
    assert [e["key"] for e in lines(log_path(tmp_path))].count(constants.INIT_START) == 1
    segment(tmp_path, False, {"checkpoint": "ckpt-000001.json", "epoch": 1, "step": 0}, []).stop(SUCCESS, epoch_num=1)
    assert [e["key"] for e in lines(log_path(tmp_path))].count(constants.INIT_START) == 2
    assert_passes(log_path(tmp_path))


def test_a_disabled_log_writes_nothing(tmp_path):
    run_log = RunLog(None, 0.0)
    run_log.open(fresh=True)
    run_log.initialized(**SETTINGS)
    run_log.stop(SUCCESS)
    assert list(tmp_path.iterdir()) == []


def _drop(key):
    return lambda entries: [e for e in entries if e["key"] != key]


def _set(key, index, **changes):
    def change(entries):
        found = [e for e in entries if e["key"] == key][index]
        for name, value in changes.items():
            (found["metadata"] if name in ("status", "epoch_num", "resumed_epochs", "step") else found)[name] = value
        return entries

    return change


def _swap(key_a, key_b):
    def swap(entries):
        a, b = (next(i for i, e in enumerate(entries) if e["key"] == key) for key in (key_a, key_b))
        entries[a], entries[b] = entries[b], entries[a]
        return entries

    return swap


@pytest.mark.parametrize(
    "breakage, message",
    [
        (_drop(constants.RUN_STOP), "Required AT_LEAST_ONE occurrence of 'run_stop'"),
        (_set(constants.RUN_STOP, -1, status=ABORTED), "s['status'] == 'success'"),
        (_swap(constants.INIT_STOP, constants.RUN_START), "CHECK for 'run_start' failed"),
        (_set(constants.EPOCH_START, 0, epoch_num=2), "CHECK for 'epoch_start' failed"),
        (_set(constants.EVAL_ACCURACY, 1, value=1.5), "0 <= v['value'] <= 1"),
        (_drop(constants.EVAL_ACCURACY), "CHECK for 'eval_stop' failed"),
        (_set(constants.RUN_START, 2, resumed_epochs=3), "CHECK for 'run_start' failed"),
        (_set(constants.GLOBAL_BATCH_SIZE, 1, value=32), "CHECK for 'global_batch_size' failed"),
        (_set(constants.SUBMISSION_DIVISION, 0, value="closed"), "CHECK for 'submission_division' failed"),
        (_drop(constants.SUBMISSION_PLATFORM), "Required AT_LEAST_ONE occurrence of 'submission_platform'"),
    ],
    ids=[
        "no-run_stop",
        "last-aborted",
        "run_start-in-init",
        "epoch-skipped",
        "accuracy-out-of-range",
        "no-accuracy",
        "resumed-beyond-the-log",
        "batch-changed",
        "closed-division",
        "no-platform",
    ],
)
def test_the_rules_refuse_a_broken_history(history, tmp_path, breakage, message):
    assert_fails(write(tmp_path / "broken.log", breakage(lines(history))), message)


# ---- real runs: two Horovod workers on real cells ----


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory, shared_data):
    """A completed two-worker run (2 epochs x 3 steps): its record and its MLPerf-style log."""
    tmp = tmp_path_factory.mktemp("mllog")
    config = make_config(tmp, shared_data / "bbbc021" / "cells", "ok")
    done, record = launch(config, tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return record, log_path(config.run_dir)


@pytest.mark.horovod
def test_a_completed_run_writes_a_log_the_checker_passes(completed_run):
    record, log = completed_run
    done = assert_passes(log)
    assert done.stdout.startswith("** Logging output also at")
    assert "Running compliance on file" in done.stderr


@pytest.mark.horovod
def test_the_log_holds_rank_0s_view_of_the_run(completed_run):
    record, log = completed_run
    entries = lines(log)
    keys = [e["key"] for e in entries]
    assert len(set(e["namespace"] for e in entries)) == 1
    for key in (constants.INIT_START, constants.RUN_START, constants.RUN_STOP, constants.GLOBAL_BATCH_SIZE):
        assert keys.count(key) == 1, key  # rank 0 only
    assert keys.index(constants.INIT_STOP) < keys.index(constants.RUN_START) < keys.index(constants.EPOCH_START)
    value = {e["key"]: e["value"] for e in entries}
    topology = record["topology"]
    assert value[constants.GLOBAL_BATCH_SIZE] == topology["global_batch_size"] == 16
    assert value["number_of_nodes"] == 1 and value["workers_per_node"] == 2
    assert value[constants.OPT_BASE_LR] == pytest.approx(0.01 * 2)  # base_lr x workers
    assert value[constants.OPT_LR_WARMUP_EPOCHS] == 1.0
    assert value[constants.SUBMISSION_BENCHMARK] == "mcnn" and value[constants.SUBMISSION_PLATFORM].startswith("1x")
    assert value[constants.TRAIN_SAMPLES] == record["provenance"]["train_images"]
    accuracy = [(e["metadata"]["epoch_num"], e["value"]) for e in entries if e["key"] == constants.EVAL_ACCURACY]
    assert accuracy == [(row["epoch"], row["val_top1"]) for row in record["epochs"]]
    stop = entries[-1]
    assert stop["key"] == constants.RUN_STOP and stop["metadata"]["status"] == SUCCESS
    assert stop["metadata"]["epoch_num"] == 2
    started = next(e for e in entries if e["key"] == constants.INIT_START)
    assert started["time_ms"] <= stop["time_ms"]
    assert Path(started["metadata"]["file"]).name == "loop.py"  # logged by the run loop (benchmark/train/loop.py)


@pytest.mark.horovod
def test_the_checker_fails_the_log_without_run_stop(completed_run, tmp_path):
    entries = lines(completed_run[1])
    assert_fails(
        write(tmp_path / "cut.log", _drop(constants.RUN_STOP)(entries)),
        "Required AT_LEAST_ONE occurrence of 'run_stop' but found 0",
    )


@pytest.mark.horovod
def test_a_diverging_run_logs_run_stop_aborted(tmp_path, shared_data):
    config = make_config(
        tmp_path, shared_data / "bbbc021" / "cells", "diverges", lr_start=1e30, base_lr=1e30, warmup_epochs=0.0
    )
    done, record = launch(config, tmp_path)
    assert done.returncode != 0 and record["status"] == "failed"
    log = log_path(config.run_dir)
    stop = lines(log)[-1]
    assert stop["key"] == constants.RUN_STOP and stop["metadata"]["status"] == ABORTED
    assert stop["metadata"]["reason"] == record["failure"]["reason"]
    assert stop["metadata"]["reason"].startswith("FloatingPointError: the training loss became")
    assert_fails(log, "s['status'] == 'success'")


@pytest.mark.horovod
def test_a_stopped_and_resumed_run_appends_a_segment_the_checker_passes(tmp_path, shared_data):
    import signal

    config = make_config(tmp_path, shared_data / "bbbc021" / "cells", "stopped", **RESUMABLE)
    code, _ = start_and_signal(config, tmp_path, signal.SIGUSR2, rank=1)
    assert code != 0
    log = log_path(config.run_dir)
    stop = lines(log)[-1]
    assert stop["key"] == constants.RUN_STOP and stop["metadata"]["status"] == ABORTED
    assert stop["metadata"]["reason"].startswith("stopped on request")
    assert_fails(log, "s['status'] == 'success'")  # not complete yet

    done, record = launch(config, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    entries = lines(log)
    starts = [e for e in entries if e["key"] == constants.RUN_START]
    assert len(starts) == 2 and "resumed_from" not in starts[0]["metadata"]
    event = record["resumes"]["events"][0]
    assert (
        starts[1]["metadata"]["resumed_from"],
        starts[1]["metadata"]["resumed_epochs"],
        starts[1]["metadata"]["resumed_step"],
    ) == (event["checkpoint"], event["epoch"], event["step"])
    assert [e["metadata"]["status"] for e in entries if e["key"] == constants.RUN_STOP] == [ABORTED, SUCCESS]
    assert_passes(log)


def test_a_failure_before_the_log_opened_appends_init_start_and_run_stop_aborted(tmp_path, history):
    before = history.read_text()
    RunLog(tmp_path, 1.7e9).abort("DataError: no index.csv")
    assert history.read_text().startswith(before)  # a failure never truncates: whether it resumed is unknown
    start, stop = lines(history)[-2:]
    assert (start["key"], start["time_ms"]) == (constants.INIT_START, 1.7e12)
    assert (stop["key"], stop["metadata"]["status"], stop["metadata"]["reason"]) == (
        constants.RUN_STOP,
        ABORTED,
        "DataError: no index.csv",
    )
    assert_fails(history, "s['status'] == 'success'")

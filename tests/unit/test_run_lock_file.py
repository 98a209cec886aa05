"""One writer per run folder (benchmark/train/run_lock.py, on benchmark/util/flock.py): the lock is taken and
names its holder, a second process is refused naming it and writing nothing, the kernel frees the lock of a
killed holder, a stale lock file is taken, and a launcher's workers find it held for them. The holders are
real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.config import TrainConfig
from benchmark.errors import McnnBenchError
from benchmark.train.loop import _agree_on_lock, run_training
from benchmark.train.run_lock import LOCK_NAME, TOKEN_VAR, RunLock, RunLocked, RunLockError, lock_path
from benchmark.util.flock import LockHeld, NamedLock, read_holder
from benchmark.util.launcher import LAUNCHER_RANK_VARS, LAUNCHER_SIZE_VARS
from benchmark.util.times import iso_seconds
from slurm.executor.local import LOG_NAME as WORKERS_LOG
from slurm.executor.local import run_workers
from slurm.lock import SweepBusy, SweepLock

#: A process that holds a run's lock until killed; it prints its token once it holds it.
HOLD = (
    "import sys, time\n"
    "from benchmark.train.run_lock import RunLock\n"
    "lock = RunLock(sys.argv[1], sys.argv[2])\n"
    "lock.acquire()\n"
    "print(lock.token, flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    """No launcher, no scheduler job and no inherited token around the tests (each sets its own)."""
    for name in (*LAUNCHER_RANK_VARS, *LAUNCHER_SIZE_VARS, "SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID", TOKEN_VAR):
        monkeypatch.delenv(name, raising=False)


class Holder:
    """A real process holding ``run_dir``'s lock (as SLURM job ``job``)."""

    def __init__(self, run_dir: Path, run_id: str = "r1", job: str = "33"):
        env = {**os.environ, "SLURM_JOB_ID": job}
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(run_dir), run_id], stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None
        self.token = self.process.stdout.readline().strip()
        assert self.token, "the holder did not take the lock"
        self.pid = self.process.pid

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def holder(tmp_path):
    held: list[Holder] = []

    def start(run_dir: Path, **kwargs) -> Holder:
        held.append(Holder(run_dir, **kwargs))
        return held[-1]

    yield start
    for one in held:
        one.kill()


def config_in(tmp_path: Path) -> TrainConfig:
    """A one-run config on the DDP engine, which setup.sh installs on every Python (``train`` checks the engine
    before the lock)."""
    return TrainConfig.from_flat(
        source="synthetic",
        image_size=(64, 64),
        epochs=1,
        steps_per_epoch=2,
        results_dir=str(tmp_path),
        run_id="r1",
        engine="ddp",
    )


def test_the_lock_is_taken_and_its_file_names_the_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "34")
    run_dir = tmp_path / "sweep" / "r1"
    lock = RunLock(run_dir, "r1")
    assert lock.acquire() is True
    facts = json.loads((run_dir / LOCK_NAME).read_text())
    assert facts["host"] and facts["pid"] == os.getpid() and facts["job"] == "34" and facts["run"] == "r1"
    assert facts["token"] == lock.token and abs(iso_seconds(facts["since"]) - time.time()) < 60
    lock.release()
    assert (run_dir / LOCK_NAME).read_text() == ""  # released: no holder named
    with RunLock(run_dir, "r1") as again:  # and free again
        assert again.lock.held


def test_a_second_process_is_refused_naming_the_holder_and_leaving_its_facts(tmp_path, holder):
    run_dir = tmp_path / "r1"
    first = holder(run_dir)
    before = lock_path(run_dir).read_text()
    started = time.monotonic()
    with pytest.raises(RunLocked) as refused:
        RunLock(run_dir, "r1").acquire()
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert f"pid {first.pid}, job 33, since " in message and "host " in message and "run r1" in message
    assert isinstance(refused.value, McnnBenchError) and refused.value.holder["pid"] == first.pid
    assert lock_path(run_dir).read_text() == before  # the holder's facts are untouched


def test_the_lock_of_a_killed_holder_is_freed_by_the_kernel(tmp_path, holder):
    run_dir = tmp_path / "r1"
    first = holder(run_dir)
    first.kill()  # SIGKILL: nothing of its own runs
    assert read_holder(lock_path(run_dir))["pid"] == first.pid  # its facts stay behind
    lock = RunLock(run_dir, "r1")
    assert lock.acquire() is True
    assert read_holder(lock_path(run_dir))["pid"] == os.getpid()
    lock.release()


@pytest.mark.parametrize("content", ['{"host": "gone", "pid": 1, "job": "12", "since": "2020-01-01"}\n', "garbage", ""])
def test_a_stale_lock_file_with_no_holder_is_taken(tmp_path, content):
    lock_path(tmp_path).write_text(content)
    with RunLock(tmp_path, "r1") as lock:
        assert read_holder(lock_path(tmp_path))["token"] == lock.token


def test_two_locks_conflict_even_in_one_process_and_a_lock_is_not_taken_twice(tmp_path):
    first, second = NamedLock(tmp_path / "x.lock"), NamedLock(tmp_path / "x.lock")
    first.acquire({"pid": os.getpid(), "since": "now"})
    with pytest.raises(LockHeld) as held:
        second.acquire({"pid": 0})
    assert held.value.holder == {"pid": os.getpid(), "since": "now"}
    with pytest.raises(RuntimeError, match="locked twice"):
        first.acquire({})
    first.release()
    first.release()  # a second release does nothing
    second.acquire({"pid": 2})
    second.release()


def test_a_lock_held_by_the_launcher_is_held_for_its_workers_only(tmp_path, holder):
    first = holder(tmp_path)
    assert RunLock(tmp_path, "r1", launcher_token=first.token).acquire() is False
    with pytest.raises(RunLocked):
        RunLock(tmp_path, "r1", launcher_token="0123456789abcdef").acquire()


def test_an_unlockable_folder_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "r1").write_text("a file where the run's folder should be")
    with pytest.raises(RunLockError, match="cannot lock the run's folder"):
        RunLock(tmp_path / "r1", "r1").acquire()


def test_a_refused_run_writes_nothing_into_the_holders_folder(tmp_path, holder):
    config = config_in(tmp_path)
    run_dir = config.run_dir
    first = holder(run_dir, run_id=config.run.run_id)
    owned = {"record.json": '{"status": "completed"}\n', "train.log": "the holder's line\n", "mllog.log": ":::MLLOG\n"}
    for name, text in owned.items():
        (run_dir / name).write_text(text)
    (run_dir / "checkpoints").mkdir()
    before = sorted(path.name for path in run_dir.rglob("*"))
    started = time.monotonic()
    with pytest.raises(RunLocked, match=f"pid {first.pid}, job 33"):
        run_training(config)
    assert time.monotonic() - started < 10  # refused before any engine starts
    assert sorted(path.name for path in run_dir.rglob("*")) == before
    assert {name: (run_dir / name).read_text() for name in owned} == owned
    assert read_holder(lock_path(run_dir))["pid"] == first.pid


def test_the_train_command_exits_2_naming_the_holder_in_one_line(tmp_path, holder):
    config = config_in(tmp_path)
    path = config.write_json(tmp_path / "config.json")
    first = holder(config.run_dir, run_id=config.run.run_id)
    done = subprocess.run(
        [sys.executable, "-m", "mcnn_bench", "train", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    err = done.stderr
    assert done.returncode == 2 and err.startswith("mcnn-bench train: error: ") and err.count("\n") == 1, err
    assert f"pid {first.pid}, job 33, since " in err
    assert sorted(path.name for path in config.run_dir.iterdir()) == [LOCK_NAME]


def test_a_second_launcher_is_refused_before_it_writes_its_log(tmp_path, holder, monkeypatch):
    monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", "4242")
    config = config_in(tmp_path)
    path = config.write_json(config.run_dir / "config.json")
    first = holder(config.run_dir, run_id=config.run.run_id)
    with pytest.raises(RunLocked, match=f"pid {first.pid}, job 33"):
        run_workers(str(path), 1, {})
    assert not (config.run_dir / WORKERS_LOG).exists()


class Rank:
    """One rank's side of a broadcast: rank 0 (the first to call) puts its value in ``sent``, every rank
    gets it back."""

    def __init__(self, sent: list):
        self.sent = sent

    def broadcast_object(self, value, name):
        if not self.sent:
            self.sent.append(value)
        return self.sent[0]


def test_every_rank_raises_rank_0s_refusal():
    refusal = RunLocked("r1 is held by host h, pid 7, job 33, since t", {"host": "h", "pid": 7})
    sent: list = []
    with pytest.raises(RunLocked) as on_rank0:
        _agree_on_lock(Rank(sent), refusal)  # type: ignore[arg-type]
    with pytest.raises(RunLocked) as on_rank1:
        _agree_on_lock(Rank(sent), None)  # type: ignore[arg-type]
    assert on_rank0.value is refusal
    assert str(on_rank1.value) == str(refusal) and on_rank1.value.holder == refusal.holder
    _agree_on_lock(Rank([None]), None)  # type: ignore[arg-type]  # not refused: goes on


def test_the_sweep_lock_names_its_holder_in_its_file_and_refuses_a_second_driver(tmp_path):
    with SweepLock(tmp_path):
        facts = read_holder(tmp_path / "sweep.lock")
        assert facts["pid"] == os.getpid() and facts["host"] and facts["since"]
        with pytest.raises(SweepBusy, match=f"pid {os.getpid()}, since "):
            SweepLock(tmp_path).__enter__()
    assert read_holder(tmp_path / "sweep.lock") == {}

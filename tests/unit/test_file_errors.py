"""Errors that name the file and the cause: a results or sweep folder that cannot be written, a full disk at
the lock, data that cannot be read, a checkpoint or record on a full disk, records that cannot be read by
``accept`` and ``analyze``, and the checks a sweep passes before it submits and ``mcnn-bench train`` before it
trains (slurm.preflight). Each is one line naming the path and the operating system's cause, exit status 2
from the command line, no traceback.

Root is not stopped by a chmod: permission cases run in a process without the capabilities that override
permissions (the ``unprivileged`` fixture); full and read-only disks are small tmpfs mounts (``tiny_fs``).
Nothing here trains."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from test_analysis import SWEEP, make_record, write_record

from analysis.acceptance import accept
from analysis.records import load_records
from analysis.reference import FigureReference, Reference, ShapeReference
from analysis.report import skipped_summary
from benchmark.data.cells import SAMPLE_DIR, check_cells
from benchmark.data.chestxray14 import SAMPLE_DIR as XRAY_SAMPLE_DIR
from benchmark.data.chestxray14 import check_chestxray14
from benchmark.data.errors import DataError
from benchmark.data.sources import SOURCES
from benchmark.errors import FileAccessError, describe_os_error
from benchmark.record import MAX_RECORD_BYTES, Failure, RecordError, RunRecord
from benchmark.util.atomic import write_atomic
from mcnn_bench.cli import main
from slurm.preflight import PreflightError, checkpoint_bytes, preflight
from slurm.spec import SpecError, load_spec

SPEC = """
name = "s"
[data]
source = "{source}"
{data_dir}
image_size = [64, 64]
[grid]
nodes = [1]
workers_per_node = [1]
local_batch_size = [8]
[training]
epochs = 1
{steps}
[run]
engine = "ddp"
[executor]
kind = "local"
"""


def write_spec(folder: Path, data_dir: Path | None = None) -> Path:
    """A one-run local sweep spec: synthetic data, or bbbc021-cells crops from ``data_dir``, on the DDP engine,
    which setup.sh installs on every Python (a sweep checks its engines before its folders)."""
    path = folder / "spec.toml"
    path.write_text(
        SPEC.format(
            source="synthetic" if data_dir is None else "bbbc021-cells",
            data_dir="" if data_dir is None else f'dir = "{data_dir}"',
            steps="steps_per_epoch = 2" if data_dir is None else "",
        )
    )
    return path


def one_error_line(stderr: str, command: str = "sweep") -> str:
    """The single error line of a refused command (no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mcnn-bench {command}: error: "), stderr
    return lines[0]


@pytest.fixture
def cells(tmp_path) -> Path:
    """A copy of the shipped crop sample (index.csv and images.npz)."""
    folder = tmp_path / "cells"
    shutil.copytree(SAMPLE_DIR, folder)
    return folder


# --- 1-4: `mcnn-bench sweep` on folders it cannot write or read -------------------------------------------


def test_1_a_results_folder_without_write_permission(tmp_path, unprivileged):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    results.mkdir(mode=0o555)
    done = unprivileged(["-m", "mcnn_bench", "sweep", str(spec), "--results-dir", str(results), "--dry-run"])
    line = one_error_line(done.stderr)
    assert done.returncode == 2
    assert f"cannot create the sweep folder {results / 's'} (Permission denied)" in line
    assert f"the results folder {results} must be writable" in line


def test_1_a_read_only_results_folder(tmp_path, tiny_fs, capsys):
    results = tiny_fs.mount("results")
    tiny_fs.read_only(results)
    assert main(["sweep", str(write_spec(tmp_path)), "--results-dir", str(results), "--dry-run"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot create the sweep folder {results / 's'} (Read-only file system)" in line


def test_2_a_sweep_folder_whose_lock_cannot_be_written(tmp_path, unprivileged):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    (results / "s").mkdir(parents=True)
    (results / "s").chmod(0o555)
    done = unprivileged(["-m", "mcnn_bench", "sweep", str(spec), "--results-dir", str(results), "--dry-run"])
    line = one_error_line(done.stderr)
    assert done.returncode == 2
    assert f"cannot take the sweep lock {results / 's' / 'sweep.lock'} (Permission denied)" in line


def test_3_a_full_disk_at_the_lock_file_loses_nothing(tmp_path, tiny_fs, capsys):
    results = tiny_fs.mount("results")
    (results / "s").mkdir()
    (results / "s" / "kept.json").write_text('{"kept": true}')
    tiny_fs.fill(results)
    assert main(["sweep", str(write_spec(tmp_path)), "--results-dir", str(results), "--dry-run"]) == 2
    line = one_error_line(capsys.readouterr().err)
    lock = results / "s" / "sweep.lock"
    assert f"cannot take the sweep lock {lock} (No space left on device)" in line and "nothing was submitted" in line
    assert (results / "s" / "kept.json").read_text() == '{"kept": true}'  # nothing lost
    assert not [p for p in (results / "s").iterdir() if p.name.endswith(".tmp")]  # no temporary left
    for filler in results.glob(".filler*"):  # with room again, the lock is free: not left held
        filler.unlink()
    assert main(["sweep", str(write_spec(tmp_path)), "--results-dir", str(results), "--dry-run"]) == 0


def test_4_a_data_folder_without_read_permission(tmp_path, cells, unprivileged):
    spec = write_spec(tmp_path, cells)
    cells.chmod(0)
    try:
        done = unprivileged(["-m", "mcnn_bench", "sweep", str(spec), "--dry-run"])
    finally:
        cells.chmod(0o755)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"data.dir: cannot look into the data folder {cells} (Permission denied)" in done.stderr


def test_4_a_data_file_without_read_permission(tmp_path, cells, unprivileged):
    spec = write_spec(tmp_path, cells)
    (cells / "images.npz").chmod(0)
    done = unprivileged(["-m", "mcnn_bench", "sweep", str(spec), "--dry-run"])
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"data.dir: {cells / 'images.npz'}: cannot read (Permission denied)" in done.stderr


def test_an_os_error_nobody_named_exits_2_with_its_path_and_cause(monkeypatch, capsys):
    from mcnn_bench.commands import status

    def refuse(args):
        raise PermissionError(13, "Permission denied", "/x/sweep.json")

    monkeypatch.setattr(status, "run", refuse)
    assert main(["status", "/x"]) == 2
    assert capsys.readouterr().err == "mcnn-bench status: error: /x/sweep.json: Permission denied (errno 13)\n"
    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device (errno 28)"


# --- 5: data checked before anything runs ---------------------------------------------------------------


@pytest.mark.parametrize("cut", ["half", "tail", "garbage", "empty"])
def test_5_a_corrupt_images_npz_is_refused_when_the_spec_is_read(tmp_path, cells, cut):
    data = (cells / "images.npz").read_bytes()
    damaged = {"half": data[: len(data) // 2], "tail": data[:-100], "garbage": b"x" * 1000, "empty": b""}[cut]
    (cells / "images.npz").write_bytes(damaged)
    with pytest.raises(SpecError) as refused:
        load_spec(write_spec(tmp_path, cells))
    assert f"data.dir: {cells / 'images.npz'}: truncated or corrupt array file (BadZipFile" in str(refused.value)


def test_5_an_npy_cut_short_or_of_the_wrong_shape_is_found_from_its_header(cells):
    (cells / "images.npz").unlink()
    np.save(cells / "images.npy", np.zeros((4, 8, 8, 3), np.uint16))
    check_cells(cells)  # whole: passes
    data = (cells / "images.npy").read_bytes()
    (cells / "images.npy").write_bytes(data[:-10])
    with pytest.raises(DataError, match=r"images\.npy: truncated array file: its header says \(4, 8, 8, 3\) uint16"):
        check_cells(cells)
    np.save(cells / "images.npy", np.zeros((4, 8, 8), np.uint16))
    with pytest.raises(DataError, match=r"images\.npy: expected an \(N, H, W, 3\) uint16 array, got \(4, 8, 8\)"):
        check_cells(cells)


def test_5_an_index_without_its_columns_and_the_shipped_samples(cells, tmp_path):
    assert SOURCES["bbbc021-cells"].problem(SAMPLE_DIR) is None
    assert SOURCES["chestxray14"].problem(XRAY_SAMPLE_DIR) is None
    (cells / "index.csv").write_text("a,b\n1,2\n")
    assert SOURCES["bbbc021-cells"].problem(cells) == (
        f"{cells / 'index.csv'}: missing column(s) ['plate', 'field', 'moa']; found ['a', 'b']"
    )
    xray = tmp_path / "xray"
    shutil.copytree(XRAY_SAMPLE_DIR, xray)
    first = min((xray / "images").glob("*.png"))
    first.write_bytes(b"not a png")
    with pytest.raises(DataError, match=f"{first}: unreadable or corrupt PNG"):
        check_chestxray14(xray)


# --- 6: writes on a full disk name the file and keep the old one ---------------------------------------


def test_6_a_record_on_a_full_disk_names_the_file_and_keeps_the_old_one(tiny_fs):
    folder = tiny_fs.mount("run")
    old = write_atomic(folder / "record.json", '{"old": true}\n')
    tiny_fs.fill(folder)
    with pytest.raises(FileAccessError) as failed:
        write_atomic(old, "x" * 100_000)
    assert str(failed.value) == f"cannot write {old} (No space left on device); the file as it was is kept"
    assert isinstance(failed.value, OSError) and failed.value.filename == str(old) and failed.value.errno == 28
    assert old.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in folder.iterdir()) == [".filler", ".filler-small", "record.json"]
    reason = Failure.of_exception(failed.value).reason  # as the trainer records a failed run
    assert reason == f"FileAccessError: cannot write {old} (No space left on device); the file as it was is kept"


# np.savez's zip writer, cut off by the full disk, complains when it is collected; collected here, ignored
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_6_a_checkpoint_on_a_full_disk_names_the_file_and_keeps_the_one_before(tiny_fs):
    from test_checkpoint import make_checkpoint

    from benchmark.train.checkpoint import latest_checkpoint, write_checkpoint

    folder = tiny_fs.mount("checkpoints", "256k")
    write_checkpoint(folder, make_checkpoint())
    big = make_checkpoint()
    big.model = [np.zeros(200_000, np.float32)]  # 800 kB: more than the disk holds
    big.model_paths = ["dense/kernel"]
    with pytest.raises(FileAccessError) as failed:
        write_checkpoint(folder, big)
    assert str(failed.value).startswith(f"cannot write {folder / 'ckpt-000002.npz'} (No space left on device)")
    assert "FileAccessError: cannot write" in Failure.of_exception(failed.value).reason
    assert latest_checkpoint(folder).checkpoint.name == "ckpt-000001.json"  # the one before, whole
    del failed
    gc.collect()


def test_6_a_read_only_disk_names_the_file(tiny_fs):
    folder = tiny_fs.mount("ro")
    tiny_fs.read_only(folder)
    with pytest.raises(FileAccessError, match=f"cannot write {folder / 'x.json'} \\(Read-only file system\\)"):
        write_atomic(folder / "x.json", "{}")


# --- 6: the run's log files on a full disk say once which file and why, and the run goes on ---------------


def test_6_the_run_logs_on_a_full_disk_say_once_which_file_and_why_and_raise_nothing(tiny_fs, capsys):
    from benchmark.train.loop import log_to_file
    from benchmark.train.mllog import SUCCESS, RunLog

    folder = tiny_fs.mount("run")
    log, run_log = logging.getLogger("benchmark.train.loop"), RunLog(folder, time.time())
    with log_to_file(folder / "train.log"):
        run_log.open(fresh=True)
        log.info("before the disk is full")
        tiny_fs.fill(folder)
        for epoch in range(1, 101):  # more than the last page of either file holds
            log.info("epoch %d: %s", epoch, "x" * 100)
            run_log.epoch_start(epoch)
        run_log.stop(SUCCESS)  # the run goes on to its end: nothing raised, the files closed
    lost = "[Errno 28] No space left on device; its further lines are dropped"
    assert sorted(capsys.readouterr().err.splitlines()) == [
        f"mllog.log: cannot write {folder / 'mllog.log'}: {lost}",
        f"train.log: cannot write {folder / 'train.log'}: {lost}",
    ]
    assert "before the disk is full" in (folder / "train.log").read_text().splitlines()[0]
    assert '"key": "init_start"' in (folder / "mllog.log").read_text().splitlines()[0]


def test_6_a_log_line_that_cannot_be_formatted_is_reported_as_logging_does_and_the_file_stays_open(tmp_path, capsys):
    from benchmark.util.logfile import LogFile

    handler = LogFile(tmp_path / "train.log")
    handler.handle(logging.makeLogRecord({"msg": "epoch %d", "args": ("one",)}))
    assert "--- Logging error ---" in capsys.readouterr().err and not handler.dropped
    handler.handle(logging.makeLogRecord({"msg": "epoch %d", "args": (1,)}))
    handler.close()
    assert (tmp_path / "train.log").read_text() == "epoch 1\n"


# --- 7: `accept` says why a figure is MISSING ----------------------------------------------------------


def _reference(*workers_per_node: int) -> Reference:
    figures = {
        "images_per_second": FigureReference(value=100, lower=-0.5, unit="images/s"),
        "ttt_seconds": FigureReference(value=300, upper=0.5, unit="s"),
    }
    return Reference(
        system="test",
        shape=[
            ShapeReference(
                source="synthetic",
                image_size=(64, 64),
                nodes=1,
                workers_per_node=wpn,
                local_batch_size=16,
                figures=figures,
            )
            for wpn in workers_per_node
        ],
    )


def test_7_accept_says_why_a_figure_is_missing(tmp_path):
    write_record(tmp_path, make_record(1, 1, ttt_seconds=None))  # completed, TTT never reached
    broken = make_record(1, 2)
    bad = write_record(tmp_path, broken)
    bad.write_text('{"schema_version": 3, "sweep":')  # cut short
    (bad.parent / "config.json").write_text(json.dumps(broken["config"]))  # as the driver wrote it
    write_record(tmp_path, make_record(1, 3, status="failed"))
    sweep = tmp_path / SWEEP
    notes = {(c.shape, c.figure): (c.verdict, c.note) for c in accept(sweep, _reference(1, 2, 3, 4))}
    shape = "synthetic 64x64 n1-w{}-b16"
    assert notes[shape.format(1), "images_per_second"] == ("PASS", "")
    verdict, note = notes[shape.format(1), "ttt_seconds"]
    assert verdict == "MISSING" and note.startswith("field absent: the record(s) of n1-w1-b16 hold no ttt_seconds")
    verdict, note = notes[shape.format(2), "images_per_second"]
    assert verdict == "MISSING" and note.startswith(f"record unreadable: {bad} (invalid JSON")
    assert notes[shape.format(3), "images_per_second"] == (
        "MISSING",
        "run n1-w3-b16 failed: MemoryError: out of memory",
    )
    assert notes[shape.format(4), "images_per_second"] == ("MISSING", f"no record of this shape in {sweep}")


def test_7_an_unreadable_record_of_an_unknown_shape_is_named_where_a_shape_has_none(tmp_path, unprivileged):
    write_record(tmp_path, make_record(1, 1))
    bad = write_record(tmp_path, make_record(1, 2))
    bad.chmod(0)
    script = (
        "import sys; from analysis.acceptance import accept; from analysis.reference import *\n"
        "ref = FigureReference(value=100, lower=-0.5, unit='images/s')\n"
        "shape = ShapeReference(source='synthetic', image_size=(64, 64), nodes=1, workers_per_node=2, "
        "local_batch_size=16, figures={'images_per_second': ref})\n"
        f"[c] = accept({str(tmp_path / SWEEP)!r}, Reference(system='t', shape=[shape]))\n"
        "print(c.verdict, c.note)\n"
    )
    done = unprivileged(["-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"MISSING no record of this shape in {tmp_path / SWEEP}; record unreadable, of an unknown shape: "
        f"{bad} (cannot read: Permission denied)"
    )


# --- 8: `analyze` counts every record it skips, and refuses one too large without reading it ------------


def test_8_every_skipped_record_is_counted_with_its_reason(tmp_path):
    write_record(tmp_path, make_record(1, 1))
    sweep = tmp_path / SWEEP
    (sweep / "folder" / "record.json").mkdir(parents=True)
    (sweep / "loop").mkdir()
    (sweep / "loop" / "record.json").symlink_to(sweep / "loop" / "record.json")
    (sweep / "dangling").mkdir()
    (sweep / "dangling" / "record.json").symlink_to(tmp_path / "gone.json")
    (sweep / "huge").mkdir()
    with open(sweep / "huge" / "record.json", "wb") as huge:  # sparse: 17 MiB that take no disk
        huge.truncate(MAX_RECORD_BYTES + 2**20)
    (sweep / "cut").mkdir()
    (sweep / "cut" / "record.json").write_text('{"sweep": ')
    loaded = load_records(tmp_path)
    assert len(loaded.runs) == 1
    reasons = {path.parent.name: reason for path, reason in loaded.problems}
    assert reasons == {
        "folder": "a folder, not a record file",
        "loop": "a symlink loop",
        "dangling": f"a broken symlink (to {tmp_path / 'gone.json'}, which does not exist)",
        "huge": "17.0 MiB, larger than a record can be (16 MiB, benchmark.record.MAX_RECORD_BYTES); not read",
        "cut": reasons["cut"],
    }
    assert reasons["cut"].startswith("invalid JSON")
    summary = skipped_summary(loaded.problems)
    assert summary == "skipped 5 records: 3 not a file, 1 malformed, 1 too large"


def test_8_the_summary_of_analyze_prints_the_count(tmp_path, capsys):
    write_record(tmp_path, make_record(1, 1))
    (tmp_path / SWEEP / "folder" / "record.json").mkdir(parents=True)
    assert main(["analyze", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"skipped 1 record: 1 not a file\n  {tmp_path / SWEEP / 'folder' / 'record.json'}: a folder" in out


def test_8_a_record_too_large_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    with open(path, "wb") as huge:
        huge.truncate(MAX_RECORD_BYTES + 1)
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("a record too large was opened"))
    with pytest.raises(RecordError, match="larger than a record can be"):
        RunRecord.load(path)


def test_8_no_record_at_all_names_the_skipped_ones(tmp_path):
    (tmp_path / "s" / "r" / "record.json").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no record\.json found under .* \(skipped 1; .*record\.json: a folder"):
        load_records(tmp_path)


# --- preflight: what the sweep driver checks before it submits -----------------------------------------


def test_preflight_passes_where_the_sweep_can_run(tmp_path, cells):
    preflight(load_spec(write_spec(tmp_path, cells)), tmp_path / "results")
    assert os.listdir(tmp_path / "results") == []  # the probe is gone


def test_preflight_a_folder_without_write_permission(tmp_path, unprivileged):
    spec, results = write_spec(tmp_path), tmp_path / "results"
    results.mkdir(mode=0o555)
    script = (
        "from slurm.spec import load_spec; from slurm.preflight import preflight\n"
        f"preflight(load_spec({str(spec)!r}), {str(results)!r})\n"
    )
    done = unprivileged(["-c", script])
    assert done.returncode == 1
    assert f"PreflightError: results folder {results} is not writable (Permission denied)" in done.stderr


def test_preflight_too_little_room_for_the_first_checkpoint(tmp_path, tiny_fs):
    spec = load_spec(write_spec(tmp_path))
    results = tiny_fs.mount("results", "1m")
    needed = checkpoint_bytes(spec.runs(results)[0].config)
    assert needed == 1_158_509 * 4 * 3  # M-CNN at 64x64, 13 classes: its analytic parameters x 4 bytes x 3
    with pytest.raises(PreflightError) as refused:
        preflight(spec, results)
    message = str(refused.value)
    assert message.startswith(f"results folder {results} has ") and "MiB free, but the first checkpoint" in message
    assert "needs about 13.3 MiB (1,158,509 parameters x 4 bytes x 3" in message


def test_preflight_data_that_cannot_be_read(tmp_path, cells):
    spec = load_spec(write_spec(tmp_path, cells))
    (cells / "images.npz").write_bytes(b"cut")
    with pytest.raises(PreflightError, match=f"data folder {cells} cannot be read: {cells / 'images.npz'}: truncated"):
        preflight(spec, tmp_path / "results")


# --- the same checks before `mcnn-bench train` started on its own trains -------------------------------


def truncate_array_file(cells: Path) -> tuple[str, ...]:
    """Cut the crops' array file in half; returns what a failed run's reason says of it (the file, the cause)."""
    data = (cells / "images.npz").read_bytes()
    (cells / "images.npz").write_bytes(data[: len(data) // 2])
    return (f"{cells / 'images.npz'}: truncated or corrupt array file",)


def make_unreadable(cells: Path) -> tuple[str, ...]:
    """Take every permission off the data folder; returns what a failed run's reason says of it."""
    cells.chmod(0)
    return (str(cells), "Permission denied")


@pytest.mark.parametrize("damage", [truncate_array_file, make_unreadable])
def test_train_on_data_it_cannot_read_is_a_failed_run_recorded_with_the_cause(tmp_path, cells, unprivileged, damage):
    results = tmp_path / "results"
    said = damage(cells)
    try:
        done = unprivileged(
            [
                *("-m", "mcnn_bench", "train", "--data", "bbbc021-cells", "--data-dir", str(cells)),
                *("--image-size", "64", "64", "--epochs", "1", "--results-dir", str(results), "--sweep", "s"),
                *("--engine", "ddp"),  # installed on every Python (train checks its engine first)
            ]
        )
    finally:
        cells.chmod(0o755)
    assert done.returncode == 1, done.stderr
    record = RunRecord.read(results / "s" / "run")
    assert record is not None and record.status == "failed"
    assert all(part in record.failure.reason for part in said), record.failure.reason


def test_train_refuses_a_read_only_results_folder_naming_it(tiny_fs, capsys):
    results = tiny_fs.mount("results")
    tiny_fs.read_only(results)
    args = ["--data", "synthetic", "--image-size", "64", "64", "--epochs", "1", "--steps-per-epoch", "2"]
    args += ["--engine", "ddp"]  # installed on every Python (train checks its engine first)
    assert main(["train", *args, "--results-dir", str(results), "--sweep", "s"]) == 2
    line = one_error_line(capsys.readouterr().err, "train")
    assert line.startswith(f"mcnn-bench train: error: results folder {results} is not writable (Read-only file system)")


def test_5_an_official_layout_is_checked_from_its_tables_and_first_field(tmp_path):
    import tifffile

    from benchmark.data.bbbc021 import CHANNELS, IMAGE_COLUMNS, check_fields

    row = {column: "1" for column in IMAGE_COLUMNS}
    row.update({f"Image_PathName_{ch}": "Week1" for ch in CHANNELS})
    row.update({f"Image_FileName_{ch}": f"f_{ch}.tif" for ch in CHANNELS})
    (tmp_path / "BBBC021_v1_image.csv").write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n")
    (tmp_path / "BBBC021_v1_moa.csv").write_text("compound,concentration,moa\nx,1,Actin disruptors\n")
    (tmp_path / "Week1").mkdir()
    for channel in CHANNELS:
        tifffile.imwrite(tmp_path / "Week1" / f"f_{channel}.tif", np.zeros((4, 4), np.uint16))
    assert SOURCES["bbbc021"].problem(tmp_path) is None
    (tmp_path / "Week1" / "f_Actin.tif").write_bytes(b"II*\0garbage")
    with pytest.raises(DataError, match=f"{tmp_path / 'Week1' / 'f_Actin.tif'}: unreadable or corrupt TIFF"):
        check_fields(tmp_path)
    (tmp_path / "BBBC021_v1_moa.csv").write_text("compound,moa\n")
    assert SOURCES["bbbc021"].problem(tmp_path) == (
        f"{tmp_path / 'BBBC021_v1_moa.csv'}: missing column(s) ['concentration']; found ['compound', 'moa']"
    )

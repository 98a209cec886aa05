"""The ReFrame check (``slurm/reframe/mcnn_check.py``) with its site configuration for the development
cluster (``slurm/reframe/devcluster_settings.py``), run by ReFrame itself against the real cluster.

``reframe -C devcluster_settings.py -c mcnn_check.py -r`` submits one M-CNN training run (1 node x 2
Horovod workers, ``srun --mpi=pmix``) through sbatch, and must pass: exit status 0, a ``PASSED`` summary,
and a performance log whose ``images_per_second`` is the run record's global throughput (images/s).
ReFrame's output, stage and perflog folders and its report live under pytest's ``tmp_path``.

The tests marked ``slurm`` use the ``slurm_cluster`` fixture (tests/conftest.py): without SLURM_CONF they
skip, or fail when MCNN_REQUIRE_SLURM=1. The sanity helpers are also tested on hand-made records, without
a cluster.
"""

from __future__ import annotations

import csv
import importlib.resources
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: The shipped check and site configuration, found through the installed package.
RFM_DIR = importlib.resources.files("slurm") / "reframe"
CHECK = Path(str(RFM_DIR / "mcnn_check.py"))
SETTINGS = Path(str(RFM_DIR / "devcluster_settings.py"))
#: ReFrame's command line, installed beside this interpreter (the test extra's ``reframe-hpc``).
REFRAME = Path(sys.executable).parent / "reframe"
#: Seconds one ReFrame session may take: a queued job, TensorFlow's start-up and a short training run.
REFRAME_TIMEOUT = 900


def run_reframe(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """Runs ``reframe -C SETTINGS -c CHECK -r`` with ``options``, in ``tmp_path``, with every folder it
    writes under ``tmp_path``: ``output/``, ``stage/``, ``perflogs/``, ``report.json`` and ``reframe.log``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RFM_")}
    cmd = [
        str(REFRAME),
        "-C",
        str(SETTINGS),
        "-c",
        str(CHECK),
        "-r",
        "--nocolor",
        "--prefix",
        str(tmp_path),
        "-o",
        str(tmp_path / "output"),
        "-s",
        str(tmp_path / "stage"),
        "--perflogdir",
        str(tmp_path / "perflogs"),
        "--report-file",
        str(tmp_path / "report.json"),
        *options,
    ]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=REFRAME_TIMEOUT)


def perflog_rows(tmp_path: Path) -> list[dict[str, str]]:
    """The rows of the check's performance log (``|``-separated under a header line, one row per run)."""
    perflog = tmp_path / "perflogs" / "devcluster" / "debug" / "mcnn_train_check.log"
    assert perflog.is_file(), f"no perflog at {perflog}: {sorted(map(str, (tmp_path / 'perflogs').rglob('*')))}"
    with perflog.open(newline="") as fp:
        return list(csv.DictReader(fp, delimiter="|"))


@pytest.fixture(scope="module")
def passed(slurm_cluster, tmp_path_factory):
    """One ReFrame session of the check with its defaults on the development cluster: its folder and the
    finished process."""
    tmp_path = tmp_path_factory.mktemp("reframe")
    return tmp_path, run_reframe(tmp_path)


@pytest.mark.horovod
@pytest.mark.slurm
def test_the_check_passes_on_the_development_cluster(passed):
    tmp_path, proc = passed
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"reframe exited {proc.returncode}:\n{output}"
    summary = [line for line in proc.stdout.splitlines() if "Ran 1/1 test case(s)" in line]
    assert len(summary) == 1 and re.match(r"\[\s*PASSED\s*\]", summary[0]), output
    assert "(0 failure(s)" in summary[0], output


@pytest.mark.horovod
@pytest.mark.slurm
def test_the_perflog_holds_the_records_throughput(passed, check_record):
    tmp_path, proc = passed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = perflog_rows(tmp_path)
    assert (row["system"], row["partition"], row["environ"], row["result"]) == (
        "devcluster",
        "debug",
        "mcnn-bench",
        "pass",
    )
    assert row["jobid"].isdigit()
    assert row["images_per_second_unit"] == "images/s" and row["time_to_train_unit"] == "s"
    images_per_second, time_to_train = float(row["images_per_second_value"]), float(row["time_to_train_value"])
    assert images_per_second > 0 and time_to_train > 0
    assert float(row["images_per_second_ref"]) > 0 and float(row["images_per_second_lower_thres"]) < 0

    # The same figures as the run record the check kept in its output folder (keep_files).
    [record_path] = (tmp_path / "output").rglob("record.json")
    record = check_record(record_path)
    assert record["status"] == "completed"
    assert record["topology"] == {
        "nodes": 1,
        "workers_per_node": 2,
        "workers": 2,
        "local_batch_size": 8,
        "global_batch_size": 16,
    }
    assert images_per_second == pytest.approx(record["throughput"]["images_per_second"])
    assert time_to_train == pytest.approx(record["time_to_train"]["seconds"])
    # srun started both workers as one MPI job on one node of the cluster.
    assert record["provenance"]["horovod_controller"] == "mpi"
    assert len(set(record["provenance"]["hostnames"])) == 1


@pytest.mark.horovod
@pytest.mark.slurm
def test_a_run_that_fails_fails_the_check(slurm_cluster, tmp_path):
    proc = run_reframe(tmp_path, "-S", f"data_dir={tmp_path / 'no-such-folder'}")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert re.search(r"\[\s*FAILED\s*\] Ran 1/1 test case\(s\)", output), output
    # Sanity names the run record's status and the trainer's reason.
    assert re.search(r"sanity error: .*record\.json: status 'failed': DataError: .*no-such-folder", output), output


# The sanity helpers on hand-made records: no cluster needed.


@pytest.fixture(scope="module")
def check_module():
    """The check file, imported the way ReFrame's loader imports it."""
    from reframe.utility import import_module_from_file

    return import_module_from_file(str(CHECK))


def write_record(path: Path, **fields) -> Path:
    """Writes a minimal completed run record, with ``fields`` replaced, to ``path``."""
    record = {
        "status": "completed",
        "failure": None,
        "topology": {"workers": 2},
        "throughput": {"images_per_second": 90.5},
        "time_to_train": {"seconds": 12.5, "reason": None},
    }
    record.update(fields)
    path.write_text(json.dumps(record))
    return path


def test_sanity_passes_a_completed_record(check_module, tmp_path):
    path = write_record(tmp_path / "record.json")
    assert check_module.assert_run_completed(str(path), 2).evaluate() is True
    assert check_module.record_value(str(path), "throughput", "images_per_second").evaluate() == 90.5


@pytest.mark.parametrize(
    "fields, workers, message",
    [
        (
            {"status": "failed", "failure": {"reason": "DataError: no images"}},
            2,
            "status 'failed': DataError: no images",
        ),
        ({}, 4, "2 workers trained, 4 tasks were started"),
        (
            {"time_to_train": {"seconds": None, "reason": "top-1 never reached 0.99"}},
            2,
            "time_to_train.seconds is missing or null: top-1 never reached 0.99",
        ),
        ({"throughput": {"images_per_second": None}}, 2, "throughput.images_per_second is missing or null"),
    ],
)
def test_sanity_fails_with_the_records_reason(check_module, tmp_path, fields, workers, message):
    from reframe.core.exceptions import SanityError

    path = write_record(tmp_path / "record.json", **fields)
    with pytest.raises(SanityError, match=re.escape(message)):
        check_module.assert_run_completed(str(path), workers).evaluate()


def test_sanity_fails_without_a_record(check_module, tmp_path):
    from reframe.core.exceptions import SanityError

    with pytest.raises(SanityError, match="no run record"):
        check_module.assert_run_completed(str(tmp_path / "record.json"), 2).evaluate()

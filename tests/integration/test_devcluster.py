"""Tests of the development SLURM cluster (``slurm/devcluster``) against the real, running cluster.

Start it first and export what it prints::

    sudo slurm/devcluster/start          # node1..node4
    export SLURM_CONF=/tmp/mcnn-devcluster/slurm.conf

Every test uses the ``slurm_cluster`` fixture (tests/conftest.py): without SLURM_CONF it skips, or fails
when MCNN_REQUIRE_SLURM=1 (as under run-tests.sh as root).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("slurm_cluster")

# Node states of a node that responds and can take work.
HEALTHY_STATES = {"idle", "allocated", "mixed", "completing", "planned"}

MPI_HELLO = r"""
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
    int rank, size, sum, len;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &len);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("%d %d %s %d\n", rank, size, host, sum);
    MPI_Finalize();
    return 0;
}
"""


def run(*cmd: str, timeout: float = 60) -> str:
    """Runs a command and returns its stdout; fails the test with its stderr if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
    return proc.stdout


def wait_until(predicate, what: str, timeout: float = 30, interval: float = 0.2):
    """Polls predicate() until it returns a truthy value, which it returns; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def configured_nodes() -> list[str]:
    """Node names from the NodeName= lines of slurm.conf."""
    text = Path(os.environ["SLURM_CONF"]).read_text()
    return re.findall(r"^NodeName=(\S+)", text, flags=re.MULTILINE)


def sacct_state(job_id: str) -> str:
    """The job's state in the accounting database ('' until slurmdbd has recorded it)."""
    out = run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State")
    return out.strip().splitlines()[0] if out.strip() else ""


def final_sacct_state(job_id: str) -> str:
    """The job's state in sacct once the job's end has reached the accounting database."""
    return wait_until(
        lambda: (state := sacct_state(job_id)) not in ("", "PENDING", "RUNNING") and state,
        f"the end of job {job_id} in sacct",
    )


def sbatch(*args: str) -> str:
    """Submits a batch job (output discarded) and returns its id."""
    out = run("sbatch", "--parsable", "-J", "devcluster-test", "-o", "/dev/null", *args)
    return out.strip().split(";")[0]


@pytest.mark.slurm
def test_sinfo_lists_every_node_up():
    expected = configured_nodes()
    assert len(expected) >= 2, f"the tests need at least 2 nodes, slurm.conf has {expected}"

    out = run("sinfo", "-h", "-N", "-o", "%N %T")
    states = dict(line.split() for line in out.splitlines())

    assert sorted(states) == sorted(expected)
    assert set(states.values()) <= HEALTHY_STATES, f"nodes not up: {states}"


@pytest.mark.slurm
def test_srun_runs_two_tasks_on_each_of_two_nodes():
    out = run("srun", "-N2", "--ntasks-per-node=2", "hostname")

    tasks_per_host = collections.Counter(out.split())

    assert len(tasks_per_host) == 2, out
    assert set(tasks_per_host.values()) == {2}, out
    assert set(tasks_per_host) <= set(configured_nodes()), out


@pytest.mark.slurm
def test_srun_mpi_pmix_gives_every_task_its_rank():
    out = run(
        "srun",
        "--mpi=pmix",
        "-N2",
        "--ntasks-per-node=2",
        "sh",
        "-c",
        'echo "$(hostname) ${PMIX_RANK:-unset} $SLURM_PROCID"',
    )

    rows = [line.split() for line in out.splitlines()]
    pmix_ranks = sorted(int(pmix_rank) for _, pmix_rank, _ in rows)

    assert pmix_ranks == [0, 1, 2, 3], out
    assert all(pmix_rank == procid for _, pmix_rank, procid in rows), out
    assert len({host for host, _, _ in rows}) == 2, out


@pytest.mark.horovod
@pytest.mark.slurm
def test_open_mpi_allreduce_across_two_nodes(tmp_path):
    # What Horovod relies on: Open MPI wired up by PMIx, talking between the nodes over the bridge.
    mpicc = shutil.which("mpicc")
    if mpicc is None:
        pytest.skip("mpicc not found: install libopenmpi-dev (setup.sh does, with the Horovod engine)")
    source = tmp_path / "hello.c"
    source.write_text(MPI_HELLO)
    program = tmp_path / "hello"
    run(mpicc, "-o", str(program), str(source))

    out = run("srun", "--mpi=pmix", "-N2", "--ntasks-per-node=2", str(program))

    rows = [line.split() for line in out.splitlines()]
    assert sorted(int(rank) for rank, _, _, _ in rows) == [0, 1, 2, 3], out
    assert {(size, total) for _, size, _, total in rows} == {("4", "6")}, out
    assert len({host for _, _, host, _ in rows}) == 2, out


@pytest.mark.slurm
def test_sacct_records_a_finished_job():
    job_id = sbatch("--wait", "--wrap", "true")

    assert final_sacct_state(job_id) == "COMPLETED"


@pytest.mark.slurm
def test_scancel_of_a_running_job_shows_cancelled_in_sacct():
    job_id = sbatch("--wrap", "sleep 300")
    try:
        wait_until(
            lambda: run("squeue", "-h", "-j", job_id, "-o", "%T").strip() == "RUNNING",
            f"job {job_id} to run",
        )
    finally:
        run("scancel", job_id)

    assert final_sacct_state(job_id).startswith("CANCELLED")

"""How the DDP engine reads its launcher (torchrun, srun) from the environment, and the local launch command."""

import os

import pytest

from benchmark.engines.ddp.engine import PORT_BASE, PORT_SPAN, LaunchVariableMissing, launch_topology
from benchmark.engines.ddp.launch import local_command

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def env(monkeypatch):
    for name in list(os.environ):
        if name in LAUNCHER_VARS or name.startswith("SLURM_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_worker_without_a_launcher_is_alone(env):
    assert launch_topology() is None


def test_torchrun_gives_rank_size_and_local_topology(env):
    for name, value in zip(LAUNCHER_VARS, ("3", "8", "1", "2", "10.0.0.1", "29400")):
        env.setenv(name, value)
    assert launch_topology() == (3, 8, 1, 2, 4)


def test_a_launcher_that_leaves_a_variable_out_is_named(env):
    env.setenv("RANK", "0")
    env.setenv("WORLD_SIZE", "2")
    with pytest.raises(LaunchVariableMissing, match="MASTER_ADDR"):
        launch_topology()
    env.setenv("MASTER_ADDR", "localhost")
    env.setenv("MASTER_PORT", "29500")
    with pytest.raises(LaunchVariableMissing, match="LOCAL_WORLD_SIZE"):
        launch_topology()


def test_srun_tasks_meet_on_the_launch_node_at_a_port_of_their_job_and_step(env):
    values = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_NNODES": "2",
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_ID": "0",
        "SLURM_LAUNCH_NODE_IPADDR": "192.168.1.7",
    }
    for name, value in values.items():
        env.setenv(name, value)
    assert launch_topology() == (5, 8, 1, 4, 2)
    assert os.environ["MASTER_ADDR"] == "192.168.1.7"
    assert os.environ["MASTER_PORT"] == str(PORT_BASE + (4242 * 16) % PORT_SPAN)
    env.setenv("SLURM_STEP_ID", "1")
    env.delenv("MASTER_PORT")
    launch_topology()
    assert os.environ["MASTER_PORT"] == str(PORT_BASE + (4242 * 16 + 1) % PORT_SPAN), "each step its own port"


def test_torchrun_starts_the_train_command_with_this_interpreter(tmp_path):
    command = local_command(tmp_path / "config.json", 4)
    assert command[1:3] == ["-m", "torch.distributed.run"] and "--nproc-per-node=4" in command
    assert command[-5:] == ["-m", "mcnn_bench", "train", "--config", str(tmp_path / "config.json")]

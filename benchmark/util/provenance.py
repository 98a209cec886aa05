"""Where and with what a run ran: host, CPU, software versions, threads, the suite's git commit, the SLURM job."""

from __future__ import annotations

import os
import platform
import re
import resource
import socket
import subprocess
from importlib import metadata, resources
from pathlib import Path

from benchmark.record import Scheduler, SlurmJob
from benchmark.util.allocator import loaded_allocator

#: The installed trainer package's folder: git finds the suite's checkout from there, if there is one.
PACKAGE_DIR = Path(str(resources.files("benchmark")))
SOFTWARE = ("tensorflow-cpu", "keras", "horovod", "numpy", "pandas", "submitit", "tifffile")
#: SLURM's job environment variables that the run record keeps (sbatch(1), "OUTPUT ENVIRONMENT VARIABLES"):
#: the job's id and nodes, which every scheduler has (:class:`benchmark.record.Scheduler`) ...
SLURM_JOB_VARIABLES = {"job_id": "SLURM_JOB_ID", "node_list": "SLURM_JOB_NODELIST"}
#: ... and SLURM's own (:class:`benchmark.record.SlurmJob`).
SLURM_VARIABLES = {
    "nodes": "SLURM_JOB_NUM_NODES",
    "tasks_per_node": "SLURM_NTASKS_PER_NODE",
    "cpus_per_task": "SLURM_CPUS_PER_TASK",
    "partition": "SLURM_JOB_PARTITION",
}
#: Of those, the counts (an integer; SLURM writes e.g. ``2(x3)`` for tasks per node on uneven layouts).
SLURM_COUNTS = ("nodes", "tasks_per_node", "cpus_per_task")


#: The instruction-set extensions that decide how fast M-CNN's convolutions and matmuls can run, as
#: /proc/cpuinfo names them: 256- and 512-bit FMA, 512-bit int8 dot products, bf16 in AVX-512, and AMX tiles.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo(key: str) -> str | None:
    """The first value of ``key`` in /proc/cpuinfo, or None (no such key, or no /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == key:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or ``platform.processor()`` elsewhere)."""
    return _cpuinfo("model name") or platform.processor() or "unknown"


def isa_flags() -> list[str]:
    """Which of :data:`ISA_FLAGS` this CPU has (/proc/cpuinfo ``flags``), in that order; empty if unknown."""
    flags = set((_cpuinfo("flags") or "").split())
    return [flag for flag in ISA_FLAGS if flag in flags]


#: /proc/cpuinfo flags of which one must be present for the CPU to compute bf16 natively (AVX512-BF16, AMX).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (it has one of :data:`BF16_FLAGS`)."""
    return bool(set(BF16_FLAGS) & set(isa_flags()))


#: Where the NVIDIA kernel module says its version (``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15 ...``,
#: or ``... Open Kernel Module for x86_64  580.95.05 ...``).
NVIDIA_PROC_VERSION = Path("/proc/driver/nvidia/version")


def gpu_driver_version() -> str | None:
    """The NVIDIA driver's version (e.g. ``580.95.05``): ``nvidia-smi --query-gpu=driver_version`` (its first
    GPU's: one driver serves a node's GPUs), else the kernel module's :data:`NVIDIA_PROC_VERSION`; None when
    neither says (no NVIDIA driver, or neither can be read)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        lines = done.stdout.split()
        if done.returncode == 0 and lines:
            return lines[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        text = NVIDIA_PROC_VERSION.read_text()
    except OSError:
        return None
    found = re.search(r"NVRM version:.*?\s(\d+\.\d+(?:\.\d+)*)\s", text)
    return found.group(1) if found else None


def software_versions() -> dict:
    """Versions of Python and the installed packages in :data:`SOFTWARE` (missing ones as null)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The suite's git commit (with ``-dirty`` if the work tree has changes), or None outside git."""

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _count(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def scheduler_job() -> Scheduler | None:
    """The scheduler's job this process runs in, from its environment: a SLURM job (kind ``slurm``), or None
    outside SLURM."""
    if "SLURM_JOB_ID" not in os.environ:
        return None
    own = {key: os.environ.get(var) for key, var in SLURM_VARIABLES.items()}
    slurm = SlurmJob.model_validate(
        {key: _count(value) if key in SLURM_COUNTS else value for key, value in own.items()}
    )
    return Scheduler.model_validate(
        {"kind": "slurm", **{key: os.environ.get(var) for key, var in SLURM_JOB_VARIABLES.items()}, "slurm": slurm}
    )


def peak_rss_bytes() -> int:
    """This process's peak resident set size, in bytes (``getrusage``; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def host_facts() -> dict:
    """Facts of this host that are the same for every rank on it (every rank runs with the same malloc)."""
    return {
        "cpu_model": cpu_model(),
        "isa_flags": isa_flags(),
        "logical_cpus": os.cpu_count(),
        "software": software_versions(),
        "git_commit": git_commit(),
        "allocator": loaded_allocator(),
    }


def hostname() -> str:
    """This host's short name."""
    return socket.gethostname().split(".")[0]

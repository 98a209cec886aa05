"""ReFrame site configuration for mcnn-bench's development SLURM cluster (``slurm/devcluster``).

System ``devcluster``, partition ``debug`` (the cluster's one partition: ``node1..nodeN``, each advertising
all cores of this machine): jobs go through ``sbatch`` (scheduler ``slurm``, states from ``sacct``; the
cluster keeps accounting in slurmdbd) and tasks start with ``srun``. Environment ``mcnn-bench`` puts the
directory of the Python interpreter that runs ReFrame first on ``PATH``: ReFrame runs from the suite's
``.venv`` (``.venv/bin/reframe``), whose ``bin`` holds ``python`` and ``mcnn-bench``, and the nodes see the
same file system. It declares the feature ``mcnn-bench`` that ``slurm/reframe/mcnn_check.py`` asks for.

Start the cluster and export its ``SLURM_CONF`` first (``slurm/devcluster/start``, then
``source /tmp/mcnn-devcluster/env.sh``)::

    reframe -C slurm/reframe/devcluster_settings.py -c slurm/reframe/mcnn_check.py -r

A centre merges the ``mcnn-bench`` environment (with its own ``PATH`` or modules) and the check's
feature into its own configuration instead.

Performance log: one line per run in ``PERFLOGDIR/devcluster/debug/mcnn_train_check.log`` (``--perflogdir``;
default ``./perflogs``), ``|``-separated under a header line: completion time, ReFrame version, test,
system, partition, environment, SLURM job id, result, then per performance variable its value, unit,
reference, lower and upper thresholds (fractions of the reference).
"""

import os
import sys

#: The ``bin`` directory of the interpreter running ReFrame: the suite's virtual environment, with
#: ``python`` and the ``mcnn-bench`` console script.
VENV_BIN = os.path.dirname(sys.executable)

site_configuration = {
    "systems": [
        {
            "name": "devcluster",
            "descr": "mcnn-bench development SLURM cluster on this machine (slurm/devcluster)",
            # The cluster runs on the machine that submits to it, whatever its name.
            "hostnames": [".*"],
            "modules_system": "nomod",
            "partitions": [
                {
                    "name": "debug",
                    "descr": "partition debug: node1..nodeN, all sharing this machine's cores",
                    "scheduler": "slurm",
                    "launcher": "srun",
                    "access": ["--partition=debug"],
                    "environs": ["mcnn-bench"],
                    "max_jobs": 4,
                    "time_limit": "10m",
                },
            ],
        },
    ],
    "environments": [
        {
            "name": "mcnn-bench",
            "target_systems": ["devcluster"],
            "env_vars": [["PATH", f"{VENV_BIN}:$PATH"]],
            "features": ["mcnn-bench"],
        },
    ],
    "logging": [
        {
            "handlers": [
                {
                    "type": "file",
                    "name": "reframe.log",
                    "level": "debug",
                    "format": "[%(asctime)s] %(levelname)s: %(check_info)s: %(message)s",
                    "append": False,
                },
                {
                    "type": "stream",
                    "name": "stdout",
                    "level": "info",
                    "format": "%(message)s",
                },
            ],
            "handlers_perflog": [
                {
                    "type": "filelog",
                    "prefix": "%(check_system)s/%(check_partition)s",
                    "level": "info",
                    "format": (
                        "%(check_job_completion_time)s|%(version)s|%(check_display_name)s|"
                        "%(check_system)s|%(check_partition)s|%(check_environ)s|"
                        "%(check_jobid)s|%(check_result)s|%(check_perfvalues)s"
                    ),
                    "format_perfvars": (
                        "%(check_perf_value)s|%(check_perf_unit)s|%(check_perf_ref)s|"
                        "%(check_perf_lower_thres)s|%(check_perf_upper_thres)s|"
                    ),
                    "append": True,
                },
            ],
        },
    ],
}

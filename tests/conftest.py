"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data folder ``../shared/data`` next to the project root.

    Without it the test is skipped, or fails when ``MCNN_REQUIRE_DATA=1`` (as in CI), so that missing data
    never passes unnoticed.
    """
    import os

    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        message = f"real data not found: {path} does not exist (expected ../shared/data beside the project)"
        if os.environ.get("MCNN_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The running development SLURM cluster's ``SLURM_CONF``.

    The README's test command starts the cluster and exports SLURM_CONF. Without it the test is skipped,
    or fails when ``MCNN_REQUIRE_SLURM=1`` (as in CI), so that a missing cluster never passes unnoticed.
    """
    import os

    conf = os.environ.get("SLURM_CONF")
    if not conf or not Path(conf).is_file():
        message = "no SLURM cluster: run slurm/devcluster/start and export SLURM_CONF"
        if os.environ.get("MCNN_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return conf

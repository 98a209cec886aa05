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


@pytest.fixture(scope="session")
def check_record():
    """A function that validates a run record (a file, or its JSON data) against the published JSON Schema
    (docs/run-record.schema.json) with the jsonschema library, independently of the record model, and
    returns the record as JSON data."""
    import json

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "run-record.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)

    def check(record: Path | dict) -> dict:
        where, record = (record, json.loads(Path(record).read_text())) if isinstance(record, Path) else ("record", record)
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
        return record

    return check

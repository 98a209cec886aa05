"""Shared pytest fixtures."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# submitit configures logging at import (logging.config.dictConfig), which closes every handler that exists
# then: after TensorFlow is imported that includes absl's handler, whose stream is pytest's captured stderr,
# and closing it ends the session ("I/O operation on closed file"). Imported first, it finds no handler.
import submitit  # noqa: F401,E402


@pytest.fixture(scope="session", autouse=True)
def peak_cache(tmp_path_factory) -> Path:
    """One cache folder of the node's peaks (``MCNN_PEAK_CACHE``, :mod:`benchmark.microbench.peak`) for the whole
    session, inherited by the workers the tests start: the many training runs measure once per thread setting."""
    folder = tmp_path_factory.mktemp("peaks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCNN_PEAK_CACHE", str(folder))
        yield folder


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
        where, record = (
            (record, json.loads(Path(record).read_text())) if isinstance(record, Path) else ("record", record)
        )
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
        return record

    return check


@pytest.fixture(scope="session")
def make_official_layout(shared_data):
    """A function ``(root, treatments, shape) -> root`` that writes a small layout in BBBC021's own format
    under ``root`` (:func:`benchmark.data.synthetic_layout.write_layout`): the real MoA table, an image table
    in the real one's columns with one field per ``(compound, concentration)`` of ``treatments`` (two fields
    a plate), and one ``shape`` uint16 TIFF per channel."""
    import pandas as pd

    from benchmark.data import read_moa_table
    from benchmark.data.synthetic_layout import write_layout

    real = shared_data / "bbbc021"
    moa = read_moa_table(real / "BBBC021_v1_moa.csv").set_index(["compound", "concentration"])["moa"]
    header = pd.read_csv(real / "BBBC021_v1_image.csv", nrows=0).columns

    def make(root: Path, treatments: list[tuple[str, float]], shape: tuple[int, int]) -> Path:
        rows = []
        for i, (compound, conc) in enumerate(treatments):
            plate = f"Week1/Week1_{i // 2}"
            names = {
                f"Image_{kind}_{channel}": f"f{i}_{channel}.tif" if kind == "FileName" else plate
                for channel in ("DAPI", "Tubulin", "Actin")
                for kind in ("FileName", "PathName")
            }
            row = {
                "TableNumber": 1,
                "ImageNumber": i,
                **names,
                "Image_Metadata_Plate_DAPI": plate.split("/")[1],
                "Image_Metadata_Well_DAPI": "B02",
                "Replicate": 1,
                "Image_Metadata_Compound": compound,
                "Image_Metadata_Concentration": conc,
            }
            rows.append({**{column: row[column] for column in header}, "moa": moa[(compound, conc)]})
        return write_layout(root, rows, (real / "BBBC021_v1_moa.csv").read_bytes(), shape)

    return make


#: How the tests start Debian's Chromium: headless, as root (no sandbox), with none of its calls home (this
#: machine's closed network refuses them).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's ``chromium``, or ``MCNN_CHROMIUM``), started by Playwright for the session.

    ``run-tests.sh`` installs it as root, as it starts SLURM. Without it the test is skipped, or fails when
    ``MCNN_REQUIRE_BROWSER=1`` (as in CI), so that a missing browser never passes unnoticed."""
    executable = os.environ.get("MCNN_CHROMIUM") or shutil.which("chromium")
    if not executable:
        message = "no Chromium: run ./run-tests.sh as root (it installs Debian's chromium) or set MCNN_CHROMIUM"
        if os.environ.get("MCNN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _unavailable(message: str) -> None:
    """Skip the test, or fail it when ``MCNN_REQUIRE_MOUNTS=1`` (as in CI, which runs as root): a test of a
    full or read-only disk or of a permission must not pass unnoticed there."""
    if os.environ.get("MCNN_REQUIRE_MOUNTS") == "1":
        pytest.fail(message)
    pytest.skip(message)


class TinyFs:
    """Small tmpfs file systems mounted for one test (:func:`tiny_fs`), unmounted when it ends."""

    def __init__(self, root: Path):
        self.root, self.mounted = root, []

    def mount(self, name: str, size: str = "64k") -> Path:
        """A fresh tmpfs of ``size`` bytes at ``ROOT/name``, writable."""
        if os.geteuid() != 0:
            _unavailable("mounting a tmpfs needs root (a full or read-only disk is made with one)")
        point = self.root / name
        point.mkdir(parents=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
        if done.returncode:
            _unavailable(f"cannot mount a tmpfs at {point}: {done.stderr.decode().strip()}")
        self.mounted.append(point)
        return point

    @staticmethod
    def fill(point: Path) -> None:
        """Fill the file system of ``point`` up: the next write that needs a block fails with ENOSPC."""
        with open(point / ".filler", "wb", buffering=0) as stream:
            try:
                while True:
                    stream.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        with open(point / ".filler-small", "wb", buffering=0) as stream:  # the last bytes below a block
            try:
                while True:
                    stream.write(b"\0")
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    @staticmethod
    def read_only(point: Path) -> None:
        """Remount ``point`` read-only (writes fail with EROFS, even as root)."""
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True, capture_output=True)

    def unmount_all(self) -> None:
        for point in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def tiny_fs(tmp_path):
    """Mount small tmpfs file systems (:class:`TinyFs`: ``mount(name, size)``, then ``fill`` or ``read_only``)
    for a test and unmount them after it: a full disk (ENOSPC) and a read-only one (EROFS) that stop root
    too. Needs root and ``mount``: skipped otherwise, or failed with ``MCNN_REQUIRE_MOUNTS=1`` (CI)."""
    mounts = TinyFs(tmp_path / "mounts")
    try:
        yield mounts
    finally:
        mounts.unmount_all()


#: Capabilities that let root read and write past file permissions; dropped by :func:`unprivileged`.
DAC_CAPABILITIES = "-dac_override,-dac_read_search,-fowner"


@pytest.fixture(scope="session")
def unprivileged():
    """A function ``(args, **run_args) -> CompletedProcess`` that runs ``python ARGS`` (this interpreter,
    text output captured) where file permissions apply: as root, without the capabilities that override them
    (``setpriv``), so that a ``chmod`` stops it; as another user, as it is."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            _unavailable("running as root without setpriv: a chmod cannot stop root, so no permission test runs")
        prefix = [str(setpriv), "--bounding-set", DAC_CAPABILITIES, "--inh-caps", "-all"]

    def run(args: list[str], **run_args) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, *args], capture_output=True, text=True, timeout=300, **run_args)

    return run


def pytest_collection_modifyitems(config, items):
    """A test marked ``horovod`` (it needs the Horovod engine's TensorFlow, Keras or Horovod: its workers, its
    tf.data pipelines, its Keras models as an oracle) skips, with the engine registry's sentence, where the
    Horovod engine cannot run (Python >= 3.13: setup.sh installs the DDP engine alone); the only skip of that
    kind. A module that needs them throughout imports them inside its tests or fixtures, under a module-level
    ``pytestmark = pytest.mark.horovod``, so that it is collected, and skipped, without them."""
    from benchmark.engines import engine_problem

    problem = engine_problem("horovod")
    if problem is None:
        return
    for item in items:
        if item.get_closest_marker("horovod"):
            item.add_marker(pytest.mark.skip(reason=problem))

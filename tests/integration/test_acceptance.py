"""Acceptance benchmarking: reference files (validation), the verdict rules (pure logic), and the whole
path on the development SLURM cluster: the shipped acceptance sweep, accepted against the shipped
reference (PASS), against a reference it cannot meet (FAIL, exit status 1), and a captured reference."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analysis.acceptance import check
from analysis.reference import FigureReference, ReferenceFileError, ShapeReference, load_reference

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = sorted((ROOT / "analysis" / "references").glob("*.toml"))


def shape(**figures) -> ShapeReference:
    return ShapeReference(
        source="synthetic", image_size=(64, 64), nodes=1, workers_per_node=1, local_batch_size=8, figures=figures
    )


def verdict(name: str, ref: FigureReference, values: list[float]):
    return check(shape(**{name: ref}), name, ref, values)


@pytest.mark.parametrize(
    "values, expected, note",
    [
        ([100.0, 95.0, 104.0], "PASS", ""),
        ([80.0], "FAIL", "below the lower bound"),
        ([130.0], "PASS", "better than the reference: above its upper bound"),
    ],
)
def test_a_higher_is_better_figure(values, expected, note):
    result = verdict("images_per_second", FigureReference(value=100, lower=-0.1, upper=0.1, unit="images/s"), values)
    assert (result.verdict, result.note) == (expected, note)
    assert result.low == pytest.approx(90) and result.high == pytest.approx(110)


def test_a_lower_is_better_figure_fails_above_and_passes_below():
    ref = FigureReference(value=10, lower=-0.2, upper=0.2, unit="s")
    assert verdict("ttt_seconds", ref, [13.0]).verdict == "FAIL"
    assert verdict("ttt_seconds", ref, [7.0]).note == "better than the reference: below its lower bound"


def test_a_figure_with_one_bound_and_a_missing_figure():
    ref = FigureReference(value=100, lower=-0.5, unit="images/s")
    assert verdict("images_per_second", ref, [1000.0]).verdict == "PASS"
    missing = verdict("images_per_second", ref, [])
    assert missing.verdict == "MISSING" and missing.n == 0


def test_repeats_spread_wider_than_the_band_are_unstable():
    result = verdict(
        "images_per_second", FigureReference(value=100, lower=-0.1, upper=0.1, unit="images/s"), [85.0, 100.0, 108.0]
    )
    assert result.verdict == "PASS" and result.unstable and "wider than the tolerance band 20" in result.note


@pytest.mark.parametrize(
    "figure, problem",
    [
        ('[shape.figures.images_per_second]\nvalue = 1.0\nunit = "images/s"', "give lower, upper or both"),
        ('[shape.figures.images_per_second]\nvalue = 1.0\nlower = 0.1\nunit = "images/s"', "lower: must be <= 0"),
        ('[shape.figures.images_per_second]\nvalue = 1.0\nlower = -0.1\nunit = "s"', "must be 'images/s'"),
        ('[shape.figures.gflops]\nvalue = 1.0\nlower = -0.1\nunit = "GFLOP/s"', "gflops"),
        (
            '[shape.figures.ttt_seconds]\nvalue = 1.0\nlower = -0.1\nunit = "s"\ndirection = "higher"',
            "lower is better for ttt_seconds",
        ),
        (
            '[shape.figures.best_top1]\nvalue = 0.9\nlower = -0.1\nunit = "fraction"',
            "shape.figures: best_top1 was renamed best_val_top1 (the run table's column): "
            "rename [shape.figures.best_top1] to [shape.figures.best_val_top1]",
        ),
    ],
)
def test_a_bad_reference_file_names_the_key(tmp_path, figure, problem):
    path = tmp_path / "ref.toml"
    path.write_text(
        'system = "x"\n[[shape]]\nsource = "synthetic"\nimage_size = [64, 64]\nnodes = 1\n'
        f"workers_per_node = 1\nlocal_batch_size = 8\n{figure}\n"
    )
    with pytest.raises(ReferenceFileError, match="ref.toml: invalid reference file") as info:
        load_reference(path)
    assert problem in str(info.value)


@pytest.mark.parametrize("path", REFERENCES, ids=[p.name for p in REFERENCES])
def test_the_shipped_references_are_valid(path):
    assert load_reference(path).shape


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcnn_bench", *args], capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def acceptance_sweep(slurm_cluster, tmp_path_factory) -> Path:
    """The shipped acceptance sweep, run on the development cluster."""
    results = tmp_path_factory.mktemp("acceptance")
    done = cli("sweep", str(ROOT / "slurm" / "examples" / "acceptance-devcluster.toml"), "--results-dir", str(results))
    assert done.returncode == 0, done.stdout + done.stderr
    return results / "acceptance-devcluster"


@pytest.mark.ddp
@pytest.mark.slurm
def test_the_devcluster_sweep_passes_its_reference(acceptance_sweep):
    done = cli(
        "accept", str(acceptance_sweep), "--reference", str(ROOT / "analysis" / "references" / "devcluster.toml")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "against devcluster: PASS" in done.stdout
    report = json.loads((acceptance_sweep / "acceptance.json").read_text())
    assert report["passed"] and all(c["n"] == 2 for c in report["checks"])
    suite = ET.parse(acceptance_sweep / "acceptance.xml").getroot()
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == len(report["checks"]) > 0
    assert (acceptance_sweep / "acceptance.md").read_text().startswith("# Acceptance of")


@pytest.mark.ddp
@pytest.mark.slurm
def test_a_reference_the_system_cannot_meet_fails_naming_the_figure(acceptance_sweep, tmp_path):
    reference = load_reference(ROOT / "analysis" / "references" / "devcluster.toml")
    tight = tmp_path / "tight.toml"
    text = (ROOT / "analysis" / "references" / "devcluster.toml").read_text()
    first = reference.shape[0].figures["images_per_second"].value
    tight.write_text(text.replace(f"value = {first}", f"value = {first * 10}", 1))
    done = cli("accept", str(acceptance_sweep), "--reference", str(tight), "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        re.search(r"\| images_per_second +\|", done.stdout)
        and "FAIL" in done.stdout
        and "below the lower bound" in done.stdout
    )
    suite = ET.parse(tmp_path / "out" / "acceptance.xml").getroot()
    failed = [case.get("name") for case in suite.findall("testcase") if case.find("failure") is not None]
    assert failed == ["images_per_second"]


@pytest.mark.ddp
@pytest.mark.slurm
def test_a_captured_reference_accepts_its_own_sweep(acceptance_sweep, tmp_path):
    out = tmp_path / "captured.toml"
    done = cli(
        "reference", "capture", str(acceptance_sweep), "--system", "captured", "--tolerance", "0.1", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    reference = load_reference(out)
    assert {s.key[2] for s in reference.shape} == {1, 2}
    assert "images_per_second" in reference.shape[0].figures
    assert cli("accept", str(acceptance_sweep), "--reference", str(out), "--out", str(tmp_path)).returncode == 0


def test_accept_on_bad_input_exits_2_naming_the_file(tmp_path):
    missing = cli("accept", str(tmp_path), "--reference", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr

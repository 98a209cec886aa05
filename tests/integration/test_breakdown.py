"""The step-time breakdown in `mcnn-bench analyze`: step_breakdown.csv/.md and step_breakdown.png, from the
records of real Horovod runs (1 and 2 workers started by horovodrun), next to records without a breakdown."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.breakdown import MAX_BARS, PHASE_COLORS, StepBreakdownFigure, bar_rows, bars, plot_breakdown
from analysis.columns import BREAKDOWN_PHASES, SAMPLED_STEPS, SHARE_COLUMNS, read_csv
from analysis.records import load_records
from analysis.report import analyze
from benchmark.config import TrainConfig
from slurm.executor.local import launch_command

pytestmark = pytest.mark.horovod

SWEEP = "bd"
#: 12 steps of 4 synthetic 64x64 images per worker: steps 0 and 10 time their phases (benchmark.train.loop.PHASE_EVERY),
#: step 10 after the warm-up.
SETTINGS = dict(
    source="synthetic",
    image_size=(64, 64),
    local_batch_size=4,
    epochs=1,
    steps_per_epoch=12,
    warmup_steps=1,
    nodes=1,
    intra_op_threads=1,
    sweep=SWEEP,
)


def without_breakdown(record: Path, sweep: str, run_id: str) -> None:
    """A copy of ``record`` as a record made before breakdowns existed, as ``sweep/run_id``."""
    data = json.loads(record.read_text())
    data["throughput"]["breakdown"] = None
    data.update(sweep=sweep, run_id=run_id)
    data["config"]["run"].update(sweep=sweep, run_id=run_id)
    del data["fingerprint"]  # of the config; the record model computes it again
    path = record.parent.parent.parent / sweep / run_id / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Two real runs of sweep ``bd`` (1 and 2 workers), a copy of the first without a breakdown in the same
    sweep, and one in sweep ``old``."""
    root = tmp_path_factory.mktemp("breakdown")
    for workers in (1, 2):
        config = TrainConfig.from_flat(
            **SETTINGS, workers_per_node=workers, results_dir=str(root), run_id=f"n1-w{workers}-b4"
        )
        done = subprocess.run(
            launch_command(config.write_json(root / f"w{workers}.json"), workers),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first = root / SWEEP / "n1-w1-b4" / "record.json"
    without_breakdown(first, SWEEP, "older")
    without_breakdown(first, "old", "older")
    return root


@pytest.fixture(scope="module")
def analysed(results, tmp_path_factory):
    return analyze(results, tmp_path_factory.mktemp("analysis"))


def count_bars(png: Path) -> int:
    """The bars in a breakdown figure: the runs of compute-coloured pixels down the column just right of where
    the bars start (every bar starts with its compute share; the legend is right of the plot)."""
    pixels = np.asarray(Image.open(png).convert("RGB"))
    compute = np.all(pixels == np.array(Image.new("RGB", (1, 1), PHASE_COLORS["compute"]))[0, 0], axis=2)
    column = compute[:, np.flatnonzero(compute.any(axis=0))[0] + 3].astype(int)
    return int((np.diff(np.r_[0, column]) == 1).sum())


def test_the_table_holds_each_real_runs_shares(results, analysed):
    table = read_csv(analysed.out_dir / "step_breakdown.csv")
    assert table["run_id"].tolist() == ["n1-w1-b4", "n1-w2-b4"]  # the runs without a breakdown are left out
    for _, row in table.iterrows():
        breakdown = json.loads((results / SWEEP / row["run_id"] / "record.json").read_text())["throughput"]["breakdown"]
        assert row[SHARE_COLUMNS].tolist() == pytest.approx([breakdown["shares"][phase] for phase in BREAKDOWN_PHASES])
        assert row[SAMPLED_STEPS] == min(rank["sampled_steps"] for rank in breakdown["per_rank"]) >= 1
    assert table[SHARE_COLUMNS].sum(axis=1).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    allreduce = table.set_index("run_id")["share_allreduce"]
    assert allreduce["n1-w1-b4"] < 0.01 < allreduce["n1-w2-b4"]  # one worker skips the allreduce
    markdown = (analysed.out_dir / "step_breakdown.md").read_text()
    assert "2 of 4 completed run(s) (2 without a breakdown" in markdown
    assert len(re.findall(r"^\| bd +\| n1-w", markdown, re.MULTILINE)) == 2 and " compute share (%) |" in markdown


def test_one_figure_with_a_bar_per_run(analysed):
    png = analysed.out_dir / "step_breakdown.png"
    assert png in analysed.files and count_bars(png) == 2
    assert not (analysed.out_dir / "breakdown").exists()
    assert not [line for line in analysed.skipped if line.startswith("step_breakdown")]


def test_without_any_breakdown_the_figure_is_skipped_with_its_reason(results):
    loaded = load_records(results)
    old = loaded.by_sweep(["old"])[0]
    assert StepBreakdownFigure().unavailable(old).startswith("no completed run with a step breakdown")
    assert StepBreakdownFigure().unavailable(loaded) is None


def drawn_rows(results: Path) -> pd.DataFrame:
    """The rows the figure draws: the runs with a breakdown, with their workload."""
    runs = load_records(results).runs
    rows = bar_rows(runs)
    assert int((runs["status"] == "completed").sum()) - len(rows) == 2  # the copies without a breakdown
    return rows


def test_many_runs_draw_the_median_of_each_shape(results, tmp_path):
    runs = drawn_rows(results)
    wide = pd.concat([runs.assign(run_id=runs["run_id"] + f"-r{repeat}") for repeat in range(MAX_BARS)])
    labels, shares, pooled = bars(wide)
    assert labels == [f"n1 x w1 x b4 ({MAX_BARS} runs)", f"n1 x w2 x b4 ({MAX_BARS} runs)"]
    assert pooled.startswith("shape") and shares.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert shares == pytest.approx(runs[SHARE_COLUMNS].to_numpy(), abs=1e-6)
    assert count_bars(plot_breakdown(wide, 0, tmp_path / "wide.png")) == 2
    few = bars(runs)
    assert few[0] == ["n1-w1-b4", "n1-w2-b4"] and few[2] is None


def test_runs_of_other_workloads_never_share_a_bar_and_sweeps_name_the_runs(results, tmp_path):
    runs = drawn_rows(results)
    (workload,) = set(runs["workload"])
    assert workload == "mcnn 64x64 synthetic"
    wide = pd.concat([runs.assign(run_id=runs["run_id"] + f"-r{repeat}") for repeat in range(MAX_BARS)])
    labels, _, pooled = bars(pd.concat([wide, wide.assign(workload="vgg16 64x64 synthetic")]))
    assert labels == [
        f"{name} 64x64 synthetic: n1 x w{w} x b4 ({MAX_BARS} runs)" for name in ("mcnn", "vgg16") for w in (1, 2)
    ]
    assert pooled.endswith("of one workload")
    two_sweeps = bars(pd.concat([runs, runs.assign(sweep="again")]))[0]
    assert two_sweeps == ["bd/n1-w1-b4", "bd/n1-w2-b4", "again/n1-w1-b4", "again/n1-w2-b4"]
    assert count_bars(plot_breakdown(pd.concat([runs, runs.assign(sweep="again")]), 0, tmp_path / "two.png")) == 4

"""The scaling model (analysis/scaling_model.py), pinned on hand-computed cases, and `mcnn-bench predict`
(analysis/predict.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from analysis import columns as col
from analysis import predict as pr
from analysis import scaling_model as sm
from benchmark.config import TrainConfig
from benchmark.models.analytic import model_figures
from benchmark.record import (
    Memory,
    ModelInfo,
    Provenance,
    RunRecord,
    StepSeconds,
    Threads,
    Throughput,
    TimeToTrain,
    Topology,
)
from mcnn_bench.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- the ring allreduce ----------------------------------------------------------------------------------


def test_ring_time_by_hand():
    alpha, beta, n = 1e-5, 1e-9, 1e8
    assert sm.ring_allreduce_seconds(1, n, alpha, beta) == 0
    # p = 2: 2 steps of latency, 2 * 1/2 * n bytes
    assert sm.ring_allreduce_seconds(2, n, alpha, beta) == pytest.approx(2 * 1e-5 + 1e8 * 1e-9)  # 0.10002
    # p = 8: 14 steps, 2 * 7/8 * n bytes
    assert sm.ring_allreduce_seconds(8, n, alpha, beta) == pytest.approx(14e-5 + 1.75 * 0.1)  # 0.17514
    with pytest.raises(ValueError):
        sm.ring_allreduce_seconds(0, n, alpha, beta)


def test_fit_recovers_alpha_and_beta():
    alpha, beta = 3e-5, 2e-10
    points = [(p, n, sm.ring_allreduce_seconds(p, n, alpha, beta)) for p in (2, 4, 8, 16) for n in (1e6, 1.7e8)]
    points.append((1, 1e8, 0.5))  # one worker: no information, left out
    model = sm.fit_ring(points)
    assert model.alpha == pytest.approx(alpha, rel=1e-6)
    assert model.beta == pytest.approx(beta, rel=1e-6)
    assert "least-squares" in model.how
    # two message sizes at p = 2 are enough to separate alpha from beta
    two = sm.fit_ring([(2, n, sm.ring_allreduce_seconds(2, n, alpha, beta)) for n in (4.6e6, 1.7e8)])
    assert (two.alpha, two.beta) == (pytest.approx(alpha, rel=1e-6), pytest.approx(beta, rel=1e-6))


def test_fit_with_one_shape_assumes_alpha_and_fixed_parameters():
    t = sm.ring_allreduce_seconds(2, 1.7e8, sm.DEFAULT_LATENCY_SECONDS, 1.6e-9)
    model = sm.fit_ring([(2, 1.7e8, t), (2, 1.7e8, t)])
    assert model.alpha == sm.DEFAULT_LATENCY_SECONDS and "assumed" in model.how
    assert model.beta == pytest.approx(1.6e-9)
    assert sm.fit_ring([(2, 1e8, 0.2)], alpha=0.0).beta == pytest.approx(2e-9)
    assert sm.fit_ring([(4, 1e8, 0.6 + 6e-3)], beta=4e-9).alpha == pytest.approx(1e-3)  # 6 a + 1.5e8 * 4e-9
    given = sm.fit_ring([], alpha=1e-6, beta=8e-11)
    assert (given.alpha, given.bandwidth_gbits) == (1e-6, pytest.approx(100))
    with pytest.raises(ValueError, match="2 or more workers"):
        sm.fit_ring([(1, 1e8, 0.1)])
    with pytest.raises(ValueError, match="do not grow"):
        sm.fit_ring([(2, 1e6, 0.1), (2, 1e8, 0.05)])


# --- compute time and the cap ----------------------------------------------------------------------------


def test_step_time_fit():
    a, c, how = sm.fit_line([4, 8, 16], [0.5 + 0.25 * b for b in (4, 8, 16)])
    assert (a, c) == (pytest.approx(0.5), pytest.approx(0.25)) and "least squares" in how
    a, c, how = sm.fit_line([8], [2.0])
    assert (a, c) == (0.0, pytest.approx(0.25)) and "origin" in how
    a, c, _ = sm.fit_line([4, 8], [1.0, 3.0])  # a = -1 < 0: proportional, slope (4 + 24) / (16 + 64)
    assert (a, c) == (0.0, pytest.approx(28 / 80))
    # a fixed cost given: the slope alone, through (0, a); one batch size is then enough
    a, c, how = sm.fit_line([8], [2.0], intercept=0.4)
    assert (a, c) == (0.4, pytest.approx(0.2)) and "given" in how
    with pytest.raises(ValueError, match="no time per image"):
        sm.fit_line([8], [2.0], intercept=2.0)


def test_epochs_curve_reads_table1_per_global_batch():
    """Table 1's epochs by global batch: a batch of one row gives that row's epochs, the capped batch the mean
    of its rows; between two batches the log2 midpoint gives the mean of theirs; beyond the ends, the ends."""
    from analysis.papers import datta2019 as paper

    curve = pr.table1_epochs_curve(paper)
    by_batch: dict[float, list[float]] = {}
    for row in paper.TABLE1:
        by_batch.setdefault(row.global_batch_size.known, []).append(row.epochs.known)
    for batch, epochs in by_batch.items():
        assert curve(batch) == pytest.approx(sum(epochs) / len(epochs))
    batches = sorted(by_batch)
    for low, high in zip(batches, batches[1:]):
        assert curve(math.sqrt(low * high)) == pytest.approx((curve(low) + curve(high)) / 2)
    assert curve(batches[0] / 2) == curve(batches[0]) and curve(2 * batches[-1]) == curve(batches[-1])
    with pytest.raises(ValueError):
        sm.EpochsCurve.from_points([], "none")


def test_the_updates_per_epoch_rule_bounds_the_global_batch():
    """The slides' rule (more than 150 updates per epoch) bounds the global batch; Table 1's cap obeys it."""
    from analysis.papers import datta2019 as paper

    per_epoch = paper.DATASET["dataset_b_train_images"].known
    needed = paper.SLIDES["min_updates_per_epoch"].known
    bound = sm.largest_global_batch(per_epoch, needed)
    assert per_epoch / bound > needed >= per_epoch / (bound + 1)
    assert paper.LARGE_SCALE["max_global_batch_size"].known <= bound


def test_cap_rule():
    assert sm.capped_local_batch(32, 1024, 2048) == 2
    assert sm.capped_local_batch(32, 8, 2048) == 32
    assert sm.capped_local_batch(32, 1024, None) == 32
    assert sm.capped_local_batch(32, 4096, 2048) == 0  # the cap is below the workers: cannot run


def test_prediction_by_hand():
    ring = sm.RingModel(alpha=0.0, beta=1e-9, how="test")
    compute = {2: sm.ComputeModel(2, 0.1, 0.05, "test")}
    table = sm.predict(
        compute,
        ring,
        1e8,
        [1, 4],
        [2],
        16,
        max_global_batch=64,
        epochs=lambda n, w: (10.0, "test"),
        images_per_epoch=1000,
    )
    one, four = table.iloc[0], table.iloc[1]
    # 1 node: b 16, t_c 0.9, T(2) = 0.1, step 1.0, 32 images/s
    assert (one[col.LOCAL_BATCH], one[col.STEP_SECONDS], one[col.IMAGES_PER_SECOND]) == (16, pytest.approx(1.0), 32)
    # 4 nodes: 8 workers, cap 64 -> b 8, t_c 0.5, T(8) = 1.75 * 0.1, 64 / 0.675 images/s
    assert four[col.LOCAL_BATCH] == 8 and four[col.STEP_SECONDS] == pytest.approx(0.675)
    assert four[col.SPEEDUP] == pytest.approx(64 / 0.675 / 32)
    assert four[col.EFFICIENCY] == pytest.approx(100 * 64 / 0.675 / 32 / 4)
    assert four[col.TTT_MINUTES] == pytest.approx(10 * 1000 / (64 / 0.675) / 60)


# --- the inversion ------------------------------------------------------------------------------------


def test_fixed_cost_for_speedup_by_hand():
    # local batch 16 -> 2 under a cap, global batch x16; 19.2x = 16 (a + 16c) / (a + 2c): a = 68 c
    a, c = sm.fixed_cost_for_speedup(19.2, 84.0, 16, 2, 16)
    assert (a, c) == (pytest.approx(68.0), pytest.approx(1.0))
    # with the allreduce: the model then reproduces the one-node step and the speedup
    ring, n = sm.RingModel(5e-6, 8e-11, "test"), 78e6
    a, c = sm.fixed_cost_for_speedup(19.2, 9.6, 16, 2, 16, ring.seconds(8, n), ring.seconds(1024, n))
    table = sm.predict(
        {8: sm.ComputeModel(8, a, c, "test")}, ring, n, [1, 128], [8], 16, max_global_batch=2048, images_per_epoch=1
    )
    assert list(table[col.LOCAL_BATCH]) == [16, 2]
    assert table[col.STEP_SECONDS].iloc[0] == pytest.approx(9.6)
    assert table[col.SPEEDUP].iloc[1] == pytest.approx(19.2)
    with pytest.raises(ValueError, match="global-batch ratio"):  # a fixed cost only brings S down towards R
        sm.fixed_cost_for_speedup(15.0, 84.0, 16, 2, 16)
    with pytest.raises(ValueError, match="shrink"):
        sm.fixed_cost_for_speedup(19.2, 84.0, 16, 16, 16)


# --- end to end ----------------------------------------------------------------------------------------

CONFIG = TrainConfig.from_flat(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=10)
PROVENANCE = Provenance(
    hostnames=["node1"],
    cpu_model="test CPU",
    logical_cpus=2,
    threads=Threads(intra_op=1, inter_op=1, omp_num_threads="1", affinity_cores=2),
    software={},
    horovod_controller="gloo",
    git_commit=None,
    started_at="2026-11-22T00:00:00+00:00",
    train_images=640,
    val_images=0,
    steps_per_epoch=10,
)


def write_run(
    root: Path, nodes: int, per_node: int, batch: int, images_per_second: float, ttt_epochs: int | None = None
) -> None:
    """A completed run record (the record model's own JSON) under ``root/sweep/run_id/``."""
    workers, run_id = nodes * per_node, f"n{nodes}-w{per_node}-b{batch}"
    config = CONFIG.updated(
        "run", sweep="sweep", run_id=run_id, nodes=nodes, workers_per_node=per_node, local_batch_size=batch
    )
    record = RunRecord(
        sweep="sweep",
        run_id=run_id,
        status="completed",
        config=config,
        fingerprint=config.fingerprint(),
        topology=Topology.of(nodes, per_node, batch),
        provenance=PROVENANCE,
        model=ModelInfo(parameters=1, initial_weights_sha256="a", final_weights_sha256_per_rank=["b"] * workers),
        throughput=Throughput(
            warmup_steps=1,
            timed_steps=9,
            images=9 * batch * workers,
            window_seconds=9 * batch * workers / images_per_second,
            images_per_second=images_per_second,
            step_seconds=StepSeconds(per_rank=[], min=0.1, median=0.2, max=0.3),
        ),
        memory=Memory(peak_rss_bytes_per_rank=[2**20] * workers, peak_rss_bytes_max=2**20),
        epochs=[],
        time_to_train=(
            TimeToTrain(target_top1=None, seconds=None, epochs=None, reason="no target")
            if ttt_epochs is None
            else TimeToTrain(target_top1=0.9, seconds=60.0 * ttt_epochs, epochs=ttt_epochs, reason=None)
        ),
    )
    path = root / "sweep" / run_id / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record.model_dump(mode="json")))


@pytest.fixture
def batch_sweep(tmp_path) -> Path:
    """One node, 1 and 2 workers per node, local batches 8 and 16: compute 0.05 + 0.01 b s per step."""
    root = tmp_path / "steps"
    for per_node in (1, 2):
        for batch in (8, 16):
            write_run(root, 1, per_node, batch, per_node * batch / (0.05 + 0.01 * batch * per_node))
    return root


def test_predict_end_to_end(batch_sweep, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            "--step-times",
            str(batch_sweep),
            "--bandwidth-gbits",
            "10",
            "--latency-us",
            "0",
            "--nodes",
            "1",
            "2",
            "4",
            "--workers-per-node",
            "1",
            "2",
            "4",
            "--max-global-batch",
            "32",
            "--epochs",
            "5",
            "--images-per-epoch",
            "640",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "no one-node runs with [4] worker(s) per node" in printed
    table = col.read_csv(out / pr.TABLE_CSV)
    assert list(table.columns) == sm.PREDICTED_COLUMNS
    assert list(zip(table[col.WORKERS_PER_NODE], table[col.NODES])) == [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)]
    assert list(table[col.LOCAL_BATCH]) == [16, 16, 8, 16, 8, 4]
    # the one-node rows reproduce the measurement: the modelled allreduce among 2 workers was subtracted
    n = model_figures(64, 64).parameter_bytes
    one = table[(table[col.NODES] == 1) & (table[col.WORKERS_PER_NODE] == 2)].iloc[0]
    assert one[col.IMAGES_PER_SECOND] == pytest.approx(32 / (0.05 + 0.32))
    assert one[col.ALLREDUCE_SECONDS] == pytest.approx(n * 8 / 10e9)
    assert set(table[col.EPOCHS_FROM]) == {"--epochs"}
    assert (out / pr.TABLE_MD).read_text().startswith("## Predicted Table 1")
    assert (out / pr.SPEEDUP_PNG).read_bytes().startswith(PNG_SIGNATURE)


def test_predict_fits_allreduce_results(batch_sweep, tmp_path, capsys):
    n = model_figures(64, 64).parameter_bytes
    result = tmp_path / "ar.json"
    result.write_text(
        json.dumps(
            {
                "kind": "mcnn-bench-allreduce",
                "workers": 2,
                "nodes": 1,
                "workers_per_node": 2,
                "bytes": n,
                "median_seconds": 2e-5 + n * 1e-9,
                "controller": "gloo",
            }
        )
    )
    assert (
        main(
            [
                "predict",
                "--step-times",
                str(batch_sweep),
                "--allreduce",
                str(result),
                "--latency-us",
                "10",
                "--nodes",
                "1",
                "2",
                "--measured",
                str(batch_sweep),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "beta 1e-09 s/B" in printed and "alpha given, beta fitted" in printed
    assert "no epochs" in printed


def test_predict_bad_input_is_exit_2(batch_sweep, tmp_path, capsys):
    assert main(["predict", "--step-times", str(batch_sweep)]) == 2
    assert "--allreduce" in capsys.readouterr().err
    assert main(["predict", "--step-times", str(tmp_path / "none"), "--bandwidth-gbits", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["predict", "--step-times", str(batch_sweep), "--bandwidth-gbits", "1", "--overlap", "2"]) == 2
    assert "--overlap" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["predict", "--step-times", str(batch_sweep), "--allreduce", str(bad)]) == 2
    assert "not an `mcnn-bench allreduce` result" in capsys.readouterr().err


def test_predict_refuses_a_model_without_analytic_figures_naming_it_and_the_figure(batch_sweep, capsys):
    """DenseNet-121 has no analytic model, so its gradient bytes n are not known to predict: refused before the
    records are read, with the model and the figure named; the paper's model is M-CNN."""
    assert main(["predict", "--model", "densenet121", "--step-times", str(batch_sweep), "--bandwidth-gbits", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mcnn-bench predict: error: the gradient bytes n of the scaling model's allreduce: not known for model "
        "'densenet121', which has no analytic model (benchmark.models.analytic models mcnn only)"
    )
    assert main(["predict", "--paper", "--model", "vgg16"]) == 2
    assert "whose model is mcnn: drop --model vgg16" in capsys.readouterr().err


def test_predict_reads_the_step_times_of_its_model_only(batch_sweep):
    table, size = pr.load_step_times(batch_sweep)
    assert len(table) == 4 and size == (64, 64)
    with pytest.raises(ValueError, match="no one-node run of model vgg16 \\(found mcnn\\): pick one with --model"):
        pr.load_step_times(batch_sweep, model="vgg16")


# --- the paper ----------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def by_hand(paper, fixed_seconds: float) -> dict[int, float]:
    """Table 1's rows predicted from the paper's text, recomputed here step by step: the one-node row's step
    s1 = w b1 / x1 holds the fixed cost a, the compute and the ring allreduce among its w workers; each row
    keeps a and the compute per image and node, at the capped local batch, and allreduces among N w."""
    one = paper.TABLE1[0]
    w = paper.LARGE_SCALE["workers_per_node"].known
    b1 = one.global_batch_size.known / w
    cap = paper.LARGE_SCALE["max_global_batch_size"].known
    n = paper.EIGHT_NODES["gradient_mb"].known * 2**20
    beta = 8 / (paper.HARDWARE["interconnect_gbits_per_second"].known * 1e9)

    def ring(p: float) -> float:
        return 2 * (p - 1) * sm.DEFAULT_LATENCY_SECONDS + 2 * (p - 1) / p * n * beta

    per_image = (w * b1 / one.images_per_second.known - fixed_seconds - ring(w)) / b1  # a worker's, s
    out = {}
    for row in paper.TABLE1:
        workers = row.nodes * w
        b = min(b1, cap // workers)
        out[row.nodes] = workers * b / (fixed_seconds + per_image * b + ring(workers))
    return out


def negotiation_seconds(paper) -> tuple[float, float]:
    return tuple(paper.EIGHT_NODES[key].known / 1e3 for key in ("mpi_negotiation_ms_min", "mpi_negotiation_ms_max"))


def test_paper_path_runs_from_the_text(tmp_path, capsys):
    """`predict --paper` needs no flag: every input from the transcribed paper, named with its source; one row
    per Table 1 row, the published figures beside the predicted ones, and the two figures written."""
    from analysis.papers import datta2019 as paper

    code = main(["predict", "--paper", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Predicted vs published Table 1" in printed
    for source in ("Table 1, 1-node row", "sec. 5.1", "sec. 5.3", "sec. 5.4", "sec. 4"):
        assert f"({source}" in printed
    table = col.read_csv(tmp_path / pr.TABLE_CSV)
    assert set(pr.PAPER_COLUMNS) <= set(table.columns)
    assert list(table[col.NODES]) == [row.nodes for row in paper.TABLE1]
    assert list(table[col.GLOBAL_BATCH]) == [row.global_batch_size.known for row in paper.TABLE1]
    assert list(table[col.PUBLISHED_IMAGES_PER_SECOND]) == [row.images_per_second.known for row in paper.TABLE1]
    assert list(table[col.EPOCHS]) == [row.epochs.known for row in paper.TABLE1]
    assert table[col.IMAGES_PER_SECOND_ERROR].iloc[0] == pytest.approx(0)  # the one-node row is the reference
    assert table[col.IMAGES_PER_SECOND_ERROR].notna().all() and table[col.TTT_ERROR].notna().all()
    ttt = [
        row.epochs.known * paper.DATASET["dataset_b_train_images"].known / ips / 60
        for row, ips in zip(paper.TABLE1, table[col.IMAGES_PER_SECOND])
    ]
    assert list(table[col.TTT_MINUTES]) == pytest.approx(ttt)
    assert (tmp_path / pr.SPEEDUP_PNG).read_bytes().startswith(PNG_SIGNATURE)
    width, _ = png_size(tmp_path / pr.VS_PUBLISHED_PNG)
    assert width >= 800


def test_paper_model_by_hand():
    """The prediction equals the model recomputed here from the paper's numbers, at the midpoint of sec. 5.3's
    negotiation range and at its ends (the band)."""
    from analysis.papers import datta2019 as paper

    low, high = negotiation_seconds(paper)
    result = pr.paper_validation()
    table = result.table.set_index(col.NODES)
    for nodes, ips in by_hand(paper, (low + high) / 2).items():
        assert table.loc[nodes, col.IMAGES_PER_SECOND] == pytest.approx(ips)
    assert result.band is not None
    for end, frame in zip((low, high), result.band):
        expected = by_hand(paper, end)
        assert list(frame[col.IMAGES_PER_SECOND]) == pytest.approx([expected[n] for n in frame[col.NODES]])


def test_paper_model_meets_the_target_and_names_each_row_it_misses():
    """With the text's inputs the images/s errors meet the target (median and worst); the summary prints
    them as computed, and every row off by more than the median target is named with its reason: a row whose
    published images/s is above nodes x the 1-node row's is superlinear, which no added cost reproduces."""
    from analysis.papers import datta2019 as paper

    result = pr.paper_validation()
    errors = result.table[col.IMAGES_PER_SECOND_ERROR].abs()
    assert errors.median() <= pr.TARGET_MEDIAN_ERROR_PERCENT and errors.max() <= pr.TARGET_WORST_ERROR_PERCENT
    first = result.summary[0]
    assert f"median |error| {errors.median():.1f} %" in first and f"worst {errors.max():.1f} %" in first
    assert first.endswith(": met")
    x1 = paper.TABLE1[0].images_per_second.known
    for _, row in result.table[errors > pr.TARGET_MEDIAN_ERROR_PERCENT].iterrows():
        line = next(line for line in result.summary if line.startswith(f"{row[col.NODES]} nodes off by"))
        if row[col.PUBLISHED_IMAGES_PER_SECOND] > row[col.NODES] * x1:
            assert "superlinear" in line
    named = [line for line in result.summary if " nodes off by " in line]
    assert len(named) == int((errors > pr.TARGET_MEDIAN_ERROR_PERCENT).sum())


def test_paper_comparisons_are_images_per_second_against_images_per_second():
    """The images/s speedup is held against Table 1's images/s ratio; sec. 5.4's 19.2x (a TTT ratio) against the
    predicted TTT ratio; sec. 5.3's Dataset A figures are not compared with Table 1's Dataset B rows."""
    from analysis.papers import datta2019 as paper

    result = pr.paper_validation()
    table = result.table.set_index(col.NODES)
    last = paper.TABLE1[-1].nodes
    comparisons = {what.split(" (")[0]: (predicted, published) for what, predicted, published in result.comparisons}
    speedup = comparisons[f"1-to-{last}-node images/s speedup"]
    assert speedup == (pytest.approx(table.loc[last, col.SPEEDUP]), paper.table1_speedup(last).known)
    ttt = comparisons[f"1-to-{last}-node TTT speedup"]
    assert ttt == (pytest.approx(table.loc[last, col.TTT_SPEEDUP]), paper.LARGE_SCALE["speedup_1_to_128"].known)
    eight = paper.EIGHT_NODES
    assert all(
        published not in (eight["speedup"].known, eight["ttt_minutes"].known) for _, published in comparisons.values()
    )
    assert any(note.startswith("not compared") and f"{eight['speedup'].known:g}x" in note for note in result.notes)


def test_table1_implies_a_fixed_cost_that_reproduces_its_last_row():
    """The fixed cost Table 1's last row implies, given back as --fixed-step-ms, reproduces that row's images/s."""
    from analysis.papers import datta2019 as paper

    rows = pr.paper_validation().table.set_index(col.NODES)
    one, last = rows.iloc[0], rows.iloc[-1]
    a, _ = sm.fixed_cost_for_speedup(
        paper.table1_speedup(int(rows.index[-1])).known,
        one[col.STEP_SECONDS],
        int(one[col.LOCAL_BATCH]),
        int(last[col.LOCAL_BATCH]),
        last[col.GLOBAL_BATCH] / one[col.GLOBAL_BATCH],
        one[col.ALLREDUCE_SECONDS],
        last[col.ALLREDUCE_SECONDS],
    )
    result = pr.paper_validation(fixed_step_ms=a * 1e3)
    assert result.table[col.IMAGES_PER_SECOND_ERROR].iloc[-1] == pytest.approx(0, abs=1e-9)
    assert f"a = {a * 1e3:.0f} ms" in pr.paper_validation().implied[0]


def test_paper_path_flags_override_the_text(capsys):
    from analysis.papers import datta2019 as paper

    low, _ = negotiation_seconds(paper)
    assert main(["predict", "--paper", "--one-node-images-per-second", "20", "--fixed-step-ms", f"{low * 1e3:g}"]) == 0
    printed = capsys.readouterr().out
    x1 = paper.TABLE1[0].images_per_second.known
    assert f"one-node throughput: 20 images/s (given; the paper's is {x1:g}" in printed
    assert f"fixed per-step cost: {low * 1e3:g} ms (given;" in printed
    cap = paper.LARGE_SCALE["max_global_batch_size"].known // 2
    table = pr.paper_validation(max_global_batch=cap, gradient_mib=1.0).table
    assert table[col.GLOBAL_BATCH].max() == cap
    assert table[col.ALLREDUCE_SECONDS].max() < 1e-3 + 2 * 1023 * sm.DEFAULT_LATENCY_SECONDS
    assert main(["predict", "--paper", "--fixed-step-ms", "1e6"]) == 2
    assert "lower --fixed-step-ms" in capsys.readouterr().err


def test_target_minutes_answers_the_fewest_nodes(capsys):
    """--target-minutes 60 with the paper: the answer trains within the hour, every smaller node count does not
    (or breaks the updates-per-epoch rule), its epochs are Table 1's interpolated at its global batch."""
    from analysis.papers import datta2019 as paper

    assert main(["predict", "--paper", "--target-minutes", "60"]) == 0
    printed = capsys.readouterr().out
    result = pr.paper_validation()
    curve = pr.table1_epochs_curve(paper)
    needed = paper.SLIDES["min_updates_per_epoch"].known
    answer = pr.nodes_for_target(result.setup, [8], curve, 60, needed, pr.DEFAULT_NODES)
    assert answer.nodes is not None and f"fewest nodes within 60 minutes: {answer.nodes} " in printed
    assert "updates-per-epoch rule: more than 150 updates per epoch" in printed
    every = result.setup.predict(range(1, answer.nodes + 1), [8])
    per_epoch = paper.DATASET["dataset_b_train_images"].known
    ttt = [curve(b) * per_epoch / ips / 60 for b, ips in zip(every[col.GLOBAL_BATCH], every[col.IMAGES_PER_SECOND])]
    assert ttt[-1] <= 60 and all(t > 60 for t in ttt[:-1])
    assert (answer.table[col.UPDATES_PER_EPOCH] > needed).all()


def test_predict_learns_the_fixed_cost_from_the_batch_sweep(batch_sweep, tmp_path, capsys):
    """A one-node sweep of two batch sizes gives the per-step fixed cost (the intercept) and says so; given,
    --fixed-step-ms replaces it; and --target-minutes reads a measured sweep's epochs to target."""
    args = ["predict", "--step-times", str(batch_sweep), "--bandwidth-gbits", "10", "--latency-us", "0"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    n = model_figures(64, 64).parameter_bytes
    fixed = 0.05 - n * 8 / 10e9  # the fixture's 0.05 s per step, less the allreduce between 2 workers
    assert f"per-step fixed cost a = {fixed * 1e3:.4g} ms learned from the batch sweep" in printed
    assert main([*args, "--fixed-step-ms", "20"]) == 0
    assert "per-step fixed cost a = 20 ms given" in capsys.readouterr().out
    epochs = tmp_path / "epochs"
    for batch, ttt_epochs in ((8, 3), (32, 5)):
        write_run(epochs, 1, 1, batch, 100.0, ttt_epochs=ttt_epochs)
    assert main([*args, "--target-minutes", "1", "--epochs-from", str(epochs), "--nodes", "1", "2", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"median epochs to target of the runs in {epochs}) 8: 3, 32: 5" in printed
    assert "Fewest nodes to train within 1 minutes" in printed


def test_cli_allreduce_rejects_bad_flags(capsys):
    assert main(["allreduce", "--iterations", "0"]) == 2
    assert "--iterations" in capsys.readouterr().err
    assert main(["allreduce", "--image-size", "100", "64"]) == 2
    assert "multiple of 64" in capsys.readouterr().err
    assert main(["allreduce", "--bytes-scale", "-1"]) == 2
    assert "--bytes-scale" in capsys.readouterr().err
    assert main(["allreduce", "--model", "densenet121", "--image-size", "16", "64"]) == 2
    assert "DenseNet-121 and VGG-16 take inputs of at least 32x32 pixels, got 16x64" in capsys.readouterr().err

"""The scaling model (analysis/scaling_model.py), pinned on hand-computed cases, and `mcnn-bench predict`
(analysis/predict.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from analysis import columns as col
from analysis import predict as pr
from analysis import scaling_model as sm
from analysis.papers.datta2019 import Published, Table1Row
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


# --- the inversions ------------------------------------------------------------------------------------


def test_bandwidth_for_speedup_by_hand():
    # 2 nodes x 1 worker, t_c 1 s: S = 2 / (1 + n beta) = 1.6 -> n beta = 0.25 -> beta = 2.5e-9 s/B
    assert sm.bandwidth_for_speedup(1.6, 2, 1, 1.0, 1e8) == pytest.approx(2.5e-9)
    # 8 nodes x 4 workers, t_c 1 s, S 6.6: beta = (8 - 6.6) / (2e8 (6.6 x 31/32 - 8 x 3/4)) = 1.4 / 7.875e7
    beta = sm.bandwidth_for_speedup(6.6, 8, 4, 1.0, 1e8)
    assert beta == pytest.approx(1.4 / 7.875e7)
    ring = sm.RingModel(0.0, beta, "test")
    table = sm.predict({4: sm.ComputeModel(4, 0.0, 1 / 8, "test")}, ring, 1e8, [1, 8], [4], 8, images_per_epoch=1)
    assert table[col.SPEEDUP].iloc[-1] == pytest.approx(6.6)
    # alpha's share: 2 alpha (S (P-1) - N (w-1)) = 2e-3 (204.6 - 24) comes off the numerator
    assert sm.bandwidth_for_speedup(6.6, 8, 4, 1.0, 1e8, alpha=1e-3) == pytest.approx((1.4 - 0.3612) / 7.875e7)
    with pytest.raises(ValueError, match="6.19x"):  # 8 x 3/4 x 32/31: however slow the flat ring
        sm.bandwidth_for_speedup(6.1, 8, 4, 1.0, 1e8)
    with pytest.raises(ValueError):
        sm.bandwidth_for_speedup(8.0, 8, 4, 1.0, 1e8)


def test_fixed_cost_for_speedup_by_hand():
    # the paper's 128 nodes: local batch 16 -> 2, global batch x16; 19.2x = 16 (a + 16c) / (a + 2c): a = 68 c
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


def write_run(root: Path, nodes: int, per_node: int, batch: int, images_per_second: float) -> None:
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
        time_to_train=TimeToTrain(target_top1=None, seconds=None, epochs=None, reason="no target"),
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


def test_paper_path_runs_from_the_transcribed_table(tmp_path, capsys):
    """`predict --paper` needs no flag: Table 1's one-node point (30 images/s, 8 workers x 16), the 100 Gb/s link,
    the 2048 cap and the published epochs per row come from analysis.papers.datta2019."""
    from analysis.papers import datta2019 as paper

    code = main(["predict", "--paper", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Predicted vs published Table 1" in printed and "128-node speedup" in printed
    assert "one-node throughput (images/s): 30 (Datta et al. 2019, Table 1)" in printed
    table = col.read_csv(tmp_path / pr.TABLE_CSV)
    assert set(pr.PAPER_COLUMNS) <= set(table.columns)
    assert sorted(table[col.NODES]) == [row.nodes for row in paper.TABLE1]
    assert table[col.IMAGES_PER_SECOND].iloc[0] == pytest.approx(30.0)
    assert list(table[col.LOCAL_BATCH]) == [16, 16, 16, 16, 16, 8, 4, 2]  # 1024 workers under the cap of 2048
    assert list(table[col.PUBLISHED_IMAGES_PER_SECOND]) == [30, 72, 141, 262, 553, 893, 1284, 1587]
    assert list(table[col.EPOCHS]) == [6.6, 8, 8.7, 12, 15.9, 14.9, 15, 15.2]
    assert table[col.IMAGES_PER_SECOND_ERROR].notna().all() and table[col.TTT_ERROR].notna().all()
    assert pr.NOT_PUBLISHED not in printed.split("Why the model misses")[0].split("- ")[0]
    assert (tmp_path / pr.SPEEDUP_PNG).read_bytes().startswith(PNG_SIGNATURE)
    assert "(a) bandwidth" in printed and "(b) fixed cost" in printed
    assert "(b) fixed cost" in (tmp_path / pr.TABLE_MD).read_text()


def test_paper_path_flags_override_the_transcribed_point(tmp_path, capsys):
    assert main(["predict", "--paper", "--one-node-images-per-second", "20"]) == 0
    printed = capsys.readouterr().out
    assert "one-node throughput (images/s): 20 (given; the paper's is 30)" in printed


def test_paper_calibration_numbers():
    """The two calibrations for 13.3 images/s on one node (given in place of Table 1's 30), against the hand
    estimates of the scaling-model guide (docs/guides/scaling-model.md)."""
    from analysis.papers import datta2019 as paper

    assert paper.EIGHT_NODES["speedup"].value == 6.6 and paper.LARGE_SCALE["speedup_1_to_128"].value == 19.2
    bandwidth, fixed = pr.paper_validation(one_node_images_per_second=13.3).calibration
    # tau = (128 / 13.3 - T(8)) / 128 = 75.10 ms; x 2.222 (FLOPs 1024x1280 / 768x768) x 4 x 8 = 5.34 s;
    # beta = 1.4 x 5.34 / (2 x 170,309,044 x 0.39375) = 5.57e-8 s/B: 0.144 Gb/s
    assert "5.34 s per step" in bandwidth and "0.144 Gb/s, 0.14 % of the 100 Gb/s link" in bandwidth
    # without the allreduce a = 68 c exactly; T(1024) - T(8) = 12 ms more per step brings it to 67.3 c
    assert "= 67.3 c" in fixed and "81 % of the one-node step" in fixed


def test_paper_path_without_a_reference_point_names_the_flags():
    """A transcription without Table 1 (a stand-in): the command names the flags that would supply the point."""
    bare = fake_paper(TABLE1=(), one_node_images_per_second=lambda: None)
    with pytest.raises(ValueError, match="--one-node-images-per-second, --one-node-workers-per-node"):
        pr.paper_validation(paper=bare, image_size=(64, 64))


def fake_paper(**changes):
    """A stand-in for analysis.papers.datta2019 with a transcribed Table 1 (made-up numbers, for the arithmetic)."""

    def p(value, unit="x"):
        return Published(value, unit, "test")

    rows = (Table1Row(1, 2, p(10), p(16), p(None), p(40.0)), Table1Row(4, 2, p(20), p(32), p(50.0), p(None)))
    values = dict(
        TABLE1=rows,
        DATASET={"dataset_b_train_images": p(1000)},
        HARDWARE={"interconnect_gbits_per_second": p(8)},
        LARGE_SCALE={"max_global_batch_size": p(32), "speedup_1_to_128": p(None)},
        EIGHT_NODES={"speedup": p(None), "ttt_minutes": p(None)},
        one_node_images_per_second=lambda: 40.0,
    )
    values.update(changes)
    return SimpleNamespace(**values)


def test_paper_validation_with_a_transcribed_table():
    result = pr.paper_validation(paper=fake_paper(), image_size=(64, 64), latency_seconds=0.0)
    table = result.table.set_index(col.NODES)
    n = model_figures(64, 64).parameter_bytes
    beta = 8 / 8e9
    t1 = n * beta  # T(2) = 2 * 1/2 * n * beta
    tau = (2 * 8 / 40.0 - t1) / 16  # one-node step 0.4 s minus T(2), per image per node
    assert table.loc[1, col.IMAGES_PER_SECOND] == pytest.approx(40.0)
    assert table.loc[1, col.IMAGES_PER_SECOND_ERROR] == pytest.approx(0)
    # 4 nodes x 2 workers, cap 32 -> local 4, compute tau * 2 * 4, T(8) = 1.75 n beta
    step = tau * 8 + 1.75 * n * beta
    assert table.loc[4, col.LOCAL_BATCH] == 4 and table.loc[4, col.STEP_SECONDS] == pytest.approx(step)
    ttt = 20 * 1000 / (32 / step) / 60
    assert table.loc[4, col.TTT_MINUTES] == pytest.approx(ttt)
    assert table.loc[4, col.TTT_ERROR] == pytest.approx(100 * (ttt - 50) / 50)
    assert math.isnan(table.loc[4, col.PUBLISHED_IMAGES_PER_SECOND])  # not published: no error
    assert pr.display_table(result.table)[col.IMAGES_PER_SECOND_ERROR].iloc[1] == pr.NOT_PUBLISHED
    assert all("not computed" in line for line in result.calibration)  # no 8- or 128-node speedup published
    assert table.loc[4, col.EPOCHS] == 20


def test_cli_allreduce_rejects_bad_flags(capsys):
    assert main(["allreduce", "--iterations", "0"]) == 2
    assert "--iterations" in capsys.readouterr().err
    assert main(["allreduce", "--image-size", "100", "64"]) == 2
    assert "multiple of 64" in capsys.readouterr().err
    assert main(["allreduce", "--bytes-scale", "-1"]) == 2
    assert "--bytes-scale" in capsys.readouterr().err
    assert main(["allreduce", "--model", "densenet121", "--image-size", "16", "64"]) == 2
    assert "DenseNet-121 and VGG-16 take inputs of at least 32x32 pixels, got 16x64" in capsys.readouterr().err

"""``mcnn-bench bench analyze``: how long ``mcnn-bench analyze`` takes over many run records.

:func:`make_records` writes N valid records (``RESULTS/<sweep>/<run_id>/record.json``) made from one
template record, a real one (``--template RUN/record.json``) or, by default, :func:`template_record` (a
completed run with every section of the current record, built with the record model). Each copy varies
what a campaign varies: sweep name, nodes (1..128), workers per node (1..8), local batch (8..64), epochs
(3..8) and so its learning curves, images/s, peak RSS and time to train; about 3 % are failed runs. Every
record is validated by :class:`benchmark.record.RunRecord` before it is written, as ``analyze`` validates
it when it reads it.

:func:`bench_analyze` then times :func:`analysis.report.analyze` over 100, 1,000 and 10,000 such records
and prints, per size, the seconds it took to load the records, build and write the tables, draw the
summary plots and the per-sweep curves, in total, and the number and total bytes of the files it wrote.
"""

from __future__ import annotations

import copy
import math
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmark.config import TrainConfig
from benchmark.models.analytic import model_figures
from benchmark.record import (
    RECORD_NAME,
    Epoch,
    FieldAccuracy,
    Memory,
    ModelInfo,
    Provenance,
    RankBreakdown,
    RunRecord,
    StepBreakdown,
    StepSeconds,
    Threads,
    Throughput,
    TimeToTarget,
    TimeToTrain,
    Topology,
    Validation,
)
from benchmark.train.metrics import analytic_figures

from .columns import BREAKDOWN_PHASES

SIZES = (100, 1_000, 10_000)
#: Runs per generated sweep (the last sweep may hold fewer).
RUNS_PER_SWEEP = 64
NODES = (1, 2, 4, 8, 16, 32, 64, 128)
WORKERS_PER_NODE = (1, 2, 4, 8)
LOCAL_BATCHES = (8, 16, 32, 64)
FAILED_FRACTION = 0.03
#: Images/s of one worker at local batch 8 on the template's input; scaled per run.
ONE_WORKER_IMAGES_PER_SECOND = 6.0


def template_record() -> RunRecord:
    """A completed run record with every section (1 node x 1 worker, local batch 8, 768x768 bbbc021
    Dataset B on the field split, 4 epochs), built with the record model like a real run's."""
    image_size, batch = (768, 768), 8
    config = TrainConfig.from_flat(
        source="bbbc021",
        dir="/data/bbbc021",
        image_size=image_size,
        variant="dataset-b",
        split="field",
        epochs=4,
        target_top1=0.9,
        target_top5=1.0,
        sweep="template",
        run_id="n1-w1-b8",
        nodes=1,
        workers_per_node=1,
        local_batch_size=batch,
    )
    figures = model_figures(*image_size)
    lower_bound = figures.memory_lower_bound_bytes(batch)
    peak = int(1.6 * lower_bound)
    images_per_second = ONE_WORKER_IMAGES_PER_SECOND
    topology = Topology.of(1, 1, batch)
    sampled = RankBreakdown(
        rank=0, sampled_steps=4, wall_seconds=5.2, compute=4.4, allreduce=0.0, optimizer=0.15, input_wait=0.05, host=0.6
    )
    throughput = Throughput(
        warmup_steps=2,
        timed_steps=40,
        images=40 * batch,
        window_seconds=40 * batch / images_per_second,
        images_per_second=images_per_second,
        step_seconds=StepSeconds(per_rank=[], min=1.2, median=1.3, max=1.5),
        breakdown=StepBreakdown(
            per_rank=[sampled],
            shares={phase: getattr(sampled, phase) / sampled.wall_seconds for phase in BREAKDOWN_PHASES},
        ),
    )
    memory = Memory(peak_rss_bytes_per_rank=[peak], peak_rss_bytes_max=peak)
    return RunRecord(
        sweep="template",
        run_id="n1-w1-b8",
        status="completed",
        config=config,
        fingerprint=config.fingerprint(),
        topology=topology,
        provenance=Provenance(
            hostnames=["node0"],
            cpu_model="Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
            logical_cpus=80,
            threads=Threads(intra_op=10, inter_op=2, omp_num_threads="10", affinity_cores=10),
            software={"tensorflow-cpu": "2.18.1"},
            horovod_controller="mpi",
            git_commit=None,
            started_at="2026-11-22T00:00:00+00:00",
            train_images=9000,
            val_images=1000,
            steps_per_epoch=40,
        ),
        model=ModelInfo(parameters=figures.parameters, initial_weights_sha256="a", final_weights_sha256_per_rank=["b"]),
        throughput=throughput,
        memory=memory,
        epochs=_epochs(4, 0.01, 1.0, random.Random(0)),
        time_to_train=TimeToTrain(
            target_top1=0.9,
            seconds=1200.0,
            epochs=4,
            reason=None,
            top5=TimeToTarget(target=1.0, seconds=900.0, epochs=3, reason=None),
        ),
        analytic=analytic_figures(config, topology, throughput, memory),
        validation=Validation(
            fields=2,
            images=12,
            resamples=1000,
            level=0.95,
            leaky=False,
            per_field=[
                FieldAccuracy(field="p1/a.tif", images=6, top1=1.0, top5=1.0),
                FieldAccuracy(field="p2/b.tif", images=6, top1=0.5, top5=1.0),
            ],
        ),
    )


def make_records(
    results_dir: str | Path, count: int, template: RunRecord | None = None, seed: int = 0, workers: int = 1
) -> list[Path]:
    """Write ``count`` records varied from ``template`` (default :func:`template_record`) under
    ``results_dir``, in sweeps of ``RUNS_PER_SWEEP`` runs named ``sweep-0000``, ...; the same ``seed``
    writes the same records. ``workers`` > 1 writes them from that many processes. Returns the record
    paths. Raises ``ValueError`` if ``template`` is not a completed run with epochs."""
    template = template or template_record()
    if template.status != "completed" or not template.epochs:
        raise ValueError(
            f"the template must be a completed run with epochs, got a {template.status} run "
            f"{template.sweep}/{template.run_id}"
        )
    data = template.model_dump(mode="json")
    chunks = [range(start, min(count, start + 1_000)) for start in range(0, count, 1_000)]
    jobs = [(Path(results_dir), data, seed, chunk) for chunk in chunks]
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            return [path for paths in pool.map(_write_chunk, jobs) for path in paths]
    return [path for job in jobs for path in _write_chunk(job)]


def _write_chunk(job: tuple[Path, dict, int, range]) -> list[Path]:
    results_dir, template, seed, indices = job
    paths = []
    for index in indices:
        record = _varied(template, index, random.Random(seed * 1_000_003 + index))
        path = results_dir / record.sweep / record.run_id / RECORD_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record.model_dump_json(indent=2) + "\n")
        paths.append(path)
    return paths


def _varied(template: dict, index: int, rng: random.Random) -> RunRecord:
    """Record number ``index``: the template with its sweep, topology, epochs and figures varied; validated."""
    sweep, position = f"sweep-{index // RUNS_PER_SWEEP:04d}", index % RUNS_PER_SWEEP
    grid = len(NODES) * len(WORKERS_PER_NODE) * len(LOCAL_BATCHES)
    shape = (position * 37 + index // RUNS_PER_SWEEP) % grid  # each sweep a different part of the grid
    nodes = NODES[shape % len(NODES)]
    per_node = WORKERS_PER_NODE[shape // len(NODES) % len(WORKERS_PER_NODE)]
    batch = LOCAL_BATCHES[shape // (len(NODES) * len(WORKERS_PER_NODE))]
    workers, run_id = nodes * per_node, f"n{nodes}-w{per_node}-b{batch}-r{position}"
    data = copy.deepcopy(template)
    epochs = rng.randint(3, 8)
    data.update(sweep=sweep, run_id=run_id)
    del data["fingerprint"]  # the record model computes it from the varied config
    run = data["config"]["run"]
    run.update(sweep=sweep, run_id=run_id, nodes=nodes, workers_per_node=per_node, local_batch_size=batch)
    data["config"]["training"]["epochs"] = epochs
    data["topology"] = Topology.of(nodes, per_node, batch).model_dump()
    if rng.random() < FAILED_FRACTION:
        for section in (
            "provenance",
            "model",
            "throughput",
            "memory",
            "epochs",
            "time_to_train",
            "validation",
            "analytic",
            "resumes",
        ):
            data[section] = None
        data.update(status="failed", failure={"reason": "MemoryError: out of memory", "traceback": None})
        return RunRecord.model_validate(data)
    # Throughput: linear in workers with a per-node efficiency loss, better per image at larger batches.
    efficiency = 0.97 ** math.log2(workers) * (0.9 + 0.1 * rng.random())
    images_per_second = ONE_WORKER_IMAGES_PER_SECOND * workers * efficiency * (1 + 0.05 * math.log2(batch / 8))
    throughput = data["throughput"]
    throughput["images"] = throughput["timed_steps"] * batch * workers
    throughput["window_seconds"] = throughput["images"] / images_per_second
    throughput["images_per_second"] = images_per_second
    step = throughput["step_seconds"]
    step["per_rank"], step["median"] = [], batch * workers / images_per_second
    step["min"], step["max"] = 0.9 * step["median"], 1.2 * step["median"]
    peak = int(
        data["memory"]["peak_rss_bytes_max"]
        * (batch / template["topology"]["local_batch_size"]) ** 0.8
        * (0.9 + 0.2 * rng.random())
    )
    data["memory"] = {"peak_rss_bytes_per_rank": [peak] * workers, "peak_rss_bytes_max": peak}
    data["provenance"]["hostnames"] = [f"node{rank // per_node}" for rank in range(workers)]
    data["model"]["final_weights_sha256_per_rank"] = data["model"]["final_weights_sha256_per_rank"][:1] * workers
    seconds_per_epoch = data["provenance"]["train_images"] / images_per_second
    data["epochs"] = [
        epoch.model_dump(mode="json") for epoch in _epochs(epochs, 0.001 * workers, seconds_per_epoch, rng)
    ]
    ttt = data["time_to_train"]
    target = ttt["target_top1"]
    reached = [
        e for e in data["epochs"] if target is not None and e["val_top1"] is not None and e["val_top1"] >= target
    ]
    ttt.update(
        seconds=reached[0]["elapsed_seconds"] if reached else None,
        epochs=reached[0]["epoch"] if reached else None,
        reason=None if reached else f"top-1 never reached {target}",
    )
    if ttt.get("top5"):
        five = [
            e for e in data["epochs"] if e["val_top5"] is not None and e["val_top5"] >= (ttt["top5"]["target"] or 1)
        ]
        ttt["top5"].update(
            seconds=five[0]["elapsed_seconds"] if five else None,
            epochs=five[0]["epoch"] if five else None,
            reason=None if five else "top-5 never reached its target",
        )
    if data.get("analytic"):
        size = data["config"]["data"]["image_size"]
        figures = model_figures(size[0], size[1], 3, data["config"]["data"]["num_classes"])
        gflops = images_per_second * figures.training_flops_per_image / 1e9
        bound = figures.memory_lower_bound_bytes(batch)
        data["analytic"].update(
            activation_bytes=figures.activation_bytes(batch),
            memory_lower_bound_bytes=bound,
            achieved_gflops_per_second=gflops,
            achieved_gflops_per_second_per_worker=gflops / workers,
            peak_rss_over_lower_bound=peak / bound,
        )
    return RunRecord.model_validate(data)


def _epochs(count: int, peak_rate: float, seconds_per_epoch: float, rng: random.Random) -> list[Epoch]:
    """Learning curves that rise towards 97 % top-1 at a run's own pace, with a warm-up and decay rate."""
    pace = 0.6 + 0.6 * rng.random()
    epochs = []
    for e in range(1, count + 1):
        top1 = min(0.97, 1 - 0.8 * math.exp(-pace * e))
        top5 = min(1.0, top1 + 0.05)
        epochs.append(
            Epoch(
                epoch=e,
                learning_rate=peak_rate * min(e, 2) / 2 * (1 - (e - 1) / count) ** 2 + 1e-5,
                train_loss=2.4 * math.exp(-pace * e),
                val_loss=2.0 * math.exp(-pace * e),
                val_top1=top1,
                val_top5=top5,
                val_top1_ci=(max(0.0, top1 - 0.06), min(1.0, top1 + 0.02)),
                val_top5_ci=(max(0.0, top5 - 0.05), min(1.0, top5 + 0.01)),
                elapsed_seconds=seconds_per_epoch * e,
            )
        )
    return epochs


@dataclass(frozen=True)
class Timing:
    """One ``analyze`` over ``records`` records: wall seconds per phase (``AnalysisOutputs.seconds``:
    ``plots`` the summary figures, ``curves`` the per-sweep, and with ``--per-run-curves`` per-run, learning
    curves, ``report`` the HTML report), in total, the files written with their total bytes, and the HTML
    report's bytes (``report_bytes``, among them)."""

    records: int
    load: float
    tables: float
    plots: float
    curves: float
    report: float
    total: float
    files: int
    bytes: int
    report_bytes: int

    def line(self) -> str:
        return (
            f"{self.records:>6} records: load {self.load:6.2f} s, tables {self.tables:6.2f} s, plots "
            f"{self.plots:6.2f} s, curves {self.curves:6.2f} s, report {self.report:6.2f} s "
            f"({self.report_bytes / 2**20:.1f} MiB), total {self.total:6.2f} s; {self.files} files, "
            f"{self.bytes:,} bytes ({self.bytes / 2**20:.1f} MiB)"
        )


def bench_analyze(
    sizes=SIZES,
    out: str | Path | None = None,
    template: RunRecord | None = None,
    per_run_curves: bool = False,
    jobs: int | None = None,
    echo=print,
) -> list[Timing]:
    """Make ``sizes`` records each (in ``out/records-N``; kept, and reused by the next call when it holds
    exactly N records) and time ``analyze`` over them (into ``out/analysis-N``, emptied first). Prints what
    it measures and a :meth:`Timing.line` per size through ``echo``; returns the timings."""
    from tempfile import mkdtemp

    from .records import default_jobs
    from .report import analyze

    jobs = jobs or default_jobs()
    out = Path(out) if out is not None else Path(mkdtemp(prefix="mcnn-bench-analyze-"))
    echo(
        f"mcnn-bench analyze over generated records ({RUNS_PER_SWEEP} runs per sweep), {jobs} process(es)"
        + (", with --per-run-curves" if per_run_curves else "")
        + f"; folder {out}"
    )
    timings = []
    for size in sizes:
        results = out / f"records-{size}"
        if not results.is_dir() or sum(1 for _ in results.rglob(RECORD_NAME)) != size:
            shutil.rmtree(results, ignore_errors=True)
            started = time.perf_counter()
            make_records(results, size, template, workers=jobs)
            echo(f"made {size} records in {results} ({time.perf_counter() - started:.1f} s, not timed below)")
        analysis = out / f"analysis-{size}"
        shutil.rmtree(analysis, ignore_errors=True)
        started = time.perf_counter()
        outputs = analyze(results, analysis, per_run_curves=per_run_curves, jobs=jobs)
        total = time.perf_counter() - started
        seconds = outputs.seconds
        timing = Timing(
            size,
            seconds["load"],
            seconds["tables"],
            seconds["plots"],
            seconds["curves"],
            seconds["report"],
            total,
            len(outputs.files) + 1,
            sum(path.stat().st_size for path in [*outputs.files, outputs.report]),
            outputs.report.stat().st_size,
        )
        timings.append(timing)
        echo(timing.line())
    return timings


def load_template(path: str | Path) -> RunRecord:
    """A real record to copy (``RunRecord.load``: raises ``RecordError``, a ``ValueError``, if malformed)."""
    return RunRecord.load(path)

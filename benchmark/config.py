"""The configuration of one training run: what ``mcnn-bench train`` reads from flags or a JSON file."""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from benchmark.atomic import write_json_atomic
from benchmark.model import check_input_size

DATA_SOURCES = ("synthetic", "bbbc021-cells", "bbbc021")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. Sizes in pixels, rates per step, times in epochs or steps.

    The defaults follow Datta et al. 2019 (sec. 3): momentum 0.9, weight decay 5e-5, warm-up from
    ``lr_start`` = 0.001 to the linearly scaled peak, then polynomial decay.
    """

    data: str = "synthetic"
    data_dir: str | None = None
    image_size: tuple[int, int] = (1024, 1280)
    num_classes: int = 13
    val_fraction: float = 0.2
    local_batch_size: int = 2
    epochs: int = 1
    steps_per_epoch: int | None = None
    warmup_steps: int = 2
    lr_start: float = 0.001
    base_lr: float = 0.001
    lr_end: float = 1e-5
    warmup_epochs: float = 1.0
    poly_power: float = 2.0
    max_lr: float | None = None
    max_global_batch_size: int | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-5
    target_top1: float | None = None
    seed: int = 0
    nodes: int | None = None
    workers_per_node: int | None = None
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    results_dir: str = "results"
    sweep: str = "adhoc"
    run_id: str = "run"

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", tuple(self.image_size))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting when a value cannot run."""
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data: unknown source {self.data!r}; choose one of {', '.join(DATA_SOURCES)}")
        if self.data != "synthetic" and not self.data_dir:
            raise ValueError(f"data_dir: required for data source {self.data!r}")
        if self.data == "synthetic" and not self.steps_per_epoch:
            raise ValueError("steps_per_epoch: required for synthetic data (it has no natural epoch)")
        positive = ("num_classes", "local_batch_size", "epochs", "nodes", "workers_per_node")
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if len(self.image_size) != 2:
            raise ValueError(f"image_size: must be two integers (height, width), got {self.image_size}")
        check_input_size(*self.image_size)
        if self.steps_per_epoch is not None and self.steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch: must be positive, got {self.steps_per_epoch}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {self.warmup_steps}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction: must be in (0, 1), got {self.val_fraction}")
        if self.target_top1 is not None and not 0 < self.target_top1 <= 1:
            raise ValueError(f"target_top1: must be a fraction in (0, 1], got {self.target_top1}")

    @property
    def run_dir(self) -> Path:
        """``results_dir / sweep / run_id``: where the run record and progress file go."""
        return Path(self.results_dir) / self.sweep / self.run_id

    def to_dict(self) -> dict:
        """A JSON-ready dict of every setting."""
        data = dataclasses.asdict(self)
        data["image_size"] = list(self.image_size)
        return data

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict; raise ``ValueError`` naming any unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainConfig":
        """Read a config written by :meth:`write_json`; ``ValueError`` naming the file if it is bad."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read training config: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``mcnn-bench train`` to ``parser``."""
    d = argparse.Namespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)})
    g = parser.add_argument_group("data")
    g.add_argument("--config", type=Path, help="read every setting from this JSON file (flags are ignored)")
    g.add_argument("--data", choices=DATA_SOURCES, default=d.data,
                   help="image source: random images (throughput), real BBBC021 single-cell crops, or the "
                        "official BBBC021 layout of one TIFF per channel (default: %(default)s)")
    g.add_argument("--data-dir", help="folder of the data (cells: index.csv + images.npy/.npz; "
                                      "bbbc021: BBBC021_v1_image.csv, BBBC021_v1_moa.csv and the TIFFs)")
    g.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=list(d.image_size),
                   help="model input in pixels, multiples of 64 (default: %(default)s)")
    g.add_argument("--num-classes", type=int, default=d.num_classes, help="(default: %(default)s MoA classes)")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="fraction of fields of view held out for validation (default: %(default)s)")
    g = parser.add_argument_group("training")
    g.add_argument("--batch-size", dest="local_batch_size", type=int, default=d.local_batch_size,
                   help="local batch size per worker; global = local x workers (default: %(default)s)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="(default: %(default)s)")
    g.add_argument("--steps-per-epoch", type=int, help="steps per epoch (required for synthetic data; "
                                                       "for real data, a limit)")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps,
                   help="steps excluded from the throughput window (default: %(default)s)")
    g.add_argument("--target-top1", type=float, help="validation top-1 (fraction) that defines time to train")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--nodes", type=int, help="expected node count; the run fails if Horovod sees another")
    g.add_argument("--workers-per-node", type=int,
                   help="expected workers per node; the run fails if Horovod sees another")
    g = parser.add_argument_group("optimizer (Datta et al. 2019, sec. 3)")
    g.add_argument("--lr-start", type=float, default=d.lr_start, help="rate where warm-up starts")
    g.add_argument("--base-lr", type=float, default=d.base_lr, help="per-worker peak; peak = base x workers")
    g.add_argument("--lr-end", type=float, default=d.lr_end, help="rate at the last epoch")
    g.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    g.add_argument("--poly-power", type=float, default=d.poly_power, help="exponent of the polynomial decay")
    g.add_argument("--max-lr", type=float, help="cap on the scaled peak rate")
    g.add_argument("--max-global-batch-size", type=int,
                   help="the linear scaling stops growing once the global batch reaches this")
    g.add_argument("--momentum", type=float, default=d.momentum)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 factor on the weights")
    g = parser.add_argument_group("run")
    g.add_argument("--intra-op-threads", type=int, help="TensorFlow intra-op threads per worker")
    g.add_argument("--inter-op-threads", type=int, help="TensorFlow inter-op threads per worker")
    g.add_argument("--results-dir", default=d.results_dir, help="(default: %(default)s)")
    g.add_argument("--sweep", default=d.sweep, help="sweep name: the record goes to RESULTS/SWEEP/RUN_ID")
    g.add_argument("--run-id", default=d.run_id)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed flags describe (or the ``--config`` file's)."""
    if args.config is not None:
        return TrainConfig.from_json(args.config)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def write_json(config: TrainConfig, path: Path) -> None:
    """Write ``config`` as JSON to ``path`` atomically."""
    write_json_atomic(path, config.to_dict())

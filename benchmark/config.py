"""The settings of one training run: one model from which the sweep spec's ``[data]``, ``[training]``
and ``[learning_rate]`` sections, the flags of ``mcnn-bench train`` and the run's ``config.json`` are all
derived, with one set of defaults and bounds.

Defaults follow Datta et al. 2019 (sec. 3): momentum 0.9, weight decay 5e-5, warm-up from ``lr_start`` =
0.001 to the linearly scaled peak, then polynomial decay of power 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonDict

from benchmark.data.sources import SOURCES
from benchmark.data.variants import VARIANTS
from benchmark.engines import DEVICES, ENGINES, Device, device_problem
from benchmark.errors import McnnBenchError
from benchmark.models import MODELS
from benchmark.schema import Line, Model, PlainName, describe_all
from benchmark.train.optimizers import OPTIMIZERS
from benchmark.train.precisions import PRECISIONS
from benchmark.train.schedule import SCHEDULES
from benchmark.util.allocator import ALLOCATORS
from benchmark.util.atomic import write_json_atomic


class SettingsError(McnnBenchError, ValueError):
    """Settings that cannot run; the message has one line per problem, each naming its key."""


# The names of a registry's entries, as Literals built from the registries at import: pydantic validates
# against them and ``--help`` lists them as choices. A type checker cannot read a Literal made at run time,
# so it sees plain strings.
if TYPE_CHECKING:
    SourceName: TypeAlias = str
    Variant: TypeAlias = str
    Precision: TypeAlias = str
    Optimizer: TypeAlias = str
    Schedule: TypeAlias = str
    Allocator: TypeAlias = str
    ModelName: TypeAlias = str
    EngineName: TypeAlias = str
else:
    SourceName = Literal[tuple(SOURCES)]
    Variant = Literal[tuple(VARIANTS)]
    Precision = Literal[tuple(PRECISIONS)]
    Optimizer = Literal[tuple(OPTIMIZERS)]
    Schedule = Literal[tuple(SCHEDULES)]
    Allocator = Literal[tuple(ALLOCATORS)]
    ModelName = Literal[tuple(MODELS)]
    EngineName = Literal[tuple(ENGINES)]
Split = Literal["field", "plate", "compound", "paper", "lists"]
#: The splits by group (every image of a group on one side), which ``data.folds`` can fold.
GROUP_SPLITS = ("field", "plate", "compound")
#: The splits by plate and by compound, which need BBBC021's plate and compound of each image.
BBBC021_SPLITS = ("plate", "compound")
ImageSize = Annotated[
    tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]],
    BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v),
]


def _flag(name: str) -> JsonDict:
    return {"flag": name}


def _extra(field: FieldInfo) -> JsonDict:
    """A field's ``json_schema_extra`` (``{}`` when it has none); the settings never give a callable."""
    extra = field.json_schema_extra
    assert not callable(extra), "the settings' json_schema_extra are dicts, not callables"
    return extra or {}


def _choices(registry: dict) -> str:
    """The names and descriptions of a registry's entries (each with ``description``), for a field's
    description: ``name: description; ...``."""
    return "; ".join(f"{name}: {entry.description}" for name, entry in registry.items())


def _default(registry: dict) -> str:
    """A registry's default: its first name."""
    return next(iter(registry))


#: Marks a setting that does not change what a run trains or measures (where it lands, what it is
#: called, how often it saves its state): left out of :meth:`TrainConfig.fingerprint`.
NOT_FINGERPRINTED: JsonDict = {"fingerprint": False}
#: Marks a setting added after runs were recorded: it is in :meth:`TrainConfig.fingerprint` only when it
#: differs from its default, so that the runs recorded before it existed keep their fingerprints.
FINGERPRINTED_UNLESS_DEFAULT: JsonDict = {"fingerprint": "unless-default"}


def set_by_sweep(owner: str) -> JsonDict:
    """Marks a ``[run]`` setting that a sweep sets for each run (``owner`` says from what, e.g.
    ``"grid.nodes"``): a sweep spec's ``[run]`` section may not give it (:mod:`slurm.spec`)."""
    return {"sweep": owner}


def sweep_owner(field: FieldInfo) -> str | None:
    """What sets a setting of this ``field`` in a sweep (see :func:`set_by_sweep`); None when the spec may."""
    owner = _extra(field).get("sweep")
    assert owner is None or isinstance(owner, str), "set_by_sweep marks a field with a string"
    return owner


class DataSettings(Model):
    """``[data]``: the images a run trains on."""

    @model_validator(mode="before")
    @classmethod
    def _classes_of_source(cls, data):
        """``num_classes`` left out: the source's own count, when it has one."""
        if isinstance(data, dict) and "num_classes" not in data and data.get("source") in SOURCES:
            classes = SOURCES[data["source"]].classes
            data = data if classes is None else {**data, "num_classes": classes}
        return data

    source: SourceName = Field(
        description="image source: " + "; ".join(f"{s.name}, {s.help}" for s in SOURCES.values()),
        json_schema_extra=_flag("--data"),
    )
    dir: Line | None = Field(
        None,
        description="folder of the data (not for synthetic); in a spec, relative to the spec file",
        json_schema_extra=_flag("--data-dir"),
    )
    image_size: ImageSize = Field(
        description="model input [height, width] in pixels; M-CNN: multiples of 64 "
        "(Dataset A of the paper: 1024 1280); DenseNet-121 and VGG-16: "
        "at least 32 (CheXNet: 224 224)"
    )
    num_classes: int = Field(
        13,
        gt=0,
        description="classes (13 BBBC021 MoAs, 14 ChestX-ray14 pathologies); when left out, a real source's own count",
    )
    val_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="fraction of fields of view held out for validation (of the copies, with split = paper)",
    )
    variant: Variant = Field(
        "none",
        description="the paper's workloads, made on the fly from the bbbc021 "
        "source's fields (Datta et al. 2019, sec. 4): none (the "
        "images as read); dataset-a (1,684 fields, 6 dihedral copies "
        "each); dataset-b (724x724 centre crops of every 15-degree "
        "rotation of each field and of its mirror image, padded)",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    split: Split = Field(
        "field",
        description="field: every copy of a field of view (ChestX-ray14: every "
        "image of a patient) on one side (the default); plate: every "
        "field of a plate on one side (BBBC021's not-same-batch split); "
        "compound: every field of a compound on one side (not-same-compound, "
        "BBBC021's standard protocol, Ljosa et al. 2013); paper: the "
        "paper's split over copies, in which validation may hold a copy "
        "of a training field (a leaky split, flagged in every table); "
        "lists: the dataset's published split lists (ChestX-ray14: "
        "CheXNet's patient-wise chexnet_{train,val}_list.txt)",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    folds: int | None = Field(
        None,
        ge=2,
        description="K-fold validation by data.split's groups (field, plate or compound; stratified by class "
        "but for plates): a sweep runs K runs (ids ending -f1..-fK), each validating a different K-th of "
        "the groups, and analyze combines them into one estimate over every group (folds.md); replaces "
        "val_fraction",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    fold: int | None = Field(
        None,
        ge=1,
        description="which of the data.folds folds this run validates (1..K); a sweep sets it for each run",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )


class ModelSettings(Model):
    """``[model]``: the network a run trains (:data:`benchmark.models.MODELS`) and where its weights start."""

    name: ModelName = Field(
        _default(MODELS),
        description=_choices(MODELS),
        json_schema_extra={**FINGERPRINTED_UNLESS_DEFAULT, "flag": "--model"},
    )
    init_weights: Line | None = Field(
        None,
        min_length=1,
        description="a local Keras weights file (.h5 or "
        ".weights.h5) loaded into the backbone "
        "before training, e.g. ImageNet weights; "
        "nothing is downloaded",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )


class TrainingSettings(Model):
    """``[training]``: length, seed, optimizer, what time to train means, checkpoints and where the weights
    start from."""

    epochs: int = Field(gt=0, description="epochs to train")
    steps_per_epoch: int | None = Field(
        None, gt=0, description="steps per epoch (required for synthetic data; for real data, a cap)"
    )
    warmup_steps: int = Field(2, ge=0, description="steps excluded from the throughput window")
    target_top1: float | None = Field(
        None, gt=0, le=1, description="validation top-1 (fraction) that defines time to train"
    )
    target_top5: float | None = Field(
        None,
        gt=0,
        le=1,
        description="validation top-5 (fraction) of the second time to train (the paper's 100 %)",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    target_mean_auroc: float | None = Field(
        None,
        gt=0,
        le=1,
        description="validation mean per-class AUROC that defines time to train (multi-label data)",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    optimizer: Optimizer = Field(
        _default(OPTIMIZERS), description=_choices(OPTIMIZERS), json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT
    )
    seed: int = Field(0, ge=0, description="seed of the weights, the split and the shuffles")
    momentum: float = Field(0.9, ge=0, le=1, description="SGD momentum")
    weight_decay: float = Field(5e-5, ge=0, description="L2 factor on the kernels")
    checkpoint_every_epochs: int | None = Field(
        1,
        gt=0,
        description="write a checkpoint every this many "
        "epochs, after the evaluation (null: "
        "none; a final one is always written)",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    checkpoint_every_minutes: float | None = Field(
        None,
        gt=0,
        description="also write a checkpoint when this many minutes passed since the last one (null: none)",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    init_from: Line | None = Field(
        None,
        min_length=1,
        description="RUN_DIR of another run: start from the "
        "model weights (not the optimizer, not the "
        "position) of its newest valid checkpoint",
    )
    precision: Precision = Field(
        _default(PRECISIONS), description=_choices(PRECISIONS), json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT
    )


class LearningRateSettings(Model):
    """``[learning_rate]``: warm-up then polynomial decay, peak by the linear scaling rule (Datta et al.
    2019, sec. 3; :mod:`benchmark.train.schedule`)."""

    lr_start: float = Field(0.001, ge=0, description="rate where the warm-up starts")
    base_lr: float = Field(
        0.001,
        gt=0,
        description="per-worker peak; peak = base_lr x workers (with "
        "reference_batch_size: base_lr x global batch / reference)",
    )
    reference_batch_size: int | None = Field(
        None,
        gt=0,
        description="the global batch at which the rate is "
        "base_lr, for the linear scaling rule over "
        "global batches (Wilson et al. double the rate "
        "with the batch); null: scale by workers",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    lr_end: float = Field(1e-5, ge=0, description="rate at the last epoch")
    warmup_epochs: float = Field(1.0, ge=0, description="length of the linear warm-up, in epochs")
    power: float = Field(2.0, gt=0, description="exponent of the polynomial decay")
    max_lr: float | None = Field(None, gt=0, description="cap on the scaled peak rate")
    max_global_batch_size: int | None = Field(
        None, gt=0, description="the linear scaling stops growing once the global batch reaches this"
    )
    schedule: Schedule = Field(
        _default(SCHEDULES), description=_choices(SCHEDULES), json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT
    )
    decay_factor: float = Field(
        0.9,
        gt=0,
        le=1,
        description="step schedule: factor applied once per epoch",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    decay_from_epoch: int = Field(
        5,
        ge=0,
        description="step schedule: the first epoch (0-based) whose rate is decayed",
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )


class RunSettings(Model):
    """Where one run sits: its local batch and topology (a sweep's grid sets them), its threads (the
    executor sets them) and its place in the results."""

    local_batch_size: int = Field(
        2,
        gt=0,
        description="local batch size per worker; global = local x workers",
        json_schema_extra={**_flag("--batch-size"), **set_by_sweep("grid.local_batch_size or grid.global_batch_size")},
    )
    nodes: int | None = Field(
        None,
        gt=0,
        description="expected node count; the run fails if its launcher sees another",
        json_schema_extra=set_by_sweep("grid.nodes"),
    )
    workers_per_node: int | None = Field(
        None,
        gt=0,
        description="expected workers per node; the run fails if its launcher sees another",
        json_schema_extra=set_by_sweep("grid.workers_per_node"),
    )
    node: PlainName | None = Field(
        None,
        description="the node a fleet sweep pinned this single-node run to (its SLURM job asks --nodelist); "
        "acceptance holds the run against the fleet's other nodes",
        json_schema_extra={**FINGERPRINTED_UNLESS_DEFAULT, **set_by_sweep("grid.each_node or grid.nodes_list")},
    )
    intra_op_threads: int | None = Field(
        None,
        gt=0,
        description="the framework's intra-op threads per worker",
        json_schema_extra=set_by_sweep("grid.intra_op_threads, else the executor (each worker's share of the cores)"),
    )
    inter_op_threads: int | None = Field(
        None,
        gt=0,
        description="the framework's inter-op threads per worker",
        json_schema_extra=set_by_sweep("the executor (1)"),
    )
    engine: EngineName = Field(
        _default(ENGINES),
        description="the training engine: " + _choices(ENGINES),
        json_schema_extra={**FINGERPRINTED_UNLESS_DEFAULT, "flag": "--engine"},
    )
    device: Device = Field(
        DEVICES[0],
        description="what each worker trains on: cpu (the node's cores, shared by its workers) or gpu (one GPU "
        "per worker, chosen by its local rank: SLURM jobs ask --gpus-per-node = workers per node; NCCL; fp32 "
        "with TF32 allowed, bf16 where the GPU has it); the engine must train on it ("
        + "; ".join(f"{name}: {', '.join(entry.devices)}" for name, entry in ENGINES.items())
        + ")",
        json_schema_extra={**FINGERPRINTED_UNLESS_DEFAULT, "flag": "--device"},
    )
    allocator: Allocator = Field(
        _default(ALLOCATORS),
        description="the workers' malloc: " + _choices(ALLOCATORS),
        json_schema_extra=FINGERPRINTED_UNLESS_DEFAULT,
    )
    results_dir: Line = Field(
        "results",
        min_length=1,
        description="where sweeps land",
        json_schema_extra={**NOT_FINGERPRINTED, **set_by_sweep("results_dir (top level) or --results-dir")},
    )
    sweep: PlainName = Field(
        "adhoc",
        description="sweep name: the record goes to RESULTS/SWEEP/RUN_ID",
        json_schema_extra={**NOT_FINGERPRINTED, **set_by_sweep("name (top level)")},
    )
    run_id: PlainName = Field(
        "run",
        description="the run's name in its sweep",
        json_schema_extra={**NOT_FINGERPRINTED, **set_by_sweep("the grid (the run's id)")},
    )
    watchdog_floor_seconds: float = Field(
        600.0,
        gt=0,
        description="stall watchdog: every rank ends the run (a failed record naming the rank that stopped "
        "answering) when no training step, validation batch or checkpoint finished for max(this, "
        "watchdog_step_multiple x the median step so far) seconds (benchmark.train.watchdog)",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    watchdog_step_multiple: float = Field(
        50.0,
        ge=1,
        description="stall watchdog: the bound in median steps (see watchdog_floor_seconds)",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    watchdog_start_seconds: float = Field(
        1800.0,
        gt=0,
        description="stall watchdog: the bound before a segment's first steps (start-up, checkpoint loading, "
        "the node's peak measurement, graph tracing) and through its first evaluation",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    heartbeat_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="every rank writes RUN_DIR/heartbeats/rank-R.json this often; a heartbeat older than 3 "
        "intervals (at least 5 s) names its rank as not answering",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    stall_floor_seconds: float = Field(
        60.0,
        gt=0,
        description="a step gap (from the end of the previous step, evaluation or checkpoint to the end of "
        "the step) longer than max(this, stall_step_multiple x the median step so far) is recorded "
        "in the record's stalls",
        json_schema_extra=NOT_FINGERPRINTED,
    )
    stall_step_multiple: float = Field(
        10.0,
        ge=1,
        description="the stall threshold in median steps (see stall_floor_seconds)",
        json_schema_extra=NOT_FINGERPRINTED,
    )


#: The sections of a training config, in the order of the sweep spec and ``--help``.
SECTIONS: dict[str, type[Model]] = {
    "data": DataSettings,
    "model": ModelSettings,
    "training": TrainingSettings,
    "learning_rate": LearningRateSettings,
    "run": RunSettings,
}
#: Each setting's section: setting names are unique across sections, so a flat name (a flag) finds it.
SECTION_OF = {name: section for section, model in SECTIONS.items() for name in model.model_fields}


def data_problems(data: DataSettings, training: TrainingSettings, model: ModelSettings | None = None) -> list[str]:
    """What makes ``data``, ``training`` and ``model`` unable to run together, one ``key: why`` line each."""
    source, model = SOURCES[data.source], model or ModelSettings()
    problems = []
    try:
        MODELS[model.name].check_size(*data.image_size)
    except ValueError as exc:
        problems.append(f"data.image_size: {exc}")
    if source.classes is not None and data.num_classes != source.classes:
        problems.append(f"data.num_classes: {data.source} data has {source.classes} classes, got {data.num_classes}")
    single = source.task == "single-label"
    for key in ("target_top1", "target_top5") if not single else ("target_mean_auroc",):
        if getattr(training, key) is not None:
            problems.append(
                f"training.{key}: not a figure of {source.task} data ({data.source}); use "
                + ("target_top1/target_top5" if single else "target_mean_auroc")
            )
    if data.split == "lists" and not source.split_lists:
        problems.append(f"data.split: {data.source} data has no published split lists; use field")
    if source.needs_folder and not data.dir:
        problems.append(f"data.dir: required for data source {data.source!r}")
    if not source.needs_folder and training.steps_per_epoch is None:
        problems.append(f"training.steps_per_epoch: required for {data.source} data (it has no natural epoch)")
    if data.variant != "none" and data.source != "bbbc021":
        problems.append(
            f"data.variant: {data.variant} is made from full fields of view: needs data source "
            f"'bbbc021', not {data.source!r}"
        )
    if data.split == "paper" and not source.needs_folder:
        problems.append(f"data.split: {data.source} data has no validation set to split")
    if data.split in BBBC021_SPLITS and not data.source.startswith("bbbc021"):
        problems.append(f"data.split: {data.split} needs BBBC021's plates and compounds, not {data.source!r} data")
    if data.folds is not None and data.split not in GROUP_SPLITS:
        problems.append(f"data.folds: folds a split by group ({', '.join(GROUP_SPLITS)}), not {data.split!r}")
    if data.fold is not None and (data.folds is None or data.fold > data.folds):
        problems.append(f"data.fold: {data.fold} needs data.folds of at least {data.fold}")
    return problems


def _fingerprinted(field: FieldInfo, value: Any) -> bool:
    """Whether a setting of this ``field`` at ``value`` (as JSON) is part of the fingerprint."""
    rule = _extra(field).get("fingerprint", True)
    if rule == "unless-default":
        return value != field.default
    assert isinstance(rule, bool), f"fingerprint rule {rule!r}: True, False or 'unless-default'"
    return rule


class TrainConfig(Model):
    """Every setting of one training run. Sizes in pixels, rates per step, lengths in epochs or steps."""

    data: DataSettings
    model: ModelSettings = ModelSettings()
    training: TrainingSettings
    learning_rate: LearningRateSettings = LearningRateSettings()
    run: RunSettings = RunSettings()

    @model_validator(mode="after")
    def _runnable(self) -> TrainConfig:
        problems = data_problems(self.data, self.training, self.model)
        device = device_problem(self.run.engine, self.run.device)
        problems += [device] if device else []
        if self.data.folds is not None and self.data.fold is None:
            problems.append(f"data.fold: required with data.folds = {self.data.folds} (1..{self.data.folds})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def run_dir(self) -> Path:
        """``results_dir / sweep / run_id``: where the run's config, record and logs go."""
        return Path(self.run.results_dir) / self.run.sweep / self.run.run_id

    def fingerprinted(self) -> dict[str, object]:
        """Every setting that changes what the run trains or measures, as ``{"section.key": value}`` (JSON
        values): all but those marked :data:`NOT_FINGERPRINTED`, and those marked
        :data:`FINGERPRINTED_UNLESS_DEFAULT` while at their default."""
        flat = {}
        for section, values in self.to_json_dict().items():
            fields = SECTIONS[section].model_fields
            flat.update(
                {f"{section}.{key}": value for key, value in values.items() if _fingerprinted(fields[key], value)}
            )
        return flat

    def fingerprint(self) -> str:
        """The run's identity: the first 16 hex digits of the SHA-256 of :meth:`fingerprinted` as canonical
        JSON. Two configs with the same fingerprint train and measure the same run."""
        text = json.dumps(self.fingerprinted(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def updated(self, section: str, **changes) -> TrainConfig:
        """A copy with ``changes`` applied to one section, validated again.

        Raises:
            SettingsError: naming each key whose new value is invalid.
        """
        data = self.model_dump()
        data[section] = {**data[section], **changes}
        return self.parse(data)

    @classmethod
    def parse(cls, data: dict, where: str = "") -> TrainConfig:
        """Validate a nested dict of settings (``{"data": {...}, "training": {...}, ...}``).

        Raises:
            SettingsError: every problem at once, one line each naming its key, after ``where``.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = describe_all(exc)
            raise SettingsError(
                f"{where}{': ' if where else ''}invalid training config:\n" + "\n".join(f"  - {line}" for line in lines)
            ) from None

    @classmethod
    def from_flat(cls, **settings) -> TrainConfig:
        """Build from flat setting names (``source=``, ``epochs=``, ``base_lr=`` ...; see :data:`SECTION_OF`).

        Raises:
            SettingsError: an unknown name, or any invalid value (see :meth:`parse`).
        """
        unknown = sorted(set(settings) - set(SECTION_OF))
        if unknown:
            raise SettingsError(f"unknown training setting(s): {', '.join(unknown)}")
        nested: dict[str, dict] = {}
        for name, value in settings.items():
            nested.setdefault(SECTION_OF[name], {})[name] = value
        return cls.parse(nested)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Read a config written by :meth:`write_json`.

        Raises:
            SettingsError: the file cannot be read, is not JSON, or does not validate (naming the file).
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SettingsError(f"{path}: cannot read training config: {exc}") from exc
        return cls.parse(data, where=str(path))

    def write_json(self, path: str | Path) -> Path:
        """Write the config as JSON to ``path`` atomically; returns ``path``."""
        return write_json_atomic(path, self.to_json_dict())


def _argument_type(annotation) -> tuple[type, int | None, list | None]:
    """(type, nargs, choices) of a flag for a field of this annotation."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        return _argument_type(args[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return _argument_type(next(a for a in args if a is not type(None)))
    if typing.get_origin(annotation) is Literal:
        return str, None, list(args)
    if typing.get_origin(annotation) is tuple:
        return args[0], len(args), None
    return annotation, None, None


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting of :class:`TrainConfig` to ``parser``, grouped by section.

    A flag is ``--`` and the setting's name with dashes, unless the field names its own (``--data``,
    ``--data-dir``, ``--batch-size``). Flags left out take the model's defaults.
    """
    parser.add_argument("--config", type=Path, help="read every setting from this JSON file (flags are ignored)")
    for section, model in SECTIONS.items():
        assert model.__doc__ is not None, f"section {section}: its model needs a docstring (the group's help)"
        group = parser.add_argument_group(section, " ".join(model.__doc__.split("\n\n")[0].split()))
        for name, field in model.model_fields.items():
            kind, nargs, choices = _argument_type(field.annotation)
            flag = _extra(field).get("flag", "--" + name.replace("_", "-"))
            assert isinstance(flag, str), f"{section}.{name}: its json_schema_extra flag is not a string"
            default = "required" if field.is_required() else f"default: {field.default}"
            group.add_argument(
                flag,
                dest=name,
                type=kind,
                nargs=nargs,
                choices=choices,
                default=None,
                metavar=name.upper() if nargs is None else ("H", "W"),
                help=f"{field.description} ({default})".replace("%", "%%"),
            )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed flags describe (or the ``--config`` file's).

    Raises:
        SettingsError: naming every invalid or missing setting by its key.
    """
    if args.config is not None:
        return TrainConfig.from_json(args.config)
    given = {name: getattr(args, name) for name in SECTION_OF if getattr(args, name, None) is not None}
    return TrainConfig.from_flat(**given)

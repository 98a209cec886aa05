"""Sweep specs: a TOML file that names a grid of runs (nodes x workers per node x batch sizes).

The spec is validated before anything runs: unknown keys, wrong types, empty lists, non-positive numbers,
several nodes with the local executor, a global batch that does not divide by the workers: each gets an
error naming the key. Relative paths in a spec are resolved from the spec file's folder. The schema is
documented in slurm/README.md.
"""
from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmark.config import DATA_SOURCES, TrainConfig
from benchmark.model import SIZE_MULTIPLE

EXECUTORS = ("local", "slurm")
_REQUIRED = object()


class SpecError(ValueError):
    """A sweep spec that cannot run; the message names the file and every offending key."""


@dataclass(frozen=True)
class Key:
    """One key of the schema: a checker that returns an error text (or None), and a default."""

    check: Callable[[Any], str | None]
    default: Any = _REQUIRED


def _number(kind, minimum=None, exclusive=True, maximum=None):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"must be {'an integer' if kind is int else 'a number'}, got {value!r}"
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            return f"must be {'>' if exclusive else '>='} {minimum}, got {value!r}"
        if maximum is not None and value > maximum:
            return f"must be <= {maximum}, got {value!r}"
        return None
    return check


def _list_of(item_check, allow_empty=False, unique=True):
    def check(value):
        if not isinstance(value, list) or (not value and not allow_empty):
            return f"must be a {'' if allow_empty else 'non-empty '}list, got {value!r}"
        for item in value:
            problem = item_check(item)
            if problem:
                return f"item {item!r} {problem}"
        if unique and len(set(map(repr, value))) != len(value):
            return f"has repeated values: {value!r}"
        return None
    return check


def _one_of(choices):
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"


def _string(value):
    return None if isinstance(value, str) and value else f"must be a non-empty string, got {value!r}"


def _boolean(value):
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _image_size(value):
    problem = _list_of(_number(int, 0), unique=False)(value)
    if problem or len(value) != 2:
        return problem or f"must be [height, width], got {value!r}"
    if any(v % SIZE_MULTIPLE for v in value):
        return f"height and width must be multiples of {SIZE_MULTIPLE} (M-CNN's coarsest pooling), got {value!r}"
    return None


def _table(value):
    return None if isinstance(value, dict) else f"must be a table, got {value!r}"


_POSITIVE_INT = _number(int, 0)
_POSITIVE = _number((int, float), 0)
_NON_NEGATIVE = _number((int, float), 0, exclusive=False)

SCHEMA: dict[str, dict[str, Key]] = {
    "": {"name": Key(_string), "results_dir": Key(_string, None), "description": Key(_string, None)},
    "data": {
        "source": Key(_one_of(DATA_SOURCES)),
        "dir": Key(_string, None),
        "image_size": Key(_image_size),
        "num_classes": Key(_POSITIVE_INT, 13),
        "val_fraction": Key(_number((int, float), 0, maximum=0.99), 0.2),
    },
    "grid": {
        "nodes": Key(_list_of(_POSITIVE_INT)),
        "workers_per_node": Key(_list_of(_POSITIVE_INT)),
        "local_batch_size": Key(_list_of(_POSITIVE_INT), None),
        "global_batch_size": Key(_list_of(_POSITIVE_INT), None),
    },
    "training": {
        "epochs": Key(_POSITIVE_INT),
        "steps_per_epoch": Key(_POSITIVE_INT, None),
        "warmup_steps": Key(_number(int, 0, exclusive=False), 2),
        "target_top1": Key(_number((int, float), 0, maximum=1), None),
        "seed": Key(_number(int, 0, exclusive=False), 0),
        "momentum": Key(_number((int, float), 0, exclusive=False, maximum=1), 0.9),
        "weight_decay": Key(_NON_NEGATIVE, 5e-5),
    },
    "learning_rate": {
        "lr_start": Key(_NON_NEGATIVE, 0.001),
        "base_lr": Key(_POSITIVE, 0.001),
        "lr_end": Key(_NON_NEGATIVE, 1e-5),
        "warmup_epochs": Key(_NON_NEGATIVE, 1.0),
        "power": Key(_POSITIVE, 2.0),
        "max_lr": Key(_POSITIVE, None),
        "max_global_batch_size": Key(_POSITIVE_INT, None),
    },
    "executor": {
        "kind": Key(_one_of(EXECUTORS)),
        "cpus": Key(_POSITIVE_INT, None),
        "partition": Key(_string, None),
        "account": Key(_string, None),
        "time_minutes": Key(_POSITIVE_INT, 60),
        "cpus_per_task": Key(_POSITIVE_INT, 1),
        "cpu_bind": Key(_string, "cores"),
        "numactl": Key(_boolean, False),
        "one_at_a_time": Key(_boolean, False),
        "sbatch_args": Key(_table, None),
        "srun_args": Key(_list_of(_string, allow_empty=True), None),
        "setup": Key(_list_of(_string, allow_empty=True), None),
    },
}
#: Executor settings that only one executor understands.
EXECUTOR_ONLY = {
    "local": {"cpus"},
    "slurm": {"partition", "account", "time_minutes", "cpus_per_task", "cpu_bind", "numactl", "one_at_a_time",
              "sbatch_args", "srun_args", "setup"},
}


@dataclass(frozen=True)
class Run:
    """One point of the grid: ``run_id`` (unique in the sweep) and the trainer's configuration."""

    run_id: str
    nodes: int
    workers_per_node: int
    config: TrainConfig

    @property
    def workers(self) -> int:
        """Horovod ranks of the run: nodes x workers per node."""
        return self.nodes * self.workers_per_node


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. ``values[section][key]`` holds every key, defaults filled in."""

    path: Path
    values: dict

    @property
    def name(self) -> str:
        """The sweep's name; results go to ``results_dir / name``."""
        return self.values[""]["name"]

    @property
    def executor(self) -> dict:
        """The ``[executor]`` table, defaults filled in."""
        return self.values["executor"]

    def results_dir(self, override: str | Path | None = None) -> Path:
        """Where the sweep's runs land: ``override``, else the spec's ``results_dir`` (relative to the spec
        file), else ``./results``; always absolute."""
        if override is not None:
            return Path(override).resolve()
        configured = self.values[""]["results_dir"]
        return (self.path.parent / configured).resolve() if configured else Path("results").resolve()

    def runs(self, results_dir: Path) -> list[Run]:
        """Expand the grid (the Cartesian product nodes x workers per node x batch sizes) into runs."""
        grid, data, train, lr = (self.values[k] for k in ("grid", "data", "training", "learning_rate"))
        batches = grid["local_batch_size"] or grid["global_batch_size"]
        per_worker = grid["local_batch_size"] is not None
        runs = []
        for nodes, wpn, batch in itertools.product(grid["nodes"], grid["workers_per_node"], batches):
            local = batch if per_worker else batch // (nodes * wpn)
            run_id = f"n{nodes}-w{wpn}-" + (f"b{batch}" if per_worker else f"gb{batch}")
            config = TrainConfig(
                data=data["source"], data_dir=data["dir"], image_size=tuple(data["image_size"]),
                num_classes=data["num_classes"], val_fraction=data["val_fraction"], local_batch_size=local,
                epochs=train["epochs"], steps_per_epoch=train["steps_per_epoch"],
                warmup_steps=train["warmup_steps"], target_top1=train["target_top1"], seed=train["seed"],
                momentum=train["momentum"], weight_decay=train["weight_decay"], lr_start=lr["lr_start"],
                base_lr=lr["base_lr"], lr_end=lr["lr_end"], warmup_epochs=lr["warmup_epochs"],
                poly_power=lr["power"], max_lr=lr["max_lr"], max_global_batch_size=lr["max_global_batch_size"],
                nodes=nodes, workers_per_node=wpn, results_dir=str(results_dir), sweep=self.name, run_id=run_id,
            )
            runs.append(Run(run_id, nodes, wpn, config))
        return runs


def _check_keys(raw: dict) -> tuple[dict, list[str]]:
    values, errors = {}, []
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    for name in sorted(set(sections) - set(SCHEMA)):
        errors.append(f"[{name}]: unknown section; known: {', '.join(s for s in SCHEMA if s)}")
    for section, keys in SCHEMA.items():
        given = top if section == "" else sections.get(section, {})
        if section and section not in sections and any(k.default is _REQUIRED for k in keys.values()):
            errors.append(f"[{section}]: missing section")
            continue
        prefix = f"{section}." if section else ""
        for key in sorted(set(given) - set(keys)):
            errors.append(f"{prefix}{key}: unknown key; known: {', '.join(keys)}")
        values[section] = {}
        for key, spec in keys.items():
            if key not in given:
                if spec.default is _REQUIRED:
                    errors.append(f"{prefix}{key}: required")
                values[section][key] = None if spec.default is _REQUIRED else spec.default
                continue
            problem = spec.check(given[key])
            if problem:
                errors.append(f"{prefix}{key}: {problem}")
            values[section][key] = given[key]
    return values, errors


def _check_meaning(values: dict, base: Path) -> list[str]:
    grid, data, train, ex = values["grid"], values["data"], values["training"], values["executor"]
    errors = []
    if (grid["local_batch_size"] is None) == (grid["global_batch_size"] is None):
        errors.append("grid.local_batch_size: give exactly one of grid.local_batch_size and grid.global_batch_size")
    elif grid["global_batch_size"] and grid["nodes"] and grid["workers_per_node"]:
        for batch, nodes, wpn in itertools.product(grid["global_batch_size"], grid["nodes"], grid["workers_per_node"]):
            if batch % (nodes * wpn):
                errors.append(f"grid.global_batch_size: {batch} does not divide by {nodes} nodes x {wpn} workers "
                              f"per node = {nodes * wpn} workers")
    if ex["kind"] == "local" and grid["nodes"] and any(n > 1 for n in grid["nodes"]):
        errors.append(f"grid.nodes: the local executor runs on this one machine, so nodes must be [1], got "
                      f"{grid['nodes']}; use executor.kind = \"slurm\" for several nodes")
    for key in sorted(EXECUTOR_ONLY.get(_other(ex["kind"]), set())):
        if ex[key] != SCHEMA["executor"][key].default:
            errors.append(f"executor.{key}: only for the {_other(ex['kind'])} executor, not {ex['kind']!r}")
    if data["source"] == "synthetic":
        if train["steps_per_epoch"] is None:
            errors.append("training.steps_per_epoch: required for synthetic data (it has no natural epoch)")
    elif data["source"] and not data["dir"]:
        errors.append(f"data.dir: required for data source {data['source']!r}")
    elif data["dir"]:
        folder = (base / data["dir"]).resolve()
        data["dir"] = str(folder)
        if not folder.is_dir():
            errors.append(f"data.dir: no such folder: {folder}")
    return errors


def _other(kind: str | None) -> str | None:
    return {"local": "slurm", "slurm": "local"}.get(kind)


def parse_spec(raw: dict, path: str | Path) -> SweepSpec:
    """Validate a spec already read from TOML (``path`` names it in errors and anchors relative paths).

    Raises:
        SpecError: listing every problem, one per line, each naming its key.
    """
    path = Path(path).resolve()
    values, errors = _check_keys(raw)
    if not errors:
        errors = _check_meaning(values, path.parent)
    if errors:
        raise SpecError(f"{path}: invalid sweep spec:\n" + "\n".join(f"  - {e}" for e in errors))
    return SweepSpec(path, values)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate the sweep spec at ``path``.

    Raises:
        SpecError: the file is missing, is not valid TOML, or does not validate (see :func:`parse_spec`).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SpecError(f"{path}: cannot read sweep spec: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    return parse_spec(raw, path)

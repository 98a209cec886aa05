"""Every registry owns its choices: the settings' types, their defaults, the flags' choices and the settings'
descriptions come from the optimizer, precision, schedule, allocator, model and engine registries; every engine
implements every optimizer and precision; fingerprints stay those of the runs recorded before the registries."""

import argparse
import importlib
import typing

import pytest

from benchmark.config import SECTION_OF, SECTIONS, TrainConfig, add_train_arguments
from benchmark.engines import ENGINES
from benchmark.engines.bench import bench_module
from benchmark.models import MODELS
from benchmark.train.optimizers import OPTIMIZERS
from benchmark.train.precisions import PRECISIONS
from benchmark.train.schedule import SCHEDULES, LearningRateSchedule, StepDecaySchedule, make_schedule
from benchmark.util.allocator import ALLOCATORS

#: Each registry, by the setting that names one of its entries.
REGISTRIES = {
    "optimizer": OPTIMIZERS,
    "precision": PRECISIONS,
    "schedule": SCHEDULES,
    "allocator": ALLOCATORS,
    "name": MODELS,
    "engine": ENGINES,
}
#: Each registry's default before the registries existed (what earlier runs were recorded with).
DEFAULTS = {
    "optimizer": "momentum",
    "precision": "fp32",
    "schedule": "poly",
    "allocator": "system",
    "name": "mcnn",
    "engine": "horovod",
}
BASE = dict(source="synthetic", image_size=(64, 64), epochs=1, steps_per_epoch=1)


def field(setting: str):
    return SECTIONS[SECTION_OF[setting]].model_fields[setting]


@pytest.mark.parametrize("setting", sorted(REGISTRIES))
def test_a_settings_type_default_and_description_come_from_its_registry(setting):
    registry, info = REGISTRIES[setting], field(setting)
    assert typing.get_args(info.annotation) == tuple(registry)
    assert info.default == DEFAULTS[setting] == next(iter(registry))
    for name, entry in registry.items():
        assert f"{name}: {entry.description}" in info.description


@pytest.mark.parametrize("setting", sorted(REGISTRIES))
def test_the_train_flags_take_the_registrys_names_and_nothing_else(setting, capsys):
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    flag = (field(setting).json_schema_extra or {}).get("flag", "--" + setting.replace("_", "-"))
    assert [getattr(parser.parse_args([flag, name]), setting) for name in REGISTRIES[setting]] == list(
        REGISTRIES[setting]
    )
    with pytest.raises(SystemExit):
        parser.parse_args([flag, "not-a-choice"])
    assert "invalid choice: 'not-a-choice'" in capsys.readouterr().err


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_implements_exactly_the_registrys_optimizers_and_precisions(engine):
    module = importlib.import_module(ENGINES[engine].module)
    assert set(module.OPTIMIZER_BUILDERS) == set(OPTIMIZERS)
    assert set(module.PRECISION_POLICIES) == set(PRECISIONS)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_names_a_bench_module_of_its_own_framework(engine):
    """The peak and the overhead bench reach an engine's framework through its bench module
    (benchmark.engines.bench.EngineBench), which names the framework as the engine's record does."""
    module, bench = importlib.import_module(ENGINES[engine].module), bench_module(engine)
    assert bench.FRAMEWORK == module.FRAMEWORK == {"horovod": "tensorflow", "ddp": "pytorch"}[engine]
    functions = ("framework_version", "use_threads", "peak_kernels", "device_name", "native_bf16", "tf32")
    assert all(callable(getattr(bench, name)) for name in functions)
    assert callable(bench.bare_training)


@pytest.mark.horovod
def test_the_optimizers_constants_are_keras_own_defaults():
    """The Horovod engine passes the registry's constants to Keras: they are Keras' defaults, so runs train as
    they did when Keras' defaults were used (and a second engine gets the same numbers)."""
    import keras

    for name, optimizer in (("adam", keras.optimizers.Adam()), ("adadelta", keras.optimizers.Adadelta())):
        config = optimizer.get_config()
        assert {key: config[key] for key in OPTIMIZERS[name].constants} == pytest.approx(OPTIMIZERS[name].constants)
    assert OPTIMIZERS["momentum"].settings == ("momentum",) and "momentum" in SECTIONS["training"].model_fields


@pytest.mark.horovod
def test_every_optimizer_is_built_by_the_horovod_engine():
    import keras

    from benchmark.engines.horovod.engine import OPTIMIZER_BUILDERS

    training = TrainConfig.from_flat(**BASE).training
    built = {name: OPTIMIZER_BUILDERS[name](keras, training, 0.5) for name in OPTIMIZERS}
    assert {name: type(o).__name__ for name, o in built.items()} == {
        "momentum": "SGD",
        "adam": "Adam",
        "adadelta": "Adadelta",
    }
    assert built["momentum"].momentum == training.momentum and built["adam"].epsilon == 1e-7


def test_make_schedule_builds_the_registrys_schedule():
    settings = TrainConfig.from_flat(**BASE).learning_rate
    assert isinstance(make_schedule(settings, 1.0, 10), LearningRateSchedule)
    step = make_schedule(settings.model_copy(update={"schedule": "step"}), 1.0, 10)
    assert isinstance(step, StepDecaySchedule) and step(9) == pytest.approx(0.9**5)  # decays from epoch 5


@pytest.mark.parametrize(
    "changes, fingerprint",
    [
        ({}, "3dcb7ad7b3f00e35"),
        (
            dict(optimizer="adam", precision="bf16", schedule="step", allocator="jemalloc", name="densenet121"),
            "d0c02c14940a20c3",
        ),
        (dict(optimizer="adadelta", allocator="tcmalloc", name="vgg16"), "561be8bc4bd27483"),
    ],
)
def test_fingerprints_are_those_of_the_runs_recorded_before_the_registries(changes, fingerprint):
    """Pinned from the suite before the registries (commit 1255587)."""
    assert TrainConfig.from_flat(**BASE, **changes).fingerprint() == fingerprint


def test_an_engine_whose_packages_are_missing_says_why_and_how(monkeypatch):
    import dataclasses

    from benchmark.engines import EngineUnavailable, check_engine, engine_problem
    from benchmark.engines.base import engine_class

    assert engine_problem("horovod") is None and engine_problem("ddp") is None  # both installed here
    entry = dataclasses.replace(ENGINES["horovod"], needs=("tensorflow", "no_such_package_for_the_test"))
    monkeypatch.setitem(ENGINES, "horovod", entry)
    problem = engine_problem("horovod")
    assert problem is not None and "no_such_package_for_the_test not installed for Python 3." in problem
    assert "tensorflow" not in problem.split(" not installed")[0], "only the missing package is named"
    assert entry.hint in problem, "how to install it"
    with pytest.raises(EngineUnavailable, match="no_such_package_for_the_test"):
        check_engine("horovod")
    with pytest.raises(EngineUnavailable):
        engine_class("horovod")

"""The model registry: DenseNet-121 and VGG-16 from keras.applications with CheXNet's head, their sizes against
Keras' published parameter counts, the input-size rules, weights loaded from a local file, and each model's hooks
(its gradient shapes for the allreduce, its analytic figures where known, the overhead bench's bare model)."""

import subprocess
import sys

import numpy as np
import pytest

from benchmark.config import SettingsError, TrainConfig
from benchmark.models import MODELS, FigureNotKnown

#: Keras' published parameter counts of the full ImageNet models (keras.io/api/applications, the table of
#: models): DenseNet121 8,062,504 (8.1M) and VGG16 138,357,544 (138.4M), each with its 1000-class top.
PUBLISHED = {"densenet121": 8_062_504, "vgg16": 138_357_544}
#: The parameters of those tops: DenseNet-121's dense layer on 1024 pooled features; VGG-16's three dense
#: layers on the 7x7x512 flattened features (4096, 4096, 1000 units).
PUBLISHED_TOP = {
    "densenet121": 1024 * 1000 + 1000,
    "vgg16": (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000),
}
#: Features that CheXNet's head sees at 224x224: DenseNet's 1024 pooled channels, VGG's 7x7x512 flattened.
FEATURES = {"densenet121": 1024, "vgg16": 7 * 7 * 512}


@pytest.mark.horovod
@pytest.mark.parametrize("name", ["densenet121", "vgg16"])
def test_parameter_counts_at_224_with_14_outputs_follow_keras_published_backbones(name):
    model = MODELS[name].create(224, 224, 3, 14)
    backbone = PUBLISHED[name] - PUBLISHED_TOP[name]
    assert model.count_params() == backbone + FEATURES[name] * 14 + 14
    assert model.output.shape[1:] == (14,)


@pytest.mark.horovod
def test_mcnn_is_in_the_registry_with_its_analytic_model():
    assert MODELS["mcnn"].analytic and not MODELS["densenet121"].analytic
    assert MODELS["mcnn"].create(64, 64, 3, 13).count_params() > 0


@pytest.mark.parametrize(
    "name, size, ok",
    [
        ("mcnn", (224, 224), False),
        ("mcnn", (256, 320), True),
        ("densenet121", (224, 224), True),
        ("vgg16", (16, 64), False),
    ],
)
def test_input_sizes_are_checked_per_model(name, size, ok):
    settings = dict(source="synthetic", image_size=size, epochs=1, steps_per_epoch=1, name=name)
    if ok:
        assert TrainConfig.from_flat(**settings).model.name == name
    else:
        with pytest.raises(SettingsError, match="data.image_size"):
            TrainConfig.from_flat(**settings)


@pytest.mark.horovod
def test_init_weights_load_a_backbone_file_by_layer_name(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    source = MODELS["densenet121"].create(32, 32, 3, 14)
    backbone_file = tmp_path / "densenet121_notop.h5"
    backbone = keras.Model(source.input, source.get_layer("avg_pool").output)
    import h5py  # Keras' own dependency: write the legacy layout keras.applications publishes

    with h5py.File(backbone_file, "w") as f:
        from keras.src.legacy.saving import legacy_h5_format

        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    keras.utils.set_random_seed(2)
    loaded = MODELS["densenet121"].create(32, 32, 3, 14, init_weights=backbone_file)
    conv = "conv1_conv"
    np.testing.assert_array_equal(loaded.get_layer(conv).get_weights()[0], source.get_layer(conv).get_weights()[0])
    assert not np.array_equal(loaded.get_layer("logits").get_weights()[0], source.get_layer("logits").get_weights()[0])


@pytest.mark.horovod
def test_init_weights_that_do_not_fit_or_are_missing_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        MODELS["vgg16"].create(32, 32, 3, 14, init_weights=tmp_path / "absent.h5")
    other = MODELS["mcnn"].create(64, 64, 3, 13)
    other.save_weights(tmp_path / "mcnn.weights.h5")
    with pytest.raises(ValueError, match="mcnn.weights.h5"):
        MODELS["vgg16"].create(32, 32, 3, 14, init_weights=tmp_path / "mcnn.weights.h5")


@pytest.mark.horovod
def test_densenet121s_gradient_shapes_are_its_trainable_variables_shapes():
    """What `mcnn-bench allreduce --model densenet121` reduces: one tensor per trainable variable of the real
    Keras model (batch normalisation's moving statistics are not trained, so not reduced)."""
    from benchmark.microbench.allreduce import tensor_shapes

    model = MODELS["densenet121"].create(32, 32, 3, 14)
    expected = [tuple(v.shape) for v in model.trainable_variables]
    assert len(expected) < len(model.variables)  # the moving statistics are left out
    assert MODELS["densenet121"].gradient_shapes(32, 32, 3, 14) == tuple(expected)
    assert tensor_shapes(32, 32, 3, 14, model="densenet121") == expected
    assert expected[-2:] == [(1024, 14), (14,)]  # the head: pooled features to one logit per class
    assert tensor_shapes(32, 32, 3, 14, bytes_scale=0.5, model="densenet121")[-1] == (7,)


def test_mcnns_gradient_shapes_come_from_its_analytic_model_without_tensorflow():
    code = (
        "import sys; from benchmark.models import MODELS; shapes = MODELS['mcnn'].gradient_shapes(64, 64, 3, 13); "
        "print(len(shapes), [m for m in sys.modules if m.startswith(('tensorflow', 'keras'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["48", "[]"]


@pytest.mark.parametrize("name, size", [("mcnn", (100, 64)), ("densenet121", (16, 64))])
def test_gradient_shapes_check_the_input_size(name, size):
    with pytest.raises(ValueError, match=f"got {size[0]}"):
        MODELS[name].gradient_shapes(*size, 3, 13)


def test_the_allreduce_refuses_an_unknown_model():
    from benchmark.microbench.allreduce import tensor_shapes

    with pytest.raises(ValueError, match="--model must be one of mcnn, densenet121, vgg16, got 'resnet'"):
        tensor_shapes(64, 64, model="resnet")


def test_a_model_without_an_analytic_model_says_which_figure_is_not_known():
    assert MODELS["mcnn"].analytic_model("the FLOPs")(64, 64, 3, 13).parameters > 0
    with pytest.raises(
        FigureNotKnown,
        match=r"^the FLOPs: not known for model 'densenet121', which has no analytic "
        r"model \(benchmark.models.analytic models mcnn only\)$",
    ):
        MODELS["densenet121"].analytic_model("the FLOPs")


@pytest.mark.horovod
def test_the_overhead_bare_loop_builds_the_requested_model():
    """`mcnn-bench bench overhead --model densenet121`: the config both sides train names the model, and the
    bare loop's model is the suite's for that config (without running the benchmark)."""
    from benchmark.engines.horovod.bench import bare_model
    from benchmark.microbench.overhead import overhead_config, report
    from mcnn_bench.cli import build_parser

    args = build_parser().parse_args(["bench", "overhead", "--model", "densenet121", "--image-size", "32", "32"])
    config = overhead_config(
        *args.image_size, args.batch_size, args.steps, args.warmup, args.threads, args.allocator, args.model
    )
    assert config.model.name == "densenet121" and config.data.source == "synthetic"
    model = bare_model(config)
    assert model.name == "densenet121" and model.output.shape[1:] == (13,)
    shapes = MODELS["densenet121"].gradient_shapes(32, 32, 3, 13)
    assert tuple(tuple(v.shape) for v in model.trainable_variables) == shapes
    side = {"images_per_second": 1.0, "median_images_per_second": 1.0, "peak_rss_bytes": 2**30}
    assert "densenet121 on synthetic 32x32" in report(
        config, {"suite": side, "bare": side, "overhead": 0.0, "memory_ratio": 1.0}, 1
    )
    with pytest.raises(SettingsError, match="data.image_size: M-CNN input height must be a positive multiple of 64"):
        overhead_config(32, 32, 2, 2, 1, 1, model="mcnn")

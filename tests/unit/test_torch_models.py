"""The PyTorch models (benchmark/models/torch_models.py) against the Keras ones of the registry: the same
parameter count (the issue's figures), the same layer shapes, Keras's initialisation, and for M-CNN the same
logits from the same weights."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.models import MODELS
from benchmark.models.torch_models import (
    KERAS_DENSENET_BN_EPSILON,
    KerasMaxPool2d,
    keras_initialised,
    parameter_count,
)

#: The issue's shapes and parameter counts: (height, width, channels, classes), parameters.
SIZES = {
    "mcnn": ((1024, 1280, 3, 13), 42_577_261),
    "densenet121": ((224, 224, 3, 14), 7_051_854),
    "vgg16": ((224, 224, 3, 14), 15_065_934),
}


def keras_layout(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A torch weight's shape in Keras's layout: conv (out, in, kh, kw) -> (kh, kw, in, out); linear (out, in) ->
    (in, out); vectors as they are."""
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1], shape[0])
    return tuple(reversed(shape))


def torch_weights(module) -> dict[str, tuple[int, ...]]:
    """The torch state that Keras has a weight for (all but batch normalisation's batch counter), by key, as
    Keras-layout shapes, in the state's order."""
    return {
        key: keras_layout(tuple(value.shape))
        for key, value in module.state_dict().items()
        if not key.endswith("num_batches_tracked")
    }


@pytest.fixture(scope="module", params=list(SIZES))
def torch_model(request):
    """(name, torch model) at the issue's size: built once for the tests that check it."""
    name = request.param
    torch.manual_seed(0)
    return name, MODELS[name].create_torch(*SIZES[name][0])


@pytest.fixture(scope="module")
def both(torch_model):
    """(name, Keras model, torch model) at the issue's size: built once for the tests that compare them."""
    name, model = torch_model
    return name, MODELS[name].create(*SIZES[name][0]), model


def test_parameter_count_is_the_issues(torch_model):
    name, model = torch_model
    assert parameter_count(model) == SIZES[name][1]


@pytest.mark.horovod
def test_parameter_count_is_the_keras_models(both):
    name, keras_model, torch_model = both
    assert parameter_count(torch_model) == keras_model.count_params()


@pytest.mark.horovod
def test_layer_shapes_are_the_keras_models(both):
    """M-CNN is compared layer by layer by name (its torch modules carry the plan's names, which are the Keras
    layers'; the two list them in different orders: Keras by depth, torch in the plan's order). The backbones'
    names differ between the libraries (``conv1_bn/gamma`` against ``features.norm0.weight``), but both list the
    weights in the order of the forward pass, each batch normalisation as scale, offset, mean, variance: they
    are compared in matched order, which also holds each weight's place, not only the multiset of shapes."""
    name, keras_model, torch_model = both
    ours = torch_weights(torch_model)
    if name == "mcnn":
        keras_names = {"weight": "kernel", "bias": "bias"}
        by_path = {}
        for key, shape in ours.items():
            layer, kind = key.rsplit(".", 1)
            by_path[f"{layer}/{keras_names[kind]}"] = shape
        assert by_path == {weight.path: tuple(weight.shape) for weight in keras_model.weights}
    else:
        assert list(ours.values()) == [tuple(weight.shape) for weight in keras_model.weights]


@pytest.mark.parametrize(
    "name, size, channels",
    [("mcnn", (128, 192), 3), ("mcnn", (64, 64), 1), ("densenet121", (32, 32), 3), ("densenet121", (32, 64), 1)]
    + [("vgg16", (64, 96), 3), ("vgg16", (32, 32), 1)],
)
def test_forward_gives_one_logit_per_class(name, size, channels):
    model = MODELS[name].create_torch(*size, channels, 5)
    logits = model(torch.rand(2, channels, *size))
    assert logits.shape == (2, 5) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_keras_initialisation_seeded_by_torch():
    """Glorot uniform kernels (uniform within sqrt(6 / (fan_in + fan_out)), so std bound / sqrt(3)), zero biases,
    batch normalisation as Keras DenseNet121's, and the same seed giving the same weights."""
    torch.manual_seed(3)
    model = MODELS["densenet121"].create_torch(32, 32, 3, 14)
    torch.manual_seed(3)
    again = MODELS["densenet121"].create_torch(32, 32, 3, 14)
    repeated = again.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, repeated[key]), key
    conv = model.features.denseblock1.denselayer1.conv2  # 3x3, 128 -> 32 channels
    bound = np.sqrt(6 / (9 * 128 + 9 * 32))
    assert conv.weight.abs().max() <= bound
    assert conv.weight.std().item() == pytest.approx(bound / np.sqrt(3), rel=0.05)
    assert not model.classifier.bias.any()
    norms = [layer for layer in model.modules() if isinstance(layer, torch.nn.BatchNorm2d)]
    assert len(norms) == 1 + 2 * 58 + 3 + 1  # the stem's, two per dense layer, one per transition, the last
    for norm in norms:
        assert norm.eps == KERAS_DENSENET_BN_EPSILON and norm.momentum == pytest.approx(0.01)
        assert (norm.weight == 1).all() and not norm.bias.any()
        assert not norm.running_mean.any() and (norm.running_var == 1).all()
    mcnn = MODELS["mcnn"].create_torch(64, 64, 3, 13)
    assert not any(mcnn.get_submodule(spec.name).bias.any() for spec in mcnn.plan if spec.kind in ("conv", "dense"))


def test_state_that_keras_initialisation_does_not_cover_is_refused():
    """A module left uninitialised after ``to_empty`` would hold whatever memory held: it is named instead."""
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.LayerNorm(4))
    with pytest.raises(ValueError, match=r"^1 \(LayerNorm\) has state"):
        keras_initialised(model)


@pytest.mark.horovod
@pytest.mark.parametrize("size", [(64, 64), (64, 192)])
def test_mcnn_gives_the_keras_logits_from_the_keras_weights(size):
    """At 64x64 ``fuse_pool`` pools a 1x1 map, at 64x192 a 1x3 one to 1x2 (Keras's "same" padding, after)."""
    import keras

    height, width = size
    keras.utils.set_random_seed(5)
    keras_model = MODELS["mcnn"].create(height, width, 3, 13)
    torch_model = MODELS["mcnn"].create_torch(height, width, 3, 13)
    pooled = keras_model.get_layer("fuse_pool").output.shape[1:]  # (H', W', C) before the flatten
    state = {}
    for spec in torch_model.plan:
        if spec.kind not in ("conv", "dense"):
            continue
        kernel, bias = keras_model.get_layer(spec.name).get_weights()
        if spec.kind == "conv":
            kernel = kernel.transpose(3, 2, 0, 1)
        elif spec.inputs == ("flatten",):  # rows in NHWC-flatten order to NCHW-flatten order
            kernel = kernel.reshape(*pooled, -1).transpose(2, 0, 1, 3).reshape(kernel.shape).T
        else:
            kernel = kernel.T
        state[f"{spec.name}.weight"], state[f"{spec.name}.bias"] = (
            torch.from_numpy(kernel.copy()),
            torch.from_numpy(bias),
        )
    torch_model.load_state_dict(state)
    images = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    expected = np.asarray(keras_model(images))
    with torch.no_grad():
        logits = torch_model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()
    assert np.abs(expected).max() > 1e-3  # logits that can differ
    np.testing.assert_allclose(logits, expected, atol=1e-4)


@pytest.mark.horovod
def test_same_pooling_pads_as_keras():
    """Keras's "same" max-pooling: ceil(side / stride) outputs, TensorFlow's padding (half before, the odd one
    after), never chosen as the maximum."""
    import keras

    images = -np.random.default_rng(1).random((1, 7, 5, 2), dtype=np.float32)  # negative: padding 0 would win
    for kernel, strides in ((2, 2), (3, 2), (4, 4)):
        expected = np.asarray(keras.layers.MaxPooling2D(kernel, strides, padding="same")(images))
        ours = KerasMaxPool2d(kernel, strides, "same")(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
        np.testing.assert_array_equal(ours.numpy().transpose(0, 2, 3, 1), expected)


def test_create_torch_checks_the_size_and_refuses_keras_weights(tmp_path):
    with pytest.raises(ValueError, match="multiple of 64 pixels, got 100"):
        MODELS["mcnn"].create_torch(100, 64, 3, 13)
    with pytest.raises(ValueError, match="at least 32x32 pixels, got 16x64"):
        MODELS["vgg16"].create_torch(16, 64, 3, 14)
    with pytest.raises(ValueError, match=r"^model.init_weights: .*densenet121_notop.h5 is a Keras weights file"):
        MODELS["densenet121"].create_torch(32, 32, 3, 14, init_weights=tmp_path / "densenet121_notop.h5")


def test_the_registry_imports_neither_torch_nor_tensorflow():
    code = (
        "import sys; from benchmark.models import MODELS; print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'torchvision', 'tensorflow', 'keras'}), MODELS['vgg16'].build_torch)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["[]", "benchmark.models.torch_models:build_vgg16"]

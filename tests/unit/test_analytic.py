"""The analytic model of M-CNN (benchmark.models.analytic): figures by hand, against Keras, and against the paper."""

import math
import subprocess
import sys

import pytest

from benchmark.models.analytic import main, model_figures

# 64x64x3, 13 classes, worked by hand: pathway i runs at 64 / 2**i pixels a side (64, 32, ..., 1).
# Conv: params = k*k*in*filters + filters; FLOPs = 2 * out_h * out_w * k*k*in*filters.
# Dense: params = in*units + units; FLOPs = 2 * in*units.
# name: (output shape, parameters, forward FLOPs)
BY_HAND_64 = {
    "image": ((64, 64, 3), 0, 0),
    "p0_conv0": ((64, 64, 16), 5 * 5 * 3 * 16 + 16, 2 * 64 * 64 * 5 * 5 * 3 * 16),
    "p0_conv1": ((64, 64, 16), 5 * 5 * 16 * 16 + 16, 2 * 64 * 64 * 5 * 5 * 16 * 16),
    "p0_conv2": ((64, 64, 16), 5 * 5 * 16 * 16 + 16, 2 * 64 * 64 * 5 * 5 * 16 * 16),
    "p0_out_pool": ((1, 1, 16), 0, 0),
    "p1_in_pool": ((32, 32, 3), 0, 0),
    "p1_conv0": ((32, 32, 16), 5 * 5 * 3 * 16 + 16, 2 * 32 * 32 * 5 * 5 * 3 * 16),
    "p1_conv1": ((32, 32, 16), 5 * 5 * 16 * 16 + 16, 2 * 32 * 32 * 5 * 5 * 16 * 16),
    "p1_conv2": ((32, 32, 16), 5 * 5 * 16 * 16 + 16, 2 * 32 * 32 * 5 * 5 * 16 * 16),
    "p1_out_pool": ((1, 1, 16), 0, 0),
    "p2_in_pool": ((16, 16, 3), 0, 0),
    "p2_conv0": ((16, 16, 16), 5 * 5 * 3 * 16 + 16, 2 * 16 * 16 * 5 * 5 * 3 * 16),
    "p2_conv1": ((16, 16, 16), 5 * 5 * 16 * 16 + 16, 2 * 16 * 16 * 5 * 5 * 16 * 16),
    "p2_conv2": ((16, 16, 16), 5 * 5 * 16 * 16 + 16, 2 * 16 * 16 * 5 * 5 * 16 * 16),
    "p2_out_pool": ((1, 1, 16), 0, 0),
    "p3_in_pool": ((8, 8, 3), 0, 0),
    "p3_conv0": ((8, 8, 32), 5 * 5 * 3 * 32 + 32, 2 * 8 * 8 * 5 * 5 * 3 * 32),
    "p3_conv1": ((8, 8, 32), 5 * 5 * 32 * 32 + 32, 2 * 8 * 8 * 5 * 5 * 32 * 32),
    "p3_conv2": ((8, 8, 32), 5 * 5 * 32 * 32 + 32, 2 * 8 * 8 * 5 * 5 * 32 * 32),
    "p3_out_pool": ((1, 1, 32), 0, 0),
    "p4_in_pool": ((4, 4, 3), 0, 0),
    "p4_conv0": ((4, 4, 32), 5 * 5 * 3 * 32 + 32, 2 * 4 * 4 * 5 * 5 * 3 * 32),
    "p4_conv1": ((4, 4, 32), 5 * 5 * 32 * 32 + 32, 2 * 4 * 4 * 5 * 5 * 32 * 32),
    "p4_conv2": ((4, 4, 32), 5 * 5 * 32 * 32 + 32, 2 * 4 * 4 * 5 * 5 * 32 * 32),
    "p4_out_pool": ((1, 1, 32), 0, 0),
    "p5_in_pool": ((2, 2, 3), 0, 0),
    "p5_conv0": ((2, 2, 32), 5 * 5 * 3 * 32 + 32, 2 * 2 * 2 * 5 * 5 * 3 * 32),
    "p5_conv1": ((2, 2, 32), 5 * 5 * 32 * 32 + 32, 2 * 2 * 2 * 5 * 5 * 32 * 32),
    "p5_conv2": ((2, 2, 32), 5 * 5 * 32 * 32 + 32, 2 * 2 * 2 * 5 * 5 * 32 * 32),
    "p5_out_pool": ((1, 1, 32), 0, 0),
    "p6_in_pool": ((1, 1, 3), 0, 0),
    "p6_conv0": ((1, 1, 64), 5 * 5 * 3 * 64 + 64, 2 * 1 * 1 * 5 * 5 * 3 * 64),
    "p6_conv1": ((1, 1, 64), 5 * 5 * 64 * 64 + 64, 2 * 1 * 1 * 5 * 5 * 64 * 64),
    "p6_conv2": ((1, 1, 64), 5 * 5 * 64 * 64 + 64, 2 * 1 * 1 * 5 * 5 * 64 * 64),
    "scales": ((1, 1, 3 * 16 + 3 * 32 + 64), 0, 0),
    "fuse_conv": ((1, 1, 1024), 1 * 1 * 208 * 1024 + 1024, 2 * 1 * 1 * 208 * 1024),
    "fuse_pool": ((1, 1, 1024), 0, 0),  # "same" padding: ceil(1 / 2) = 1
    "flatten": ((1024,), 0, 0),
    "fc": ((512,), 1024 * 512 + 512, 2 * 1024 * 512),
    "logits": ((13,), 512 * 13 + 13, 2 * 512 * 13),
}


def test_every_layer_at_64x64_matches_the_hand_computation():
    figures = model_figures(64, 64, 3, 13)
    by_layer = {layer.name: (layer.output_shape, layer.parameters, layer.forward_flops) for layer in figures.layers}
    assert by_layer == BY_HAND_64


def test_totals_at_64x64_match_the_hand_computation():
    figures = model_figures(64, 64, 3, 13)
    # 3 x 16-filter pathways + 3 x 32-filter pathways + the 64-filter pathway + fuse_conv + fc + logits
    assert figures.parameters == 3 * 14_048 + 3 * 53_696 + 209_792 + 214_016 + 524_800 + 6_669 == 1_158_509
    assert figures.parameter_bytes == 4 * 1_158_509
    assert figures.forward_flops_per_image == sum(flops for _, _, flops in BY_HAND_64.values())
    assert figures.training_flops_per_image == 3 * figures.forward_flops_per_image
    assert figures.activation_bytes_per_image == 4 * sum(math.prod(shape) for shape, _, _ in BY_HAND_64.values())


def test_parameter_count_at_full_field_size():
    figures = model_figures(1024, 1280, 3, 13)
    assert figures.parameters == 42_577_261
    assert figures.parameter_bytes == 170_309_044  # 170.3 MB = 162.4 MiB


def test_the_figures_of_datta_et_al_2019():
    figures = model_figures(1024, 1280, 3, 13)
    assert 51.0e9 <= figures.forward_flops_per_image <= 51.8e9
    assert 10e9 <= figures.activation_bytes(32) <= 12.5e9  # Fig. 2: about 11 GB at batch 32
    assert figures.activation_bytes(32) == 32 * figures.activation_bytes_per_image
    assert figures.memory_lower_bound_bytes(32) == 3 * figures.parameter_bytes + figures.activation_bytes(32)


def test_gradients_are_the_kernels_and_biases_of_24_layers():
    figures = model_figures(1024, 1280, 3, 13)
    assert len(figures.gradient_shapes) == 48
    assert sum(math.prod(shape) for shape in figures.gradient_shapes) == figures.parameters
    assert figures.gradient_shapes[-2:] == ((512, 13), (13,))


def test_summary_for_a_batch():
    figures = model_figures(1024, 1280, 3, 13)
    assert figures.summary(32) == {
        "batch": 32,
        "parameters": 42_577_261,
        "parameter_bytes": 170_309_044,
        "forward_gflop_per_image": figures.forward_flops_per_image / 1e9,
        "training_gflop_per_image": 3 * figures.forward_flops_per_image / 1e9,
        "activation_bytes": figures.activation_bytes(32),
        "memory_lower_bound_bytes": figures.memory_lower_bound_bytes(32),
        "gradient_tensors": 48,
        "gradient_bytes": 170_309_044,
    }


def test_figures_are_cached():
    assert model_figures(128, 192, 3, 13) is model_figures(128, 192, 3, 13)


@pytest.fixture(scope="module", params=[(128, 192, 3, 13), (64, 64, 1, 5)], ids=["128x192x3", "64x64x1"])
def keras_and_figures(request):
    from benchmark.models.mcnn import build_mcnn

    return build_mcnn(*request.param), model_figures(*request.param)


@pytest.mark.horovod
def test_parameters_match_keras(keras_and_figures):
    model, figures = keras_and_figures
    assert figures.parameters == model.count_params()


@pytest.mark.horovod
def test_layers_and_their_output_shapes_match_keras(keras_and_figures):
    model, figures = keras_and_figures
    assert [layer.name for layer in figures.layers] == [layer.name for layer in model.layers]
    for layer in figures.layers:
        assert (None, *layer.output_shape) == tuple(model.get_layer(layer.name).output.shape), layer.name


@pytest.mark.horovod
def test_gradient_shapes_match_keras_trainable_variables(keras_and_figures):
    model, figures = keras_and_figures
    assert list(figures.gradient_shapes) == [tuple(v.shape) for v in model.trainable_variables]


@pytest.mark.parametrize(
    "size", [(724, 768), (768, 724), (0, 64), (64, 100), (-64, 64), (64, 64, 0, 13), (64, 64, 3, 0)]
)
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError):
        model_figures(*size)


def test_a_batch_must_be_positive():
    with pytest.raises(ValueError, match="batch must be positive"):
        model_figures(64, 64).activation_bytes(0)


def test_the_module_loads_without_tensorflow():
    code = (
        "import sys, benchmark.models.analytic; "
        "print([m for m in sys.modules if m.startswith(('tensorflow', 'keras'))])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_printed_figures(capsys):
    main(["1024", "1280", "--batch", "32"])
    printed = capsys.readouterr().out
    for figure in ("42,577,261", "170.3 MB", "162.4 MiB", "51.40 GFLOP", "154.21 GFLOP", "11.66 GB", "12.17 GB", "48,"):
        assert figure in printed

"""M-CNN's structure: the parameter count and output shapes of Godinez et al. 2017 / Datta et al. 2019."""

import pytest

from benchmark.models.mcnn import build_mcnn, check_input_size, padded_size


@pytest.mark.horovod
def test_parameter_count_at_full_field_size():
    model = build_mcnn(1024, 1280, 3, 13)
    assert model.count_params() == 42_577_261


@pytest.mark.horovod
@pytest.mark.parametrize("height,width", [(1024, 1280), (768, 768)])
def test_output_is_one_logit_per_class(height, width):
    import numpy as np

    model = build_mcnn(height, width, 3, 13)
    assert model.output_shape == (None, 13)
    logits = model(np.zeros((1, height, width, 3), dtype="float32"))
    assert tuple(logits.shape) == (1, 13)


@pytest.mark.horovod
def test_every_pathway_ends_at_one_sixty_fourth():
    model = build_mcnn(128, 192, 3, 13)
    assert model.get_layer("scales").output.shape == (None, 2, 3, 208)


def test_paper_padding_724_to_768():
    assert padded_size(724) == 768
    assert padded_size(768) == 768


@pytest.mark.parametrize("height,width", [(724, 724), (0, 64), (64, 100)])
def test_sizes_that_are_not_multiples_of_64_are_refused(height, width):
    with pytest.raises(ValueError, match="multiple of 64"):
        check_input_size(height, width)


def test_the_error_names_the_padded_size():
    with pytest.raises(ValueError, match="pad the image to 768"):
        check_input_size(724, 768)


def test_train_config_refuses_a_bad_size_before_any_model_is_built():
    from benchmark.config import TrainConfig

    with pytest.raises(ValueError, match="height must be a positive multiple of 64"):
        TrainConfig.from_flat(source="synthetic", image_size=(724, 768), epochs=1, steps_per_epoch=1)


@pytest.mark.horovod
def test_keras_layer_order_is_the_order_of_model_layers():
    from benchmark.models.mcnn import keras_layer_order, mcnn_plan

    model = build_mcnn(128, 192, 3, 13)
    plan = mcnn_plan(128, 192, 3, 13)
    assert [spec.name for spec in keras_layer_order(plan)] == [layer.name for layer in model.layers]


@pytest.mark.horovod
def test_build_walks_the_plan():
    from benchmark.models.mcnn import mcnn_plan

    model = build_mcnn(64, 128, 3, 13)
    for spec in mcnn_plan(64, 128, 3, 13)[1:]:
        layer = model.get_layer(spec.name)
        assert [tensor.name for tensor in (layer.input if isinstance(layer.input, list) else [layer.input])] == [
            model.get_layer(source).output.name for source in spec.inputs
        ]

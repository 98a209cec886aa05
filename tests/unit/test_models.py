"""The model registry: DenseNet-121 and VGG-16 from keras.applications with CheXNet's head, their sizes against
Keras' published parameter counts, the input-size rules, and weights loaded from a local file."""
import numpy as np
import pytest

from benchmark.config import SettingsError, TrainConfig
from benchmark.models import MODELS

#: Keras' published parameter counts of the full ImageNet models (keras.io/api/applications, the table of
#: models): DenseNet121 8,062,504 (8.1M) and VGG16 138,357,544 (138.4M), each with its 1000-class top.
PUBLISHED = {"densenet121": 8_062_504, "vgg16": 138_357_544}
#: The parameters of those tops: DenseNet-121's dense layer on 1024 pooled features; VGG-16's three dense
#: layers on the 7x7x512 flattened features (4096, 4096, 1000 units).
PUBLISHED_TOP = {"densenet121": 1024 * 1000 + 1000,
                 "vgg16": (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)}
#: Features that CheXNet's head sees at 224x224: DenseNet's 1024 pooled channels, VGG's 7x7x512 flattened.
FEATURES = {"densenet121": 1024, "vgg16": 7 * 7 * 512}


@pytest.mark.parametrize("name", ["densenet121", "vgg16"])
def test_parameter_counts_at_224_with_14_outputs_follow_keras_published_backbones(name):
    model = MODELS[name].create(224, 224, 3, 14)
    backbone = PUBLISHED[name] - PUBLISHED_TOP[name]
    assert model.count_params() == backbone + FEATURES[name] * 14 + 14
    assert model.output.shape[1:] == (14,)


def test_mcnn_is_in_the_registry_with_its_analytic_model():
    assert MODELS["mcnn"].analytic and not MODELS["densenet121"].analytic
    assert MODELS["mcnn"].create(64, 64, 3, 13).count_params() > 0


@pytest.mark.parametrize("name, size, ok", [("mcnn", (224, 224), False), ("mcnn", (256, 320), True),
                                            ("densenet121", (224, 224), True), ("vgg16", (16, 64), False)])
def test_input_sizes_are_checked_per_model(name, size, ok):
    settings = dict(source="synthetic", image_size=size, epochs=1, steps_per_epoch=1, name=name)
    if ok:
        assert TrainConfig.from_flat(**settings).model.name == name
    else:
        with pytest.raises(SettingsError, match="data.image_size"):
            TrainConfig.from_flat(**settings)


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


def test_init_weights_that_do_not_fit_or_are_missing_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        MODELS["vgg16"].create(32, 32, 3, 14, init_weights=tmp_path / "absent.h5")
    other = MODELS["mcnn"].create(64, 64, 3, 13)
    other.save_weights(tmp_path / "mcnn.weights.h5")
    with pytest.raises(ValueError, match="mcnn.weights.h5"):
        MODELS["vgg16"].create(32, 32, 3, 14, init_weights=tmp_path / "mcnn.weights.h5")

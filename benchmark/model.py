"""M-CNN, the multi-scale convolutional network of Godinez et al. (Bioinformatics 2017).

Architecture as used by Datta et al. 2019 (sec. 2) and the authors' TensorFlow code: seven pathways over
the input; pathway i (i = 0..6) max-pools the input by 2**i, applies three 5x5 convolutions with
``PATHWAY_FILTERS[i]`` filters, then max-pools by 2**(6 - i) so that every pathway ends at H/64 x W/64.
The pathways are concatenated (208 channels), then a 1x1 convolution to 1024 channels, a 2x2 max-pool,
a 512-unit dense layer and the logits.
"""
from __future__ import annotations

#: Filters of the three 5x5 convolutions of pathway i (Godinez et al. 2017, Fig. 1).
PATHWAY_FILTERS = (16, 16, 16, 32, 32, 32, 64)
#: The input's height and width must be multiples of this (2**6, the coarsest pathway's pooling).
SIZE_MULTIPLE = 2 ** (len(PATHWAY_FILTERS) - 1)


def check_input_size(height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``height`` and ``width`` (pixels) are positive multiples of 64."""
    for name, value in (("height", height), ("width", width)):
        if value <= 0 or value % SIZE_MULTIPLE:
            raise ValueError(
                f"M-CNN input {name} must be a positive multiple of {SIZE_MULTIPLE} pixels, got {value}; "
                f"pad the image to {padded_size(max(value, 1))} (as Datta et al. 2019 pad 724 to 768)"
            )


def padded_size(size: int) -> int:
    """The smallest multiple of 64 that is >= ``size`` (pixels): 724 -> 768, as in Datta et al. 2019."""
    return -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE


def _pathway(layers, inputs, index: int, filters: int):
    x = inputs
    if index:
        scale = 2 ** index
        x = layers.MaxPooling2D(scale, strides=scale, padding="valid", name=f"p{index}_in_pool")(x)
    for conv in range(3):
        x = layers.Conv2D(filters, 5, padding="same", activation="relu", name=f"p{index}_conv{conv}")(x)
    out_scale = 2 ** (len(PATHWAY_FILTERS) - 1 - index)
    if out_scale > 1:
        x = layers.MaxPooling2D(out_scale, strides=out_scale, padding="same", name=f"p{index}_out_pool")(x)
    return x


def build_mcnn(height: int = 1024, width: int = 1280, channels: int = 3, num_classes: int = 13):
    """Build M-CNN for channels-last input ``(N, height, width, channels)`` float32.

    Returns a Keras model whose output is ``(N, num_classes)`` logits (no softmax). Weights are
    Glorot-uniform, biases zero (Keras defaults). At 1024x1280x3 with 13 classes it has 42,577,261
    parameters.

    Raises:
        ValueError: if ``height`` or ``width`` is not a positive multiple of 64, or ``channels`` or
            ``num_classes`` is not positive.
    """
    import keras  # imported here so that sizing helpers above load without TensorFlow
    from keras import layers

    check_input_size(height, width)
    if channels <= 0 or num_classes <= 0:
        raise ValueError(f"channels and num_classes must be positive, got {channels} and {num_classes}")
    inputs = keras.Input((height, width, channels), name="image")
    paths = [_pathway(layers, inputs, i, f) for i, f in enumerate(PATHWAY_FILTERS)]
    x = layers.Concatenate(name="scales")(paths)
    x = layers.Conv2D(1024, 1, activation="relu", name="fuse_conv")(x)
    x = layers.MaxPooling2D(2, strides=2, padding="same", name="fuse_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="fc")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="mcnn")

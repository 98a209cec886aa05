"""M-CNN, the multi-scale convolutional network of Godinez et al. (Bioinformatics 2017).

Architecture as used by Datta et al. 2019 (sec. 2) and the authors' TensorFlow code: seven pathways over
the input; pathway i (i = 0..6) max-pools the input by 2**i, applies three 5x5 convolutions with
``PATHWAY_FILTERS[i]`` filters, then max-pools by 2**(6 - i) so that every pathway ends at H/64 x W/64.
The pathways are concatenated (208 channels), then a 1x1 convolution to 1024 channels, a 2x2 max-pool,
a 512-unit dense layer and the logits.

The architecture is written down once, as a pure-Python plan (:func:`mcnn_plan`): :func:`build_mcnn`
builds the Keras model by walking it, :mod:`benchmark.models.torch_models` the PyTorch model, and
:mod:`benchmark.models.analytic` walks the same plan to size the model without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Filters of the three 5x5 convolutions of pathway i (Godinez et al. 2017, Fig. 1).
PATHWAY_FILTERS = (16, 16, 16, 32, 32, 32, 64)
#: The input's height and width must be multiples of this (2**6, the coarsest pathway's pooling).
SIZE_MULTIPLE = 2 ** (len(PATHWAY_FILTERS) - 1)
#: Side of every pathway convolution's square kernel (Godinez et al. 2017, Fig. 1).
PATHWAY_KERNEL = 5
#: Convolutions per pathway.
PATHWAY_CONVOLUTIONS = 3
#: Filters of the 1x1 convolution that fuses the concatenated pathways.
FUSE_FILTERS = 1024
#: Units of the hidden dense layer.
FC_UNITS = 512


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the plan.

    Attributes:
        name: the Keras layer name (weights are saved under ``<name>/kernel`` and ``<name>/bias``).
        kind: ``"input"``, ``"conv"`` (2-D convolution), ``"maxpool"`` (2-D max-pooling), ``"concat"``
            (along channels), ``"flatten"`` or ``"dense"``.
        inputs: the names of the layers whose outputs this layer takes, in order (empty for the input).
        shape: the input's ``(height, width, channels)``; input only.
        kernel: the side of a convolution's square kernel or of a pooling's square window (pixels).
        filters: a convolution's output channels, or a dense layer's units.
        strides: a convolution's or pooling's stride (pixels, both axes).
        padding: ``"same"`` or ``"valid"``, as in Keras.
        activation: the Keras activation name (``"relu"``), or ``None`` for none.
    """

    name: str
    kind: str
    inputs: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()
    kernel: int = 0
    filters: int = 0
    strides: int = 1
    padding: str = "valid"
    activation: str | None = None


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


def _pathway_plan(index: int, filters: int, source: str) -> tuple[LayerSpec, ...]:
    """Pathway ``index``: pool the input ``source`` by 2**index, three 5x5 ReLU convolutions, pool by
    2**(6 - index) to 1/64 of the input's size (a pooling by 1 is left out)."""
    layers = []
    if index:
        scale = 2**index
        layers.append(LayerSpec(f"p{index}_in_pool", "maxpool", (source,), kernel=scale, strides=scale))
    for conv in range(PATHWAY_CONVOLUTIONS):
        previous = layers[-1].name if layers else source
        layers.append(
            LayerSpec(
                f"p{index}_conv{conv}",
                "conv",
                (previous,),
                kernel=PATHWAY_KERNEL,
                filters=filters,
                padding="same",
                activation="relu",
            )
        )
    out_scale = SIZE_MULTIPLE // 2**index
    if out_scale > 1:
        layers.append(
            LayerSpec(
                f"p{index}_out_pool",
                "maxpool",
                (layers[-1].name,),
                kernel=out_scale,
                strides=out_scale,
                padding="same",
            )
        )
    return tuple(layers)


def mcnn_plan(height: int, width: int, channels: int = 3, num_classes: int = 13) -> tuple[LayerSpec, ...]:
    """M-CNN (Godinez et al. 2017, Fig. 1) for a channels-last ``(height, width, channels)`` input and
    ``num_classes`` logits, as layers in the order :func:`build_mcnn` creates them: the input ``image``,
    pathways 0..6, ``scales``, ``fuse_conv``, ``fuse_pool``, ``flatten``, ``fc``, ``logits``.

    Raises:
        ValueError: if ``height`` or ``width`` is not a positive multiple of 64, or ``channels`` or
            ``num_classes`` is not positive.
    """
    check_input_size(height, width)
    if channels <= 0 or num_classes <= 0:
        raise ValueError(f"channels and num_classes must be positive, got {channels} and {num_classes}")
    image = LayerSpec("image", "input", shape=(height, width, channels))
    pathways = [_pathway_plan(i, f, image.name) for i, f in enumerate(PATHWAY_FILTERS)]
    return (
        image,
        *(layer for pathway in pathways for layer in pathway),
        LayerSpec("scales", "concat", tuple(pathway[-1].name for pathway in pathways)),
        LayerSpec("fuse_conv", "conv", ("scales",), kernel=1, filters=FUSE_FILTERS, activation="relu"),
        LayerSpec("fuse_pool", "maxpool", ("fuse_conv",), kernel=2, strides=2, padding="same"),
        LayerSpec("flatten", "flatten", ("fuse_pool",)),
        LayerSpec("fc", "dense", ("flatten",), filters=FC_UNITS, activation="relu"),
        LayerSpec("logits", "dense", ("fc",), filters=num_classes),
    )


def keras_layer_order(plan: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
    """The plan's layers in the order of the Keras model's ``model.layers``, which is also the order of
    its ``trainable_variables`` (each layer's kernel, then its bias).

    Keras 3 lists a functional model's layers by decreasing depth, a layer's depth being the longest
    path from it to the output (the plan's last layer), ties broken by the order in which a depth-first
    search from the output, following each layer's inputs in order, first reaches them
    (``keras/src/ops/function.py``, ``map_graph`` and ``_build_map``).
    """
    by_name = {spec.name: spec for spec in plan}
    depth = {spec.name: 0 for spec in plan}
    for spec in reversed(plan):
        for source in spec.inputs:
            depth[source] = max(depth[source], depth[spec.name] + 1)
    reached: dict[str, int] = {}
    stack = [plan[-1].name]
    while stack:
        name = stack.pop()
        if name not in reached:
            reached[name] = len(reached)
            stack.extend(reversed(by_name[name].inputs))
    return tuple(sorted(plan, key=lambda spec: (-depth[spec.name], reached[spec.name])))


def _keras_layer(layers, spec: LayerSpec):
    """The Keras layer of a non-input ``spec``."""
    if spec.kind == "conv":
        return layers.Conv2D(
            spec.filters,
            spec.kernel,
            strides=spec.strides,
            padding=spec.padding,
            activation=spec.activation,
            name=spec.name,
        )
    if spec.kind == "maxpool":
        return layers.MaxPooling2D(spec.kernel, strides=spec.strides, padding=spec.padding, name=spec.name)
    if spec.kind == "concat":
        return layers.Concatenate(name=spec.name)
    if spec.kind == "flatten":
        return layers.Flatten(name=spec.name)
    if spec.kind == "dense":
        return layers.Dense(spec.filters, activation=spec.activation, name=spec.name)
    raise ValueError(f"layer {spec.name!r} has unknown kind {spec.kind!r}")


def build_mcnn(height: int = 1024, width: int = 1280, channels: int = 3, num_classes: int = 13):
    """Build M-CNN for channels-last input ``(N, height, width, channels)`` float32.

    Returns a Keras model whose output is ``(N, num_classes)`` logits (no softmax), built by walking
    :func:`mcnn_plan`. Weights are Glorot-uniform, biases zero (Keras defaults). At 1024x1280x3 with
    13 classes it has 42,577,261 parameters.

    Raises:
        ValueError: if ``height`` or ``width`` is not a positive multiple of 64, or ``channels`` or
            ``num_classes`` is not positive.
    """
    import keras  # imported here so that the plan and sizing helpers above load without TensorFlow
    from keras import layers

    plan = mcnn_plan(height, width, channels, num_classes)
    outputs = {}
    for spec in plan:
        if spec.kind == "input":
            outputs[spec.name] = keras.Input(spec.shape, name=spec.name)
        elif spec.kind == "concat":
            outputs[spec.name] = _keras_layer(layers, spec)([outputs[source] for source in spec.inputs])
        else:
            outputs[spec.name] = _keras_layer(layers, spec)(outputs[spec.inputs[0]])
    return keras.Model(outputs[plan[0].name], outputs[plan[-1].name], name="mcnn")

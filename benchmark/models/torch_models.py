"""The models in PyTorch, for the DistributedDataParallel engine: the same architectures, sizes and initialisation
as the Keras models of :data:`benchmark.models.MODELS`.

M-CNN is built by walking :func:`benchmark.models.mcnn.mcnn_plan`, the plan the Keras build and the analytic model
walk, its modules named after the plan's layers (``p0_conv0.weight``, ``fc.bias``: the Keras layer names). The two
backbones are torchvision's (``weights=None``: nothing is downloaded), topped as the Keras ones: DenseNet-121's
ReLU'd, globally average-pooled features (torchvision's own ``densenet121(num_classes=...)``), and VGG-16's
flattened features with one linear layer (not torchvision's three-layer classifier nor its adaptive pooling).

Every model takes ``(N, channels, height, width)`` float32 images and returns ``(N, classes)`` logits; it is
initialised as Keras initialises its own by default, so that both engines start alike: Glorot (Xavier) uniform
for every convolution and linear weight, zero biases, batch normalisation's scale 1, offset 0, running mean 0 and
variance 1. The draws come from torch's default generator: the caller seeds it (``torch.manual_seed``). Models
are built on the CPU; the engine moves them to their device and memory format.

This module imports torch at import time: only the PyTorch engine imports it (through
:meth:`benchmark.models.ModelKind.create_torch`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torchvision
from torch import nn
from torch.nn import functional

from benchmark.models.analytic import model_figures
from benchmark.models.mcnn import mcnn_plan

#: Batch normalisation's epsilon in ``keras.applications``' DenseNet121 (every ``BatchNormalization`` of
#: ``keras/src/applications/densenet.py`` passes ``epsilon=1.001e-5``); torchvision's default is 1e-5.
KERAS_DENSENET_BN_EPSILON = 1.001e-5
#: Keras's batch-normalisation momentum (``keras.layers.BatchNormalization``'s default, which
#: ``keras.applications``' DenseNet121 keeps): moving = momentum * moving + (1 - momentum) * batch.
KERAS_BN_MOMENTUM = 0.99
#: The same update in torch's convention, running = (1 - momentum) * running + momentum * batch.
TORCH_BN_MOMENTUM = 1 - KERAS_BN_MOMENTUM

Model = TypeVar("Model", bound=nn.Module)

#: The activations a plan's layer may name (Keras's names), as torch functions.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": functional.relu}


class KerasMaxPool2d(nn.Module):
    """2-D max-pooling over a square ``kernel`` (pixels) with ``strides`` (pixels) and Keras's ``padding``:
    ``"valid"`` (none; floor((side - kernel) / strides) + 1 outputs) or ``"same"`` (ceil(side / strides)
    outputs), the input padded as TensorFlow pads it (``tf.nn.max_pool``: in total max((out - 1) * strides +
    kernel - side, 0), half before, the odd one after) with -inf, so that the padding is never the maximum.
    M-CNN's ``fuse_pool`` needs it: 2x2 over an odd side (1x1 at 64x64 input).

    Raises:
        ValueError: ``padding`` is neither.
    """

    def __init__(self, kernel: int, strides: int, padding: str) -> None:
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        super().__init__()
        self.kernel, self.strides, self.same = kernel, strides, padding == "same"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pool ``(N, C, H, W)`` to ``(N, C, H', W')``."""
        if self.same:
            pads: list[int] = []
            for side in reversed(images.shape[-2:]):  # functional.pad takes the last axis first
                total = max((-(-side // self.strides) - 1) * self.strides + self.kernel - side, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):
                images = functional.pad(images, pads, value=-math.inf)
        return functional.max_pool2d(images, self.kernel, self.strides)


class MCNN(nn.Module):
    """M-CNN (Godinez et al. 2017) as the plan :func:`benchmark.models.mcnn.mcnn_plan` lays it out for
    ``(N, channels, height, width)`` float32 images and ``classes`` logits: one submodule per convolution, pooling
    and dense layer, named as the plan's (and the Keras model's) layer, its input's channels or features read
    off the analytic model (:func:`benchmark.models.analytic.model_figures`, Keras's shape rules). Torch's
    default initialisation; :func:`build_mcnn` gives Keras's.

    Attributes:
        plan: the layers, in the order the forward pass computes them.

    Raises:
        ValueError: as :func:`~benchmark.models.mcnn.mcnn_plan` (a size that is not a multiple of 64, channels
            or classes not positive).
    """

    def __init__(self, height: int, width: int, channels: int, classes: int) -> None:
        super().__init__()
        self.plan = mcnn_plan(height, width, channels, classes)
        figures = {layer.name: layer for layer in model_figures(height, width, channels, classes).layers}
        self._activations = {spec.name: ACTIVATIONS[spec.activation] for spec in self.plan if spec.activation}
        for spec in self.plan:
            if spec.kind == "conv":
                in_channels = figures[spec.name].weight_shapes[0][-2]  # Keras's kernel: (k, k, in, filters)
                self.add_module(
                    spec.name,
                    nn.Conv2d(in_channels, spec.filters, spec.kernel, stride=spec.strides, padding=spec.padding),
                )
            elif spec.kind == "dense":
                in_features = figures[spec.name].weight_shapes[0][0]  # Keras's kernel: (in, units)
                self.add_module(spec.name, nn.Linear(in_features, spec.filters))
            elif spec.kind == "maxpool":
                self.add_module(spec.name, KerasMaxPool2d(spec.kernel, spec.strides, spec.padding))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, channels, height, width)`` float32 images to ``(N, classes)`` logits."""
        outputs: dict[str, torch.Tensor] = {}
        for spec in self.plan:
            if spec.kind == "input":
                output = images
            elif spec.kind == "concat":
                output = torch.cat([outputs[source] for source in spec.inputs], dim=1)
            elif spec.kind == "flatten":
                output = torch.flatten(outputs[spec.inputs[0]], 1)
            else:
                output = self.get_submodule(spec.name)(outputs[spec.inputs[0]])
                if spec.name in self._activations:
                    output = self._activations[spec.name](output)
            outputs[spec.name] = output
        return output


def build_mcnn(height: int, width: int, channels: int, classes: int) -> MCNN:
    """M-CNN (:class:`MCNN`) from ``(N, channels, height, width)`` float32 images to ``(N, classes)`` logits,
    initialised as Keras's M-CNN (:func:`benchmark.models.mcnn.build_mcnn`). At 1024x1280x3 with 13 classes it
    has 42,577,261 parameters, as the Keras model.

    Raises:
        ValueError: ``height`` or ``width`` is not a positive multiple of 64, or ``channels`` or ``classes`` is
            not positive.
    """
    with torch.device("meta"):
        model = MCNN(height, width, channels, classes)
    return keras_initialised(model)


def build_densenet121(height: int, width: int, channels: int, classes: int) -> nn.Module:
    """torchvision's DenseNet-121 from ``(N, channels, height, width)`` float32 images to ``(N, classes)``
    logits: its features, ReLU, global average pooling and one linear layer (``densenet121(num_classes=...)``),
    as the Keras model of :data:`benchmark.models.MODELS`, with Keras DenseNet121's batch normalisation
    (epsilon :data:`KERAS_DENSENET_BN_EPSILON`, momentum :data:`TORCH_BN_MOMENTUM`). At 224x224x3 with 14
    classes it has 7,051,854 parameters (:func:`parameter_count`). ``height`` and ``width`` (pixels) do not
    change the layers: the registry checks them (:func:`benchmark.models.check_backbone_size`)."""
    with torch.device("meta"):
        model = torchvision.models.densenet121(weights=None, num_classes=classes)
        model.features.conv0 = _with_in_channels(model.features.conv0, channels)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.eps = KERAS_DENSENET_BN_EPSILON
            layer.momentum = TORCH_BN_MOMENTUM
    return keras_initialised(model)


def build_vgg16(height: int, width: int, channels: int, classes: int) -> nn.Module:
    """torchvision's VGG-16 features from ``(N, channels, height, width)`` float32 images, flattened, then one
    linear layer to ``(N, classes)`` logits (``features``, ``flatten``, ``logits``), as the Keras model of
    :data:`benchmark.models.MODELS`: not torchvision's adaptive pooling nor its three-layer classifier. The linear
    layer takes the features' output, 512 x H / 32 x W / 32 (floored) for ``height`` H and ``width`` W (pixels,
    at least 32). At 224x224x3 with 14 classes it has 15,065,934 parameters."""
    with torch.device("meta"):
        features = torchvision.models.vgg16(weights=None).features
        features[0] = _with_in_channels(features[0], channels)
        shape = features(torch.empty(1, channels, height, width)).shape  # on the meta device: no storage, no FLOP
        logits = nn.Linear(math.prod(shape[1:]), classes)
        model = nn.Sequential(OrderedDict(features=features, flatten=nn.Flatten(), logits=logits))
    return keras_initialised(model)


def parameter_count(module: nn.Module) -> int:
    """The elements of ``module``'s parameters and buffers but batch normalisation's ``num_batches_tracked``:
    what Keras's ``count_params()`` counts for the same model (its weights, trainable or not: batch
    normalisation's moving mean and variance included; Keras keeps no count of batches)."""
    parameters = sum(parameter.numel() for parameter in module.parameters())
    buffers = sum(buffer.numel() for name, buffer in module.named_buffers() if not name.endswith("num_batches_tracked"))
    return parameters + buffers


def _with_in_channels(conv: nn.Conv2d, channels: int) -> nn.Conv2d:
    """``conv``, or a convolution like it taking ``channels`` input channels (torchvision's backbones take 3)."""
    if conv.in_channels == channels:
        return conv
    settings: dict[str, Any] = {
        name: getattr(conv, name) for name in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
    }
    return nn.Conv2d(channels, conv.out_channels, bias=conv.bias is not None, **settings)


def keras_initialised(model: Model) -> Model:
    """``model``, built on the meta device (no storage, nothing drawn), given storage on the CPU and Keras's
    default initialisation: Glorot uniform convolution and linear weights (``nn.init.xavier_uniform_``: the same
    fans, kernel elements x channels in and out), zero biases, batch normalisation's scale 1, offset 0, running
    mean 0, variance 1 and count 0 (``reset_parameters``).

    Raises:
        ValueError: a module holds parameters or buffers that this does not initialise (naming it).
    """
    model.to_empty(device="cpu")
    for name, layer in model.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            layer.reset_parameters()
        elif list(layer.parameters(recurse=False)) or list(layer.buffers(recurse=False)):
            raise ValueError(f"{name} ({type(layer).__name__}) has state that Keras's initialisation does not cover")
    return model

"""The model registry: the one place that maps a model name (``model.name`` in a sweep spec, ``--model`` of
``mcnn-bench train``, ``allreduce``, ``bench overhead`` and ``predict``) to how it is built, which input sizes
it takes, its gradients' shapes and, where known, its analytic figures (FLOPs, memory).

Every model outputs logits, one per class, as ``(N, classes)``: the task (:mod:`benchmark.train.task`) turns them
into a softmax (single-label) or one sigmoid per class (multi-label, as CheXNet's head). The two ImageNet
backbones come from ``keras.applications`` with ``weights=None`` (nothing is downloaded), topped with the
head of Wilson et al. (Dell EMC) and CheXNet (Rajpurkar et al. 2017, sec. 3.1): DenseNet-121's globally
average-pooled features, or VGG-16's flattened features, then one dense layer.

Each model is built once per engine, from the same definitions, with the same sizes and initialisation: for the
TensorFlow + Horovod engine in Keras (:meth:`ModelKind.create`), for the PyTorch DistributedDataParallel engine in
``torch.nn`` (:meth:`ModelKind.create_torch`, :mod:`benchmark.models.torch_models`):

* ``mcnn``: both walk the one plan, :func:`benchmark.models.mcnn.mcnn_plan`;
* ``densenet121``: ``keras.applications.DenseNet121``; ``torchvision.models.densenet121``;
* ``vgg16``: ``keras.applications.VGG16``; ``torchvision.models.vgg16``'s features.

The PyTorch engine takes the backbones from torchvision rather than from Keras on its PyTorch backend: torchvision
is well kept and its backbones are the ones PyTorch users train; they are native ``torch.nn`` modules, which
DistributedDataParallel wraps directly (its hooks on the parameters' gradients, no Keras layer or variable in
between), and their convolutions run channels-last through oneDNN on the CPU and cuDNN on the GPU. The tests
(``tests/unit/test_torch_models.py``) hold the two builds of each model to the same parameter count and layer
shapes, and M-CNN's to the same outputs.

This module imports neither TensorFlow nor torch: each builder imports its framework when it is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import McnnBenchError
from benchmark.models.analytic import ModelFigures, model_figures
from benchmark.models.mcnn import build_mcnn, check_input_size

#: The smallest input side keras.applications accepts for its backbones without their top (pixels).
MIN_BACKBONE_SIZE = 32


def check_backbone_size(height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``height`` and ``width`` (pixels) are at least 32, the least
    ``keras.applications`` accepts for DenseNet-121 and VGG-16 without their top."""
    if min(height, width) < MIN_BACKBONE_SIZE:
        raise ValueError(
            f"DenseNet-121 and VGG-16 take inputs of at least {MIN_BACKBONE_SIZE}x{MIN_BACKBONE_SIZE} "
            f"pixels, got {height}x{width} (CheXNet: 224x224)"
        )


def _backbone_model(application: str, flatten: bool):
    """A builder of ``keras.applications.<application>`` without its top, topped with the pooled
    (``flatten=False``) or flattened features and a dense layer of logits."""

    def build(height: int, width: int, channels: int, classes: int):
        import keras

        backbone = getattr(keras.applications, application)(
            include_top=False, weights=None, input_shape=(height, width, channels), pooling=None if flatten else "avg"
        )
        features = keras.layers.Flatten(name="flatten")(backbone.output) if flatten else backbone.output
        logits = keras.layers.Dense(classes, name="logits")(features)
        return keras.Model(backbone.input, logits, name=application.lower())

    return build


class FigureNotKnown(McnnBenchError, ValueError):
    """A figure asked of a model that has no analytic model to give it (:meth:`ModelKind.figures`)."""


@dataclass(frozen=True)
class ModelKind:
    """A named model.

    Attributes:
        name: what ``model.name`` says.
        description: one line for ``--help`` and the docs, with its source.
        check_size: raises ``ValueError`` naming the rule when the model cannot take a ``(height, width)``
            input (pixels).
        build: ``(height, width, channels, classes) -> keras.Model`` from ``(N, height, width, channels)``
            float32 images to ``(N, classes)`` logits, freshly initialised (Keras' defaults, seeded by
            ``keras.utils.set_random_seed``).
        build_torch: ``"module:function"`` of the PyTorch builder, ``(height, width, channels, classes) ->
            torch.nn.Module`` from ``(N, channels, height, width)`` float32 images to ``(N, classes)`` logits,
            initialised as Keras initialises :attr:`build`'s model (seeded by ``torch.manual_seed``); a name, so
            that this module imports torch only when :meth:`create_torch` builds a model.
        analytic: ``(height, width, channels, classes) ->`` :class:`~benchmark.models.analytic.ModelFigures`,
            the model's parameters, FLOPs, activations and gradient shapes computed without TensorFlow; None
            for a model without an analytic model (only M-CNN has one).
    """

    name: str
    description: str
    check_size: Callable[[int, int], None]
    build: Callable
    build_torch: str
    analytic: Callable[[int, int, int, int], ModelFigures] | None = None

    def create(self, height: int, width: int, channels: int, classes: int, init_weights: str | Path | None = None):
        """The model for ``(N, height, width, channels)`` inputs and ``classes`` logits, with the weights of the
        local Keras weights file ``init_weights`` loaded (by layer name, as ``keras.applications`` loads
        ImageNet weights; a backbone-only file such as ``*_notop.h5`` fills the backbone and leaves the
        head as initialised).

        Raises:
            ValueError: the input size does not suit the model (:attr:`check_size`), or ``init_weights``
                is missing or does not fit the model (naming the file).
        """
        self.check_size(height, width)
        model = self.build(height, width, channels, classes)
        if init_weights is not None:
            load_weights(model, Path(init_weights))
        return model

    def create_torch(
        self, height: int, width: int, channels: int, classes: int, init_weights: str | Path | None = None
    ):
        """The PyTorch model (:attr:`build_torch`, on the CPU) for ``(N, channels, height, width)`` float32 inputs
        and ``(N, classes)`` logits; imports torch.

        Raises:
            ValueError: the input size does not suit the model (:attr:`check_size`), or ``init_weights`` is
                given: it is a Keras weights file, which the PyTorch models do not load.
        """
        self.check_size(height, width)
        if init_weights is not None:
            raise ValueError(
                f"model.init_weights: {init_weights} is a Keras weights file, which the PyTorch model of "
                f"{self.name} cannot load; leave model.init_weights unset for this engine"
            )
        module, function = self.build_torch.split(":")
        return getattr(importlib.import_module(module), function)(height, width, channels, classes)

    def gradient_shapes(self, height: int, width: int, channels: int, classes: int) -> tuple[tuple[int, ...], ...]:
        """One shape per trainable variable (so per gradient the step allreduces), in the order of the Keras
        model's ``trainable_variables``, for ``(N, height, width, channels)`` inputs and ``classes`` logits:
        the analytic model's where the model has one (no TensorFlow), else read off the built Keras model
        (:attr:`build`: imports TensorFlow).

        Raises:
            ValueError: the input size does not suit the model (:attr:`check_size`), or channels or classes
                are not positive.
        """
        self.check_size(height, width)
        if channels <= 0 or classes <= 0:
            raise ValueError(f"channels and classes must be positive, got {channels} and {classes}")
        if self.analytic is not None:
            return self.analytic(height, width, channels, classes).gradient_shapes
        model = self.build(height, width, channels, classes)
        return tuple(tuple(int(d) for d in variable.shape) for variable in model.trainable_variables)

    def analytic_model(self, needed: str) -> Callable[[int, int, int, int], ModelFigures]:
        """:attr:`analytic`, for a caller that needs ``needed`` of it (e.g. ``"predict's gradient bytes"``):
        ``(height, width, channels, classes) ->`` :class:`~benchmark.models.analytic.ModelFigures`.

        Raises:
            FigureNotKnown: the model has no analytic model; the message names the model and ``needed``.
        """
        if self.analytic is None:
            known = ", ".join(kind.name for kind in MODELS.values() if kind.analytic is not None)
            raise FigureNotKnown(
                f"{needed}: not known for model {self.name!r}, which has no analytic model "
                f"(benchmark.models.analytic models {known} only)"
            )
        return self.analytic


def load_weights(model, path: Path) -> None:
    """Load the Keras weights file ``path`` into ``model``: a Keras 3 ``.weights.h5`` file of the same model, or
    a legacy HDF5 file (``.h5``, as ``keras.applications`` publishes), matched by layer name.

    Raises:
        ValueError: the file is missing or cannot be loaded into ``model`` (naming it and Keras' reason).
    """
    if not path.is_file():
        raise ValueError(f"model.init_weights: {path}: no such file")
    legacy = not path.name.endswith(".weights.h5")
    try:
        model.load_weights(path, **({"by_name": True} if legacy else {}))
    except Exception as exc:  # Keras raises ValueError, OSError, KeyError... for a file that does not fit
        raise ValueError(
            f"model.init_weights: cannot load {path} into {model.name}: {type(exc).__name__}: {exc}"
        ) from exc


#: The module of the PyTorch builders (:attr:`ModelKind.build_torch`).
_TORCH_MODELS = "benchmark.models.torch_models"

#: Every model, by ``model.name``. The first is the default.
MODELS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "mcnn",
            "M-CNN (Godinez et al. 2017), as Datta et al. 2019 train it",
            check_input_size,
            lambda h, w, c, k: build_mcnn(h, w, c, k),
            f"{_TORCH_MODELS}:build_mcnn",
            model_figures,
        ),
        ModelKind(
            "densenet121",
            "CheXNet's DenseNet-121 (Rajpurkar et al. 2017), from keras.applications with a new "
            "head, one output per class",
            check_backbone_size,
            _backbone_model("DenseNet121", flatten=False),
            f"{_TORCH_MODELS}:build_densenet121",
        ),
        ModelKind(
            "vgg16",
            "VGG-16 (Simonyan & Zisserman 2015), from keras.applications with a new head, one output per class",
            check_backbone_size,
            _backbone_model("VGG16", flatten=True),
            f"{_TORCH_MODELS}:build_vgg16",
        ),
    )
}

"""The analytic model of M-CNN: parameters, FLOPs and memory, computed from the architecture's plan.

Walks :func:`benchmark.models.mcnn.mcnn_plan`, the plan from which :func:`benchmark.models.mcnn.build_mcnn` builds the
Keras model (Godinez et al. 2017, Fig. 1), so the figures follow the architecture for any input size, and
needs neither TensorFlow nor Keras. Figures at 1024x1280x3, 13 classes, batch 32::

    $ python -m benchmark.models.analytic 1024 1280 --batch 32
    M-CNN at 1024x1280x3, 13 classes
    parameters                42,577,261 (170.3 MB = 162.4 MiB of float32)
    forward                   51.40 GFLOP per image
    training                  154.21 GFLOP per image
    activations at batch 32   11.66 GB
    memory lower bound        12.17 GB at batch 32
    gradient tensors          48, 170.3 MB = 162.4 MiB

Datta et al. 2019 give the model as 162.2 MB; our float32 figure is
42,577,261 x 4 B = 170.3 MB = 162.4 MiB. The 48 gradient tensors are the 24 kernels and 24 biases of the
21 pathway convolutions, ``fuse_conv``, ``fc`` and ``logits``.

Counting rules:

* FLOPs: a multiply-add is 2 FLOPs; only convolutions and dense layers are counted (2 x output
  positions x kernel elements); bias additions, ReLUs and poolings are left out. This is what gives the
  51.4 GFLOP per image at 1024x1280x3 (bias and ReLU would add 0.17 GFLOP, pooling comparisons 0.05).
* Training FLOPs: 3 x forward. The backward pass computes the gradient with respect to each layer's
  input and with respect to its weights, each costing about the forward pass (Kaplan et al. 2020,
  "Scaling Laws for Neural Language Models", sec. 2.1: C = 6 N per token against 2 N forward).
* Activations: the float32 output of every layer of the Keras model (``model.layers``), the input
  image, the poolings, the concatenation and the flatten included, each counted once, as kept for the
  backward pass. This gives 11.66 GB at batch 32, 1024x1280x3, against the "about 11 GB" of Datta et
  al. 2019, Fig. 2 (without the input 11.15 GB; the convolutions' and dense layers' outputs alone 10.95 GB).
* Memory lower bound: with momentum SGD (``benchmark.train.loop``) training holds three parameter-sized
  float32 tensors (weights, gradients, momentum) beside the batch's activations.
"""

from __future__ import annotations

import argparse
import functools
import math
from dataclasses import dataclass

from benchmark.models.mcnn import LayerSpec, keras_layer_order, mcnn_plan

#: Bytes of a float32 value: weights, gradients, optimizer state and activations are all float32.
FLOAT32_BYTES = 4
#: FLOPs of a multiply-add.
FLOPS_PER_MULTIPLY_ADD = 2
#: Training FLOPs per forward FLOP: forward + backward (gradients w.r.t. inputs and w.r.t. weights, each
#: about one forward) (Kaplan et al. 2020, sec. 2.1).
TRAINING_FLOPS_PER_FORWARD_FLOP = 3
#: Parameter-sized float32 tensors held during training with momentum SGD: weights, gradients, momentum.
PARAMETER_COPIES_IN_TRAINING = 3


@dataclass(frozen=True)
class LayerFigures:
    """The analytic figures of one layer, per image.

    Attributes:
        name: the Keras layer name.
        kind: the plan's kind (``input``, ``conv``, ``maxpool``, ``concat``, ``flatten``, ``dense``).
        output_shape: the output per image, ``(height, width, channels)`` or ``(units,)``.
        parameters: trainable parameters (kernel and bias elements).
        forward_flops: forward FLOPs per image (2 per multiply-add; 0 but for conv and dense layers).
        weight_shapes: the shapes of its trainable variables, Keras's order (kernel, bias); empty
            for layers without weights.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    forward_flops: int
    weight_shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ModelFigures:
    """The analytic figures of M-CNN for one input size (see the module's docstring for the rules).

    Attributes:
        height, width, channels: the input image (pixels, pixels, channels).
        num_classes: the logits.
        layers: every layer, in the order of the Keras model's ``model.layers``.
        parameters: trainable parameters (42,577,261 at 1024x1280x3, 13 classes).
        parameter_bytes: float32 bytes of the parameters (170.3 MB = 162.4 MiB at 1024x1280x3).
        gradient_shapes: one shape per trainable variable, in the order of Keras's
            ``model.trainable_variables``; their elements add up to ``parameters``.
        forward_flops_per_image: forward FLOPs per image (convolutions and dense layers, 2 per
            multiply-add).
        training_flops_per_image: forward + backward FLOPs per image (3 x forward).
        activation_bytes_per_image: float32 bytes of every layer's output, the input included.
    """

    height: int
    width: int
    channels: int
    num_classes: int
    layers: tuple[LayerFigures, ...]
    parameters: int
    parameter_bytes: int
    gradient_shapes: tuple[tuple[int, ...], ...]
    forward_flops_per_image: int
    training_flops_per_image: int
    activation_bytes_per_image: int

    def activation_bytes(self, batch: int) -> int:
        """Bytes of the activations of ``batch`` images (Datta et al. 2019, Fig. 2: about 11 GB at 32).

        Raises:
            ValueError: if ``batch`` is not positive.
        """
        if batch <= 0:
            raise ValueError(f"batch must be positive, got {batch}")
        return batch * self.activation_bytes_per_image

    def memory_lower_bound_bytes(self, batch: int) -> int:
        """Bytes that training on ``batch`` images needs at least: weights, gradients and momentum
        (3 x ``parameter_bytes``) and the batch's activations; workspace and framework overhead excluded."""
        return PARAMETER_COPIES_IN_TRAINING * self.parameter_bytes + self.activation_bytes(batch)

    def summary(self, batch: int) -> dict:
        """The figures for ``batch`` images as a JSON-ready dict (bytes, GFLOP = 1e9 FLOPs)."""
        return {
            "batch": batch,
            "parameters": self.parameters,
            "parameter_bytes": self.parameter_bytes,
            "forward_gflop_per_image": self.forward_flops_per_image / 1e9,
            "training_gflop_per_image": self.training_flops_per_image / 1e9,
            "activation_bytes": self.activation_bytes(batch),
            "memory_lower_bound_bytes": self.memory_lower_bound_bytes(batch),
            "gradient_tensors": len(self.gradient_shapes),
            "gradient_bytes": self.parameter_bytes,
        }


def _output_shape(spec: LayerSpec, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The per-image output shape of ``spec`` given its inputs' shapes (Keras's rules for "same" and
    "valid" padding: ceil(size / stride) and floor((size - kernel) / stride) + 1)."""
    if spec.kind == "input":
        return spec.shape
    if spec.kind in ("conv", "maxpool"):
        height, width, channels = inputs[0]
        if spec.padding == "same":
            sides = [-(-side // spec.strides) for side in (height, width)]
        else:
            sides = [(side - spec.kernel) // spec.strides + 1 for side in (height, width)]
        return (*sides, spec.filters if spec.kind == "conv" else channels)
    if spec.kind == "concat":
        return (*inputs[0][:2], sum(shape[2] for shape in inputs))
    if spec.kind == "flatten":
        return (math.prod(inputs[0]),)
    if spec.kind == "dense":
        return (spec.filters,)
    raise ValueError(f"layer {spec.name!r} has unknown kind {spec.kind!r}")


def _weight_shapes(spec: LayerSpec, inputs: list[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """The kernel and bias shapes of a conv ``(k, k, in, filters), (filters,)`` or dense layer
    ``(in, units), (units,)``; none for other layers."""
    if spec.kind == "conv":
        return (spec.kernel, spec.kernel, inputs[0][-1], spec.filters), (spec.filters,)
    if spec.kind == "dense":
        return (inputs[0][-1], spec.filters), (spec.filters,)
    return ()


def _forward_flops(spec: LayerSpec, output_shape: tuple[int, ...], weight_shapes: tuple[tuple[int, ...], ...]) -> int:
    """Forward FLOPs per image of a conv or dense layer: 2 x output positions (height x width, or 1)
    x kernel elements; 0 for other layers (bias, activation and pooling are not counted)."""
    if spec.kind not in ("conv", "dense"):
        return 0
    positions = math.prod(output_shape[:-1])
    return FLOPS_PER_MULTIPLY_ADD * positions * math.prod(weight_shapes[0])


def _layer_figures(plan: tuple[LayerSpec, ...]) -> dict[str, LayerFigures]:
    """Every layer's figures, by name, walking the plan from the input."""
    figures: dict[str, LayerFigures] = {}
    for spec in plan:
        inputs = [figures[source].output_shape for source in spec.inputs]
        output_shape = _output_shape(spec, inputs)
        weight_shapes = _weight_shapes(spec, inputs)
        figures[spec.name] = LayerFigures(
            name=spec.name,
            kind=spec.kind,
            output_shape=output_shape,
            parameters=sum(math.prod(shape) for shape in weight_shapes),
            forward_flops=_forward_flops(spec, output_shape, weight_shapes),
            weight_shapes=weight_shapes,
        )
    return figures


@functools.cache
def model_figures(height: int, width: int, channels: int = 3, num_classes: int = 13) -> ModelFigures:
    """The analytic figures of M-CNN for ``(height, width, channels)`` float32 images and ``num_classes``
    logits (cached: called once per record).

    Raises:
        ValueError: if ``height`` or ``width`` is not a positive multiple of 64, or ``channels`` or
            ``num_classes`` is not positive (as :func:`benchmark.models.mcnn.check_input_size`).
    """
    plan = mcnn_plan(height, width, channels, num_classes)
    by_name = _layer_figures(plan)
    layers = tuple(by_name[spec.name] for spec in keras_layer_order(plan))
    parameters = sum(layer.parameters for layer in layers)
    forward_flops = sum(layer.forward_flops for layer in layers)
    return ModelFigures(
        height=height,
        width=width,
        channels=channels,
        num_classes=num_classes,
        layers=layers,
        parameters=parameters,
        parameter_bytes=FLOAT32_BYTES * parameters,
        gradient_shapes=tuple(shape for layer in layers for shape in layer.weight_shapes),
        forward_flops_per_image=forward_flops,
        training_flops_per_image=TRAINING_FLOPS_PER_FORWARD_FLOP * forward_flops,
        activation_bytes_per_image=FLOAT32_BYTES * sum(math.prod(layer.output_shape) for layer in layers),
    )


def report(figures: ModelFigures, batch: int) -> str:
    """The figures for ``batch`` images as lines of text (MB = 1e6 bytes, MiB = 2**20, GB = 1e9)."""
    weights = figures.parameter_bytes
    return "\n".join(
        [
            f"M-CNN at {figures.height}x{figures.width}x{figures.channels}, {figures.num_classes} classes",
            f"parameters                {figures.parameters:,} "
            f"({weights / 1e6:.1f} MB = {weights / 2**20:.1f} MiB of float32)",
            f"forward                   {figures.forward_flops_per_image / 1e9:.2f} GFLOP per image",
            f"training                  {figures.training_flops_per_image / 1e9:.2f} GFLOP per image",
            f"activations at batch {batch:<4} {figures.activation_bytes(batch) / 1e9:.2f} GB",
            f"memory lower bound        {figures.memory_lower_bound_bytes(batch) / 1e9:.2f} GB at batch {batch}",
            f"gradient tensors          {len(figures.gradient_shapes)}, {weights / 1e6:.1f} MB "
            f"= {weights / 2**20:.1f} MiB",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Print the figures: ``python -m benchmark.models.analytic HEIGHT WIDTH [--channels C] [--classes K]
    [--batch N]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.models.analytic", description=__doc__.splitlines()[0])
    parser.add_argument("height", type=int, help="input height, pixels (a multiple of 64)")
    parser.add_argument("width", type=int, help="input width, pixels (a multiple of 64)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=13)
    parser.add_argument("--batch", type=int, default=32, help="images per batch (per worker)")
    args = parser.parse_args(argv)
    try:
        figures = model_figures(args.height, args.width, args.channels, args.classes)
        print(report(figures, args.batch))
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()

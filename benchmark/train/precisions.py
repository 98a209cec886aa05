"""The precision registry: the one place that names each ``training.precision`` and says what it computes
in, whatever the engine.

Every engine implements every name: an engine's module maps each name of :data:`PRECISIONS` to its own
setting in ``PRECISION_POLICIES`` (e.g. :mod:`benchmark.engines.horovod.engine`: Keras' dtype policies).
Weights, their updates and the loss stay float32 in every precision (mixed precision: an fp32 master copy of
the weights, Micikevicius et al. 2018, sec. 3.1; with bf16: Kalamkar et al. 2019), so only the layers'
compute changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrecisionKind:
    """A named precision.

    Attributes:
        name: what ``training.precision`` (and a kernel peak's ``precision``) says.
        description: one line for ``--help`` and the docs, with its source.
        compute_dtype: the dtype the layers compute in (``float32``, ``bfloat16``), as NumPy, TensorFlow
            and PyTorch spell it.
    """

    name: str
    description: str
    compute_dtype: str


#: Every precision, by ``training.precision``. The first is the default.
PRECISIONS: dict[str, PrecisionKind] = {
    kind.name: kind
    for kind in (
        PrecisionKind("fp32", "float32 compute and weights", "float32"),
        PrecisionKind(
            "bf16",
            "bf16 compute, fp32 weights and loss (mixed precision: Kalamkar et al. 2019), on CPUs "
            "with AVX512-BF16 or AMX only",
            "bfloat16",
        ),
    )
}

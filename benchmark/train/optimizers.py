"""The optimizer registry: the one place that names each ``training.optimizer``, says what it is and fixes
its hyper-parameters, whatever the engine.

Every engine implements every name: an engine's module maps each name of :data:`OPTIMIZERS` to its own
builder in ``OPTIMIZER_BUILDERS`` (e.g. :mod:`benchmark.engines.horovod.engine`: Keras' optimizers), built
with :attr:`OptimizerKind.constants` and the ``training`` settings of :attr:`OptimizerKind.settings`, so
that the same run trains the same update on every engine. The weight decay is not the optimizer's: the
step adds ``training.weight_decay`` x the kernels' L2 to the loss (Datta et al. 2019, sec. 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OptimizerKind:
    """A named optimizer.

    Attributes:
        name: what ``training.optimizer`` says.
        description: one line for ``--help`` and the docs, with its source.
        settings: the ``training`` settings the update reads besides the learning rate (``momentum``).
        constants: its fixed hyper-parameters, by the name its paper gives them (``beta_1``, ``beta_2``,
            ``epsilon``, ``rho``), which every engine passes to its own implementation.
    """

    name: str
    description: str
    settings: tuple[str, ...] = ()
    constants: dict[str, float] = field(default_factory=dict)


#: Every optimizer, by ``training.optimizer``. The first is the default.
OPTIMIZERS: dict[str, OptimizerKind] = {
    kind.name: kind
    for kind in (
        OptimizerKind(
            "momentum",
            "SGD with momentum training.momentum in the velocity form v = m v - rate g, "
            "w = w + v (Sutskever et al. 2013; Datta et al. 2019, sec. 3)",
            settings=("momentum",),
        ),
        OptimizerKind(
            "adam",
            "Adam (Kingma & Ba 2015) with beta_1 0.9, beta_2 0.999, epsilon 1e-7 (CheXNet: "
            "Rajpurkar et al. 2017, sec. 3.1; Wilson et al., Fig. 12)",
            constants={"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        ),
        OptimizerKind(
            "adadelta",
            "Adadelta (Zeiler 2012) with rho 0.95, epsilon 1e-7 (Wilson et al., Fig. 12)",
            constants={"rho": 0.95, "epsilon": 1e-7},
        ),
    )
}

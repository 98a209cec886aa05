"""The DDP engine's optimizer state made before the first step is the state the first step makes: the same slots
of the same shapes, so that a checkpoint holds the same variables before and after it."""

import pytest
import torch

from benchmark.config import TrainingSettings
from benchmark.engines.ddp.engine import OPTIMIZER_BUILDERS, materialise_optimizer_state
from benchmark.train.optimizers import OPTIMIZERS


def _state(optimizer: torch.optim.Optimizer) -> dict[tuple[int, str], tuple[tuple[int, ...], torch.dtype]]:
    return {
        (i, slot): (tuple(value.shape), value.dtype)
        for i, p in enumerate(optimizer.param_groups[0]["params"])
        for slot, value in optimizer.state[p].items()
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_state_made_before_the_first_step_is_the_first_steps(name):
    params = [torch.nn.Parameter(torch.ones(3, 2)), torch.nn.Parameter(torch.ones(2))]
    optimizer = OPTIMIZER_BUILDERS[name](params, TrainingSettings(epochs=1), 0.1)
    materialise_optimizer_state(optimizer, name)
    before = _state(optimizer)
    assert before and all(value.abs().sum() == 0 for p in params for value in optimizer.state[p].values())
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert _state(optimizer) == before

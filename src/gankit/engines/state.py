"""What every engine shares: the training state, the callback hooks, the epoch's running sums, its row.

The general loop (`gankit.engines.general`), the fast path
(`gankit.engines.fast`), checkpoints and every callback import this module
and nothing of each other, so no engine depends on another.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.data import Dataset

# The epoch's loss sums are accumulated in the losses' own precision, step by step, on
# every engine: the divergence rule (`gankit.engines.guard`) is stated over these sums.
SUM_DTYPE = "float32"


class Callback:
    """Hooks called by `gankit.engines.training.train`; override the ones you need.

    The fast path runs whole epochs, so a callback that overrides
    `on_step_end` keeps a run on the general loop, unless its ``needs_steps``
    is False at the time training starts.
    """

    needs_steps = True

    def on_train_start(self, state: "TrainState") -> None: ...

    def on_epoch_end(self, state: "TrainState") -> None: ...

    def on_step_end(self, state: "TrainState") -> None: ...

    def on_train_end(self, state: "TrainState") -> None: ...


@dataclass
class RunningSums:
    """The epoch's running sums, reduced by adding (one process, torchrun ranks, a checkpoint alike).

    Attributes:
        d, g, penalty: summed loss_D, loss_G and penalty of the epoch's steps so far,
            0-d tensors of `SUM_DTYPE`.
        g_seen: examples seen by G steps (fewer than the data with n_critic > 1).
    """

    d: Tensor = field(default_factory=lambda: _zero())
    g: Tensor = field(default_factory=lambda: _zero())
    penalty: Tensor = field(default_factory=lambda: _zero())
    g_seen: int = 0

    def to_tensor(self) -> Tensor:
        """(4,) float32: d, g, penalty, g_seen, the form that is reduced and checkpointed."""
        seen = torch.tensor(float(self.g_seen), device=self.d.device)
        return torch.stack([self.d, self.g, self.penalty, seen]).float()

    def to(self, device: torch.device) -> "RunningSums":
        """The same sums, held on ``device`` (where the losses are)."""
        return RunningSums(self.d.to(device), self.g.to(device), self.penalty.to(device), self.g_seen)

    @classmethod
    def from_tensor(cls, values: Tensor) -> "RunningSums":
        d, g, penalty, g_seen = values.to(getattr(torch, SUM_DTYPE)).clone().unbind()
        return cls(d, g, penalty, int(g_seen))

    def reduced(self) -> "RunningSums":
        """The sums over all torchrun processes (itself in one process)."""
        from gankit.engines.distributed import sum_over_ranks

        return RunningSums.from_tensor(sum_over_ranks(self.to_tensor()))

    def finite(self) -> bool:
        """Whether loss_D's and loss_G's sums are finite: the divergence rule of every engine."""
        return bool(torch.isfinite(self.d)) and bool(torch.isfinite(self.g))


def _zero() -> Tensor:
    return torch.zeros((), dtype=getattr(torch, SUM_DTYPE))


@dataclass
class TrainState:
    """Everything a callback may look at (and a checkpoint must hold)."""

    config: Config
    dataset: Dataset
    G: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    rng: torch.Generator
    epoch: int = 0
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    # Position within the epoch, so that a run can stop and resume mid-epoch.
    batch: int = 0  # batches of the current epoch already done
    epoch_rng_state: Tensor | None = None  # rng.get_state() when the epoch began
    sums: RunningSums = field(default_factory=RunningSums)
    # Set (e.g. by a signal handler) to stop cleanly after the current step.
    stop: threading.Event = field(default_factory=threading.Event)
    # Under torchrun: the wrapped (DistributedDataParallel) networks and this process's place.
    ddp: tuple[nn.Module, nn.Module] | None = None
    rank: int = 0
    world_size: int = 1
    G_ema: nn.Module | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where G, D and the batches live
    # float16 only: one gradient scaler per optimiser (their state goes into checkpoints)
    scalers: dict[str, Any] = field(default_factory=dict)
    # a resumed run's checkpoint came from another platform (gankit.runs.platform): its facts, recorded in the summary
    resumed_from_platform: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """What `train` returns: the trained networks and what was measured."""

    config: Config
    G: nn.Module
    D: nn.Module
    dataset: Dataset
    history: list[dict[str, float]]
    examples_per_sec: float
    summary: dict[str, Any]
    G_ema: nn.Module | None = None


def lr_factor(schedule: str, floor: float, step: int, total: int) -> float:
    """The learning rates' multiplier at (0-based) ``step`` of ``total``, the same on every engine.

    ``"constant"``: 1. ``"linear"``: from 1 down to ``floor`` at the last step.
    ``"cosine"``: ``floor + (1 - floor) (1 + cos(pi t)) / 2`` with t from 0 to 1 over the steps.
    """
    if schedule == "constant" or total <= 1:
        return 1.0
    t = min(step, total - 1) / (total - 1)
    if schedule == "linear":
        return 1.0 - (1.0 - floor) * t
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def steps_per_epoch(state: "TrainState") -> int:
    """Batches per epoch: a global batch is ``batch_size`` rows per process."""
    return math.ceil(state.dataset.train.shape[0] / (state.config.train.batch_size * state.world_size))


def end_epoch(state: TrainState, seconds: float, sum_d: float, sum_g: float, g_seen: int,
              sum_penalty: float | None = None) -> dict[str, float]:
    """Close an epoch on ``state`` (its steps already counted): append and return its history row.

    The row (the one written per epoch by every engine): ``epoch``, ``step``,
    ``loss_d`` and ``loss_g`` (summed losses over the examples seen by D's and
    G's steps), ``penalty`` where there is one, and ``seconds`` of training so far.
    """
    n = state.dataset.train.shape[0]
    state.train_seconds += seconds
    state.epoch += 1
    state.batch = 0
    row = {"epoch": state.epoch, "step": state.step, "loss_d": sum_d / n, "loss_g": sum_g / max(g_seen, 1),
           "seconds": state.train_seconds}
    if sum_penalty is not None:
        row["penalty"] = sum_penalty / n
    state.history.append(row)
    return row


__all__ = ["SUM_DTYPE", "Callback", "RunningSums", "TrainResult", "TrainState", "end_epoch", "lr_factor",
           "steps_per_epoch"]

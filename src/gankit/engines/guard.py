"""Stopping a run on purpose: divergence, and signals.

The divergence rule, the same on every engine: a run has diverged at the
first step after which the epoch's running sum of loss_D or of loss_G,
accumulated step by step in the losses' own precision (float32,
`gankit.engines.state.SUM_DTYPE`), is not finite. A NaN or infinite loss
breaks it, and so does a sum that overflows float32: losses that large mean
nothing in float32 networks. The general loop applies it after every step
(`check_step`); the fast path applies it to each epoch's step losses at once
(`first_divergent_step`) and hands a broken epoch to the general loop, which
redoes it and stops at the same step.

`check_step` runs after every step of the general loop. It costs two
``Tensor.item()`` calls on the CPU (well under a microsecond; see
``benchmarks/guard_overhead.py``):

- a broken divergence rule raises `Diverged` at that step. The G step's loss is
  computed with the discriminator just updated, so a discriminator gone
  non-finite is caught at the very step it happened; a generator gone
  non-finite shows in the next step's losses (its output feeds both), and the
  message says which network holds non-finite values;
- a requested stop (``state.stop``, set by `stop_on_signals`) raises
  `Interrupted` once the step is complete, so a checkpoint taken then is exact.

Under torchrun both flags are combined over the ranks in one all-reduce, so
every process stops at the same step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from gankit.engines.state import SUM_DTYPE

# Exit statuses of `gankit train` (besides 0, and 2 for bad input).
EXIT_DIVERGED = 3
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number, the shell's convention


class Diverged(Exception):
    """A loss or parameter became NaN or infinite; ``str()`` is one readable line."""

    def __init__(self, message: str, epoch: int, step: int):
        super().__init__(message)
        self.epoch, self.step = epoch, step
        self.checkpoint = None  # the last good checkpoint, set by the runner


class Interrupted(Exception):
    """A run stopped on request after a complete step (``epoch`` done, ``batch`` of the next).

    ``finishing`` is True when training had ended and the run's files were being
    written; ``checkpoint`` is the checkpoint to resume from, once there is one.
    """

    def __init__(self, epoch: int, step: int, batch: int, finishing: bool = False, checkpoint=None):
        where = "while writing the run's files" if finishing else f"at epoch {epoch + 1}, step {step}"
        super().__init__(f"stopped {where}")
        self.epoch, self.step, self.batch = epoch, step, batch
        self.finishing, self.checkpoint = finishing, checkpoint


def check_step(state, loss_d: Tensor, loss_g: Tensor) -> None:
    """Raise `Diverged` or `Interrupted` after a training step (see the module docstring)."""
    finite = state.sums.finite()  # the divergence rule: the epoch's running sums hold this step's losses
    stop = state.stop.is_set()
    if state.world_size > 1:
        import torch.distributed as dist

        flags = torch.tensor([float(not finite), float(stop)])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        finite, stop = not flags[0].item(), bool(flags[1].item())
    if not finite:
        raise Diverged(divergence_message(state, loss_d, loss_g), state.epoch + 1, state.step)
    if stop:
        raise Interrupted(state.epoch, state.step, state.batch)


def first_divergent_step(step_d: np.ndarray, step_g: np.ndarray) -> np.ndarray:
    """The divergence rule over an epoch's steps at once, for R runs.

    Args:
        step_d, step_g: each step's summed loss_D and loss_G, (R, S).

    Returns:
        (R,) the 0-based index of the first step after which a running sum
        (in `SUM_DTYPE`) is not finite, or -1 where both stay finite.
    """
    dtype = np.dtype(SUM_DTYPE)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~(np.isfinite(np.cumsum(step_d, axis=1, dtype=dtype)) & np.isfinite(np.cumsum(step_g, axis=1, dtype=dtype)))
    return np.where(bad.any(axis=1), bad.argmax(axis=1), -1)


def non_finite_networks(state) -> list[str]:
    """Names of the networks (G, D, G_ema) holding a NaN or infinite parameter."""
    nets = {"G": state.G, "D": state.D, "G_ema": state.G_ema}
    return [name for name, net in nets.items() if net is not None and not all_finite(net)]


def all_finite(net: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in net.parameters())


def divergence_message(state, loss_d: Tensor, loss_g: Tensor) -> str:
    t = state.config.train
    bad = non_finite_networks(state)
    where = f"non-finite parameters in {' and '.join(bad)}" if bad else "parameters still finite"
    return (f"training diverged at epoch {state.epoch + 1}, step {state.step} (batch {state.batch} of the epoch): "
            f"loss_D {loss_d.item():.4g}, loss_G {loss_g.item():.4g} "
            f"(epoch sums so far {state.sums.d.item():.4g}, {state.sums.g.item():.4g}), {where}. "
            f"Likely cause: a learning rate too high (lr_d {t.lr_d:g}, lr_g {t.lr_g:g}); "
            f"lower train.lr_d / train.lr_g, or set train.lr_backoff to retry automatically")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[dict]:
    """Within the block, SIGINT and SIGTERM set ``stop`` instead of killing the process.

    A second signal of either kind raises `KeyboardInterrupt` at once. The
    previous handlers are restored on exit. Yields a dict whose ``"signal"``
    holds the number of the first signal received (or None).
    """
    received: dict = {"signal": None}

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        received["signal"] = signum
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in EXIT_SIGNAL}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


__all__ = ["Diverged", "Interrupted", "check_step", "first_divergent_step", "stop_on_signals", "non_finite_networks",
           "all_finite", "EXIT_DIVERGED", "EXIT_SIGNAL"]

"""One unit of the lab's training, on gankit's engines: some steps, or some epochs.

- Whole epochs take the fast path (`gankit.engines.fast.run_fast` with R = 1)
  where `gankit.engines.training.choose_engine` says it applies; an epoch that
  breaks the divergence rule is redone by the general loop, which stops at the
  very step (as ``gankit train`` does).
- Single steps, a time budget, the rest of an epoch begun step by step, and
  runs the fast path does not implement take the general loop
  (`gankit.engines.general.run_epochs`), stopped through ``state.stop`` after
  the wanted steps, the way a signal stops ``gankit train``; the next unit
  resumes mid-epoch exactly as a resumed run does.

A unit never goes past the end of the epoch it starts in, except on the fast
path, where it runs ``epochs`` whole epochs.
"""

from __future__ import annotations

import time
from typing import Sequence

from gankit.engines.fast import run_fast
from gankit.engines.general import run_epochs
from gankit.engines.guard import Interrupted
from gankit.engines.state import Callback, TrainState


class StepLimit(Callback):
    """Stops the general loop after ``steps`` steps or once ``deadline`` (perf_counter) has passed.

    The loop checks ``state.stop`` after each step and before this hook, so the
    flag is raised one step early (for one step, the caller raises it first).
    """

    def __init__(self, steps: int | None, deadline: float | None):
        self.steps, self.deadline, self.done = steps, deadline, 0

    def on_step_end(self, state: TrainState) -> None:
        self.done += 1
        if (self.steps is not None and self.done >= self.steps - 1) or (
                self.deadline is not None and time.perf_counter() >= self.deadline):
            state.stop.set()


def train_unit(state: TrainState, callbacks: Sequence[Callback], engine: str, steps: int | None = None,
               deadline: float | None = None, epochs: int = 1) -> list[str]:
    """Train ``state`` for one unit; returns the engines that ran, in order.

    Args:
        callbacks: epoch-level callbacks (the fast path calls only on_train_start,
            on_epoch_end and on_train_end hooks).
        engine: ``"fast"`` or ``"general"``, as `choose_engine` chose for this problem.
        steps: train this many steps (general loop), at most to the epoch's end.
        deadline: or train until this time (``time.perf_counter()``), at most to the epoch's end.
        epochs: with neither, whole epochs to run on the fast path (from an epoch's start);
            otherwise the rest of the epoch.

    Raises:
        gankit.engines.guard.Diverged: a loss sum broke the divergence rule.
    """
    config = state.config
    if steps is None and deadline is None and state.batch == 0 and engine == "fast":
        config.train.epochs = state.epoch + epochs
        if run_fast([state], callbacks, sync=True)[0] is None:
            return ["fast"]
        config.train.epochs = state.epoch + 1  # the broken epoch, step by step, to stop at the very step
        run_epochs(config, callbacks, state)
        return ["fast", "general"]
    config.train.epochs = state.epoch + 1  # never past the end of this epoch
    if steps == 1:
        state.stop.set()  # checked after the step: exactly one step
    try:
        run_epochs(config, [*callbacks, StepLimit(steps, deadline)], state)
    except Interrupted:
        pass
    finally:
        state.stop.clear()
    return ["general"]


__all__ = ["StepLimit", "train_unit"]

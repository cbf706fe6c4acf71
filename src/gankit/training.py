"""The training loop: the chapter's alternating D and G steps, in one function.

Randomness comes from one ``torch.Generator`` seeded with ``train.seed`` and is
drawn in a fixed order, so a seed fixes the whole run:

1. the training points of a named target (``data.n`` x d normals);
2. every parameter of G, then of D, from N(0, init_std^2);
3. each epoch: the data order (a permutation), then the epoch's noise z,
   one (latent_dim,) row per example, consumed batch by batch.

A run can stop and resume mid-epoch: ``TrainState`` keeps the state of ``rng``
as of the start of the current epoch and the number of batches done, so
a resumed run redraws the epoch's order and noise and skips what was done
(see `gankit.checkpoint`). Under torchrun every rank draws the same stream and
takes its own rows of each global batch of ``world_size * batch_size``
(see `gankit.distributed`).

Everything besides the math (logging, snapshots for plots, checkpoints)
hangs off the ``callbacks`` list.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.data import Dataset, make_dataset
from gankit.models import build_discriminator, build_generator, init_normal_
from gankit.objectives import get_objective


class Callback:
    """Hooks called by `train`; override the ones you need."""

    def on_train_start(self, state: "TrainState") -> None: ...

    def on_epoch_end(self, state: "TrainState") -> None: ...

    def on_step_end(self, state: "TrainState") -> None: ...

    def on_train_end(self, state: "TrainState") -> None: ...


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
    sum_d: Tensor = field(default_factory=lambda: torch.zeros(()))  # the epoch's summed losses so far
    sum_g: Tensor = field(default_factory=lambda: torch.zeros(()))
    # Set (e.g. by a signal handler) to stop cleanly after the current step.
    stop: threading.Event = field(default_factory=threading.Event)
    # Under torchrun: the wrapped (DistributedDataParallel) networks and this process's place.
    ddp: tuple[nn.Module, nn.Module] | None = None
    rank: int = 0
    world_size: int = 1


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


def build_state(config: Config) -> TrainState:
    """Data, networks and optimisers for ``config``, drawn from its seed."""
    config.validate()
    rng = torch.Generator().manual_seed(config.train.seed)
    dataset = make_dataset(config.data, rng)
    G = build_generator(config.model, dataset.shape)
    D = build_discriminator(config.model, dataset.shape)
    init_normal_(G, config.model.init_std, rng)
    init_normal_(D, config.model.init_std, rng)
    t = config.train
    opt_G = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
    return TrainState(config, dataset, G, D, opt_G, opt_D, rng)


def train(config: Config, callbacks: Sequence[Callback] = (), state: TrainState | None = None) -> TrainResult:
    """Train a GAN as the chapter does.

    Per batch of real points x and noise z (batch_size x latent_dim):

    - D step: loss_D = d_loss(D(x), D(G(z).detach())), one Adam step on D;
    - G step: loss_G = g_loss(D(G(z))) with the same z and the updated D,
      one Adam step on G.

    Args:
        config: the experiment (validated here).
        callbacks: called at train start, after every epoch and at the end.
        state: a state from `build_state` to continue from (default: a new one).

    Returns:
        A `TrainResult`. Per-epoch ``loss_d`` and ``loss_g`` are the summed
        losses divided by the examples seen; ``examples_per_sec`` counts only
        the training steps, not callbacks.
    """
    from gankit.distributed import sum_over_ranks
    from gankit.guard import check_step
    from gankit.summary import summarize

    state = state or build_state(config)
    G, D = state.ddp or (state.G, state.D)
    opt_G, opt_D = state.opt_G, state.opt_D
    objective = get_objective(config.train.loss)
    real = state.dataset.train  # (N, d)
    n, batch_size = real.shape[0], config.train.batch_size
    latent_dim = config.model.latent_dim
    global_batch = batch_size * state.world_size
    mine = slice(state.rank * batch_size, (state.rank + 1) * batch_size)  # this rank's rows of a global batch

    for cb in callbacks:
        cb.on_train_start(state)
    while state.epoch < config.train.epochs:
        started = time.perf_counter()
        if state.batch == 0:
            state.epoch_rng_state = state.rng.get_state()
            state.sum_d, state.sum_g = torch.zeros(()), torch.zeros(())
        else:  # resuming mid-epoch: redraw this epoch's order and noise, skip the batches done
            state.rng.set_state(state.epoch_rng_state)
        order = torch.randperm(n, generator=state.rng)
        z_epoch = torch.randn(n, latent_dim, generator=state.rng)  # (N, latent)
        sum_d, sum_g = state.sum_d, state.sum_g
        for start in range(state.batch * global_batch, n, global_batch):
            x = real[order[start:start + global_batch][mine]]  # (B, d)
            z = z_epoch[start:start + global_batch][mine]  # (B, latent)

            # Discriminator step: real -> 1, fake -> 0; G is held fixed.
            fake = G(z)  # (B, d)
            loss_d = objective.d_loss(D(x), D(fake.detach()))
            opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_D.step()

            # Generator step on the same z against the updated D. G has not
            # changed since `fake` was computed, so its graph is reused.
            loss_g = objective.g_loss(D(fake))
            opt_G.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_G.step()

            sum_d += loss_d.detach()
            sum_g += loss_g.detach()
            state.step += 1
            state.batch += 1
            check_step(state, loss_d, loss_g)  # non-finite -> Diverged; stop requested -> Interrupted
            for cb in callbacks:
                cb.on_step_end(state)
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        state.batch = 0
        total_d, total_g = sum_over_ranks(torch.stack([sum_d, sum_g])).tolist()
        state.history.append(
            {"epoch": state.epoch, "step": state.step,
             "loss_d": total_d / n, "loss_g": total_g / n,
             "seconds": state.train_seconds}
        )
        for cb in callbacks:
            cb.on_epoch_end(state)

    seen = n * state.epoch
    examples_per_sec = seen / state.train_seconds if state.train_seconds > 0 else math.inf
    summary = summarize(state, examples_per_sec)
    result = TrainResult(config, state.G, state.D, state.dataset, state.history, examples_per_sec, summary)
    for cb in callbacks:
        cb.on_train_end(state)
    return result

"""The training loop: the chapter's alternating D and G steps, in one function.

Randomness comes from one ``torch.Generator`` seeded with ``train.seed`` and is
drawn in a fixed order, so a seed fixes the whole run:

1. the training points of a named target (``data.n`` x d normals);
2. every parameter of G, then of D, from N(0, init_std^2);
3. each epoch: the data order (a permutation), then the epoch's noise z,
   one (latent_dim,) row per example, consumed batch by batch.

Everything besides the math (logging, snapshots for plots, checkpoints)
hangs off the ``callbacks`` list.
"""

from __future__ import annotations

import math
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


def choose_engine(config: Config, state: TrainState, callbacks: Sequence[Callback] = ()) -> str:
    """``"fast"`` (gankit.fast: small MLPs on points, same draws and math) or ``"general"``.

    ``train.engine`` = ``"auto"`` takes the fast path wherever it implements the
    run exactly; ``"fast"`` insists on it (a `UserError` says why it cannot).
    """
    if config.train.engine == "general":
        return "general"
    from gankit.fast import why_not_fast

    reason = why_not_fast(config, state, callbacks)
    if reason is not None and config.train.engine == "fast":
        from gankit.errors import UserError

        raise UserError(f"train.engine=fast does not apply: {reason}")
    return "general" if reason else "fast"


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
        the training steps, not callbacks; ``summary["engine"]`` says which
        engine ran (see `choose_engine`).
    """
    from gankit.summary import summarize

    state = state or build_state(config)
    engine = choose_engine(config, state, callbacks)
    if engine == "fast":
        from gankit.fast import train_fast

        return train_fast(config, callbacks, state)
    G, D, opt_G, opt_D = state.G, state.D, state.opt_G, state.opt_D
    objective = get_objective(config.train.loss)
    real = state.dataset.train  # (N, d)
    n, batch_size = real.shape[0], config.train.batch_size
    latent_dim = config.model.latent_dim

    for cb in callbacks:
        cb.on_train_start(state)
    while state.epoch < config.train.epochs:
        started = time.perf_counter()
        order = torch.randperm(n, generator=state.rng)
        z_epoch = torch.randn(n, latent_dim, generator=state.rng)  # (N, latent)
        sum_d = torch.zeros(())
        sum_g = torch.zeros(())
        for start in range(0, n, batch_size):
            x = real[order[start:start + batch_size]]  # (B, d)
            z = z_epoch[start:start + batch_size]  # (B, latent)

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
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        state.history.append(
            {"epoch": state.epoch, "step": state.step,
             "loss_d": float(sum_d) / n, "loss_g": float(sum_g) / n,
             "seconds": state.train_seconds}
        )
        for cb in callbacks:
            cb.on_epoch_end(state)

    seen = n * state.epoch
    examples_per_sec = seen / state.train_seconds if state.train_seconds > 0 else math.inf
    summary = {**summarize(state, examples_per_sec), "engine": engine}
    result = TrainResult(config, G, D, state.dataset, state.history, examples_per_sec, summary)
    for cb in callbacks:
        cb.on_train_end(state)
    return result

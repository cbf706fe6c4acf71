"""The training loop: the chapter's alternating D and G steps, in one function.

Randomness comes from one ``torch.Generator`` seeded with ``train.seed`` and is
drawn in a fixed order, so a seed fixes the whole run:

1. the training points of a named target (``data.n`` x d normals), or the
   held-out split of a data file or image set (a permutation);
2. every parameter of G, then of D, from N(0, init_std^2) (image networks:
   their own scheme, same order);
3. each epoch: the data order (a permutation), then the epoch's noise z,
   one (latent_dim,) row per example, consumed batch by batch; a gradient
   penalty that interpolates draws its (B,) mixing weights after that, per D step.

The defaults are the chapter's: one D step then one G step per batch, no
penalty, no weight averaging. Options add, in the open below: ``n_critic``
D steps per G step (a G step after every n_critic-th batch, on that batch's
z), a penalty on D (`gankit.objectives.PENALTIES`), class labels for
conditional networks (the fakes take the real batch's labels), and an
exponential moving average of G's weights (``G_ema``) for sampling, whose
batch-norm statistics are re-estimated after every epoch from its own samples
(noise seeded by ``train.seed + epoch``, not the training RNG).

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

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.data import Dataset, make_dataset
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator, init_weights
from gankit.objectives import PENALTIES, get_objective


class Callback:
    """Hooks called by `train`; override the ones you need.

    The fast path (`gankit.fast`) runs whole epochs, so a callback that
    overrides `on_step_end` keeps a run on the general loop, unless its
    ``needs_steps`` is False at the time training starts.
    """

    needs_steps = True

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
    sum_penalty: Tensor = field(default_factory=lambda: torch.zeros(()))
    g_seen: int = 0  # examples seen by G steps this epoch (fewer than N with n_critic > 1)
    # Set (e.g. by a signal handler) to stop cleanly after the current step.
    stop: threading.Event = field(default_factory=threading.Event)
    # Under torchrun: the wrapped (DistributedDataParallel) networks and this process's place.
    ddp: tuple[nn.Module, nn.Module] | None = None
    rank: int = 0
    world_size: int = 1
    G_ema: nn.Module | None = None


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


def build_state(config: Config) -> TrainState:
    """Data, networks and optimisers for ``config``, drawn from its seed."""
    config.validate()
    rng = torch.Generator().manual_seed(config.train.seed)
    dataset = make_dataset(config.data, rng)
    if config.model.conditional:
        if dataset.labels is None:
            raise UserError(f"model.conditional needs class labels, and {dataset.source} has none")
        if config.model.n_classes == 0:  # recorded in the config, so a saved run rebuilds the same networks
            config.model.n_classes = max(len(dataset.classes), int(dataset.labels.max()) + 1)
        elif int(dataset.labels.max()) >= config.model.n_classes:
            raise UserError(f"model.n_classes is {config.model.n_classes} but the data has label "
                            f"{int(dataset.labels.max())}")
    G = build_generator(config.model, dataset.shape)
    D = build_discriminator(config.model, dataset.shape)
    init_weights(G, config.model.init_std, rng)
    init_weights(D, config.model.init_std, rng)
    t = config.train
    opt_G = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
    G_ema = copy.deepcopy(G).requires_grad_(False) if t.ema > 0 else None
    return TrainState(config, dataset, G, D, opt_G, opt_D, rng, G_ema=G_ema)


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float, step: int) -> None:
    """G_ema <- d G_ema + (1 - d) G with d = min(decay, (1 + step) / (10 + step)).

    The warm-up makes early averages follow G closely. Buffers (batch-norm
    statistics) are copied from G.
    """
    d = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - d)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, latent_dim: int, seed: int, n: int = 1024, batch_size: int = 256,
                          n_classes: int = 0) -> None:
    """Recompute G's batch-norm running statistics from ``n`` of its own samples.

    G's running statistics follow G's weights, not their moving average, so
    G_ema in eval mode would normalise with the wrong statistics. As SWA does
    (`torch.optim.swa_utils.update_bn`), they are reset and re-estimated as the
    plain average over ``n / batch_size`` batches of noise from
    ``torch.Generator().manual_seed(seed)`` (never the training RNG). A no-op
    without batch norm.
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = G.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    G.train()
    rng = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), latent_dim, generator=rng)
        G(z, *(() if not n_classes else (torch.randint(n_classes, (len(z),), generator=rng),)))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    G.train(was_training)


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
      one Adam step on G (after every ``n_critic``-th D step), then the
      moving average ``G_ema`` follows G (when ``train.ema`` > 0).

    With ``train.penalty``, loss_D gains ``penalty_weight`` times the penalty.

    Args:
        config: the experiment (validated here).
        callbacks: called at train start, after every epoch and at the end.
        state: a state from `build_state` to continue from (default: a new one).

    Returns:
        A `TrainResult`. Per-epoch ``loss_d`` and ``loss_g`` are the summed
        losses divided by the examples seen (by the D or G steps; with a
        penalty, ``penalty`` likewise, not included in ``loss_d``);
        ``examples_per_sec`` counts only the training steps, not callbacks;
        ``summary["engine"]`` says which engine ran (see `choose_engine`).
    """
    from gankit.summary import summarize

    state = state or build_state(config)
    engine = choose_engine(config, state, callbacks)
    for cb in callbacks:
        cb.on_train_start(state)
    if engine == "fast":
        from gankit.fast import run_epochs_fast

        if not run_epochs_fast(config, callbacks, state):
            engine = "fast, then general"  # a non-finite epoch: the general loop redoes it step by step
    if state.epoch < config.train.epochs:
        run_epochs(config, callbacks, state)

    n = state.dataset.train.shape[0]
    seen = n * state.epoch
    examples_per_sec = seen / state.train_seconds if state.train_seconds > 0 else math.inf
    summary = {**summarize(state, examples_per_sec), "engine": engine}
    result = TrainResult(config, state.G, state.D, state.dataset, state.history, examples_per_sec, summary,
                         state.G_ema)
    for cb in callbacks:
        cb.on_train_end(state)
    return result


def run_epochs(config: Config, callbacks: Sequence[Callback], state: TrainState) -> None:
    """The general loop: eager autograd, any model and objective; trains ``state`` to its last epoch."""
    from gankit.distributed import sum_over_ranks
    from gankit.guard import check_step

    G, D = state.ddp or (state.G, state.D)
    opt_G, opt_D = state.opt_G, state.opt_D
    objective = get_objective(config.train.loss)
    penalty = PENALTIES.get(config.train.penalty)  # None for "none"
    penalty_weight, n_critic = config.train.penalty_weight, config.train.n_critic
    real = state.dataset.train  # (N, d) or (N, C, H, W)
    labels = state.dataset.labels if config.model.conditional else None  # (N,) or None
    n, batch_size = real.shape[0], config.train.batch_size
    latent_dim = config.model.latent_dim
    global_batch = batch_size * state.world_size
    mine = slice(state.rank * batch_size, (state.rank + 1) * batch_size)  # this rank's rows of a global batch
    loss_g = torch.zeros(())  # until the first G step

    while state.epoch < config.train.epochs:
        started = time.perf_counter()
        resume_from = None
        if state.batch == 0:
            state.epoch_rng_state = state.rng.get_state()
            state.sum_d, state.sum_g, state.sum_penalty = torch.zeros(()), torch.zeros(()), torch.zeros(())
            state.g_seen = 0
        else:  # resuming mid-epoch: redraw this epoch's order and noise, skip the batches done
            resume_from = state.rng.get_state()  # where the stream stood (penalties draw from it per step)
            state.rng.set_state(state.epoch_rng_state)
        order = torch.randperm(n, generator=state.rng)
        z_epoch = torch.randn(n, latent_dim, generator=state.rng)  # (N, latent)
        if resume_from is not None:
            state.rng.set_state(resume_from)
        sum_d, sum_g, sum_penalty = state.sum_d, state.sum_g, state.sum_penalty
        for start in range(state.batch * global_batch, n, global_batch):
            batch = order[start:start + global_batch][mine]  # this rank's rows of the global batch
            x = real[batch]  # (B, d) or (B, C, H, W)
            z = z_epoch[start:start + global_batch][mine]  # (B, latent)
            y = () if labels is None else (labels[batch],)  # a conditional network's (B,) labels

            # Discriminator step: real -> 1, fake -> 0; G is held fixed.
            fake = G(z, *y)  # (B, d) or (B, C, H, W)
            loss_d = objective.d_loss(D(x, *y), D(fake.detach(), *y))
            loss_d_total = loss_d
            if penalty is not None:
                value = penalty(D, x, fake.detach(), state.rng, *y)
                loss_d_total = loss_d + penalty_weight * value
                sum_penalty += value.detach()
            opt_D.zero_grad(set_to_none=True)
            loss_d_total.backward()
            opt_D.step()
            sum_d += loss_d.detach()
            state.step += 1

            # Generator step (after every n_critic-th D step) on the same z against
            # the updated D. G has not changed since `fake` was computed, so its
            # graph is reused.
            if state.step % n_critic == 0:
                loss_g = objective.g_loss(D(fake, *y))
                opt_G.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_G.step()
                if state.G_ema is not None:
                    update_ema(state.G_ema, G, config.train.ema, state.step // n_critic)
                sum_g += loss_g.detach()
                state.g_seen += x.shape[0]

            state.batch += 1
            check_step(state, loss_d, loss_g)  # non-finite -> Diverged; stop requested -> Interrupted
            for cb in callbacks:
                cb.on_step_end(state)
        if state.G_ema is not None:  # batch-norm statistics for the averaged weights
            m = config.model
            recalibrate_batchnorm(state.G_ema, latent_dim, seed=config.train.seed + state.epoch,
                                  n_classes=m.n_classes if m.conditional else 0)
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        state.batch = 0
        totals = sum_over_ranks(torch.stack([sum_d, sum_g, sum_penalty, torch.tensor(float(state.g_seen))]))
        total_d, total_g, total_penalty, g_seen = totals.tolist()
        row = {"epoch": state.epoch, "step": state.step,
               "loss_d": total_d / n, "loss_g": total_g / max(g_seen, 1),
               "seconds": state.train_seconds}
        if penalty is not None:
            row["penalty"] = total_penalty / n
        state.history.append(row)
        for cb in callbacks:
            cb.on_epoch_end(state)


"""Training: build a run's state from its config, choose an engine, train.

The chapter's alternating D and G steps run on one of two engines that draw
the same numbers: the general loop (`gankit.engines.general`) or, for the
chapter's small networks, the fast path (`gankit.engines.fast`).

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
z), a penalty on D (`gankit.engines.objectives.PENALTIES`), class labels for
conditional networks (the fakes take the real batch's labels), and an
exponential moving average of G's weights (``G_ema``) for sampling, whose
batch-norm statistics are re-estimated after every epoch from its own samples
(noise from the named stream ``ema.batchnorm``, never the training RNG; see
`gankit.streams`).

A run can stop and resume mid-epoch: ``TrainState`` keeps the state of ``rng``
as of the start of the current epoch and the number of batches done, so
a resumed run redraws the epoch's order and noise and skips what was done
(see `gankit.runs.checkpoint`). Under torchrun every rank draws the same stream and
takes its own rows of each global batch of ``world_size * batch_size``
(see `gankit.engines.distributed`).

Everything besides the math (logging, snapshots for plots, checkpoints)
hangs off the ``callbacks`` list.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch

from gankit.config import Config
from gankit.data import make_dataset
from gankit.data.memory import check_training
from gankit.engines.device import channels_last, grad_scaler, resolve_device
from gankit.engines.distributed import world_from_env
from gankit.engines.fast import run_fast, why_not_fast
from gankit.engines.general import run_epochs
from gankit.engines.optim import adam
from gankit.engines.state import Callback, TrainResult, TrainState
from gankit.errors import UserError
from gankit.metrics.summary import summarize
from gankit.models import build_discriminator, build_generator, init_weights


def build_state(config: Config) -> TrainState:
    """Data, networks and optimisers for ``config``, drawn from its seed."""
    config.validate()
    rng = torch.Generator().manual_seed(config.train.seed)
    dataset = make_dataset(config.data, rng, config.train.seed)
    if config.model.conditional:
        if dataset.labels is None:
            raise UserError(f"model.conditional needs class labels, and {dataset.source} has none")
        if config.model.n_classes == 0:  # recorded in the config, so a saved run rebuilds the same networks
            config.model.n_classes = max(len(dataset.classes), int(dataset.labels.max()) + 1)
        elif int(dataset.labels.max()) >= config.model.n_classes:
            raise UserError(f"model.n_classes is {config.model.n_classes} but the data has label "
                            f"{int(dataset.labels.max())}")
    check_training(config, dataset)  # networks, noise, figures and summary fit in memory, before any is made
    if config.train.augment != "none" and len(dataset.shape) != 3:
        raise UserError(f"train.augment={config.train.augment} augments images; {dataset.source} holds points")
    G = build_generator(config.model, dataset.shape)
    D = build_discriminator(config.model, dataset.shape)
    init_weights(G, config.model.init_std, rng)  # on the CPU, from the run's stream, whatever the device
    init_weights(D, config.model.init_std, rng)
    t = config.train
    device = resolve_device(t.device, world_from_env().local_rank)
    for net in (G, D):
        net.to(device)
        channels_last(net, device)
    opt_G = adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))  # torch's Adam (see engines/optim.py)
    opt_D = adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
    for opt in (opt_G, opt_D):  # the rate a schedule multiplies (train.lr_schedule)
        opt.param_groups[0]["initial_lr"] = opt.param_groups[0]["lr"]
    G_ema = copy.deepcopy(G).requires_grad_(False) if t.ema > 0 else None
    scalers = {name: grad_scaler(device, t.precision) for name in ("G", "D")} if t.precision == "16" else {}
    return TrainState(config, dataset, G, D, opt_G, opt_D, rng, G_ema=G_ema, device=device, scalers=scalers)


def choose_engine(config: Config, state: TrainState, callbacks: Sequence[Callback] = ()) -> str:
    """``"fast"`` (small MLPs on points, same draws and math) or ``"general"``.

    ``train.engine`` = ``"auto"`` takes the fast path wherever it implements the
    run exactly; ``"fast"`` insists on it (a `UserError` says why it cannot).
    """
    if config.train.engine == "general":
        return "general"
    reason = why_not_fast(config, state, callbacks)
    if reason is not None and config.train.engine == "fast":
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

    Raises:
        gankit.engines.guard.Diverged: the epoch's loss sums became
            non-finite (the rule of `gankit.engines.guard`), on either engine.

    Examples:
        >>> from gankit import Config, train
        >>> config = Config()
        >>> config.train.epochs = 2
        >>> result = train(config)                  # on the fast path: no files, well under a second
        >>> result.summary["engine"], len(result.history), sorted(result.history[0])
        ('fast', 2, ['epoch', 'loss_d', 'loss_g', 'seconds', 'step'])
        >>> f"{result.summary['mle_fd_to_truth']:.4f}"  # the yardstick: the same on every CPU
        '0.0176'
    """
    state = state or build_state(config)
    engine = choose_engine(config, state, callbacks)
    for cb in callbacks:
        cb.on_train_start(state)
    if engine == "fast" and run_fast([state], callbacks, sync=True)[0] is not None:
        # An epoch broke the divergence rule: the state is as it was at that epoch's start, and
        # the general loop redoes the epoch step by step, to stop at the very step with the full story.
        engine = "fast, then general"
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


__all__ = ["Callback", "TrainResult", "TrainState", "build_state", "choose_engine", "train"]

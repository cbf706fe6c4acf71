"""The fast path: the chapter's small MLP GANs on point data, R runs in one loop.

The same experiment as the general loop, draw for draw from each run's own
``torch.Generator`` (see `gankit.engines.training`), but each step is the
hand-written NumPy step of `gankit.engines.ensemble` over R runs at once
instead of eager autograd: many times the examples/sec on the chapter's
43-parameter networks. ``gankit train`` runs it with R = 1, ``gankit sweep``
with R = the runs that share every array shape.

`why_not_fast` is deliberately conservative: anything it does not recognise
(another objective, an optimiser setting, a model that is not a plain MLP, a
config key changed from its default that this path knows nothing about, a
callback hook besides the three it calls) sends training to the general loop.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.engines.bridge import ensemble_for, mlp_activation, store_run
from gankit.engines.ensemble import ACTIVATIONS, G_LOSSES, Ensemble
from gankit.engines.guard import Interrupted, first_divergent_step
from gankit.engines.state import Callback, TrainState, end_epoch, lr_factor

# Config keys the fast path implements, with any value (all others must keep their default).
FAST_KEYS = {
    "data": {"source", "n", "mean", "transform", "holdout"},
    "model": {"generator", "discriminator", "latent_dim", "g_hidden", "d_hidden", "activation", "init_std",
              "data_scale"},
    "train": {"epochs", "batch_size", "lr_d", "lr_g", "beta1", "beta2", "loss", "seed", "engine", "ema", "n_critic",
              "lr_schedule", "lr_floor", "device"},
}
HOOKS = {"on_train_start", "on_epoch_end", "on_train_end"}  # the callback hooks it calls


@dataclasses.dataclass
class Divergence:
    """Where a run of the fast path broke the divergence rule (1-based epoch, global step)."""

    epoch: int
    step: int


@dataclasses.dataclass
class Stopped:
    """A run of the fast path that a ``judge`` stopped after this (1-based) epoch: kept as it was then."""

    epoch: int


# (ensemble, positions of the runs still training) -> positions of those to stop now (see `run_fast`).
Judge = Callable[[Ensemble, list[int]], Sequence[int]]


def why_not_fast(config: Config, state: TrainState, callbacks: Sequence[Callback] = ()) -> str | None:
    """None if the fast path implements this run exactly, else the reason it does not."""
    default = Config()
    for section in dataclasses.fields(config):
        keys = FAST_KEYS.get(section.name, set())
        for f in dataclasses.fields(getattr(config, section.name)):
            if f.name not in keys and getattr(getattr(config, section.name), f.name) != getattr(
                    getattr(default, section.name), f.name):
                return f"{section.name}.{f.name} is not implemented by the fast path"
    if config.train.loss not in G_LOSSES:
        return f"objective '{config.train.loss}' has no hand-derived gradient"
    if state.dataset.train.ndim != 2 or state.dataset.train.dtype != torch.float32:
        return "data are not float32 points (N, d)"
    tensors = [state.dataset.train, *state.G.parameters(), *state.D.parameters()]
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return "data or parameters are not float32 on the CPU"
    for name, net in (("G", state.G), ("D", state.D)):
        if mlp_activation(net) is None:
            return f"{name} is not a plain MLP with a {'/'.join(ACTIVATIONS)} activation"
    if state.G.in_scale != 1.0 or state.D.out_scale != 1.0 or state.G.out_scale != state.D.in_scale:
        return "G's output and D's input are not in one unit (MLP out_scale / in_scale)"
    for name, opt, net in (("G", state.opt_G, state.G), ("D", state.opt_D, state.D)):
        reason = _plain_adam(opt, net)
        if reason:
            return f"opt_{name}: {reason}"
    for cb in callbacks:
        for hook in dir(type(cb)):
            if hook.startswith("on_") and hook not in HOOKS and \
                    getattr(type(cb), hook) is not getattr(Callback, hook, None) and \
                    getattr(cb, "needs_steps", True):
                return f"callback {type(cb).__name__} uses the hook {hook}"
    if state.batch > 0:
        return "the run resumes mid-epoch"
    if state.ddp is not None or state.world_size > 1:
        return "training under torchrun (DistributedDataParallel)"
    return None


def _plain_adam(opt: torch.optim.Optimizer, net: nn.Module) -> str | None:
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return "not a single-group torch.optim.Adam"
    group = opt.param_groups[0]
    if [id(p) for p in group["params"]] != [id(p) for p in net.parameters()]:
        return "does not hold exactly the network's parameters"
    if group["weight_decay"] != 0 or group["amsgrad"] or group["maximize"] or group["eps"] != 1e-8:
        return "weight decay, amsgrad, maximize or eps other than 1e-8"
    if isinstance(group["lr"], torch.Tensor) or any(isinstance(b, torch.Tensor) for b in group["betas"]):
        return "tensor learning rate or betas"
    return None


def draw_epoch(state: TrainState, n: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The epoch's data order and noise, drawn as the general loop draws them.

    Returns:
        real points in this epoch's order (n, d) and noise (n, latent_dim), float32.
    """
    order = torch.randperm(n, generator=state.rng)
    z = torch.randn(n, latent_dim, generator=state.rng)  # (n, k)
    return state.dataset.train[order].numpy(), z.numpy()


def run_fast(states: Sequence[TrainState], callbacks: Sequence[Callback] = (), sync: bool = True,
             on_epoch: Callable[[int], None] | None = None,
             judge: Judge | None = None) -> list[Divergence | Stopped | None]:
    """Train ``states`` (runs sharing every array shape) to their last epoch, in lockstep.

    Args:
        states: R runs from `gankit.engines.training.build_state`, at the same epoch.
        callbacks: their hooks are called for every live run at each epoch's end.
        sync: copy weights and Adam state into each `TrainState` at every
            epoch's end, and reload them after the callbacks (so callbacks,
            checkpoints and run directories see what the general loop shows);
            False copies them once, at the end (a sweep).
        on_epoch: called with the number of live runs after each epoch (progress bars).
        judge: called after each epoch's callbacks with the ensemble and the positions of
            the runs still training; the runs it names stop there (`Stopped`: a tuner's
            pruning) and keep that epoch's weights, while the others carry on.

    Returns:
        Per run, None when every epoch ran, a `Stopped` where ``judge`` stopped it, else the `Divergence`: the first
        step at which the epoch's running loss sums broke the divergence rule
        (`gankit.engines.guard`). That run's state is left as it was at the
        start of that epoch, random stream included (with ``sync``; else its
        weights are left unchanged), for the general loop to redo the epoch
        step by step; the other runs carry on.

    Raises:
        gankit.engines.guard.Interrupted: a stop was requested (``state.stop``);
            honoured at the end of the epoch in progress.
    """
    first = states[0]
    config = first.config
    n, batch_size = first.dataset.train.shape[0], config.train.batch_size
    latent_dim, steps = config.model.latent_dim, math.ceil(n / batch_size)
    scale = first.D.in_scale  # = G's out_scale (why_not_fast); the MLPs apply it, the ensemble's arrays do not
    t = config.train
    total = t.epochs * steps
    outcome: list[Divergence | Stopped | None] = [None] * len(states)
    ens = ensemble_for(states)
    while True:
        # The lockstep epoch is any live run's: a diverged run (the first one, say) no longer moves.
        live = [r for r, d in enumerate(outcome) if d is None]
        if not live or states[live[0]].epoch >= config.train.epochs:
            break
        lead = states[live[0]]
        started = time.perf_counter()
        epoch_rng = [s.rng.get_state() for s in states]
        draws = [draw_epoch(s, n, latent_dim) if outcome[r] is None else None for r, s in enumerate(states)]
        blank = next(d for d in draws if d is not None)
        real = np.stack([(d or blank)[0] for d in draws])  # (R, n, d); a diverged run's rows are a stand-in
        if scale != 1.0:  # D sees x / scale, G's last layer makes x / scale: the ensemble works in that unit
            real = real / np.float32(scale)
        z = np.stack([(d or blank)[1] for d in draws])  # (R, n, k)
        factors = None
        if t.lr_schedule != "constant":
            factors = np.array([lr_factor(t.lr_schedule, t.lr_floor, lead.step + i, total) for i in range(steps)])
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # judged just below
            losses = ens.epoch(real, z, batch_size, factors)
        bad_step = first_divergent_step(losses.step_d, losses.step_g)  # (R,), -1 where none
        seconds = time.perf_counter() - started  # each run's training time: the lockstep epoch's
        for r in live:
            state = states[r]
            if bad_step[r] >= 0:
                outcome[r] = Divergence(state.epoch + 1, state.step + int(bad_step[r]) + 1)
                state.rng.set_state(epoch_rng[r])
                continue
            if sync:
                store_run(ens, r, state)
                if factors is not None:  # the rates as the general loop leaves them, after the last step
                    for opt in (state.opt_D, state.opt_G):
                        opt.param_groups[0]["lr"] = opt.param_groups[0]["initial_lr"] * factors[-1]
            state.step += steps
            end_epoch(state, seconds, float(losses.loss_d[r]), float(losses.loss_g[r]), losses.g_seen)
            for cb in callbacks:
                cb.on_epoch_end(state)
        if judge is not None:
            for r in judge(ens, [r for r, d in enumerate(outcome) if d is None]):
                outcome[r] = Stopped(states[r].epoch)
                if not sync:  # as it is now: its rows of the ensemble go on moving with the others
                    store_run(ens, r, states[r])
        if on_epoch is not None:
            on_epoch(sum(d is None for d in outcome))
        if sync and callbacks:  # callbacks may have changed the states (a learning rate, say)
            ens = ensemble_for(states)
        if any(s.stop.is_set() for s in states) and lead.epoch < config.train.epochs:
            raise Interrupted(lead.epoch, lead.step, 0)
    if not sync:
        for r, d in enumerate(outcome):
            if d is None:
                store_run(ens, r, states[r])
    return outcome


__all__ = ["Divergence", "FAST_KEYS", "Judge", "Stopped", "draw_epoch", "run_fast", "why_not_fast"]

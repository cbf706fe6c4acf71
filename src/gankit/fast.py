"""The fast path of `gankit.training.train`: small MLP GANs on point data.

The same experiment as the general loop, draw for draw from the same
``torch.Generator`` (see training.py), but each step is the hand-written
NumPy step of `gankit.ensemble` with R = 1 instead of eager autograd: many
times the examples/sec on the chapter's 41-weight networks.

`why_not_fast` is deliberately conservative: anything it does not recognise
(another objective, an optimiser setting, a model that is not a plain MLP, a
config key changed from its default that this path knows nothing about, a
callback hook besides the three it calls) sends training to the general loop.
At each epoch's end the weights and Adam state are copied back into the
``nn.Module``s and optimisers of the `TrainState`, so callbacks, checkpoints
and run directories see exactly what the general loop would show them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.ensemble import ACTIVATIONS, Ensemble, FlatMLP, mlp_widths
from gankit.models.mlp import MLP
from gankit.objectives import OBJECTIVES, d_loss_bce, g_loss_minimax, g_loss_nonsaturating

# Objectives whose gradients ensemble.py derives by hand: name -> (d_loss, g_loss).
FAST_OBJECTIVES = {
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
    "minimax": (d_loss_bce, g_loss_minimax),
}
# Config keys the fast path implements, with any value (all others must keep their default).
FAST_KEYS = {
    "data": {"source", "n", "mean", "transform", "holdout"},
    "model": {"generator", "discriminator", "latent_dim", "g_hidden", "d_hidden", "activation", "init_std"},
    "train": {"epochs", "batch_size", "lr_d", "lr_g", "beta1", "beta2", "loss", "seed", "engine"},
}
_ACTIVATION_MODULES = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu"}
HOOKS = {"on_train_start", "on_epoch_end", "on_train_end"}


def why_not_fast(config: Config, state, callbacks: Sequence = ()) -> str | None:
    """None if the fast path implements this run exactly, else the reason it does not."""
    default = Config()
    for section, keys in FAST_KEYS.items():
        for f in dataclasses.fields(getattr(config, section)):
            if f.name not in keys and getattr(getattr(config, section), f.name) != getattr(
                    getattr(default, section), f.name):
                return f"{section}.{f.name} is not implemented by the fast path"
    for section in dataclasses.fields(config):
        if section.name not in FAST_KEYS:
            if getattr(config, section.name) != getattr(default, section.name):
                return f"config section '{section.name}' is not implemented by the fast path"
    if config.train.loss not in FAST_OBJECTIVES or tuple(OBJECTIVES.get(config.train.loss, ())) != \
            FAST_OBJECTIVES[config.train.loss]:
        return f"objective '{config.train.loss}' has no hand-derived gradient"
    if state.dataset.train.ndim != 2 or state.dataset.train.dtype != torch.float32:
        return "data are not float32 points (N, d)"
    tensors = [state.dataset.train, *state.G.parameters(), *state.D.parameters()]
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return "data or parameters are not float32 on the CPU"
    for name, net in (("G", state.G), ("D", state.D)):
        if _mlp_activation(net) is None:
            return f"{name} is not a plain MLP with a {'/'.join(ACTIVATIONS)} activation"
    for name, opt, net in (("G", state.opt_G, state.G), ("D", state.opt_D, state.D)):
        reason = _plain_adam(opt, net)
        if reason:
            return f"opt_{name}: {reason}"
    from gankit.training import Callback

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


def _mlp_activation(net: nn.Module) -> str | None:
    """The activation name of a plain `MLP` (Linear, act, Linear, ...), or None."""
    if type(net) is not MLP:
        return None
    layers = list(net.children())
    linears, acts = layers[0::2], layers[1::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears):
        return None
    names = {_ACTIVATION_MODULES.get(type(m)) for m in acts}
    if None in names or len(names) > 1:
        return None
    if any(isinstance(m, nn.LeakyReLU) and m.negative_slope != 0.2 for m in acts):
        return None
    return names.pop() if names else "tanh"  # a single affine layer has no activation


def _plain_adam(opt, net: nn.Module) -> str | None:
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


def ensemble_for(states: Sequence) -> Ensemble:
    """An `Ensemble` holding the networks and Adam state of ``states`` (one run each)."""
    first = states[0]
    cfg = first.config

    def hyper(opt_name: str) -> dict[str, list[float]]:  # per-run Adam settings of one optimiser
        groups = [getattr(s, opt_name).param_groups[0] for s in states]
        return {"lr": [g["lr"] for g in groups], "beta1": [g["betas"][0] for g in groups],
                "beta2": [g["betas"][1] for g in groups]}

    ens = Ensemble(mlp_widths(first.G), mlp_widths(first.D), _mlp_activation(first.G),
                   _mlp_activation(first.D), cfg.train.loss, hyper("opt_G"), hyper("opt_D"), len(states))
    for r, s in enumerate(states):
        for net, flat, opt, adam in ((s.G, ens.G, s.opt_G, ens.opt_G), (s.D, ens.D, s.opt_D, ens.opt_D)):
            flat.load(r, net)
            _load_adam(flat, adam, r, opt, net)
    return ens


def _load_adam(flat: FlatMLP, adam, run: int, opt, net: nn.Module) -> None:
    """Copy torch Adam moments (if any steps were taken) into the flat arrays."""
    params = list(net.parameters())
    steps = {float(opt.state[p]["step"]) for p in params if p in opt.state}
    if not steps:
        return
    (step,) = steps
    if run > 0 and adam.step_count != int(step):
        raise ValueError("runs of one ensemble must have taken the same number of steps")
    adam.step_count = int(step)
    for moment, key in ((adam.m, "exp_avg"), (adam.v, "exp_avg_sq")):
        _pack(flat, moment, run, [opt.state[p][key] for p in params])


def _pack(flat: FlatMLP, array: np.ndarray, run: int, tensors: list[torch.Tensor]) -> None:
    """Write per-parameter tensors (nn.Linear layout) into run ``run`` of a flat array."""
    W, b = flat.views(array)
    for l in range(len(W)):
        W[l][run] = tensors[2 * l].detach().numpy().T
        b[l][run, 0] = tensors[2 * l + 1].detach().numpy()


def _unpack(flat: FlatMLP, array: np.ndarray, run: int) -> list[torch.Tensor]:
    W, b = flat.views(array)
    out = []
    for l in range(len(W)):
        out += [torch.from_numpy(W[l][run].T.copy()), torch.from_numpy(b[l][run, 0].copy())]
    return out


def store_run(ens: Ensemble, run: int, state) -> None:
    """Copy run ``run``'s weights and Adam state into ``state``'s modules and optimisers."""
    for net, flat, opt, adam in ((state.G, ens.G, state.opt_G, ens.opt_G), (state.D, ens.D, state.opt_D, ens.opt_D)):
        flat.store(run, net)
        for p, m, v in zip(net.parameters(), _unpack(flat, adam.m, run), _unpack(flat, adam.v, run)):
            opt.state[p] = {"step": torch.tensor(float(adam.step_count)), "exp_avg": m, "exp_avg_sq": v}


def draw_epoch(state, n: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The epoch's data order and noise, drawn as the general loop draws them.

    Returns:
        real points in this epoch's order (n, d) and noise (n, latent_dim), float32.
    """
    order = torch.randperm(n, generator=state.rng)
    z = torch.randn(n, latent_dim, generator=state.rng)  # (n, k)
    return state.dataset.train[order].numpy(), z.numpy()


def run_epochs_fast(config: Config, callbacks: Sequence, state) -> bool:
    """Train ``state`` to its last epoch on the hand-written step (the callers' hooks around it).

    Between epochs the `TrainState` is the truth: weights, Adam state and
    learning rates are reloaded from it and written back, so callbacks,
    checkpoints and run directories see exactly what the general loop shows.
    A stop request (``state.stop``) is honoured at the end of the epoch in
    progress (milliseconds on these networks), with the state at that epoch
    boundary, from which a resume continues exactly.

    Returns:
        True when every epoch ran. False when an epoch produced a non-finite
        loss or weight: the state is left as it was at that epoch's start
        (random stream included), for the general loop to redo the epoch step
        by step and stop at the very step (`gankit.guard`).
    """
    from gankit.guard import Interrupted

    n, batch_size = state.dataset.train.shape[0], config.train.batch_size
    while state.epoch < config.train.epochs:
        started = time.perf_counter()
        epoch_rng = state.rng.get_state()
        ens = ensemble_for([state])
        real, z = draw_epoch(state, n, config.model.latent_dim)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # checked just below
            losses = ens.epoch(real[None], z[None], batch_size)  # R = 1
        if not (np.isfinite(losses.loss_d).all() and np.isfinite(losses.loss_g).all() and ens.finite()):
            state.rng.set_state(epoch_rng)
            return False
        store_run(ens, 0, state)
        state.train_seconds += time.perf_counter() - started
        state.epoch += 1
        state.step += math.ceil(n / batch_size)
        state.history.append(
            {"epoch": state.epoch, "step": state.step,
             "loss_d": float(losses.loss_d[0]) / n, "loss_g": float(losses.loss_g[0]) / n,
             "seconds": state.train_seconds}
        )
        for cb in callbacks:
            cb.on_epoch_end(state)
        if state.stop.is_set() and state.epoch < config.train.epochs:
            raise Interrupted(state.epoch, state.step, 0)
    return True


__all__ = ["FAST_OBJECTIVES", "draw_epoch", "ensemble_for", "run_epochs_fast", "store_run", "why_not_fast"]

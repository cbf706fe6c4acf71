"""Between torch and the NumPy ensemble: networks and Adam state in, and back out.

`gankit.engines.ensemble` keeps each network of R runs as one flat (R, P)
float32 array, layer l's weight as an (R, in, out) view (the transpose of
``nn.Linear.weight``) and its bias as (R, 1, out). This module is the only
place that knows both layouts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from gankit.engines.ensemble import ACTIVATIONS, Adam, Ensemble, FlatMLP
from gankit.engines.state import TrainState
from gankit.models.mlp import ACTIVATIONS as MODULES
from gankit.models.mlp import MLP


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def mlp_widths(module: nn.Module) -> list[int]:
    """[in, hidden..., out] of an ``nn.Sequential`` of ``nn.Linear`` layers."""
    layers = linears(module)
    return [layers[0].in_features] + [lin.out_features for lin in layers]


def mlp_activation(net: nn.Module) -> str | None:
    """The activation of a plain `MLP` whose activation the ensemble implements, or None.

    A single affine layer has none, and reads as ``"tanh"`` (never applied).
    """
    if type(net) is not MLP:
        return None
    layers = list(net.children())
    affine, acts = layers[0::2], layers[1::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in affine):
        return None
    # Each activation must be what the model registry builds for its name (the same slope, say).
    names = {_module_name(m) for m in acts}
    if None in names or len(names) > 1:
        return None
    return names.pop() if names else "tanh"


def _module_name(module: nn.Module) -> str | None:
    for name in ACTIVATIONS:
        reference = MODULES[name]()
        if type(module) is type(reference) and _settings(module) == _settings(reference):
            return name
    return None


def _settings(module: nn.Module) -> dict:
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}


def load(flat: FlatMLP, run: int, module: nn.Module) -> None:
    """Copy an ``nn.Sequential`` of ``nn.Linear`` layers into run ``run`` of ``flat``."""
    for W, b, linear in zip(flat.W, flat.b, linears(module)):
        W[run] = linear.weight.detach().numpy().T
        b[run, 0] = linear.bias.detach().numpy()


def store(flat: FlatMLP, run: int, module: nn.Module) -> None:
    """Copy run ``run``'s parameters into ``module`` (the inverse of `load`)."""
    with torch.no_grad():
        for W, b, linear in zip(flat.W, flat.b, linears(module)):
            linear.weight.copy_(torch.from_numpy(W[run].T.copy()))
            linear.bias.copy_(torch.from_numpy(b[run, 0].copy()))


def ensemble_for(states: Sequence[TrainState]) -> Ensemble:
    """An `Ensemble` holding the networks and Adam state of ``states`` (one run each)."""
    first = states[0]
    cfg = first.config

    # The rate a schedule multiplies; without one, the rate itself (a callback may have set it).
    rate = "lr" if cfg.train.lr_schedule == "constant" else "initial_lr"

    def hyper(opt_name: str) -> dict[str, list[float]]:  # per-run Adam settings of one optimiser
        groups = [getattr(s, opt_name).param_groups[0] for s in states]
        return {"lr": [g.get(rate, g["lr"]) for g in groups], "beta1": [g["betas"][0] for g in groups],
                "beta2": [g["betas"][1] for g in groups]}

    ens = Ensemble(mlp_widths(first.G), mlp_widths(first.D), mlp_activation(first.G), mlp_activation(first.D),
                   cfg.train.loss, hyper("opt_G"), hyper("opt_D"), len(states), ema=cfg.train.ema,
                   n_critic=cfg.train.n_critic)
    for r, s in enumerate(states):
        for net, flat, opt, adam in ((s.G, ens.G, s.opt_G, ens.opt_G), (s.D, ens.D, s.opt_D, ens.opt_D)):
            load(flat, r, net)
            _load_adam(flat, adam, r, opt, net)
        if ens.G_ema is not None:
            load(ens.G_ema, r, s.G_ema)
    return ens


def store_run(ens: Ensemble, run: int, state: TrainState) -> None:
    """Copy run ``run``'s weights and Adam state into ``state``'s modules and optimisers."""
    for net, flat, opt, adam in ((state.G, ens.G, state.opt_G, ens.opt_G), (state.D, ens.D, state.opt_D, ens.opt_D)):
        store(flat, run, net)
        for p, m, v in zip(net.parameters(), _unpack(flat, adam.m, run), _unpack(flat, adam.v, run)):
            opt.state[p] = {"step": torch.tensor(float(adam.step_count)), "exp_avg": m, "exp_avg_sq": v}
    if ens.G_ema is not None:
        store(ens.G_ema, run, state.G_ema)


def _load_adam(flat: FlatMLP, adam: Adam, run: int, opt: torch.optim.Optimizer, net: nn.Module) -> None:
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


__all__ = ["ensemble_for", "linears", "load", "mlp_activation", "mlp_widths", "store", "store_run"]

"""The schema of a checkpoint's contents, checked before a resume changes anything.

`gankit.runs.checkpoint.read_checkpoint` checks the framing (safetensors, the
format and version); these check what the file holds against what
`gankit.runs.checkpoint.save_checkpoint` writes for this run: counters in
range and consistent with each other (0 <= epoch <= train.epochs, batch within
the epoch, step = epoch * steps per epoch + batch), the history, the RNG states
(kinds, sizes, 32-bit words), the optimisers' hyper-parameters, per-parameter
tensors and step counts, and callbacks' recordings. Each misfit is a one-line
`UserError` naming the file (the optimiser check raises ValueError, which its
caller words).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import torch

from gankit.engines.state import TrainState
from gankit.errors import UserError


def check_meta(path: Path, meta: dict[str, Any], state: TrainState) -> None:
    """The metadata's types and ranges: counters within this run's plan and consistent with each other."""
    def bad(what: str) -> UserError:
        return UserError(f"{path}: checkpoint metadata {what}")

    def count(key: str, low: int, high: int) -> int:
        value = meta[key]
        if not _is_int(value) or not low <= value <= high:
            raise bad(f"{key} must be an integer in [{low}, {high}], got {value!r}")
        return value

    if not isinstance(meta["config"], dict) or not isinstance(meta["config"].get("model"), dict):
        raise bad(f"config must be an object with a model section, got {str(meta['config'])[:40]}")
    t = state.config.train
    per_epoch = -(-state.dataset.train.shape[0] // (t.batch_size * state.world_size))  # steps in an epoch
    epoch = count("epoch", 0, t.epochs)
    # batches done in the current epoch: all of them when stopped after the last, before the epoch closed
    batch = count("batch", 0, per_epoch if epoch < t.epochs else 0)
    step = count("step", 0, t.epochs * per_epoch)
    if step != epoch * per_epoch + batch:
        raise bad(f"step {step} does not match epoch {epoch} and batch {batch} ({per_epoch} steps per epoch)")
    if not _is_number(meta["train_seconds"]) or not 0 <= meta["train_seconds"] < math.inf:
        raise bad(f"train_seconds must be a non-negative number, got {meta['train_seconds']!r}")
    history = meta["history"]
    if not isinstance(history, list) or len(history) != epoch:
        raise bad(f"history must be a list of one row per epoch done ({epoch}), got {_describe(history)}")
    for i, row in enumerate(history):
        if (not isinstance(row, dict) or row.get("epoch") != i + 1
                or not all(isinstance(k, str) and _is_number(v) for k, v in row.items())):
            raise bad(f"history row {i + 1} must be an object of numbers for epoch {i + 1}, got {str(row)[:80]}")
    if meta.get("data_shape", list(state.dataset.shape)) != list(state.dataset.shape):
        raise bad(f"data_shape {str(meta.get('data_shape'))[:40]} is not this run's {list(state.dataset.shape)}")
    for key in ("networks", "stateful"):
        if not isinstance(meta.get(key, []), list) or not all(isinstance(v, str) for v in meta.get(key, [])):
            raise bad(f"{key} must be a list of names, got {str(meta.get(key))[:40]}")
    if not _is_int(meta.get("world_size", 1)):
        raise bad(f"world_size must be an integer, got {str(meta.get('world_size'))[:40]}")
    npm, pym = meta["numpy_rng"], meta["python_rng"]
    if (not isinstance(npm, dict) or npm.get("kind") != "MT19937" or not _is_int(npm.get("pos"))
            or not 0 <= npm["pos"] <= 624 or npm.get("has_gauss") not in (0, 1)
            or not _is_number(npm.get("cached_gaussian")) or not math.isfinite(npm["cached_gaussian"])):
        raise bad(f"numpy_rng must be NumPy's MT19937 state (kind, pos 0-624, has_gauss, cached_gaussian), "
                  f"got {str(npm)[:80]}")
    if (not isinstance(pym, dict) or pym.get("version") != random.getstate()[0]
            or not (pym.get("gauss_next") is None or _is_number(pym["gauss_next"]))):
        raise bad(f"python_rng must be Python's Mersenne twister state (version {random.getstate()[0]}, "
                  f"gauss_next), got {str(pym)[:80]}")
    backoffs = meta.get("lr_backoffs", [])
    if not isinstance(backoffs, list) or not all(
            isinstance(b, dict) and all(_is_number(b.get(k)) and b[k] >= 0 for k in
                                        ("diverged_at_step", "resumed_from_step", "lr_d", "lr_g")) for b in backoffs):
        raise bad(f"lr_backoffs must be a list of backoffs (diverged_at_step, resumed_from_step, lr_d, lr_g), "
                  f"got {str(backoffs)[:80]}")


def check_optimizer_state(sd: dict[str, Any], opt: torch.optim.Optimizer, steps: int) -> None:
    """An unflattened optimiser state_dict against ``opt``: hyper-parameters, tensor shapes, dtypes, step counts.

    Raises ValueError naming the first misfit; ``steps`` is how many steps ``opt`` has
    taken by the checkpoint's step (Adam counts them per parameter).
    """
    for saved, current in zip(sd["param_groups"], opt.state_dict()["param_groups"], strict=True):
        if not isinstance(saved, dict) or set(saved) != set(current):
            raise ValueError(f"param_groups hold {sorted(saved) if isinstance(saved, dict) else saved!r}, "
                             f"expected {sorted(current)}")
        for key, value in saved.items():
            _check_hyper(key, value, current[key])
    params = [p for group in opt.param_groups for p in group["params"]]
    for pid, per_param in sd["state"].items():
        if not 0 <= pid < len(params):
            raise ValueError(f"state for parameter {pid}, the optimiser has {len(params)}")
        for key, value in per_param.items():
            if not torch.is_tensor(value):
                raise ValueError(f"{key} of parameter {pid} is {str(value)[:40]}, expected a tensor")
            if key == "step":  # Adam's count, a float32 scalar
                if value.dtype != torch.float32 or value.dim() != 0 or float(value) != steps:
                    raise ValueError(f"step of parameter {pid} is {value.dtype} {str(value.tolist())[:40]}, "
                                     f"expected float32 {steps}, the optimiser's steps by the checkpoint's step")
            elif value.shape != params[pid].shape or value.dtype != params[pid].dtype:
                raise ValueError(f"{key} of parameter {pid} is {value.dtype} of shape {tuple(value.shape)}, "
                                 f"expected {params[pid].dtype} of shape {tuple(params[pid].shape)}")


def _check_hyper(key: str, value: Any, current: Any) -> None:
    """One saved optimiser hyper-parameter, of the kind the optimiser holds now."""
    if isinstance(current, bool) or current is None:
        ok = value is None or isinstance(value, bool)
    elif isinstance(current, (int, float)):
        ok = _is_number(value) and math.isfinite(value) and (value > 0 if key in ("lr", "eps") else value >= 0)
    elif isinstance(current, tuple):  # betas (made a tuple again by `_unflatten_optimizer`)
        ok = isinstance(value, (list, tuple)) and len(value) == len(current) and all(
            _is_number(v) and 0 <= v < 1 for v in value)
    elif key == "params":
        ok = value == current
    else:
        ok = type(value) is type(current)
    if not ok:
        raise ValueError(f"param_groups {key} is {str(value)[:40]}, not a valid value like {current!r}")


def check_rng(path: Path, rng: dict[str, torch.Tensor], position: dict[str, torch.Tensor]) -> None:
    """The RNG states: torch's byte states of the right size, the Mersenne twisters' 32-bit words; the sums."""
    size = torch.get_rng_state().numel()
    for name in ("train", "now", "torch"):
        value = rng[name]
        if value.dtype != torch.uint8 or value.shape != (size,):
            raise UserError(f"{path}: rng/{name} is {value.dtype} of shape {tuple(value.shape)}, expected "
                            f"torch's CPU generator state, uint8 of shape ({size},)")
    for name, length, last in (("numpy", 624, None), ("python", 625, 624)):
        value = rng[name]
        if value.dtype != torch.int64 or value.shape != (length,):
            raise UserError(f"{path}: rng/{name} is {value.dtype} of shape {tuple(value.shape)}, expected int64 "
                            f"of shape ({length},)")
        words = value[:624]
        if (words < 0).any() or (words >= 2**32).any() or (last is not None and not 0 <= int(value[-1]) <= last):
            raise UserError(f"{path}: rng/{name} holds values outside a Mersenne twister's 32-bit state")
    sums = position.get("sums")
    if (sums is None or sums.dtype != torch.float32 or sums.shape != (4,) or not torch.isfinite(sums).all()
            or sums[3] < 0 or sums[3] != sums[3].round()):
        raise UserError(f"{path}: position/sums must be 4 finite float32 sums (loss_D, loss_G, penalty, "
                        f"examples), got {None if sums is None else sums.tolist()}")


def check_stateful(path: Path, name: str, obj: Any, tensors: dict[str, torch.Tensor], epochs: int,
                   state: TrainState) -> None:
    """A callback's recordings: frames of epochs done, finite float32 frames of the shapes it records.

    `gankit.runs.callbacks.Snapshots` keeps ``fake`` (E, n_points, d), ``epochs`` (E,) increasing within
    1..epochs done (every epoch, or every `frame_stride`-th of a long run),
    and for 2-D data ``surface`` (E, grid, grid), ``pull`` (E, n_points, 2) and ``extents`` (E, 4).
    """
    if not tensors:
        return
    points, grid = getattr(obj, "n_points", None), getattr(obj, "grid", None)
    frames = {"fake": (points, state.dataset.dim), "epochs": (), "surface": (grid, grid), "pull": (points, 2),
              "extents": (4,)}
    recorded = tensors.get("epochs")
    if recorded is not None and recorded.dim() == 1 and recorded.dtype == torch.int64:
        epochs_seen = recorded.tolist()
        increasing = epochs_seen == sorted(set(epochs_seen))
        if not increasing or (epochs_seen and not 1 <= epochs_seen[0] <= epochs_seen[-1] <= epochs):
            raise UserError(f"{path}: {name}/epochs must increase within 1 to {epochs}, got {epochs_seen[:8]}")
        epochs = len(epochs_seen)  # frames recorded, one per tensor row
    for key, value in tensors.items():
        trailing = frames.get(key)
        dtype = torch.int64 if key == "epochs" else torch.float32
        if (trailing is None or value.dtype != dtype or value.dim() != 1 + len(trailing) or value.shape[0] != epochs
                or any(want is not None and got != want for got, want in zip(value.shape[1:], trailing))):
            raise UserError(f"{path}: {name}/{key} is {value.dtype} of shape {tuple(value.shape)}, which does "
                            f"not fit {epochs} recorded epoch(s)")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise UserError(f"{path}: {name}/{key} holds non-finite values (NaN or infinity)")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    return f"{len(value)} rows" if isinstance(value, list) else repr(value)[:40]


__all__ = ["check_meta", "check_optimizer_state", "check_rng", "check_stateful"]

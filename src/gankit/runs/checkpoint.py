"""Checkpoints: everything needed to continue a run on the very same trajectory.

One checkpoint is one safetensors file, ``<run>/checkpoints/step-<step>.safetensors``:

- tensors: ``G/*``, ``D/*`` (and ``G_ema/*`` when the state has a ``G_ema``)
  weights; each optimiser's per-parameter state (``opt_G/<param>/<key>``,
  e.g. Adam's ``exp_avg``, ``exp_avg_sq``, ``step``); the data-order generator's
  state as of the start of the current epoch (``rng/train``), torch's global
  state (``rng/torch``), numpy's and Python's global Mersenne twisters
  (``rng/numpy``, ``rng/python``), the epoch's partial loss sums, and any
  callback state (e.g. ``snapshots/*``, the frames the plots are drawn from);
- JSON in the metadata (key ``gankit``): config, epoch / step / batch
  counters, history so far, optimiser hyper-parameters (``param_groups``),
  the scalar parts of the RNG states, a SHA-256 of the training data.

The file is written to a temporary name, fsynced, renamed, and the directory
fsynced, so a crash leaves either the old set of checkpoints or the new one;
then all but the last ``keep`` are removed. Nothing is ever unpickled: a file
that is not a gankit checkpoint of this run's networks is a `UserError`
naming the file.

Mid-epoch position: the loop draws an epoch's order and noise from the
generator at the epoch's start, so a checkpoint stores that state plus the
number of batches done; on resume the epoch is redrawn and those batches skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from gankit.errors import UserError
from gankit.files import load_tensors, save_tensors
from gankit.engines.state import Callback, RunningSums, TrainState
from gankit.runs.checkpoint_schema import check_meta, check_optimizer_state, check_rng, check_stateful
from gankit.runs.platform import platform_facts

FORMAT = "gankit-checkpoint"
VERSION = 1
DIRNAME = "checkpoints"


class Stateful(Protocol):
    """A callback whose recordings must survive a resume (e.g. `Snapshots`)."""

    def state_tensors(self) -> dict[str, torch.Tensor]: ...

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / DIRNAME


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """A run's checkpoints, oldest first (temporary files are not listed)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*.safetensors") if not p.name.startswith("."))


def save_checkpoint(path: str | Path, state: TrainState, stateful: Mapping[str, Stateful] = {},
                    extra_meta: Mapping[str, Any] = {}) -> Path:
    """Write ``state`` (and each stateful callback's tensors) to ``path`` atomically."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, net in _networks(state).items():
        tensors.update({f"{name}/{k}": v for k, v in net.state_dict().items()})
    optimizers = {}
    for name, opt in (("opt_G", state.opt_G), ("opt_D", state.opt_D)):
        flat, optimizers[name] = _flatten_optimizer(opt.state_dict())
        tensors.update({f"{name}/{k}": v for k, v in flat.items()})
    for name, obj in stateful.items():
        tensors.update({f"{name}/{k}": v for k, v in obj.state_tensors().items()})

    epoch_rng = state.rng.get_state() if state.batch == 0 else state.epoch_rng_state
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    tensors.update({
        "rng/train": epoch_rng,
        "rng/now": state.rng.get_state(),
        "rng/torch": torch.get_rng_state(),
        "rng/numpy": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "rng/python": torch.tensor(py_internal, dtype=torch.int64),
        "position/sums": state.sums.to_tensor() if state.batch else torch.zeros(4),
    })
    meta = {
        "format": FORMAT, "version": VERSION,
        "config": state.config.to_dict(),
        "data_shape": list(state.dataset.shape),
        "data_sha256": data_fingerprint(state.dataset.train),
        "epoch": state.epoch, "step": state.step, "batch": state.batch,
        "world_size": state.world_size,
        "train_seconds": state.train_seconds,
        "history": state.history,
        "optimizers": optimizers,
        "networks": sorted(_networks(state)),
        "stateful": sorted(stateful),
        "numpy_rng": {"kind": np_kind, "pos": int(np_pos), "has_gauss": int(np_has_gauss),
                      "cached_gaussian": float(np_gauss)},
        "python_rng": {"version": py_version, "gauss_next": py_gauss},
        "scalers": {name: scaler.state_dict() for name, scaler in state.scalers.items()},  # float16 runs
        "platform": platform_facts(str(state.device)),  # a resume elsewhere is exact only to rounding
        **extra_meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, tensors, {"format": FORMAT, "gankit": json.dumps(meta)})
    _fsync_dir(path.parent)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and metadata of a checkpoint file; anything else is a `UserError`."""
    path = Path(path)
    tensors = load_tensors(path)  # safetensors only: a pickle or a truncated file fails here
    try:
        with safe_open(str(path), "pt") as f:
            raw = f.metadata() or {}
        meta = json.loads(raw["gankit"])
        ok = raw.get("format") == FORMAT and isinstance(meta, dict) and meta.get("format") == FORMAT
    except (KeyError, ValueError, TypeError, RecursionError, SafetensorError):
        ok = False
    if not ok:
        raise UserError(f"{path}: not a gankit checkpoint (no checkpoint metadata)")
    if meta.get("version") != VERSION:
        raise UserError(f"{path}: checkpoint version {meta.get('version')} is not supported (expected {VERSION})")
    return tensors, meta


def load_checkpoint(path: str | Path, state: TrainState, stateful: Mapping[str, Stateful] = {}) -> dict[str, Any]:
    """Restore ``state`` (built from the same config) from a checkpoint, in place.

    The file is checked before anything is changed: it must be a
    gankit checkpoint of the same networks, data and number of processes,
    and its contents must fit the schema of `save_checkpoint`: counters in
    range and consistent with each other, tensors of the dtypes and shapes
    this run's networks, optimisers and RNGs hold.

    Returns:
        The checkpoint's metadata.
    """
    path = Path(path)
    tensors, meta = read_checkpoint(path)
    missing = sorted({"rng/train", "rng/now", "rng/torch", "rng/numpy", "rng/python", "position/sums"} - set(tensors))
    missing += sorted({"config", "epoch", "step", "batch", "train_seconds", "history", "optimizers", "numpy_rng",
                       "python_rng"} - set(meta))
    if missing:
        raise UserError(f"{path}: incomplete checkpoint (missing {', '.join(missing)})")
    check_meta(path, meta, state)
    _check_compatible(path, meta, state)
    groups = _split(tensors)
    # a callback's recordings the caller did not pass (e.g. snapshots) are left alone
    recordings = set(meta.get("stateful", [])) | set(stateful)
    unknown = sorted(set(groups) - {*_networks(state), "opt_G", "opt_D", "rng", "position", *recordings})
    if unknown:
        raise UserError(f"{path}: unexpected tensors {', '.join(f'{u}/...' for u in unknown)} in the checkpoint")
    optimizers = {}
    for name, opt, steps in (("opt_G", state.opt_G, meta["step"] // state.config.train.n_critic),
                             ("opt_D", state.opt_D, meta["step"])):
        try:
            optimizers[name] = _unflatten_optimizer(groups.get(name, {}), meta["optimizers"][name], opt)
            check_optimizer_state(optimizers[name], opt, steps)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise UserError(f"{path}: optimiser state {name} does not fit this run ({err})") from None
    for name, net in _networks(state).items():
        _check_weights(path, name, net, groups.get(name, {}))
    check_rng(path, groups["rng"], groups["position"])
    for name, obj in stateful.items():
        check_stateful(path, name, obj, groups.get(name, {}), meta["epoch"], state)
    # Checked: from here on the state is changed.
    for name, net in _networks(state).items():
        net.load_state_dict(groups[name], strict=True)
    for name, obj in stateful.items():
        obj.load_state_tensors(groups.get(name, {}))
    for name, opt in (("opt_G", state.opt_G), ("opt_D", state.opt_D)):
        opt.load_state_dict(optimizers[name])

    rng = groups["rng"]
    state.epoch_rng_state = rng["train"].clone()
    state.rng.set_state(rng["now"])
    torch.set_rng_state(rng["torch"])
    npm = meta["numpy_rng"]
    np.random.set_state((npm["kind"], rng["numpy"].numpy().astype(np.uint32), npm["pos"], npm["has_gauss"],
                         npm["cached_gaussian"]))
    pym = meta["python_rng"]
    random.setstate((pym["version"], tuple(int(v) for v in rng["python"].tolist()), pym["gauss_next"]))

    for name, scaler in state.scalers.items():  # float16: the loss scale goes on where it was
        if name in meta.get("scalers", {}):
            scaler.load_state_dict(meta["scalers"][name])
    state.epoch, state.step, state.batch = int(meta["epoch"]), int(meta["step"]), int(meta["batch"])
    state.train_seconds = float(meta["train_seconds"])
    state.history = list(meta["history"])
    sums = groups["position"]["sums"]
    if state.rank != 0:  # under torchrun rank 0 carries the sums of all ranks
        sums = torch.zeros_like(sums)
    state.sums = RunningSums.from_tensor(sums)
    return meta


def data_fingerprint(train: torch.Tensor) -> str:
    """SHA-256 of the training tensor's bytes: a resumed run must train on the same data."""
    return hashlib.sha256(train.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class Checkpoint(Callback):
    """Writes checkpoints every ``every`` epochs and/or ``minutes``, at the start and at the end.

    Args:
        run_dir: the run; files go to ``run_dir/checkpoints``.
        every: epochs between checkpoints (0: only at the start, the end and on `save`).
        seconds: skip an epoch's checkpoint while the last one is younger than this (0: never);
            the last epoch's is always written, and torchrun ranks keep every one (one clock each).
        minutes: wall-clock minutes between checkpoints, checked after each step (0: off).
            Under torchrun it is checked at epoch ends only, so all ranks agree.
        keep: how many of the newest checkpoints to keep (at least 1); the last good
            one (`is_good`) is kept besides them.
        stateful: callbacks whose recordings go into the checkpoint, by name.
        write: False on ranks other than 0 (they take part in `save`'s reduction only).
    """

    def __init__(self, run_dir: str | Path | None, every: int = 1, minutes: float = 0.0, keep: int = 2,
                 stateful: Mapping[str, Stateful] = {}, write: bool = True, seconds: float = 0.0):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every, self.minutes, self.keep, self.seconds = every, minutes, max(1, keep), seconds
        self.stateful, self.write = dict(stateful), write
        self.last: Path | None = None  # the newest checkpoint
        self.last_good: Path | None = None  # the newest whose contents are finite and sane: where a backoff goes
        self.extra_meta: dict[str, Any] = {}
        self._since = time.monotonic()

    def on_train_start(self, state: TrainState) -> None:
        self._since = time.monotonic()
        existing = list_checkpoints(self.run_dir) if self.run_dir is not None else []
        self.last = existing[-1] if existing else None
        self.last_good = next((p for p in reversed(existing) if _marked_good(p)), None)
        if state.step == 0:  # a good state to fall back to, even if training diverges at once
            self.save(state)  # (decided from the state alone, so all torchrun ranks agree)

    @property
    def needs_steps(self) -> bool:
        """Only a time-based checkpoint looks at every step (the fast path checks this)."""
        return self.minutes > 0

    def on_step_end(self, state: TrainState) -> None:
        if self.minutes > 0 and state.world_size == 1 and self._due():
            self.save(state)

    def on_epoch_end(self, state: TrainState) -> None:
        last_epoch = state.epoch >= state.config.train.epochs
        by_epoch = self.every > 0 and state.epoch % self.every == 0 and (
            # decided on rank 0's clock alone would split torchrun ranks: they keep every epoch's
            self.seconds <= 0 or state.world_size > 1 or time.monotonic() - self._since >= self.seconds)
        if last_epoch or by_epoch or (self.minutes > 0 and self._due()):
            self.save(state)

    def save(self, state: TrainState) -> Path | None:
        """Write a checkpoint of ``state`` now (on every rank: it reduces the partial sums)."""
        self._since = time.monotonic()
        local = state.sums
        if state.world_size > 1 and state.batch:  # the file holds the sums over all ranks
            state.sums = local.reduced()
        try:
            if not self.write or self.run_dir is None:
                return None
            path = checkpoint_dir(self.run_dir) / f"step-{state.step:09d}.safetensors"
            good = is_good(state)
            self.last = save_checkpoint(path, state, self.stateful, {**self.extra_meta, "good": good})
            if good:
                self.last_good = self.last
        finally:
            state.sums = local
        for old in list_checkpoints(self.run_dir)[:-self.keep]:
            if old != self.last_good:
                old.unlink(missing_ok=True)
        return self.last

    def _due(self) -> bool:
        return time.monotonic() - self._since >= self.minutes * 60


# Beyond this, a weight's square overflows float32: such a state is not one to go back to.
SANE_LIMIT = 1.8e19


@torch.no_grad()
def is_good(state: TrainState) -> bool:
    """Whether a state is one to go back to: every parameter and Adam moment finite, |parameter| < `SANE_LIMIT`."""
    for net in _networks(state).values():
        for p in net.parameters():
            if p.numel() and not (torch.isfinite(p).all() and p.abs().max() < SANE_LIMIT):
                return False
    for opt in (state.opt_G, state.opt_D):
        for s in opt.state.values():
            if any(torch.is_tensor(v) and not torch.isfinite(v).all() for v in s.values()):
                return False
    return True


def _marked_good(path: Path) -> bool:
    """A checkpoint's own record of `is_good`."""
    try:
        with safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {}).get("gankit", "{}")).get("good") is True
    except (SafetensorError, OSError, ValueError, AttributeError):
        return False


def clean_temporary_files(run_dir: str | Path) -> None:
    """Remove temporary files a killed writer left behind (names start with a dot)."""
    for folder in (Path(run_dir), checkpoint_dir(run_dir)):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp*"):
                tmp.unlink(missing_ok=True)


# -- helpers ---------------------------------------------------------------------------------


def _networks(state: TrainState) -> dict[str, nn.Module]:
    nets = {"G": state.G, "D": state.D}
    if state.G_ema is not None:  # a moving average of G, where the run keeps one
        nets["G_ema"] = state.G_ema
    return nets


def _split(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """{"G/0.weight": t} -> {"G": {"0.weight": t}}."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition("/")
        groups.setdefault(head, {})[rest] = value
    return groups


def _check_compatible(path: Path, meta: dict[str, Any], state: TrainState) -> None:
    saved, current = meta.get("config", {}), state.config.to_dict()
    if saved.get("model") != current["model"]:
        diff = [f"model.{k}: {saved.get('model', {}).get(k)!r} in the checkpoint, {v!r} in the run"
                for k, v in current["model"].items() if saved.get("model", {}).get(k) != v]
        raise UserError(f"{path}: checkpoint of another architecture ({'; '.join(diff[:3])})")
    if meta.get("data_sha256") != data_fingerprint(state.dataset.train):
        raise UserError(f"{path}: checkpoint was trained on other data than this run's (the data changed?)")
    if meta.get("world_size", 1) != state.world_size:
        raise UserError(f"{path}: checkpoint was written by {meta.get('world_size')} process(es); "
                        f"resume with the same number (torchrun --nproc_per_node {meta.get('world_size')}), "
                        f"not {state.world_size}")
    wanted = set(_networks(state))
    if set(meta.get("networks", [])) != wanted:
        raise UserError(f"{path}: checkpoint holds networks {meta.get('networks')}, this run has {sorted(wanted)}")


def _check_weights(path: Path, name: str, net: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = net.state_dict()
    if set(tensors) != set(expected):
        raise UserError(f"{path}: checkpoint of another architecture ({name} has parameters "
                        f"{sorted(tensors)[:4]}, expected {sorted(expected)[:4]})")
    for key, value in tensors.items():
        if value.shape != expected[key].shape:
            raise UserError(f"{path}: checkpoint of another architecture ({name}/{key} has shape "
                            f"{tuple(value.shape)}, expected {tuple(expected[key].shape)})")
        if value.dtype != expected[key].dtype:  # loading would cast it silently
            raise UserError(f"{path}: {name}/{key} is {value.dtype}, expected {expected[key].dtype}")



def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser's state_dict as tensors plus JSON (no pickles)."""
    tensors, scalars = {}, {}
    for pid, per_param in sd["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                         opt: torch.optim.Optimizer) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, _, name = key.partition("/")
        state.setdefault(int(pid), {})[name] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for saved, current in zip(meta["param_groups"], opt.param_groups, strict=True):
        # JSON turns tuples (Adam's betas) into lists: give them back their type.
        groups.append({k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in saved.items()})
    return {"state": state, "param_groups": groups}


def _fsync_dir(folder: Path) -> None:
    from gankit.files import sync_deferred

    if sync_deferred():
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory file descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint", "list_checkpoints",
           "checkpoint_dir", "clean_temporary_files", "data_fingerprint"]

"""A run's ``snapshots.safetensors``, read back and checked before any figure is drawn from it.

`gankit.runs.callbacks.Snapshots` writes, for E recorded epochs, F generated points and d-D data:

    real     (R, d)     float32  the first training points
    fake     (E, F, d)  float32  G on fixed noise, per epoch
    epochs   (E,)       int64    the epoch of each frame, increasing, 1 to train.epochs
    surface  (E, g, g)  float32  D's P(real) on a g x g grid, in [0, 1]   (2-D data only)
    pull     (E, F, 2)  float32  -d loss_G / d x on each generated point  (2-D data only)
    extents  (E, 4)     float32  each frame's grid, x0 < x1, y0 < y1       (2-D data only)
    extent   (4,)       float32  the box holding every frame's grid        (2-D data only)

(``extents`` is absent from files written before it existed: their one grid is ``extent``.)

A file that is well-formed safetensors can still hold NaN, wrong shapes or
dtypes; `check_snapshots` refuses those in one line instead of a traceback from
deep inside matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from gankit.errors import UserError

# name -> (dtype, number of dimensions)
SPEC = {"real": (torch.float32, 2), "fake": (torch.float32, 3), "epochs": (torch.int64, 1),
        "surface": (torch.float32, 3), "pull": (torch.float32, 3), "extent": (torch.float32, 1),
        "extents": (torch.float32, 2)}
SURFACE_KEYS = ("surface", "pull", "extent")


def check_snapshots(snapshots: dict[str, Tensor], where: str, max_epochs: int | None = None) -> None:
    """Check recorded snapshots against the layout above; a `UserError` starting with ``where`` otherwise.

    Args:
        snapshots: name -> tensor, as read from the file.
        where: the file, for the message.
        max_epochs: the run's ``train.epochs``: no more frames, and no later epoch, than that.
    """
    def bad(what: str) -> UserError:
        return UserError(f"{where}: {what}; not drawing from it")

    unknown = sorted(set(snapshots) - set(SPEC))
    missing = [k for k in ("real", "fake", "epochs") if k not in snapshots]
    if unknown or missing:
        raise bad(f"not a snapshots file ({'unknown tensors ' + ', '.join(unknown) if unknown else ''}"
                  f"{'; ' if unknown and missing else ''}{'missing ' + ', '.join(missing) if missing else ''})")
    for name, value in snapshots.items():
        dtype, ndim = SPEC[name]
        if value.dtype != dtype or value.dim() != ndim:
            raise bad(f"{name} is {value.dtype} with {value.dim()} dimensions, expected {dtype} with {ndim}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise bad(f"{name} holds non-finite values (NaN or infinity)")
    real, fake, epochs = snapshots["real"], snapshots["fake"], snapshots["epochs"]
    frames, points, d = fake.shape
    if frames < 1 or points < 1 or real.shape[0] < 1 or real.shape[1] != d or d < 1:
        raise bad(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} do not fit (R, d) and (E, F, d), "
                  "each at least 1")
    if epochs.shape != (frames,):
        raise bad(f"epochs has shape {tuple(epochs.shape)}, expected ({frames},), one per frame of fake")
    if (epochs < 1).any() or (epochs[1:] <= epochs[:-1]).any():
        raise bad("epochs must be increasing epoch numbers from 1")
    if max_epochs is not None and int(epochs[-1]) > max_epochs:
        raise bad(f"it records epoch {int(epochs[-1])}, but the run has {max_epochs}")
    present = [k for k in SURFACE_KEYS if k in snapshots]
    if "extents" in snapshots and not present:
        raise bad("extents come with surface, pull and extent")
    if not present:
        return
    if len(present) != len(SURFACE_KEYS) or d != 2:
        raise bad(f"surface, pull and extent come together, for 2-D data only (found {', '.join(present)}, d = {d})")
    surface, pull, extent = (snapshots[k] for k in SURFACE_KEYS)
    if surface.shape[0] != frames or surface.shape[1] != surface.shape[2] or surface.shape[1] < 2:
        raise bad(f"surface has shape {tuple(surface.shape)}, expected ({frames}, g, g) with g >= 2")
    if (surface < 0).any() or (surface > 1).any():
        raise bad("surface holds probabilities outside [0, 1]")
    if pull.shape != fake.shape:
        raise bad(f"pull has shape {tuple(pull.shape)}, expected {tuple(fake.shape)} like fake")
    if extent.shape != (4,) or not (extent[0] < extent[1] and extent[2] < extent[3]):
        raise bad(f"extent must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1, got {extent.tolist()}")
    if "extents" in snapshots:
        extents = snapshots["extents"]
        if extents.shape != (frames, 4) or not ((extents[:, 0] < extents[:, 1]) & (extents[:, 2] < extents[:, 3])).all():
            raise bad(f"extents must be ({frames}, 4), one (x0, x1, y0, y1) with x0 < x1 and y0 < y1 per frame, "
                      f"got shape {tuple(extents.shape)}")


def read_snapshots(path: str | Path, max_epochs: int | None = None) -> dict[str, Tensor]:
    """Read and check a ``snapshots.safetensors`` (see `check_snapshots`); a `UserError` naming it otherwise."""
    from gankit.files import load_tensors

    snapshots = load_tensors(Path(path))
    check_snapshots(snapshots, str(path), max_epochs)
    return snapshots


__all__ = ["SPEC", "check_snapshots", "read_snapshots"]

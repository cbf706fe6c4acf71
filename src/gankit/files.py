"""The run directory: everything a run leaves behind, and how to read it back.

    runs/<name>/
      config.json                 the resolved config
      metrics.jsonl, metrics.csv  one row per epoch
      summary.json                final losses, speed, what G learned
      generator.safetensors       weights (config JSON in the metadata too)
      generator_ema.safetensors   the moving average of G's weights (when train.ema > 0)
      discriminator.safetensors
      snapshots.safetensors       per-epoch samples and D surface, for plots
      losses.png, samples.png, training.gif

Files are written to a temporary name and renamed, so a reader never sees a
half-written file. Nothing here is ever unpickled.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from gankit.config import Config, parse_json
from gankit.data.memory import FLOAT, parameter_count, require
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator


def create_run_dir(out: str | Path | None, root: str | Path = "runs", name: str | None = None) -> Path:
    """Make a new, empty run directory; never reuse an existing one.

    Args:
        out: an explicit directory; it must not exist yet.
        root: parent of generated names when ``out`` is None.
        name: base name under ``root`` (default: a timestamp); a numeric
            suffix is added if taken, so concurrent runs never collide.
    """
    if out is not None:
        path = Path(out)
        if path.exists():
            raise UserError(f"run directory already exists: {path} (choose another --out, or remove it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise UserError(f"run directory already exists: {path}") from None
        return path
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = name or time.strftime("%Y%m%d-%H%M%S")
    for i in range(10_000):
        path = root / (base if i == 0 else f"{base}-{i + 1}")
        try:
            path.mkdir()  # atomic: exactly one process wins a name
            return path
        except FileExistsError:
            continue
    raise UserError(f"could not find a free run name under {root}")


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write via a temporary file, fsync and rename: all or nothing."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors, written atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else is a `UserError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{path}: not a valid safetensors file ({err})") from None


class MetricsWriter:
    """Appends one row per epoch to ``metrics.jsonl`` and ``metrics.csv``."""

    def __init__(self, run_dir: Path):
        self.jsonl = Path(run_dir) / "metrics.jsonl"
        self.csv = Path(run_dir) / "metrics.csv"
        self.columns: list[str] | None = None

    def write(self, row: dict[str, Any]) -> None:
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.columns is None:
            self.columns = list(row)
            with open(self.csv, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        with open(self.csv, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_models(run_dir: Path, config: Config, G: nn.Module, D: nn.Module, data_shape: tuple[int, ...],
                G_ema: nn.Module | None = None) -> None:
    """Weights in safetensors with the config and one example's shape in each file's metadata."""
    meta = {"format": "gankit", "config": json.dumps(config.to_dict()), "data_shape": json.dumps(list(data_shape))}
    save_tensors(Path(run_dir) / "generator.safetensors", G.state_dict(), {**meta, "role": "generator"})
    save_tensors(Path(run_dir) / "discriminator.safetensors", D.state_dict(), {**meta, "role": "discriminator"})
    if G_ema is not None:
        save_tensors(Path(run_dir) / "generator_ema.safetensors", G_ema.state_dict(), {**meta, "role": "generator_ema"})


def load_run_config(run_dir: str | Path) -> Config:
    """The config a run was trained with."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not a gankit run (no config.json)")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    return Config.from_dict(parse_json(text, str(path)), where=str(path)).validate()


def load_network(run_dir: str | Path, role: str) -> tuple[Config, nn.Module]:
    """Rebuild a saved generator or discriminator from its run directory alone.

    Args:
        role: ``"generator"``, ``"generator_ema"`` or ``"discriminator"``.

    Returns:
        (config, network in eval mode).
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    path = run_dir / f"{role}.safetensors"
    tensors = load_tensors(path)
    shape = _data_shape(path)
    if not shape or any(not 1 <= side <= 2**31 for side in shape):
        raise UserError(f"{path}: data_shape {list(shape)} in its metadata is not a shape")
    require({"the weights": (2 * FLOAT * parameter_count(config.model, shape), "check the run's files")},
            f"{path}: building its network for examples of shape {list(shape)}")
    build = build_discriminator if role == "discriminator" else build_generator
    net = build(config.model, shape)
    expected = net.state_dict()
    for key, value in tensors.items():
        if key in expected and value.dtype != expected[key].dtype:  # loading would cast it silently
            raise UserError(f"{path}: weights {key} are {value.dtype}, expected {expected[key].dtype}")
        if value.is_floating_point() and not torch.isfinite(value).all():  # NaN samples and scores, silently
            raise UserError(f"{path}: weights {key} hold non-finite values (NaN or infinity)")
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise UserError(f"{path}: weights do not match the run's {role} ({' '.join(first)})") from None
    return config, net.eval()


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return {}
    try:
        return parse_json(path.read_text(), str(path))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def _data_shape(path: Path) -> tuple[int, ...]:
    """One example's shape, recorded in a weights file's metadata."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return tuple(int(v) for v in json.loads(meta["data_shape"]))
    except (KeyError, ValueError, TypeError, RecursionError):
        raise UserError(f"{path}: not a gankit weights file (no data_shape in its metadata)") from None


__all__ = ["create_run_dir", "atomic_write", "write_json", "save_tensors", "load_tensors",
           "MetricsWriter", "read_metrics", "save_models", "load_run_config", "load_network",
           "read_summary"]

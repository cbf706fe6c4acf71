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

Every file is written to a temporary name beside it, fsynced and renamed
(`atomic_file`), so a reader never sees a half-written file, and a failed
write (a full disk, a kill) leaves the old file or none. ``summary.json`` is
written last: a run is complete only when it is there. One process owns a run
directory at a time (`hold_run`). Nothing here is ever unpickled.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from gankit.config import Config, parse_json
from gankit.data.memory import FLOAT, parameter_count, require
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator


def create_run_dir(out: str | Path | None, root: str | Path = "runs", name: str | None = None) -> Path:
    """Make a new, empty run directory; never reuse one that holds anything.

    Args:
        out: an explicit directory; it must not exist yet, or be empty (one a
            killed process made and left).
        root: parent of generated names when ``out`` is None.
        name: base name under ``root`` (default: a timestamp), one path component;
            a numeric suffix is added if taken, so concurrent runs never collide.

    Raises:
        UserError: ``out`` holds something or is a file; ``name`` is not a plain
            name; the directory cannot be made (read-only, a path under a file, ...).
    """
    if out is not None:
        path = Path(out)
        if path.is_dir() and not any(path.iterdir()):
            return path  # empty: nothing to lose (the lock decides between two takers)
        if path.exists() or path.is_symlink():
            kind = "run directory" if path.is_dir() else "a file"
            raise UserError(f"{path} already exists ({kind}); choose another --out, or remove it")
        _mkdir(path, parents=True)
        return path
    if name is not None and (not name or Path(name).name != name or name in (".", "..")):
        raise UserError(f"--name must be a plain name without '/' (a folder under --runs), got {name!r}")
    root = Path(root)
    _mkdir(root, parents=True, exist_ok=True)
    base = name or time.strftime("%Y%m%d-%H%M%S")
    for i in range(10_000):
        path = root / (base if i == 0 else f"{base}-{i + 1}")
        try:
            path.mkdir()  # atomic: exactly one process wins a name
            return path
        except FileExistsError:
            continue
        except OSError as err:
            raise UserError(f"cannot create run directory {path}: {err.strerror}") from None
    raise UserError(f"could not find a free run name under {root}")


def _mkdir(path: Path, parents: bool = False, exist_ok: bool = False) -> None:
    try:
        path.mkdir(parents=parents, exist_ok=exist_ok)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot create directory {path}: a part of the path is a file") from None
    except OSError as err:
        raise UserError(f"cannot create directory {path}: {err.strerror}") from None


@contextlib.contextmanager
def hold_run(run_dir: str | Path) -> Iterator[None]:
    """Own ``run_dir`` while the block runs: a second process gets a `UserError`.

    An exclusive ``flock`` on the directory itself (no lock file to leave
    behind), which the kernel releases when the process ends, however it ends
    (SIGKILL included), so a lock is never stale.
    """
    try:
        fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise UserError(f"cannot lock {run_dir}: {err.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UserError(f"{run_dir} is in use by another gankit process; wait for it to finish") from None
            raise
        yield
    finally:
        os.close(fd)  # releases the lock


_DEFERRED = threading.local()  # inside `synced_once`: files are not fsynced one by one


@contextlib.contextmanager
def synced_once() -> Iterator[None]:
    """Write many files, and make them durable together at the end: one ``os.sync`` instead of an
    fsync per file (a tuner writes hundreds of small run directories). A caller records a result
    only after the block, so nothing is recorded that a power loss could still take back; each file
    is still replaced atomically, so a reader never sees half of one."""
    outer = getattr(_DEFERRED, "on", False)
    _DEFERRED.on = True
    try:
        yield
    finally:
        _DEFERRED.on = outer
    if not outer:
        os.sync()


def sync_deferred() -> bool:
    """Whether files are being written inside `synced_once` (their fsync left to its end)."""
    return getattr(_DEFERRED, "on", False)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers infer the format) to write to.

    On success the file is fsynced (inside `synced_once`: at its end) and renamed over ``path``;
    on any failure (a full disk, an interrupt) it is removed, so ``path`` is whole or untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if not sync_deferred():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and not err.filename:
            err.filename = str(path)  # name the file a writer (PIL, matplotlib) failed on
        raise


def remove_stale_temporaries(folder: str | Path) -> int:
    """Remove the temporary files (`atomic_file`'s) of writers that are no longer running; returns how many.

    A writer killed outright (SIGKILL) cannot clean up after itself; its
    process id is in the file's name, so a later reader can tell it is gone.
    """
    removed = 0
    for tmp in Path(folder).glob(".*.tmp*"):
        pid = tmp.name.split(".tmp", 1)[1].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_output(path: str | Path, force: bool = False, flag: str = "--out") -> Path:
    """Refuse, in one line, an output path that would replace what it must not; before any work.

    An output never replaces a run's own files (an existing file in a directory holding a
    ``config.json``, but its ``report.html``), nor anything that is not a regular file (a device
    node, a directory, a symbolic link), and replaces another existing file only with ``force``.

    Returns:
        ``path`` as a `Path`.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"directory not found: {path.parent}")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"{flag} {path} exists and is not a regular file; gankit writes regular files only")
    if path.exists() and (path.parent / "config.json").is_file() and path.name != "report.html":
        raise UserError(f"{flag} {path} is one of the run {path.parent}'s own files; write elsewhere")
    if path.exists() and not force:
        raise UserError(f"{flag} {path} exists; --force replaces it")
    return path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` all or nothing (see `atomic_file`)."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors, written atomically.

    Serialised in memory and written by Python, so a full disk or a refused write is an
    `OSError` like any other file's (safetensors' own writer raises its own error type).
    """
    data = canonical_header(save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata))
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def canonical_header(data: bytes) -> bytes:
    """safetensors bytes with the header's metadata keys sorted: the same numbers, the same bytes.

    safetensors keeps metadata in a hash map whose order changes from process to
    process, so two files of identical tensors and metadata would differ (and a
    ``sha256sum`` of a resumed run's weights would disagree with an uninterrupted
    run's). The header is JSON after an 8-byte little-endian length, padded with
    spaces to a multiple of 8; the tensors' offsets are relative to the data after
    it, so rewriting the header alone keeps the file valid.
    """
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta is not None else {}) | header
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + n:]


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
    """The run's per-epoch rows; `UserError` naming the line for a damaged file."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: line {number} is not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}: line {number} is not a row of metrics")
        rows.append(row)
    return rows


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
    config = Config.from_dict(parse_json(text, str(path)), where=str(path))
    try:
        return config.validate()
    except UserError as err:  # a well-formed file with a value gankit never writes: say which file
        raise UserError(f"{path}: {err}") from None


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
    meta = _metadata(path)
    _check_same_run(path, meta, config)
    shape = _data_shape(path, meta)
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


def _check_same_run(path: Path, meta: dict[str, str], config: Config) -> None:
    """Refuse weights whose metadata names another run's config than the run's ``config.json``.

    A file copied in from another run of the same architecture would otherwise be sampled and
    scored as this run's. ``train.epochs`` may differ (an extension rewrites ``config.json`` first).
    """
    try:
        saved = json.loads(meta["config"])
    except (KeyError, ValueError, TypeError, RecursionError):
        saved = None
    if not isinstance(saved, dict):
        return  # no record to compare (a file from before it was written); the shapes are checked below
    current = config.to_dict()
    diff = [f"{section}.{key} {saved.get(section, {}).get(key)!r} vs {value!r}"
            for section, values in current.items() for key, value in values.items()
            if (section, key) != ("train", "epochs") and isinstance(saved.get(section), dict)
            and saved[section].get(key, value) != value]
    if diff:
        raise UserError(f"{path} was saved by another run than {path.parent / 'config.json'} describes "
                        f"({'; '.join(diff[:3])}{'; ...' if len(diff) > 3 else ''}); copy whole run directories, "
                        "not single files")


# What each generator file is, as the commands say it.
GENERATOR_NAMES = {"generator_ema": "G_ema, the moving average of G's weights", "generator": "G"}


def the_generator(run_dir: str | Path) -> tuple[Config, nn.Module, str]:
    """A run's generator: the moving average ``G_ema`` where the run keeps one, else G.

    Every command that uses a run's generator (sample, eval, export, the quality
    scores, the report) takes this one, so they judge and ship the same network.

    Returns:
        (config, generator in eval mode, its role: ``"generator_ema"`` or ``"generator"``).
    """
    run_dir = Path(run_dir)
    role = "generator_ema" if (run_dir / "generator_ema.safetensors").is_file() else "generator"
    if role == "generator" and not (run_dir / "generator.safetensors").is_file():
        load_run_config(run_dir)  # a missing or broken run says so first
        raise UserError(f"{run_dir}: no generator.safetensors (training did not finish?)")
    config, G = load_network(run_dir, role)
    return config, G, role


def is_image_run(run_dir: str | Path, summary: dict[str, Any] | None = None) -> bool:
    """Whether ``run_dir`` holds an image run: its summary's ``data_shape`` is (C, H, W).

    A run without that record (one that did not finish) is an image run when it
    kept per-epoch sample grids. ``summary``: the run's, when already read.
    """
    summary = read_summary(Path(run_dir)) if summary is None else summary
    if "data_shape" in summary:
        return isinstance(summary["data_shape"], list) and len(summary["data_shape"]) == 3
    return any((Path(run_dir) / "samples").glob("epoch_*.png"))


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return {}
    try:
        return parse_json(path.read_text(), str(path))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def _metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata ({} when it has none or cannot be read)."""
    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError):
        return {}


def _data_shape(path: Path, meta: dict[str, str]) -> tuple[int, ...]:
    """One example's shape, recorded in a weights file's metadata ``meta``."""
    try:
        return tuple(int(v) for v in json.loads(meta["data_shape"]))
    except (KeyError, ValueError, TypeError, RecursionError):
        raise UserError(f"{path}: not a gankit weights file (no data_shape in its metadata)") from None


__all__ = ["create_run_dir", "hold_run", "atomic_file", "atomic_write", "remove_stale_temporaries", "write_json", "save_tensors", "load_tensors",
           "MetricsWriter", "read_metrics", "save_models", "load_run_config", "load_network",
           "read_summary", "the_generator", "GENERATOR_NAMES"]

"""Point clouds: the chapter's Gaussian, other named targets, CSV and NPY files.

A *target* is a distribution we can sample afresh and whose truth is known,
so a generator can be judged exactly. A point file has no known truth; a
held-out split of it stands in for fresh samples.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from gankit import streams
from gankit.data.memory import DOUBLE, require
from gankit.data.targets import NAMED_TARGETS, affine, exact_gram
from gankit.errors import UserError

# float32's largest value: training data is float32, and so are the sums of squares its statistics take.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class GaussianTarget:
    """N(b, A^T A), sampled as X A + b with X ~ N(0, I) (the chapter's data).

    Args:
        mean: b, shape (d,).
        transform: A, shape (d, d).
    """

    name = "gaussian"

    def __init__(self, mean, transform):
        self.b = torch.as_tensor(mean, dtype=torch.float64)
        self.A = torch.as_tensor(transform, dtype=torch.float64)
        self.dim = self.b.numel()

    @property
    def mean(self) -> Tensor:
        """(d,) float64."""
        return self.b.clone()

    @property
    def cov(self) -> Tensor:
        """(d, d) float64: A^T A, each entry an exactly rounded sum (the same bits on every CPU)."""
        return exact_gram(self.A.T.tolist())

    def sample(self, n: int, rng: np.random.Generator) -> Tensor:
        """Draw (n, d) float32 points; consumes n*d normals from ``rng``.

        X and X A + b are computed in float64, term by term (`affine`), and rounded
        once to float32: the same bits on every CPU (see `gankit.data.targets`).
        """
        x = rng.standard_normal((n, self.dim))  # (n, d) float64
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which check_scale names
            return torch.from_numpy(affine(x, self.A.numpy(), self.b.numpy()).astype(np.float32))


# name -> factory(DataConfig) -> target. Other modules add theirs here.
TARGETS: dict[str, Callable] = {
    "gaussian": lambda cfg: GaussianTarget(cfg.mean, cfg.transform),
    **NAMED_TARGETS,  # ring8, grid25, moons, swissroll (data/targets.py)
}


@dataclass
class Dataset:
    """What training sees, and what evaluation may compare against.

    Attributes:
        train: (N, d) float32 training points.
        heldout: (M, d) points never trained on (a split of a file), or None.
        target: the known distribution, or None for a point file.
        source: where the data came from, for messages and summaries.
        labels: (N,) int64 class labels of ``train``, or None.
        heldout_labels: (M,) labels of ``heldout``, or None.
        classes: class names, index = label (empty without labels).
    """

    train: Tensor
    heldout: Tensor | None
    target: object | None
    source: str
    labels: Tensor | None = None
    heldout_labels: Tensor | None = None
    classes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        """One example's shape, without the batch: (d,) for points, (C, H, W) for images."""
        return tuple(self.train.shape[1:])

    @property
    def dim(self) -> int:
        """Features per example (d for points)."""
        return int(self.train[0].numel())


# What a point file's name ends with: nothing else is read as points, so a run's config.json cannot
# have `gankit eval` read /etc/passwd or a device as data.
POINT_SUFFIXES = (".csv", ".npy", ".txt")


def make_dataset(cfg, generator: torch.Generator, seed: int) -> Dataset:
    """Build the training data for a `DataConfig`.

    Named targets draw ``cfg.n`` points from the NumPy stream ``data`` of
    ``seed`` (`gankit.streams.numpy_generator`: the same bits on every CPU;
    ``generator`` is not drawn from); files are read and, if ``cfg.holdout``
    > 0, split by a permutation drawn from ``generator``.

    Args:
        cfg: the `DataConfig`.
        generator: the run's main stream (a permutation of a file's points).
        seed: the run's seed (``train.seed``), whose ``data`` stream a target draws from.
    """
    if cfg.source in TARGETS:
        target = TARGETS[cfg.source](cfg)
        # targets draw in float64: the normals, the points, a float32 copy
        require({"the points": (4.0 * cfg.n * target.dim * DOUBLE, "lower data.n")},
                f"drawing data.n = {cfg.n} points of {target.dim} values from the target '{cfg.source}'")
        points = target.sample(cfg.n, streams.numpy_generator(seed, "data"))
        check_scale(points.numpy(), f"the target '{cfg.source}' (data.mean, data.transform)", located=False)
        return Dataset(points, None, target, cfg.source)
    if cfg.source.lower().endswith(POINT_SUFFIXES):
        points = load_points(cfg.source)
        heldout = None
        split = holdout_split(len(points), cfg.holdout, generator, f"{cfg.source}: too few points")
        if split is not None:
            heldout, points = points[split[1]], points[split[0]]
        return Dataset(points, heldout, None, cfg.source)
    raise UserError(
        f"unknown data source '{cfg.source}': not a named target ({', '.join(sorted(TARGETS))}) "
        f"nor a point file ({', '.join(POINT_SUFFIXES)})"
    )


def holdout_split(n: int, holdout: float, generator: torch.Generator, too_few: str) -> tuple[Tensor, Tensor] | None:
    """Indices (kept, held out) of a random ``holdout`` fraction of ``n`` examples, or None for no holdout.

    One permutation is drawn from ``generator``; ``too_few`` begins the error
    when fewer than 2 examples would be left to train on.
    """
    if holdout <= 0:
        return None
    n_out = max(1, int(round(n * holdout)))
    if n - n_out < 2:
        raise UserError(f"{too_few} ({n}) for a holdout of {holdout}")
    order = torch.randperm(n, generator=generator)
    return order[n_out:], order[:n_out]


def load_points(path: str | Path, dtype: np.dtype = np.float32, training: bool = True) -> Tensor:
    """Read an (N, d) point cloud from ``.npy`` or ``.csv`` (header optional), as ``dtype``.

    With ``training`` (the default) values so large that float32 training overflows are
    refused too (`check_scale`); without, only non-finite ones are.

    Raises:
        UserError: missing or empty file, a non-numeric cell, ragged rows,
            NaN or infinite values, or fewer than 2 points.

    Returns:
        (N, d) tensor of ``dtype`` (float32 for training; float64 keeps what a
        file's large offsets would lose in float32).

    Examples:
        >>> import tempfile, pathlib
        >>> scratch = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(scratch.name) / "points.csv"
        >>> _ = path.write_text("x,y\\n1,2\\n3,4\\n5,6\\n")
        >>> points = load_points(path)
        >>> points.shape, points.dtype
        (torch.Size([3, 2]), torch.float32)
        >>> _ = path.write_text("x,y\\n1,2\\n3,nan\\n")
        >>> load_points(path)
        Traceback (most recent call last):
        ...
        gankit.errors.UserError: ...
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():  # also a FIFO or a device: reading one may never end
        raise UserError(f"data file not found: {path}" if not path.exists() else
                        f"{path}: not a regular file, so not read as data")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    lines = None  # for a CSV, the file line of each point, so errors point into the file
    if path.suffix.lower() == ".npy":
        array = _read_npy(path)
    else:
        array, lines = _read_csv(path)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise UserError(f"{path}: expected a 2-D array of points (N, d), got shape {tuple(array.shape)}")
    if array.shape[0] < 2:
        raise UserError(f"{path}: need at least 2 points, got {array.shape[0]}")
    check_scale(array, str(path), lines, bounded=training)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype))


def check_scale(array: np.ndarray, where: str, lines: list[int] | None = None, located: bool = True,
                bounded: bool = True) -> None:
    """Refuse (N, d) points that are not finite, or so large that float32 training overflows.

    Training is float32, and sums of squares of the points (covariances, Adam's
    squared gradients, which grow with x^2) must stay finite there: every |x|
    must be below sqrt(float32 max / N). Values beyond that are bad input, not a
    learning rate too high.

    Args:
        array: the points, any float dtype.
        where: the file or target, for the message.
        lines: for a CSV, the file line of each row (errors point into the file).
        located: name the row and column (False for points drawn from a target).
        bounded: refuse values beyond float32 training's limit too, not only non-finite ones.
    """
    def position(row: int, col: int) -> str:
        if not located:
            return "a drawn point"
        return f"row {lines[row] if lines is not None else row + 1}, column {col + 1}"

    bad = ~np.isfinite(array)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise UserError(f"{where}: non-finite value {array[row, col]} at {position(row, col)}")
    if not bounded:
        return
    limit = math.sqrt(FLOAT32_MAX / array.shape[0])
    flat = int(np.argmax(np.abs(array)))
    row, col = divmod(flat, array.shape[1])
    largest = float(array[row, col])
    if abs(largest) >= limit:
        raise UserError(f"{where}: value {largest:g} at {position(row, col)} is too large: float32 training "
                        f"overflows when sums of squares of {array.shape[0]} points do, so |x| must stay "
                        f"below {limit:.3g}; rescale the data")


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise UserError(f"{path}: not an .npy file (no NumPy header)")
        f.seek(0)
        header = npy_header(f)
    if header is not None:  # the array, its float64 copy and the float32 points
        shape, dtype = header
        size = math.prod(shape) * (dtype.itemsize + DOUBLE + 4)
        require({f"an array of shape {shape}": (size, "use a smaller file")}, f"{path}: loading")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise UserError(f"{path}: not a numeric .npy array ({err})") from None
    except Exception as err:  # truncated or not an .npy at all
        raise UserError(f"{path}: cannot read as .npy ({type(err).__name__}: {err})") from None
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise UserError(f"{path}: expected a real numeric array, got dtype {array.dtype}")
    return array.astype(np.float64)


def npy_header(f) -> tuple[tuple[int, ...], np.dtype] | None:
    """The shape and dtype an open .npy stream's header declares (its data unread), or None if unreadable."""
    try:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, dtype = read(f)
        return tuple(int(s) for s in shape), dtype
    except Exception:  # not an .npy header: np.load says what is wrong
        return None


def _read_csv(path: Path) -> tuple[np.ndarray, list[int]]:
    """The values and, for each of their rows, its line in the file (errors name file lines)."""
    require({"the file's text": (2.0 * path.stat().st_size, "use a smaller file, or .npy")}, f"{path}: reading")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text CSV file") from None
    cells = text.count(",") + text.count("\n") + 1
    # each cell is parsed via a Python string and a Python float (about 100 bytes together)
    require({f"its {cells} cells": (100.0 * cells, "use a smaller file, or .npy")}, f"{path}: parsing")
    numbered = [(i, r) for i, r in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in r)]
    rows = [r for _, r in numbered]
    if not rows:
        raise UserError(f"{path}: file has no data rows")
    first = 0
    if not all(_is_number(c) for c in rows[0]):
        first = 1  # a header row
        if len(rows) == 1:
            raise UserError(f"{path}: file has a header but no data rows")
    width = len(rows[first])
    values = []
    for i, row in numbered[first:]:
        if len(row) != width:
            raise UserError(f"{path}: row {i} has {len(row)} columns, expected {width}")
        parsed = []
        for j, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise UserError(f"{path}: non-numeric value {cell.strip()!r} at row {i}, column {j}")
            parsed.append(float(cell))
        values.append(parsed)
    return np.asarray(values, dtype=np.float64), [i for i, _ in numbered[first:]]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


__all__ = ["Dataset", "GaussianTarget", "TARGETS", "load_points", "make_dataset"]

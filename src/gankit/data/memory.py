"""Memory: what the big arrays of a run, a sample or an evaluation will take, checked before allocating them.

An allocation far beyond the machine's memory fails deep inside torch with a
traceback (or, worse, after training, leaving a run directory without weights).
So every command estimates the bytes of its large arrays from the config and
the data's shape, and `require` refuses, in one line naming what is too large,
when they exceed a fraction of the memory available: the smaller of
``MemAvailable`` in /proc/meminfo and a cgroup's limit (else the physical
memory, ``os.sysconf``). Estimates count only arrays that grow with the data,
the noise, the networks or the sample size, each with a small factor for
the copies made on the way; small constant overheads are left out.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from gankit.errors import UserError

FRACTION = 0.8  # of the available memory, the most an estimate may take
FLOAT = 4  # bytes of a float32
DOUBLE = 8  # bytes of a float64
SUMMARY_FIT_SAMPLES = 200_000  # the summary's sampled Gaussian fit (gankit.metrics.gaussian.generator_gaussian)
SNAPSHOT_POINTS, SNAPSHOT_GRID = 100, 64  # the figures' recordings (gankit.runs.callbacks.Snapshots)
RUN_OVERHEAD = 32 * 1024  # a built run's Python objects: config, modules, optimisers, generators (measured)


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit; else physical memory."""
    candidates = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    v1 = "/sys/fs/cgroup/memory/memory."
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2, then v1
                         (v1 + "limit_in_bytes", v1 + "usage_in_bytes")):
        try:
            cap = Path(limit).read_text().strip()
            if cap != "max" and int(cap) < 2**60:
                candidates.append(max(int(cap) - int(Path(usage).read_text().strip()), 0))
        except (OSError, ValueError):
            pass
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            return 2**62  # unknown: nothing is refused
    return min(candidates)


def format_bytes(n: float) -> str:
    """``1.5e10`` -> ``"14.0 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def require(parts: dict[str, tuple[float, str]], what: str) -> None:
    """Refuse, in one line, when the estimated ``parts`` exceed the memory at hand.

    Args:
        parts: the big arrays: name -> (estimated bytes, what to change to shrink it);
            the message names the largest and its remedy.
        what: the subject of the message, e.g. ``"points.csv: training on 64 examples of 100000"``.

    Raises:
        UserError: ``"<what> needs about 745.1 GiB of memory (mostly <part>), more than the
            18.4 GiB at hand (80% of the memory available); <remedy>"``.
    """
    total = sum(size for size, _ in parts.values())
    budget = FRACTION * available_bytes()
    if total > budget:
        largest = max(parts, key=lambda name: parts[name][0])
        raise UserError(f"{what} needs about {format_bytes(total)} of memory (mostly {largest}), more than "
                        f"the {format_bytes(budget)} at hand ({FRACTION:.0%} of the memory available); "
                        f"{parts[largest][1]}")


def parameter_count(model, shape: tuple[int, ...]) -> int:
    """Parameters of the generator and discriminator ``model`` (a `ModelConfig`) builds, counted without memory."""
    import torch

    from gankit.models import build_discriminator, build_generator

    try:
        with torch.device("meta"):  # shapes only: no storage is allocated
            nets = (build_generator(model, shape), build_discriminator(model, shape))
    except (RuntimeError, TypeError, OverflowError) as err:  # a layer's size overflows int64
        raise UserError(f"the networks for examples of shape {list(shape)} cannot be built: their sizes overflow "
                        f"({str(err).splitlines()[0][:100]}); lower model.latent_dim or the widths") from None
    return sum(t.numel() for net in nets for t in [*net.parameters(), *net.buffers()])


def training_parts(config, shape: tuple[int, ...], n_train: int,
                   n_heldout: int = 0) -> dict[str, tuple[float, str]]:
    """The big arrays of training ``config`` on ``n_train`` examples of ``shape``, and of its summary.

    Args:
        config: the run's `Config`.
        shape: one example's shape, (d,) or (C, H, W).
        n_train, n_heldout: training and held-out examples.

    Returns:
        name -> (estimated bytes, remedy), for `require`.
    """
    d, k, t = math.prod(shape), config.model.latent_dim, config.train
    parts = {
        # the tensor, an epoch's shuffled copy, the fast path's copy
        "the training data": (3.0 * n_train * d * FLOAT, "use fewer examples (data.n, or a smaller data file)"),
        "each epoch's noise": (3.0 * n_train * k * FLOAT, "lower model.latent_dim or the number of examples"),
        # weights, gradients, Adam's two moments, a moving average and a checkpoint's copy
        "the networks' weights and optimiser state": (
            6.0 * parameter_count(config.model, shape) * FLOAT,
            "use smaller networks (model.latent_dim, g_hidden, d_hidden, g_width, d_width)"),
    }
    if len(shape) == 1:
        snapshots = SNAPSHOT_POINTS * (k + 2 * t.epochs * d) * FLOAT + (2 * t.epochs * SNAPSHOT_GRID ** 2 * FLOAT)
        parts["the figures' snapshots"] = (snapshots, "lower model.latent_dim, train.epochs or the number of columns")
        parts[f"the summary's {d} x {d} covariance matrices"] = (10.0 * d * d * DOUBLE, "use data with fewer columns")
        if config.model.generator != "linear":  # a linear generator's Gaussian is exact: nothing is sampled
            parts["the summary's sampled Gaussian fit"] = (
                SUMMARY_FIT_SAMPLES * (k * FLOAT + d * (FLOAT + 2 * DOUBLE)),
                "lower model.latent_dim or the number of columns")
    else:
        q = config.quality
        reference = n_heldout or n_train
        parts.update(quality_parts(q.n or reference, q.fd_sets, reference, n_train, shape, q.kid_subset_size,
                                   "lower quality.n or quality.fd_sets, or use fewer images"))
    return parts


def quality_parts(n: int, fd_sets: int, n_reference: int, n_train: int, shape: tuple[int, ...],
                  kid_subset_size: int, remedy: str) -> dict[str, tuple[float, str]]:
    """The big arrays of `gankit.metrics.images.evaluate_images` with ``n`` images per generated set."""
    image = math.prod(shape) * FLOAT
    kid = min(kid_subset_size, n * fd_sets, n_reference)
    return {
        "the generated images": (2.0 * n * fd_sets * image, remedy),
        # the noise baseline; the classifier's four rotations of the training images
        "the baseline and classifier images": ((n_reference + 5 * n_train) * image, "use fewer images"),
        # pairwise distances within and across the sets (torch.cdist and its temporaries)
        "the nearest-neighbour distances of precision and recall": (
            3.0 * max(n_reference, n) ** 2 * DOUBLE,
            f"{remedy}, or compare with fewer reference images (data.holdout)"),
        "KID's kernel matrices": (3.0 * kid * kid * DOUBLE, "lower quality.kid_subset_size"),
    }


def sample_parts(n: int, latent_dim: int, shape: tuple[int, ...], remedy: str) -> dict[str, tuple[float, str]]:
    """The big arrays of drawing ``n`` examples of ``shape`` from a generator with ``latent_dim`` noise."""
    return {"the noise": (n * latent_dim * FLOAT, remedy), "the samples": (3.0 * n * math.prod(shape) * FLOAT, remedy)}


def check_training(config, dataset) -> None:
    """Refuse a run whose arrays (training, figures, summary) cannot fit in memory, before any is allocated.

    Called once the data is read and before the networks are built, so that
    nothing is written and no run directory is made for a run that would fail.
    """
    n_heldout = 0 if dataset.heldout is None else int(dataset.heldout.shape[0])
    shape = tuple(dataset.shape)
    size = f"{shape[0]} values" if len(shape) == 1 else " x ".join(str(s) for s in shape)
    parts = training_parts(config, shape, int(dataset.train.shape[0]), n_heldout)
    require(parts, f"{dataset.source}: training on {dataset.train.shape[0]} examples of {size} "
            f"with model.latent_dim {config.model.latent_dim}")


__all__ = ["FRACTION", "RUN_OVERHEAD", "available_bytes", "check_training", "format_bytes", "parameter_count",
           "quality_parts", "require", "sample_parts", "training_parts"]

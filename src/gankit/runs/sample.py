"""Sampling from a saved run: needs only the run directory, not the training code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data.memory import require, sample_parts
from gankit.errors import UserError
from gankit.files import atomic_write, check_output, the_generator


def resolve_label(label: int | str, classes: list[str], n_classes: int) -> int:
    """A class index from a class name (as listed in the run's summary.json) or an index.

    A name wins over an index, so a folder class named "10" is that folder.
    """
    if isinstance(label, str) and label in classes:
        return classes.index(label)
    try:
        index = int(label)
    except ValueError:
        known = f"classes: {', '.join(classes)}" if classes else "this run lists no class names"
        raise UserError(f"--label {label!r} is not a class of this run ({known})") from None
    if not 0 <= index < n_classes:
        raise UserError(f"--label must be a class name or an index in 0..{n_classes - 1}, got {label}")
    return index


@torch.no_grad()
def sample_run(run_dir: str | Path, n: int, seed: int = 0, label: int | str | None = None) -> torch.Tensor:
    """Draw ``n`` examples G(z), z ~ N(0, I) from ``torch.Generator().manual_seed(seed)``.

    Uses the moving average of G (``generator_ema.safetensors``) when the run
    kept one. A conditional G gets ``label`` (a class name from the run's
    ``summary.json`` ``classes``, or an index) for every sample, or the classes
    in turn (0, 1, ..., 0, 1, ...) when ``label`` is None. Images are drawn in
    batches of 500 (a batch's activations, not all of them, are held at once).

    Raises:
        UserError: ``n`` examples would not fit in memory, a bad ``label``, or the
            generator's output is not finite.

    Returns:
        (n, d) points or (n, C, H, W) images in [-1, 1], float32.
    """
    config, G, role = the_generator(run_dir)
    m = config.model
    if label is not None and not m.conditional:
        raise UserError(f"{run_dir}: --label needs a class-conditional run")
    if label is not None:  # a class name from the run's summary, or an index
        from gankit.files import read_summary

        label = resolve_label(label, read_summary(Path(run_dir)).get("classes") or [], m.n_classes)
    one = G(torch.zeros(1, m.latent_dim), *((torch.zeros(1, dtype=torch.int64),) if m.conditional else ()))
    shape = tuple(one.shape[1:])  # one example's shape, (d,) or (C, H, W)
    require(sample_parts(n, m.latent_dim, shape, "lower -n"),
            f"{run_dir}: drawing -n {n} examples of {' x '.join(map(str, shape))} values")
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, m.latent_dim, generator=rng)  # (n, latent)
    if m.conditional:
        labels = torch.full((n,), label) if label is not None else torch.arange(n) % m.n_classes
        out = torch.cat([G(z[s:s + 500], labels[s:s + 500]) for s in range(0, n, 500)])
    elif len(shape) == 3:
        out = torch.cat([G(z[s:s + 500]) for s in range(0, n, 500)])
    else:
        out = G(z)
    if not torch.isfinite(out).all():
        raise UserError(f"{Path(run_dir) / role}.safetensors: the generator's output is not finite "
                        "(its weights overflow float32); nothing written")
    return out


def write_images(images: torch.Tensor, out: str | Path, force: bool = False, columns: int | None = None) -> str:
    """Write (n, C, H, W) images: one grid if ``out`` ends in .png, else one PNG each in directory ``out``.

    A grid replaces an existing file only with ``force`` (`gankit.files.check_output`); a
    directory must be new or empty. ``columns``: the grid's (default: about square).

    Returns:
        A short description of what was written.
    """
    from gankit.viz.pictures import image_grid, to_uint8

    out = Path(out)
    if out.suffix.lower() == ".png":
        check_output(out, force)
        import io

        buffer = io.BytesIO()
        image_grid(images, nrow=columns).save(buffer, format="png")  # scaled up (nearest) to a viewable width
        atomic_write(out, buffer.getvalue())
        return f"a grid of {len(images)} images to {out}"
    if out.suffix:
        raise UserError(f"--out must be a directory or end in .png for image runs, got {out}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty directory")
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images)  # (n, H, W, C)
    for i, array in enumerate(arrays):
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(out / f"{i:06d}.png")
    return f"{len(images)} PNG images to {out}/"


def write_points(points: torch.Tensor, out: str | Path | None, force: bool = False) -> None:
    """Write (n, d) points as ``.npy`` or ``.csv`` (by suffix), or CSV to stdout.

    An existing file is replaced only with ``force`` (`gankit.files.check_output`).
    """
    array = points.numpy()
    header = ",".join(f"x{i + 1}" for i in range(array.shape[1]))
    if out is None:
        import sys

        np.savetxt(sys.stdout, array, delimiter=",", header=header, comments="", fmt="%.7g")
        return
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".npy"):
        raise UserError(f"--out must end in .csv or .npy, got {out}")
    check_output(out, force)
    import io

    buffer = io.BytesIO()
    if out.suffix.lower() == ".npy":
        np.save(buffer, array, allow_pickle=False)
    else:
        np.savetxt(buffer, array, delimiter=",", header=header, comments="", fmt="%.7g")
    atomic_write(out, buffer.getvalue())

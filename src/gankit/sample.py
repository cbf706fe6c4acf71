"""Sampling from a saved run: needs only the run directory, not the training code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.errors import UserError
from gankit.runs import atomic_write, load_network


@torch.no_grad()
def sample_run(run_dir: str | Path, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` points G(z), z ~ N(0, I) from ``torch.Generator().manual_seed(seed)``.

    Returns:
        (n, d) float32 tensor.
    """
    config, G = load_network(run_dir, "generator")
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, config.model.latent_dim, generator=rng)  # (n, latent)
    return G(z)


def write_points(points: torch.Tensor, out: str | Path | None) -> None:
    """Write (n, d) points as ``.npy`` or ``.csv`` (by suffix), or CSV to stdout."""
    array = points.numpy()
    header = ",".join(f"x{i + 1}" for i in range(array.shape[1]))
    if out is None:
        import sys

        np.savetxt(sys.stdout, array, delimiter=",", header=header, comments="", fmt="%.7g")
        return
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".npy"):
        raise UserError(f"--out must end in .csv or .npy, got {out}")
    if not out.parent.is_dir():
        raise UserError(f"directory not found: {out.parent}")
    import io

    buffer = io.BytesIO()
    if out.suffix.lower() == ".npy":
        np.save(buffer, array, allow_pickle=False)
    else:
        np.savetxt(buffer, array, delimiter=",", header=header, comments="", fmt="%.7g")
    atomic_write(out, buffer.getvalue())

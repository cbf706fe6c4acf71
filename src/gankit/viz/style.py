"""The look every gankit figure shares: one figure factory, the colours of real and generated data,
and the frame of a point panel (every real and generated point inside it).

Figures are matplotlib ``Figure`` objects on the Agg canvas (no pyplot, no
global state), so they draw the same in a terminal, a notebook or a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
if TYPE_CHECKING:
    from matplotlib.figure import Figure

REAL_COLOR = "#1f77b4"
FAKE_COLOR = "#ff7f0e"
ARROW_COLOR = "#2d2d2d"  # the generator's pull in GAN Lab's view


def figure(width: float, height: float) -> Figure:
    """A new ``width`` x ``height`` inch figure at 100 dpi, constrained layout, on the Agg canvas."""
    # Imported here, not at the top: a run without figures never loads matplotlib (about 0.5 s).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def frame_limits(*points, extent: Sequence[float] | None = None, margin: float = 0.05) -> list[float]:
    """Axis limits (x1_min, x1_max, x2_min, x2_max) holding every finite point of each (N, >=2) array.

    Args:
        points: arrays or tensors of points; the first two coordinates count.
        extent: a box the frame must also hold (D's surface), or None.
        margin: added on each side of the points' box, as a fraction of its size.

    Returns:
        ``extent`` itself when it holds every point with the margin, else the box holding both.
    """
    xy = [np.asarray(p, dtype=np.float64)[:, :2] for p in points if len(p)]
    xy = np.concatenate(xy) if xy else np.zeros((0, 2))
    xy = xy[np.isfinite(xy).all(1)]
    box = None
    if len(xy):
        lo, hi = xy.min(0), xy.max(0)
        pad = np.maximum(hi - lo, 1e-3) * margin
        box = [lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1]]
    if extent is not None:
        e = [float(v) for v in extent]
        box = e if box is None else [min(box[0], e[0]), max(box[1], e[1]), min(box[2], e[2]), max(box[3], e[3])]
    return [float(v) for v in box] if box is not None else [-1.0, 1.0, -1.0, 1.0]


def frame_extent(snapshots: dict, index: int):
    """The (4,) box D's surface covers in recorded epoch ``index``: its own frame where the
    snapshots hold one per epoch (``extents``), else the run's ``extent``."""
    if "extents" in snapshots:
        return snapshots["extents"][index]
    return snapshots.get("extent")


__all__ = ["ARROW_COLOR", "FAKE_COLOR", "REAL_COLOR", "figure", "frame_extent", "frame_limits"]

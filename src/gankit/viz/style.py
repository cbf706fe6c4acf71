"""The look every gankit figure shares: one figure factory and the colours of real and generated data.

Figures are matplotlib ``Figure`` objects on the Agg canvas (no pyplot, no
global state), so they draw the same in a terminal, a notebook or a test.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REAL_COLOR = "#1f77b4"
FAKE_COLOR = "#ff7f0e"
ARROW_COLOR = "#2d2d2d"  # the generator's pull in GAN Lab's view


def figure(width: float, height: float) -> Figure:
    """A new ``width`` x ``height`` inch figure at 100 dpi, constrained layout, on the Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


__all__ = ["ARROW_COLOR", "FAKE_COLOR", "REAL_COLOR", "figure"]

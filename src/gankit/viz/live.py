"""Live pictures in a notebook: the losses and the real-vs-generated panel, redrawn in place.

``train(config, [LivePlot()])`` in Jupyter shows one image that is replaced
after every epoch (an IPython display handle); in a plain terminal or script
it does nothing, not even import IPython.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from gankit import streams
from gankit.engines.state import Callback, TrainState
from gankit.models import device_of


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    import sys

    if "IPython" not in sys.modules:  # never imported: certainly not in IPython
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _ipython_display(image_png: bytes) -> Any:
    """Show a PNG and return a handle whose ``update(png)`` replaces it in place."""
    from IPython.display import Image, display

    handle = display(Image(data=image_png), display_id=True)

    class _Handle:
        def update(self, png: bytes) -> None:
            handle.update(Image(data=png))

    return _Handle()


class LivePlot(Callback):
    """Redraws loss curves and real-vs-generated points every ``every`` epochs.

    Args:
        every: redraw period in epochs (the last epoch is always drawn).
        n_points: real and generated points shown (generated from fixed noise).
        enabled: force on or off; default: on only inside a Jupyter kernel.
        show: ``show(png_bytes) -> handle`` with ``handle.update(png_bytes)``;
            default: IPython's display with a display id. Tests pass their own.

    Attributes:
        frames: how many times the picture was drawn.
        figure: the last matplotlib figure drawn (None until the first draw).
    """

    def __init__(self, every: int = 1, n_points: int = 100, enabled: bool | None = None,
                 show: Callable[[bytes], Any] | None = None):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.every, self.n_points, self.enabled, self.show = every, n_points, enabled, show
        self.handle = None
        self.frames = 0
        self.figure = None

    def on_train_start(self, state: TrainState) -> None:
        self.active = in_notebook() if self.enabled is None else self.enabled
        if not self.active:
            return
        self.real = state.dataset.train[: self.n_points]  # (n_points, d)
        # Own noise generator: drawing never changes the training trajectory.
        noise_rng = streams.generator(state.config.train.seed, "figures")
        self.z = torch.randn(len(self.real), state.config.model.latent_dim, generator=noise_rng)

    def on_epoch_end(self, state: TrainState) -> None:
        if not self.active:
            return
        if state.epoch % self.every and state.epoch != state.config.train.epochs:
            return
        png = self._draw(state)
        if self.handle is None:
            self.handle = (self.show or _ipython_display)(png)
        else:
            self.handle.update(png)
        self.frames += 1

    @torch.no_grad()
    def _draw(self, state: TrainState) -> bytes:
        """Render the current picture as PNG bytes.

        The figure is built and laid out once; later epochs only update its
        artists (about twice as fast as a new figure per epoch).
        """
        was_training = state.G.training
        state.G.eval()
        fake = state.G(self.z.to(device_of(state.G))).float().cpu()  # (n_points, d)
        state.G.train(was_training)
        epochs = [row["epoch"] for row in state.history]
        losses = [[row["loss_d"] for row in state.history], [row["loss_g"] for row in state.history]]
        title = f"real vs generated, epoch {state.epoch}"
        if self.figure is None:
            self._build(state, fake, epochs, losses, title)
        else:
            for line, values in zip(self.lines, losses):
                line.set_data(epochs, values)
            self.ax_loss.relim()
            self.ax_loss.autoscale_view(scalex=False)
            if self.fake_points is not None:
                self.fake_points.set_offsets(fake[:, :2].numpy())
                self._set_limits(fake)
            else:  # 1-D data: histograms cannot be updated in place
                self.ax_points.clear()
                from gankit.viz.plots import draw_scatter

                draw_scatter(self.ax_points, self.real, fake)
            self.ax_points.set_title(title)
        self.figure.canvas.draw()  # one draw; savefig would lay out and draw twice
        if self.figure.get_layout_engine() is not None:
            self.figure.set_layout_engine("none")  # keep the first layout from now on
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(self.figure.canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def _build(self, state: TrainState, fake, epochs, losses, title) -> None:
        from gankit.viz.plots import draw_equilibrium, draw_scatter
        from gankit.viz.style import figure

        self.figure = figure(10, 3.8)
        self.figure.set_dpi(72)
        self.ax_loss, self.ax_points = self.figure.subplots(1, 2)
        self.lines = [self.ax_loss.plot(epochs, values, marker=".", label=label)[0]
                      for values, label in zip(losses, ["loss_D", "loss_G"])]
        draw_equilibrium(self.ax_loss, state.config.train.loss, self.lines)
        self.ax_loss.set_xlim(0.5, state.config.train.epochs + 0.5)
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("loss per example")
        self.ax_loss.legend(fontsize="small")
        draw_scatter(self.ax_points, self.real, fake, title=title)
        two_d = self.real.shape[1] >= 2
        self.fake_points = self.ax_points.collections[1] if two_d else None
        if two_d:
            self._set_limits(fake)

    def _set_limits(self, fake: torch.Tensor) -> None:
        both = torch.cat([self.real[:, :2], fake[:, :2]])  # (2 n_points, 2)
        lo, hi = both.min(0).values, both.max(0).values
        pad = (hi - lo).clamp_min(1e-3) * 0.1
        self.ax_points.set_xlim(float(lo[0] - pad[0]), float(hi[0] + pad[0]))
        self.ax_points.set_ylim(float(lo[1] - pad[1]), float(hi[1] + pad[1]))


__all__ = ["LivePlot", "in_notebook"]

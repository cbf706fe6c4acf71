"""Live pictures in a notebook: the losses and the real-vs-generated panel, redrawn in place.

``train(config, [LivePlot()])`` in Jupyter shows one image that is replaced
after every epoch (an IPython display handle); in a plain terminal or script
it does nothing, not even import IPython.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import torch

from gankit.training import Callback, TrainState


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
        noise_rng = torch.Generator().manual_seed(state.config.train.seed + 7919)
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
        from gankit.plots import _figure, draw_scatter

        was_training = state.G.training
        state.G.eval()
        fake = state.G(self.z).float()  # (n_points, d)
        state.G.train(was_training)
        history = state.history
        fig = _figure(10, 3.8)
        ax_loss, ax_points = fig.subplots(1, 2)
        epochs = [row["epoch"] for row in history]
        ax_loss.plot(epochs, [row["loss_d"] for row in history], marker=".", label="loss_D")
        ax_loss.plot(epochs, [row["loss_g"] for row in history], marker=".", label="loss_G")
        ax_loss.axhline(0.6931, color="gray", linestyle="--", linewidth=0.8, label="ln 2")
        ax_loss.set_xlim(0.5, state.config.train.epochs + 0.5)
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("loss per example")
        ax_loss.legend()
        draw_scatter(ax_points, self.real, fake, title=f"real vs generated, epoch {state.epoch}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=72)
        self.figure = fig
        return buffer.getvalue()


__all__ = ["LivePlot", "in_notebook"]

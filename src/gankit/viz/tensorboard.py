"""TensorBoard logging as a callback: losses, metrics and sample images per epoch.

``gankit train --tensorboard`` writes event files to ``RUN/tensorboard``; watch
them with ``tensorboard --logdir runs``. Needs the extra: ``pip install 'gankit[tensorboard]'``.

Logged per epoch (the step axis is the epoch):

- ``loss/D``, ``loss/G``: summed losses divided by the examples seen;
- ``speed/examples_per_sec``: over the training steps so far;
- ``metrics/fd_to_truth`` (a named target with known truth) or
  ``metrics/fd_to_data_fit`` (a data file): the generator's Gaussian, exact for
  an affine generator, against the truth or the data's Gaussian fit;
- ``samples`` (every ``image_every`` epochs and the last): real vs generated.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.errors import UserError
from gankit import streams
from gankit.engines.state import Callback, TrainState
from gankit.models import device_of


def require_tensorboard() -> None:
    """Raise a `UserError` naming the extra when TensorBoard's writer cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard extra: pip install 'gankit[tensorboard]'") from None


class TensorBoardLog(Callback):
    """Writes each epoch's losses, metrics and a sample image with TensorBoard's SummaryWriter.

    Args:
        log_dir: where the event files go (created on train start).
        image_every: period, in epochs, of the sample image (the last epoch always gets one).
        n_points: generated points in the sample image (from fixed noise).
    """

    def __init__(self, log_dir: str | Path, image_every: int = 5, n_points: int = 100):
        require_tensorboard()
        self.log_dir, self.image_every, self.n_points = Path(log_dir), image_every, n_points
        self.writer = None

    def on_train_start(self, state: TrainState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        from gankit.metrics.gaussian import gaussian_fit

        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        noise_rng = streams.generator(state.config.train.seed, "figures")
        self.z = torch.randn(self.n_points, state.config.model.latent_dim, generator=noise_rng)
        target = state.dataset.target
        if target is not None and hasattr(target, "cov"):
            self.reference, self.metric = (target.mean, target.cov), "metrics/fd_to_truth"
        else:
            self.reference, self.metric = gaussian_fit(state.dataset.train), "metrics/fd_to_data_fit"

    def on_epoch_end(self, state: TrainState) -> None:
        from gankit.metrics.gaussian import frechet_distance, generator_gaussian

        row, epoch = state.history[-1], state.epoch
        self.writer.add_scalar("loss/D", row["loss_d"], epoch)
        self.writer.add_scalar("loss/G", row["loss_g"], epoch)
        seen = state.dataset.train.shape[0] * epoch
        if state.train_seconds > 0:
            self.writer.add_scalar("speed/examples_per_sec", seen / state.train_seconds, epoch)
        was_training = state.G.training
        state.G.eval()
        # Exact for an affine G; otherwise 20k samples (a few ms for these MLPs).
        mean, cov, _ = generator_gaussian(state.G, state.config.model.latent_dim, n=20_000,
                                          seed=streams.seed(state.config.train.seed, "summary.fit"))
        self.writer.add_scalar(self.metric, frechet_distance(mean, cov, *self.reference), epoch)
        if epoch % self.image_every == 0 or epoch == state.config.train.epochs:
            with torch.no_grad():
                fake = state.G(self.z.to(device_of(state.G))).float().cpu()  # (n_points, d)
            self.writer.add_image("samples", self._image(state, fake), epoch, dataformats="HWC")
        state.G.train(was_training)
        self.writer.flush()

    def _image(self, state: TrainState, fake: torch.Tensor) -> np.ndarray:
        """The real-vs-generated panel as an (H, W, 3) uint8 array."""
        from gankit.viz.plots import draw_scatter
        from gankit.viz.style import figure

        fig = figure(5, 4)
        draw_scatter(fig.add_subplot(), state.dataset.train[: self.n_points], fake,
                     title=f"real vs generated, epoch {state.epoch}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=72)
        buffer.seek(0)
        return np.asarray(Image.open(buffer).convert("RGB"))

    def on_train_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()


__all__ = ["TensorBoardLog", "require_tensorboard"]

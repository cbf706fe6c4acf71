"""Callbacks that record a run while it trains: progress, metrics, snapshots for the figures.

Each does one thing; the CLI composes them. None of them touches the math.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm  # a terminal bar: it is hidden anyway where stderr is not a terminal (notebooks)

from gankit import streams
from gankit.engines.state import Callback, TrainState
from gankit.models import device_of
from gankit.engines.objectives import get_objective
from gankit.files import MetricsWriter, save_tensors
from gankit.viz.ganlab import generator_pull


PROBE_IMAGES = 64  # the most images per step of the timing probe that states an image run's expected time
SLOW_SECONDS = 120  # an image run expected to train longer on a CPU is told what narrower networks would take


def probe_seconds(state: TrainState, b: int | None = None, nets: tuple | None = None) -> tuple[float, float]:
    """What training costs on this machine: (seconds per training image, seconds per epoch besides).

    The faster of two steps' worth of work (D on ``b`` real and ``b`` generated images, then
    G through D, forward and backward; ``b``: the batch size, at most `PROBE_IMAGES`) on copies
    of G and D, so training itself, its random streams and its batch-norm statistics are
    untouched; besides, where G_ema's batch-norm statistics are re-estimated after each epoch,
    that many of G's forward passes. ``nets``: (G, D) to time instead of the run's.
    """
    import copy

    from gankit.engines.general import RECALIBRATION_SAMPLES

    b = b or min(state.config.train.batch_size, PROBE_IMAGES)
    G, D = nets or (copy.deepcopy(state.G), copy.deepcopy(state.D))
    device = state.device
    rng = torch.Generator().manual_seed(0)
    x = state.dataset.train[:b].to(device)
    z = torch.randn(len(x), state.config.model.latent_dim, generator=rng).to(device)
    labels = (state.dataset.labels[:b].to(device),) if state.config.model.conditional else ()

    def timed(work) -> float:
        times = []
        for _ in range(2):  # the first also pays for allocation
            started = time.perf_counter()
            work()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - started)
        return min(times) / len(x)

    def step() -> None:
        fake = G(z, *labels)
        (D(x, *labels).mean() + D(fake.detach(), *labels).mean()).backward()
        D(fake, *labels).mean().backward()
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)

    per_image = timed(step)
    norms = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules())
    if state.G_ema is None or not norms:
        return per_image, 0.0
    with torch.no_grad():
        return per_image, timed(lambda: G(z, *labels)) * RECALIBRATION_SAMPLES


def expected_seconds(state: TrainState, per_image: float, per_epoch: float = 0.0) -> float:
    """The rest of the run's training, from `probe_seconds`' measures."""
    c = state.config
    d_share = (2 * c.train.n_critic + 1) / 3  # D's part of a step is about 2/3, done n_critic times
    return (per_image * len(state.dataset.train) * d_share + per_epoch) * (c.train.epochs - state.epoch)


def expected_line(state: TrainState, per_image: float, per_epoch: float = 0.0) -> str:
    """``gankit: about 9 min to train (60 epochs of 898 images at ~100 img/s, measured here)``; where
    that is over `SLOW_SECONDS` on a CPU, also how much faster networks of half the width train
    (measured too, on freshly built ones)."""
    c = state.config
    epochs, n = c.train.epochs - state.epoch, len(state.dataset.train)
    seconds = expected_seconds(state, per_image, per_epoch)
    line = (f"gankit: about {_duration(seconds)} to train ({epochs} epochs of {n:,} images at "
            f"~{n * epochs / seconds:,.0f} img/s, measured here)")
    narrow = {"g_width": c.model.g_width // 2, "d_width": c.model.d_width // 2}
    if state.device.type == "cpu" and seconds > SLOW_SECONDS and min(narrow.values()) >= 8:
        from gankit.models import build_discriminator, build_generator

        model = dataclasses.replace(c.model, **narrow)
        with torch.random.fork_rng():  # building draws initial weights: not from training's streams
            nets = (build_generator(model, state.dataset.shape), build_discriminator(model, state.dataset.shape))
        faster = seconds / expected_seconds(state, *probe_seconds(state, nets=nets))
        line += (f"; on this CPU --set model.g_width={narrow['g_width']} --set model.d_width={narrow['d_width']} "
                 f"would train {faster:.1f}x faster")
    return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Progress(Callback):
    """A progress bar over epochs with the latest losses (hidden when not a terminal), or log lines.

    An image run first says how long it is expected to take (`probe_seconds`, a probe of two
    steps' work on copies of the networks); the log lines' time left counts from the end of the
    first epoch, leaving its warm-up out.

    Args:
        enabled: True / False: the bar or nothing; None: the bar where stderr is a
            terminal; ``"lines"``: no bar, one `epoch_line` per epoch instead (for logs).
    """

    def __init__(self, enabled: bool | str | None = None):
        self.enabled = enabled
        self.bar = None

    def on_train_start(self, state: TrainState) -> None:
        lines = self.enabled == "lines"
        disable = lines or ((not self.enabled) if self.enabled is not None else not sys.stderr.isatty())
        self.per_epoch = None  # the probe's expected seconds per epoch (image runs)
        if len(state.dataset.shape) == 3 and not (disable and not lines) and state.epoch < state.config.train.epochs:
            per_image, besides = probe_seconds(state)
            self.per_epoch = per_image * len(state.dataset.train) + besides
            print(expected_line(state, per_image, besides), file=sys.stderr, flush=True)
        self.bar = tqdm(total=state.config.train.epochs, initial=state.epoch, desc="train",
                        unit="epoch", disable=disable, leave=False, file=sys.stderr)
        self.lines, self.first_epoch, self.warm = lines, state.epoch, None

    def on_epoch_end(self, state: TrainState) -> None:
        row = state.history[-1]
        self.bar.set_postfix(loss_D=f"{row['loss_d']:.3f}", loss_G=f"{row['loss_g']:.3f}")
        self.bar.update(1)
        if self.lines:
            left = state.config.train.epochs - state.epoch
            if self.warm is None:  # the first epoch: its warm-up says little of the rest
                self.warm = (time.perf_counter(), state.epoch)
                if self.per_epoch is not None:
                    per_epoch = self.per_epoch
                else:
                    per_epoch = row["seconds"] - (state.history[-2]["seconds"] if len(state.history) > 1 else 0.0)
                seconds_left = per_epoch * left
            else:  # wall time per epoch since the first ended, callbacks included
                since, epoch = self.warm
                seconds_left = (time.perf_counter() - since) / (state.epoch - epoch) * left
            unit = "img" if len(state.dataset.shape) == 3 else "points"
            print(epoch_line(state.history, state.config.train.epochs, state.dataset.train.shape[0],
                             seconds_left, unit),
                  file=sys.stderr, flush=True)

    def on_train_end(self, state: TrainState) -> None:
        self.bar.close()


def epoch_line(history: list[dict], epochs: int, n: int, seconds_left: float, unit: str = "img") -> str:
    """``epoch 12/60  loss_D 0.632  loss_G 0.843  1,523 img/s  ~0:54 left``: one epoch of a run, for a log.

    The speed counts the epoch's ``n`` training examples (``unit``: ``img`` for images, ``points`` for
    points) over its training seconds (callbacks excluded).
    """
    row = history[-1]
    seconds = row["seconds"] - (history[-2]["seconds"] if len(history) > 1 else 0.0)
    speed = f"{n / seconds:,.0f} {unit}/s" if seconds > 0 else f"- {unit}/s"
    left = int(round(seconds_left))
    clock = f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}" if left >= 3600 else f"{left // 60}:{left % 60:02d}"
    return (f"epoch {row['epoch']}/{epochs}  loss_D {row['loss_d']:.3f}  loss_G {row['loss_g']:.3f}  "
            f"{speed}  ~{clock} left")


class MetricsLog(Callback):
    """Writes each epoch's row to ``metrics.jsonl`` and ``metrics.csv`` in the run."""

    def __init__(self, run_dir: Path):
        self.writer = MetricsWriter(run_dir)

    def on_epoch_end(self, state: TrainState) -> None:
        self.writer.write(state.history[-1])


FRAMES = 50  # the most epochs `Snapshots` records: a GIF of tens of frames shows training; hundreds only cost time


def frame_stride(epochs: int, frames: int = FRAMES) -> int:
    """`Snapshots` records every ``frame_stride``-th epoch of a run of ``epochs``, and the last: every
    epoch up to ``frames`` epochs, so at most ``frames`` + 1 frames."""
    return max(1, math.ceil(epochs / frames))


class Snapshots(Callback):
    """Records, after every `frame_stride`-th epoch and the last (every epoch up to `FRAMES`), what the plots need.

    - ``fake``: G applied to fixed noise, (epochs, n_points, d);
    - ``surface``: D's probability on a grid over that epoch's frame, (epochs, grid, grid),
      for 2-D data only;
    - ``extents``: each epoch's frame (x1_min, x1_max, x2_min, x2_max), (epochs, 4): the
      box holding the training data and that epoch's generated points, widened by
      ``margin`` of its size on each side, so D's surface lies under every point shown;
    - ``extent``: the box holding every epoch's frame, (4,): one frame for a whole animation;
    - ``pull``: -d loss_G / d x on each of those generated points, (epochs, n_points, 2),
      for 2-D data only (the arrows of `gankit.viz.ganlab`);
    - ``real``: the first ``n_points`` training points, (n_points, d).

    The fixed noise comes from its own generator, so recording never changes
    the training trajectory.
    """

    def __init__(self, n_points: int = 100, grid: int = 64, margin: float = 0.25, frames: int = FRAMES):
        self.n_points, self.grid, self.margin, self.frames = n_points, grid, margin, frames
        self.fake: list[torch.Tensor] = []
        self.surface: list[torch.Tensor] = []
        self.pull: list[torch.Tensor] = []
        self.extents: list[torch.Tensor] = []
        self.epochs: list[int] = []

    def on_train_start(self, state: TrainState) -> None:
        real = state.dataset.train
        self.real = real[: self.n_points].clone()
        noise_rng = streams.generator(state.config.train.seed, "figures")
        self.z = torch.randn(self.n_points, state.config.model.latent_dim, generator=noise_rng)
        self.two_d = real.ndim == 2 and real.shape[1] == 2
        if self.two_d:
            self.data_box = real.min(0).values, real.max(0).values  # (2,), (2,): all the training data

    def frame(self, fake: torch.Tensor) -> torch.Tensor:
        """(4,) float32 (x1_min, x1_max, x2_min, x2_max): the data and the finite (N, 2) ``fake``, with the margin."""
        lo, hi = self.data_box
        fake = fake[torch.isfinite(fake).all(1)]
        if len(fake):
            lo, hi = torch.minimum(lo, fake.min(0).values), torch.maximum(hi, fake.max(0).values)
        pad = (hi - lo).clamp_min(1e-3) * self.margin
        lo, hi = lo - pad, hi + pad
        return torch.stack([lo[0], hi[0], lo[1], hi[1]]).float()

    def on_epoch_end(self, state: TrainState) -> None:
        # Decided from the epoch and the planned total alone, so a resumed run records the same epochs.
        epochs = state.config.train.epochs
        if state.epoch % frame_stride(epochs, self.frames) == 0 or state.epoch >= epochs:
            self.record(state)

    @torch.no_grad()
    def record(self, state: TrainState) -> None:
        """Append this epoch's frame (G on the fixed noise, and for 2-D data D's surface and G's pull)."""
        G, D = state.G, state.D
        modes = G.training, D.training
        G.eval()
        D.eval()
        device = device_of(G)
        fake = G(self.z.to(device)).float()
        self.fake.append(fake.cpu())
        if self.two_d:
            extent = self.frame(fake.cpu())
            xs = torch.linspace(float(extent[0]), float(extent[1]), self.grid)
            ys = torch.linspace(float(extent[2]), float(extent[3]), self.grid)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            points = torch.stack([gx.flatten(), gy.flatten()], 1)  # (grid*grid, 2), rows along x2
            prob = torch.sigmoid(D(points.to(device))).reshape(self.grid, self.grid).cpu()
            self.surface.append(prob)
            self.extents.append(extent)
            g_loss = get_objective(state.config.train.loss).g_loss
            self.pull.append(generator_pull(D, fake, g_loss).cpu())
        G.train(modes[0])
        D.train(modes[1])
        self.epochs.append(state.epoch)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"real": self.real, "fake": torch.stack(self.fake), "epochs": torch.tensor(self.epochs)}
        if self.surface:
            out["surface"] = torch.stack(self.surface)
            out["pull"] = torch.stack(self.pull)
            out["extents"] = torch.stack(self.extents)  # (E, 4)
            out["extent"] = union_extent(out["extents"])
        return out

    def save(self, path: Path) -> None:
        if self.fake:
            save_tensors(path, self.tensors(), {"format": "gankit-snapshots"})

    # A checkpoint keeps the frames recorded so far, so a resumed run draws the same figures.
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if not self.fake:
            return {}
        out = {"fake": torch.stack(self.fake), "epochs": torch.tensor(self.epochs)}
        if self.surface:
            out["surface"] = torch.stack(self.surface)
            out["pull"] = torch.stack(self.pull)
            out["extents"] = torch.stack(self.extents)
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.fake = list(tensors["fake"].unbind()) if "fake" in tensors else []
        self.surface = list(tensors["surface"].unbind()) if "surface" in tensors else []
        self.pull = list(tensors["pull"].unbind()) if "pull" in tensors else []
        self.extents = list(tensors["extents"].unbind()) if "extents" in tensors else []
        self.epochs = tensors["epochs"].tolist() if "epochs" in tensors else []


def union_extent(extents: torch.Tensor) -> torch.Tensor:
    """(4,): the box holding every (E, 4) extent (x1_min, x1_max, x2_min, x2_max)."""
    return torch.stack([extents[:, 0].min(), extents[:, 1].max(), extents[:, 2].min(), extents[:, 3].max()])

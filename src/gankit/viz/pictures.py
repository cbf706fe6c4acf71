"""Pictures of image GANs: sample grids, their progression as a GIF, latent interpolations.

Pure functions from tensors to Pillow images and files, plus `SampleGrids`, the
callback that records a grid from fixed noise after every epoch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gankit import streams
from gankit.files import atomic_file
from gankit.engines.state import Callback, TrainState
from gankit.models import device_of


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


VIEW_WIDTH = 512  # px: the width an automatically scaled grid reaches at least


# A conditional grid gives each class its own columns when there are at most this many classes.
MAX_CLASS_COLUMNS = 16


def class_columns(n_classes: int, n: int) -> int | None:
    """Columns for a grid of ``n`` samples drawn for the classes in turn (``arange(n) % n_classes``).

    A multiple of ``n_classes`` near sqrt(n), so that every column holds one class
    (8 columns for 10 classes would wander across them): 10 classes get 10 columns,
    2 get 8 for 64 samples. None (a square grid) for fewer than 2 classes or more
    than `MAX_CLASS_COLUMNS`.
    """
    if not 2 <= n_classes <= MAX_CLASS_COLUMNS:
        return None
    return n_classes * max(1, round(math.sqrt(n) / n_classes))


def image_grid(images: Tensor, nrow: int | None = None, pad: int = 1, scale: int = 0) -> Image.Image:
    """Tile (N, C, H, W) images in [-1, 1] into one picture, ``nrow`` per row.

    Args:
        scale: integer upscaling (nearest, so pixels stay sharp); 0 picks the smallest that
            makes the grid at least `VIEW_WIDTH` px wide (8x8 digits: 8x, 64x64 images: 1x).
    """
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    tiles = to_uint8(images)  # (N, H, W, C)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, k = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = tile
    picture = Image.fromarray(grid[..., 0] if c == 1 else grid[..., :3])
    scale = scale or max(1, math.ceil(VIEW_WIDTH / grid.shape[1]))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def save_gif(frames: list[Image.Image], path: Path, ms_per_frame: int = 200) -> int:
    """An animated GIF of ``frames`` (the last one lingers); returns the number of frames."""
    if not frames:
        return 0
    frames = [f.convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 8]
    with atomic_file(path) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return len(frames)


def labelled(picture: Image.Image, text: str) -> Image.Image:
    """``picture`` under a white strip that reads ``text`` (e.g. the epoch of a GIF frame)."""
    from PIL import ImageDraw, ImageFont

    size = max(12, picture.width // 32)
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    strip = size + size // 2
    out = Image.new("RGB", (picture.width, picture.height + strip), "white")
    out.paste(picture.convert("RGB"), (0, strip))
    ImageDraw.Draw(out).text((4, size // 4), text, fill="black", font=font)
    return out


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between (d,) vectors a and b at (T,) fractions t: (T, d)."""
    omega = torch.acos((a / a.norm()).dot(b / b.norm()).clamp(-1, 1))
    if float(omega) < 1e-6:
        return a + t[:, None] * (b - a)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


@torch.no_grad()
def interpolation_strip(G, latent_dim: int, rows: int = 6, steps: int = 10, seed: int = 0,
                        labels: Tensor | None = None) -> Image.Image:
    """Rows of G(slerp(z_a, z_b, t)), t from 0 to 1 in ``steps``: how smoothly G maps the latent space."""
    rng = torch.Generator().manual_seed(seed)
    ends = torch.randn(rows, 2, latent_dim, generator=rng)
    t = torch.linspace(0, 1, steps)
    z = torch.cat([slerp(ends[r, 0], ends[r, 1], t) for r in range(rows)])  # (rows*steps, latent)
    extra = () if labels is None else (labels[:rows].repeat_interleave(steps),)
    was_training = G.training
    G.eval()
    device = device_of(G)
    images = G(z.to(device), *(e.to(device) for e in extra)).cpu()
    G.train(was_training)
    return image_grid(images, nrow=steps)


def real_examples(dataset, labels: Tensor | None, n: int, seed: int) -> Tensor:
    """``n`` training images drawn at random without replacement (a stream of their own), as
    (n, C, H, W); with ``labels`` (n,), image i is of class ``labels[i]``, as a grid drawn
    for those labels is. A class with fewer images than asked for repeats them."""
    rng = streams.generator(seed, "figures.real")
    if labels is None or dataset.labels is None:
        return dataset.train[torch.randperm(len(dataset.train), generator=rng)[:n]]
    picks = torch.empty(len(labels), dtype=torch.long)
    for k in labels.unique().tolist():
        members = torch.nonzero(dataset.labels == k).flatten()
        wanted = torch.nonzero(labels == k).flatten()
        if len(members) == 0:  # a class without images: a blank tile (white) where it would be
            picks[wanted] = -1
            continue
        order = members[torch.randperm(len(members), generator=rng)]
        picks[wanted] = order[torch.arange(len(wanted)) % len(order)]
    images = dataset.train[picks.clamp(min=0)].clone()
    images[picks < 0] = 1.0
    return images


class SampleGrids(Callback):
    """After every epoch, a grid of G(z) from fixed noise -> ``samples/epoch_NNNN.png``.

    A conditional run's grid draws the classes in turn, each in its own columns (`class_columns`).

    At the start: ``real.png``, as many training images in the same layout (a
    conditional run's of each class in that class's columns), to set beside it.
    At the end: ``samples.png`` (the last grid), ``training.gif`` (all of them,
    each frame labelled with its epoch) and ``interpolation.png``. Uses
    ``G_ema`` when the run keeps one. The fixed noise comes from its own
    generator, so recording never changes training.
    """

    def __init__(self, run_dir: Path, n: int = 64):
        self.run_dir, self.n = Path(run_dir), n

    def _labels(self, state: TrainState) -> Tensor | None:
        m = state.config.model
        return torch.arange(self.n) % m.n_classes if m.conditional else None

    def on_train_start(self, state: TrainState) -> None:
        m = state.config.model
        by_class = class_columns(m.n_classes, self.n) if m.conditional else None
        self.columns = by_class or int(math.sqrt(self.n))
        if by_class:  # whole rows, so every class is drawn as often
            self.n = by_class * max(1, round(self.n / by_class))
        (self.run_dir / "samples").mkdir(exist_ok=True)
        rng = streams.generator(state.config.train.seed, "figures")
        self.z = torch.randn(self.n, state.config.model.latent_dim, generator=rng)
        real = real_examples(state.dataset, self._labels(state), self.n, state.config.train.seed)
        with atomic_file(self.run_dir / "real.png") as tmp:
            image_grid(real, nrow=self.columns).save(tmp)

    @torch.no_grad()
    def on_epoch_end(self, state: TrainState) -> None:
        G = state.G_ema if state.G_ema is not None else state.G
        was_training = G.training
        G.eval()
        labels = self._labels(state)
        device = device_of(G)
        images = G(self.z.to(device), *(() if labels is None else (labels.to(device),))).cpu()
        G.train(was_training)
        grid = image_grid(images, nrow=self.columns)
        with atomic_file(self.run_dir / "samples" / f"epoch_{state.epoch:04d}.png") as tmp:
            grid.save(tmp)

    def on_train_end(self, state: TrainState) -> None:
        # Every epoch's grid is on disk, also those written before a resume.
        paths = sorted((self.run_dir / "samples").glob("epoch_*.png"))
        if not paths:
            return
        frames = []
        for path in paths:
            with Image.open(path) as im:
                frames.append(im.convert("RGB"))
        with atomic_file(self.run_dir / "samples.png") as tmp:
            frames[-1].save(tmp)
        epochs = [int(path.stem.split("_")[1]) for path in paths]
        save_gif([labelled(f, f"epoch {e}") for f, e in zip(frames, epochs)], self.run_dir / "training.gif")
        G = state.G_ema if state.G_ema is not None else state.G
        strip = interpolation_strip(G, state.config.model.latent_dim, labels=self._labels(state),
                                    seed=streams.seed(state.config.train.seed, "interpolation"))
        with atomic_file(self.run_dir / "interpolation.png") as tmp:
            strip.save(tmp)


__all__ = ["MAX_CLASS_COLUMNS", "VIEW_WIDTH", "SampleGrids", "class_columns", "real_examples", "image_grid", "interpolation_strip", "labelled", "save_gif", "slerp",
           "to_uint8"]

"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): what D sees, real and fake alike.

With ``train.augment = "diffaug"`` every image D sees, in the D step and the G
step, real and generated, is first transformed by DiffAugment's three parts:

- colour: brightness + U(-0.5, 0.5), saturation (distance from the per-pixel
  channel mean) times U(0, 2), contrast (distance from the image mean) times
  U(0.5, 1.5), each per image;
- translation: a shift of up to 1/8 of the side in each direction, the
  uncovered border filled with 0 (mid-grey in [-1, 1]);
- cutout: a square of half the side (clipped at the border) set to 0, at a
  random centre.

A policy names the parts to use, comma-separated: ``train.augment =
"translation"`` or ``"translation,cutout"`` (``"diffaug"`` is all three,
DiffAugment's ``color,translation,cutout``; ``color`` is accepted for
``colour``). The parts always apply in the order above, whatever the order
named. On 32x32 pictures of coloured shapes, colour augmentation left
generated colours paler and cost recall: translation alone gave FD 1.6x the
real halves' and recall 0.76, all three 12.9x and 0.28 (docs/tutorials/first-image-gan.md).

Every step is differentiable in the image, so G's gradient flows back through
it; D never sees an un-augmented image, so it cannot learn the augmentation
into the data (the leak that augmenting only reals causes). The random draws of
step ``s`` come from a fresh ``torch.Generator`` on the named stream ``augment``
with index ``s`` (`gankit.streams`): a run's augmentations are fixed by its seed,
and a resumed run draws the very same ones without any saved state.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from gankit import streams

Augment = Callable[[Tensor], Tensor]  # (B, C, H, W) -> (B, C, H, W)


def _uniform(x: Tensor, low: float, high: float, generator: torch.Generator) -> Tensor:
    """(B, 1, 1, 1) draws from U(low, high), one per image."""
    return low + (high - low) * torch.rand(x.shape[0], 1, 1, 1, generator=generator, dtype=x.dtype)


def colour(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random brightness, saturation and contrast per image (DiffAugment's 'color')."""
    x = x + _uniform(x, -0.5, 0.5, generator)
    mean = x.mean(1, keepdim=True)  # (B, 1, H, W): grey level of each pixel
    x = (x - mean) * _uniform(x, 0.0, 2.0, generator) + mean
    mean = x.mean((1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * _uniform(x, 0.5, 1.5, generator) + mean


def translation(x: Tensor, generator: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its side (integer pixels), filling with 0."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), generator=generator)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=generator)
    rows = (torch.arange(h)[None, :, None] - dy).expand(b, h, w)  # (B, H, W): source row of each output pixel
    cols = (torch.arange(w)[None, None, :] - dx).expand(b, h, w)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).flatten(1)  # (B, H*W)
    moved = x.flatten(2).gather(2, index[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)
    return moved * inside[:, None].to(x.dtype)


def cutout(x: Tensor, generator: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a square of ``ratio`` times the side per image, centred anywhere in it (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=generator)
    top, left = cy - ch // 2, cx - cw // 2
    r, c = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    hole = (r >= top) & (r < top + ch) & (c >= left) & (c < left + cw)  # (B, H, W)
    return x * (~hole)[:, None].to(x.dtype)


# The parts of DiffAugment, in the order they apply; a policy names a subset. The config checks a
# policy's spelling (gankit.config.AUGMENT_PATTERN) without importing torch.
PARTS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "colour": colour, "translation": translation, "cutout": cutout}


def policy(kind: str) -> tuple[str, ...]:
    """The parts a ``train.augment`` value names, in the order they apply (none: ())."""
    if kind == "none":
        return ()
    named = set(PARTS) if kind == "diffaug" else {"colour" if p == "color" else p for p in kind.split(",")}
    return tuple(p for p in PARTS if p in named)


def apply_parts(x: Tensor, parts: Sequence[Callable[[Tensor, torch.Generator], Tensor]],
                generator: torch.Generator) -> Tensor:
    """(B, C, H, W) images through each of ``parts`` in turn, all drawing from ``generator``."""
    for part in parts:
        x = part(x, generator)
    return x


def diffaug(x: Tensor, generator: torch.Generator) -> Tensor:
    """DiffAugment's 'color,translation,cutout' policy on (B, C, H, W) images."""
    return apply_parts(x, PARTS.values(), generator)


class Augmentation:
    """The augmentation of a run: ``for_step(step)`` gives the function D's inputs go through at that step.

    Args:
        kind: ``"none"`` (identity), ``"diffaug"`` (all of DiffAugment) or a
            policy of `PARTS` joined by commas (``"translation,cutout"``).
        seed: the run's seed (``train.seed``).
    """

    def __init__(self, kind: str, seed: int):
        self.seed, self.parts = seed, [PARTS[p] for p in policy(kind)]

    def for_step(self, step: int) -> Augment:
        if not self.parts:
            return _identity
        rng = streams.generator(self.seed, "augment", step)  # one stream per step: nothing to checkpoint
        return lambda x: apply_parts(x, self.parts, rng)


def _identity(x: Tensor) -> Tensor:
    return x


__all__ = ["Augmentation", "PARTS", "apply_parts", "colour", "cutout", "diffaug", "policy", "translation"]

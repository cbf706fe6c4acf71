"""A 32x32 RGB folder of coloured shapes in two classes, ``circle/`` and ``square/``, for image benchmarks.

Each image: a background of one random dark colour, one shape of a random
bright colour, size and position (fully inside), drawn with Pillow. Seeded, so
the folder is the same on every machine. Anti-aliasing comes from drawing at
4x and downsampling.

    python benchmarks/shapes.py OUT [--n 1000] [--side 32] [--seed 0]
    gankit train --data folder:OUT --model resnet --augment diffaug
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square")


def draw_shape(kind: str, side: int, rng: np.random.Generator) -> Image.Image:
    """One (side, side) RGB picture of a ``kind`` ("circle" or "square")."""
    scale = 4
    big = side * scale
    background = tuple(int(v) for v in rng.integers(0, 90, 3))
    colour = tuple(int(v) for v in rng.integers(120, 256, 3))
    size = rng.uniform(0.35, 0.7) * big  # diameter or side
    x0, y0 = (rng.uniform(0, big - size) for _ in range(2))
    picture = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(picture)
    box = (x0, y0, x0 + size, y0 + size)
    if kind == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    return picture.resize((side, side), Image.Resampling.LANCZOS)


def write_shapes(out: Path, n: int = 1000, side: int = 32, seed: int = 0) -> Path:
    """``n`` PNGs, alternating classes, under ``out/<class>/NNNNN.png``; returns ``out``."""
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        kind = CLASSES[i % len(CLASSES)]
        draw_shape(kind, side, rng).save(out / kind / f"{i:05d}.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_shapes(args.out, args.n, args.side, args.seed)
    print(f"wrote {args.n} {args.side}x{args.side} images to {args.out}/{{{','.join(CLASSES)}}}")


if __name__ == "__main__":
    main()

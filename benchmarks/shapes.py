"""A 32x32 RGB folder of coloured shapes in two classes, ``circle/`` and ``square/``, for image benchmarks.

Each image: a background of one random dark colour, one shape of a random
bright colour, size and position (fully inside), drawn with Pillow. Seeded, so
the folder is the same on every machine. Anti-aliasing comes from drawing at
4x and downsampling.

    python benchmarks/shapes.py OUT [--n 1000] [--side 32] [--seed 0]
    gankit train --data folder:OUT --model dcgan --augment translation --set model.conditional=true \
        --set model.g_width=32 --set model.d_width=32 --epochs 300 --out RUN
    python benchmarks/shapes.py --score RUN [--grid FILE.png]

``--score`` prints the run's quality scores against the targets (recall >= 0.6,
FD <= 3x the real halves, >= 80% of the samples drawn for each label being
that class) and whether colour is kept: each picture's shape colour (the mean
of its brightest quarter of pixels) and background colour (the mean of its
darkest quarter), their saturation and brightness, for the held-out images
and as many generated ones (drawn with balanced labels for a conditional
run). ``--grid`` writes 32 held-out pictures beside 32 generated ones.
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


def colours(images: np.ndarray) -> dict[str, float]:
    """Shape and background colour statistics of (N, 3, H, W) pictures in [-1, 1].

    The shape's colour is the mean of a picture's brightest quarter of pixels,
    the background's the mean of its darkest quarter (by the sum of channels).
    Saturation is (max - min) / max of a colour's channels, brightness its max.
    """
    x = (images.reshape(len(images), 3, -1) + 1) / 2  # (N, 3, P) in [0, 1]
    order = np.argsort(x.sum(1), axis=1)  # (N, P) darkest first
    quarter = order.shape[1] // 4
    pick = lambda idx: np.take_along_axis(x, idx[:, None, :], 2).mean(2)  # (N, 3)
    shape, background = pick(order[:, -quarter:]), pick(order[:, :quarter])
    saturation = lambda c: (c.max(1) - c.min(1)) / np.maximum(c.max(1), 1e-6)
    return {"shape_saturation": float(saturation(shape).mean()), "shape_brightness": float(shape.max(1).mean()),
            "background_brightness": float(background.max(1).mean()),
            "shape_colour_spread": float(shape.std(0).mean())}


def score(run: Path, grid: Path | None) -> None:
    """Print a run's quality against the targets and its colours against the held-out pictures'."""
    import json

    import torch

    from gankit.data import make_dataset
    from gankit.files import the_generator
    from gankit.metrics.images import generate
    from gankit.viz.pictures import image_grid

    q = json.loads((run / "summary.json").read_text())["quality"]
    print(f"FD {q['fd']:.3f} / real halves {q['fd_real_halves']:.3f} = {q['fd_ratio']:.2f}x "
          f"(+- {q.get('fd_ratio_se', 0):.2f}; target <= 3)   recall {q['recall']:.3f} (target >= 0.6)   "
          f"precision {q['precision']:.3f}")
    print("class shares " + ", ".join(f"{c} {100 * f:.1f}%" for c, f in zip(q["classes"], q["class_fractions"])))
    if "label_accuracy" in q:
        print("label accuracy " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in zip(q["classes"],
                                                                            q["label_accuracy_by_class"]))
              + f" (target >= 80% each; the classifier on real held-out pictures: {100 * q['classifier_accuracy']:.1f}%)")
    config, G, _ = the_generator(run)
    real = make_dataset(config.data, torch.Generator().manual_seed(config.train.seed), config.train.seed).heldout
    n_classes = config.model.n_classes if config.model.conditional else 0
    fake = generate(G, len(real), config.model.latent_dim, seed=12345, n_classes=n_classes)
    a, b = colours(real.numpy()), colours(fake.numpy())
    print("colour              held-out  generated")
    for key in a:
        print(f"  {key:22s} {a[key]:.3f}     {b[key]:.3f}")
    if grid is not None:
        image_grid(torch.cat([real[:32], fake[:32]]), nrow=8, scale=2).save(grid)
        print(f"wrote {grid}: held-out pictures (top four rows), generated (bottom four)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score", type=Path, metavar="RUN", help="score a run trained on such a folder")
    parser.add_argument("--grid", type=Path, metavar="FILE", help="with --score: real and generated pictures")
    args = parser.parse_args()
    if args.score is not None:
        score(args.score, args.grid)
        return
    if args.out is None:
        parser.error("give OUT, the folder to write, or --score RUN")
    write_shapes(args.out, args.n, args.side, args.seed)
    print(f"wrote {args.n} {args.side}x{args.side} images to {args.out}/{{{','.join(CLASSES)}}}")


if __name__ == "__main__":
    main()

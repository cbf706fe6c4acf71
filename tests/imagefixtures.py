"""Tiny synthetic image data sets written by the tests: IDX folders, image folders, .npz."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0 0 8 ndim, big-endian dims, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def blobs(n: int, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, side, side) uint8 images of two classes: a bright square top-left (0) or bottom-right (1)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 40, size=(n, side, side)).astype(np.uint8)
    h = side // 2
    for i, y in enumerate(labels):
        block = (slice(0, h), slice(0, h)) if y == 0 else (slice(h, side), slice(h, side))
        images[i][block] = 220
    return images, labels


def write_idx_folder(folder: Path, n: int = 32, side: int = 8, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = blobs(n, side)
    suffix = ".gz" if gz else ""
    for name, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        (folder / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)
    return folder


def write_image_folder(root: Path, n: int = 24, side: int = 8, sizes: list[int] | None = None) -> Path:
    """PNGs in class sub-folders ``left/`` and ``right/``; ``sizes`` cycles the image sides if given."""
    from PIL import Image

    images, labels = blobs(n, side)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / ("left" if label == 0 else "right")
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        if sizes:
            s = sizes[i % len(sizes)]
            picture = picture.resize((s, s))
        picture.save(folder / f"{i:03d}.png")
    return root

"""Which loader decodes an image source, and which sources are decoded through the cache.

- a named set (``mnist``, ``fashion-mnist``, ``cifar10``, ``pokemon``): `gankit.data.named`;
- ``folder:DIR``: decoded by `gankit.data.images` once, then read from the
  data cache (`gankit.data.cache`) while the folder's images keep their
  relative paths, sizes and modification times;
- everything else (``digits``, ``idx:DIR``, ``FILE.npz``; already arrays on disk):
  `gankit.data.images.load_images` directly.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from gankit.data.cache import Decoded, cached_decode, folder_key, to_float, to_uint8
from gankit.data.images import _load_folder, image_files, is_image_source, load_images, resize_center_crop
from gankit.data.named import NAMED_SETS, is_named, load_named


def is_image(source: str) -> bool:
    """Whether ``data.source`` names image data: a named set or an `is_image_source` form."""
    return is_named(source) or is_image_source(source)


def load_source(cfg) -> tuple[Tensor, Tensor | None, list[str]]:
    """Decode the images of a `DataConfig` (through the cache where it applies).

    Returns:
        (images (N, C, H, W) float32 in [-1, 1], labels (N,) int64 or None, class names),
        as `gankit.data.images.load_images` returns them.
    """
    source, resolution = cfg.source, cfg.resolution
    if is_named(source):
        images, labels, classes = load_named(source, resolution, cfg.url)
    elif source.startswith("folder:"):
        images, labels, classes = load_folder(Path(source[7:]), resolution, cfg.skip_corrupt)
    else:
        return load_images(source, resolution, cfg.skip_corrupt)
    x = to_float(images)
    if resolution and tuple(x.shape[2:]) != (resolution, resolution):
        x = resize_center_crop(x, resolution)
    return x.contiguous(), labels, classes


def load_folder(root: Path, resolution: int = 0, skip_corrupt: bool = False) -> Decoded:
    """``folder:DIR`` as uint8 (N, C, H, W), labels, classes: decoded once per content (see `folder_key`)."""
    files = image_files(root)
    if not files:  # none found: the decoder says so
        return _decode_folder(root, resolution, skip_corrupt)
    key = folder_key(root, files, resolution, skip_corrupt)
    return cached_decode(key, lambda: _decode_folder(root, resolution, skip_corrupt), f"folder {root}")


def _decode_folder(root: Path, resolution: int, skip_corrupt: bool) -> Decoded:
    images, labels, classes = _load_folder(root, resolution, skip_corrupt)
    return to_uint8(images), labels, classes


__all__ = ["NAMED_SETS", "is_image", "load_folder", "load_source"]

"""Image data: scikit-learn's 8x8 digits, MNIST-style IDX folders, image folders, .npz arrays.

Every source is decoded once into one float32 tensor (N, C, H, W) with values
in [-1, 1] (the tensor cache every batch is indexed from), with optional
integer class labels (N,). Nothing is downloaded.

Sources (``data.source``):
    ``digits``       the 1,797 8x8 digits inside scikit-learn (values 0..16), labels 0..9;
    ``idx:DIR``      MNIST / Fashion-MNIST / KMNIST files (``*-images-idx3-ubyte[.gz]`` with
                     their ``*-labels-idx1-ubyte[.gz]``), the ``train`` files when present;
    ``folder:DIR``   PNG/JPEG files, recursive; the class is the first sub-folder's name when
                     every image lies in one; grayscale if every image is, else RGB;
    ``FILE.npz``     arrays ``images`` (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 0..255
                     or floats in [0, 1] (or [-1, 1]), and optionally ``labels`` (N,).
With ``data.resolution`` > 0 images are resized (shorter side) and centre-cropped to it;
without it they must all have one size.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_image_source(source: str) -> bool:
    """Whether ``data.source`` names image data (see the module docstring)."""
    return source == "digits" or source.startswith(("idx:", "folder:")) or source.lower().endswith(".npz")


def load_images(source: str, resolution: int = 0, skip_corrupt: bool = False) -> tuple[Tensor, Tensor | None, list[str]]:
    """Decode an image source.

    Args:
        source: ``digits``, ``idx:DIR``, ``folder:DIR`` or a ``.npz`` path.
        resolution: side to resize and centre-crop to (0: keep).
        skip_corrupt: skip unreadable files of a folder (their count is
            reported in the source name) instead of raising.

    Returns:
        (images (N, C, H, W) float32 in [-1, 1], labels (N,) int64 or None, class names).
    """
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy(digits.images.astype(np.float32) / 8.0 - 1.0)[:, None]  # (N, 1, 8, 8)
        labels = torch.from_numpy(digits.target.astype(np.int64))
        classes = [str(c) for c in digits.target_names]
    elif source.startswith("idx:"):
        images, labels = _load_idx_folder(Path(source[4:]))
        classes = [str(c) for c in range(int(labels.max()) + 1)] if labels is not None else []
    elif source.startswith("folder:"):
        images, labels, classes = _load_folder(Path(source[7:]), resolution, skip_corrupt)
    else:
        images, labels = _load_npz(Path(source))
        classes = [str(c) for c in range(int(labels.max()) + 1)] if labels is not None else []
    if resolution and tuple(images.shape[2:]) != (resolution, resolution):
        images = resize_center_crop(images, resolution)
    return images.contiguous(), labels, classes


def resize_center_crop(images: Tensor, resolution: int) -> Tensor:
    """Resize (N, C, H, W) so the shorter side is ``resolution`` (antialiased), then centre-crop a square."""
    h, w = images.shape[2:]
    scale = resolution / min(h, w)
    size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
    out = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return out[:, :, top:top + resolution, left:left + resolution].clamp(-1, 1)


# --- IDX (MNIST) ---------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped or not) as a uint8 array; a clear error for anything else."""
    from gankit.data.memory import require

    # the file's bytes, then float32 images: 4 bytes a pixel
    require({"its bytes, decoded": (6.0 * path.stat().st_size, "use a smaller file")}, f"{path}: reading")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(path, raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path}: not an IDX file (wrong magic number {raw[:4].hex() or 'empty'})")
    if raw[2] != 0x08:
        raise UserError(f"{path}: IDX data type 0x{raw[2]:02x} is not supported (only unsigned bytes, 0x08)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise UserError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise UserError(f"{path}: IDX header promises shape {tuple(dims)} but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _gunzip(path: Path, raw: bytes) -> bytes:
    """Decompress a gzip file's bytes, refusing garbage and output beyond the memory at hand, in one line."""
    from gankit.data.memory import FRACTION, available_bytes, format_bytes

    budget = int(FRACTION * available_bytes()) // 6  # the chunks, their join, then 4 bytes per pixel as float32
    out, size = [], 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while chunk := stream.read(1 << 24):
                size += len(chunk)
                if size > budget:  # a gzip bomb, or simply too much: stop before memory runs out
                    raise UserError(f"{path}: decompresses to more than {format_bytes(budget)}, too much for the "
                                    "memory at hand once decoded to float32 images")
                out.append(chunk)
    except (OSError, EOFError, zlib.error) as err:  # not gzip, truncated, or a damaged deflate stream
        raise UserError(f"{path}: corrupt gzip file ({err})") from None
    return b"".join(out)


def _load_idx_folder(folder: Path) -> tuple[Tensor, Tensor | None]:
    if not folder.is_dir():
        raise UserError(f"IDX folder not found: {folder}")
    found = sorted(p for p in folder.iterdir() if "idx3" in p.name and "images" in p.name and p.is_file())
    if not found:
        raise UserError(f"{folder}: no '*-images-idx3-ubyte[.gz]' file")
    train = [p for p in found if "train" in p.name] or found
    images_path = train[0]
    images = read_idx(images_path)
    if images.ndim != 3:
        raise UserError(f"{images_path}: expected 3 dimensions (N, H, W), got {images.ndim}")
    labels = None
    labels_path = images_path.with_name(images_path.name.replace("images", "labels").replace("idx3", "idx1"))
    if labels_path.is_file():
        labels_np = read_idx(labels_path)
        if labels_np.shape != (images.shape[0],):
            raise UserError(f"{labels_path}: {labels_np.shape[0]} labels for {images.shape[0]} images")
        labels = torch.from_numpy(labels_np.astype(np.int64))
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]  # (N, 1, H, W)
    return x, labels


# --- image folders -------------------------------------------------------------------------

# The most directory entries a ``folder:DIR`` walk looks at before it stops and says so: a data set
# of images, not a disk (``folder:/`` named in a run's config would otherwise walk the whole filesystem).
MAX_FOLDER_ENTRIES = 2_000_000


def image_files(root: Path, limit: int = MAX_FOLDER_ENTRIES) -> list[Path]:
    """The PNG and JPEG files under ``root``, sorted; the walk is bounded and stays on ``root``'s filesystem.

    Symlinked directories are not followed and other mounted filesystems are not
    entered (as ``find -xdev``), so the walk ends; a filesystem root, or a tree
    of more than ``limit`` entries, is refused in one line before any image is read.

    Raises:
        UserError: ``root`` is not a directory, is a filesystem root, or holds more than ``limit`` entries.
    """
    if not root.is_dir():
        raise UserError(f"image folder not found: {root}")
    if root.resolve() == Path(root.resolve().anchor):
        raise UserError(f"folder:{root} is the root of the filesystem; name the folder that holds the images")
    device = root.stat().st_dev
    found, seen, pending = [], 0, [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable subfolder: its images cannot be used either
            continue
        seen += len(entries)
        if seen > limit:
            raise UserError(f"folder:{root} holds more than {limit} files and folders; name the folder that "
                            "holds the images")
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.stat(follow_symlinks=False).st_dev == device:
                        pending.append(Path(entry.path))
                elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                    found.append(Path(entry.path))
            except OSError:
                continue
    return sorted(found)


def folder_classes(root: Path) -> list[str]:
    """The classes ``folder:root`` will have, from its file names alone (nothing is decoded).

    A class is a first sub-folder, when every image has one (as `_load_folder` labels them); [] when
    some image lies at the top or the folder cannot be read.
    """
    try:
        parts = [p.relative_to(root).parts for p in image_files(root)]
    except UserError:
        return []
    return sorted({part[0] for part in parts}) if parts and all(len(part) > 1 for part in parts) else []


def _load_folder(root: Path, resolution: int, skip_corrupt: bool) -> tuple[Tensor, Tensor | None, list[str]]:
    from PIL import Image, UnidentifiedImageError

    files = image_files(root)
    if not files:
        raise UserError(f"{root}: no PNG or JPEG images found (searched recursively)")
    from gankit.data.memory import FLOAT, require

    decoded, kept, skipped = [], [], []
    pixels = 0  # decoded so far
    for path in files:
        try:
            with Image.open(path) as img:  # reads the header only: the size is known before decoding
                pixels += img.size[0] * img.size[1]
                # RGBA in PIL, then float32 RGB (and a resized copy)
                require({"the decoded images": (pixels * (4 + 2 * 3 * FLOAT), "use fewer or smaller images")},
                        f"{root}: decoding {len(files)} image files ({path} is {img.size[0]} x {img.size[1]})")
                img.load()
                decoded.append(img.copy())
                kept.append(path)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
            if not skip_corrupt:
                raise UserError(f"{path}: unreadable image ({type(err).__name__}: {err}); "
                                "set data.skip_corrupt=true to skip such files") from None
            skipped.append(path)
    if not decoded:
        raise UserError(f"{root}: none of the {len(files)} image files could be read")
    gray = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for img in decoded)
    mode = "L" if gray else "RGB"
    sizes = {img.size for img in decoded}
    if not resolution and len(sizes) > 1:
        raise UserError(f"{root}: images have {len(sizes)} different sizes (e.g. {sorted(sizes)[:2]}); "
                        "set data.resolution to resize and centre-crop them")
    arrays = []
    for img in decoded:
        img = img.convert(mode)
        if resolution:
            img = _pil_resize_crop(img, resolution)
        array = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        arrays.append(array[None] if gray else array.transpose(2, 0, 1))  # (C, H, W)
    images = torch.from_numpy(np.stack(arrays))
    parts = [p.relative_to(root).parts for p in kept]
    labels, classes = None, []
    if all(len(part) > 1 for part in parts):
        classes = sorted({part[0] for part in parts})
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[part[0]] for part in parts], dtype=torch.int64)
    if skipped:
        import sys

        print(f"gankit: skipped {len(skipped)} unreadable image(s) under {root}, e.g. {skipped[0]}", file=sys.stderr)
    return images, labels, classes


def _pil_resize_crop(img, resolution: int):
    from PIL import Image

    w, h = img.size
    scale = resolution / min(w, h)
    size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
    img = img.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return img.crop((left, top, left + resolution, top + resolution))


# --- .npz ----------------------------------------------------------------------------------

def _load_npz(path: Path) -> tuple[Tensor, Tensor | None]:
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    _check_npz_size(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as err:  # not a zip, truncated, object arrays
        raise UserError(f"{path}: cannot read as .npz ({type(err).__name__}: {err})") from None
    if "images" not in arrays:
        raise UserError(f"{path}: no 'images' array (found: {', '.join(arrays) or 'none'})")
    images = arrays["images"]
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4) or len(images) < 2:
        raise UserError(f"{path}: 'images' must be (N, H, W), (N, H, W, C) or (N, C, H, W) with N >= 2, "
                        f"got shape {arrays['images'].shape}")
    if images.dtype == np.uint8:
        x = images.astype(np.float32) / 127.5 - 1.0
    elif np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all():
            raise UserError(f"{path}: 'images' contains NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo >= 0 and hi <= 1:
            x = images.astype(np.float32) * 2 - 1
        elif lo >= -1 and hi <= 1:
            x = images.astype(np.float32)
        else:
            raise UserError(f"{path}: float 'images' must lie in [0, 1] or [-1, 1], got [{lo:.3g}, {hi:.3g}]")
    else:
        raise UserError(f"{path}: 'images' must be uint8 or float, got dtype {images.dtype}")
    labels = None
    if "labels" in arrays:
        y = arrays["labels"]
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
            raise UserError(f"{path}: 'labels' must be {len(x)} non-negative integers, got shape {y.shape} "
                            f"dtype {y.dtype}")
        labels = torch.from_numpy(y.astype(np.int64))
    return torch.from_numpy(np.ascontiguousarray(x)), labels


def _check_npz_size(path: Path) -> None:
    """Refuse an .npz whose arrays (their headers tell) would not fit in memory, before any is decompressed."""
    import zipfile

    from gankit.data.memory import FLOAT, require
    from gankit.data.points import npy_header

    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as f:
                    header = npy_header(f)
                if header is not None:  # the array, then float32 images (and their [-1, 1] copy)
                    total += math.prod(header[0]) * (header[1].itemsize + 2 * FLOAT)
    except (zipfile.BadZipFile, OSError):  # not a zip: np.load says what is wrong
        return
    require({"its arrays": (total, "use fewer or smaller images")}, f"{path}: loading")


def make_image_dataset(cfg, generator: torch.Generator, load=None):
    """A `Dataset` of images for a `DataConfig`; ``cfg.holdout`` of them held out by a permutation from ``generator``.

    ``load(cfg)`` decodes them (default: `load_images`; see `gankit.data.sources`)."""
    from gankit.data.points import Dataset, holdout_split

    images, labels, classes = (load(cfg) if load is not None
                               else load_images(cfg.source, cfg.resolution, cfg.skip_corrupt))
    heldout = heldout_labels = None
    split = holdout_split(len(images), cfg.holdout, generator, f"{cfg.source}: too few images")
    if split is not None:
        kept, out = split
        heldout, images = images[out], images[kept]
        if labels is not None:
            heldout_labels, labels = labels[out], labels[kept]
    return Dataset(images, heldout, None, cfg.source, labels=labels, heldout_labels=heldout_labels,
                   classes=classes)


__all__ = ["is_image_source", "load_images", "make_image_dataset", "read_idx", "resize_center_crop"]

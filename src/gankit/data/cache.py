"""The data cache: downloads and decoded image arrays, so a data set is decoded once.

Everything lives under `data_root` (``$GANKIT_DATA``, else ``~/.cache/gankit/data``):

    downloads/<set>/<file>          verified downloads of named sets (`gankit.data.named`)
    decoded/<key>.safetensors       decoded images, uint8 (N, C, H, W), with labels and class names

A decoded entry is keyed by a content hash (`folder_key` for ``folder:DIR``:
relative paths, sizes and modification times of its images, plus the
resolution and the corrupt-file policy; a named set: its pinned checksums), so
a changed folder gets a new key and is decoded again. Arrays are stored as
uint8 and turned into floats with the decoders' own formula (``u / 127.5 - 1``),
so a cached load is bitwise the same as a fresh decode. Nothing is unpickled.

An entry is not trusted as it is: it records the SHA-256 of its arrays and
class names, and on reading the hash, the images' dtype and rank, and the
labels' range against the class names are checked; any mismatch decodes the
source again and replaces the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from gankit.errors import UserError

# Bumped whenever a decoder's output or an entry's format changes, so old entries are not reused.
# (2: entries carry the SHA-256 of their arrays.)
DECODER_VERSION = 2

Decoded = tuple[Tensor, "Tensor | None", list[str]]  # (uint8 (N, C, H, W), int64 (N,) or None, class names)


def data_root() -> Path:
    """``$GANKIT_DATA``, else ``~/.cache/gankit/data``."""
    if os.environ.get("GANKIT_DATA"):
        return Path(os.environ["GANKIT_DATA"])
    return Path.home() / ".cache" / "gankit" / "data"


def to_float(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) -> float32 in [-1, 1], exactly as the decoders compute it."""
    return torch.from_numpy(images.numpy().astype(np.float32) / 127.5 - 1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float32 in [-1, 1] made by ``u / 127.5 - 1`` -> the uint8 ``u`` (exact for such values)."""
    return ((images.to(torch.float64) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def folder_key(root: Path, files: list[Path], resolution: int, skip_corrupt: bool) -> str:
    """A hash of the images' relative paths, sizes and modification times, the resolution and the policy."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": "folder", "decoder": DECODER_VERSION, "resolution": resolution,
                         "skip_corrupt": skip_corrupt}).encode())
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def cached_decode(key: str, decode: Callable[[], Decoded], what: str) -> Decoded:
    """The decoded arrays of ``key`` from the cache, or ``decode()``'s, then cached.

    Args:
        key: the content hash naming the entry.
        decode: returns (uint8 (N, C, H, W) images, (N,) int64 labels or None, class names).
        what: the source, for messages.

    A damaged entry is decoded again (and replaced); a cache that cannot be
    written is reported and skipped: the data are still returned.
    """
    from gankit.files import load_tensors, remove_stale_temporaries, save_tensors

    path = data_root() / "decoded" / f"{key}.safetensors"
    if path.parent.is_dir():
        remove_stale_temporaries(path.parent)  # what a writer killed outright (SIGKILL) left
    if path.is_file():
        try:
            return _read_entry(path, load_tensors)
        except (UserError, ValueError, KeyError) as err:
            print(f"gankit: decoding {what} again: its cache entry {path} is damaged ({err})", file=sys.stderr)
    images, labels, classes = decode()
    tensors = {"images": images.contiguous()}
    if labels is not None:
        tensors["labels"] = labels.to(torch.int64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, tensors, {"format": "gankit-decoded", "source": what, "classes": json.dumps(classes),
                                     "sha256": _fingerprint(images, labels, classes)})
    except OSError as err:
        print(f"gankit: could not cache the decoded {what} in {path.parent} ({err.strerror or err})",
              file=sys.stderr)
    return images, labels, classes


def _read_entry(path: Path, load_tensors) -> Decoded:
    from safetensors import safe_open

    tensors = load_tensors(path)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "gankit-decoded":
        raise ValueError("not a gankit decoded-data file")
    images, labels = tensors["images"], tensors.get("labels")
    classes = json.loads(meta.get("classes", "[]"))
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images are {images.dtype} {tuple(images.shape)}")
    if labels is not None and (labels.dtype != torch.int64 or labels.shape != images.shape[:1]):
        raise ValueError("labels do not match the images")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ValueError("class names are not a list of strings")
    if labels is not None and len(labels) and (not classes or int(labels.min()) < 0
                                               or int(labels.max()) >= len(classes)):
        raise ValueError(f"labels span {int(labels.min())}..{int(labels.max())} for {len(classes)} class names")
    if meta.get("sha256") != _fingerprint(images, labels, classes):
        raise ValueError("its arrays do not match their recorded SHA-256")
    return images, labels, classes


def _fingerprint(images: Tensor, labels: Tensor | None, classes: list[str]) -> str:
    """SHA-256 of an entry's shape, images, labels and class names."""
    h = hashlib.sha256(json.dumps({"shape": list(images.shape), "classes": classes}).encode())
    h.update(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


__all__ = ["DECODER_VERSION", "cached_decode", "data_root", "folder_key", "to_float", "to_uint8"]
